import type { Identity } from '../../decoders/types.js'

/** Turns the secret a client presented into an Identity, or throws VecgateError('VG_ERR_UNAUTHENTICATED'). */
export interface IdentityVerifier {
  verify (token: string): Promise<Identity>
}
