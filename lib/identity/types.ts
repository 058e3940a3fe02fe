import type { Identity } from '../../decoders/types.js'

/** Turns the secret a client presented into an Identity, or throws VecgateError('VG_ERR_UNAUTHENTICATED'). */
export interface IdentityVerifier {
  verify (token: string): Promise<Identity>
  /**
   * Called on every request an identity makes (after verify, which a connection caches): enforces
   * revocation and use counts of N-use grants. Throws VG_ERR_UNAUTHENTICATED when the token no longer counts.
   */
  use? (identity: Identity): void
}
