import { decodeJwt } from 'jose'
import type { Identity } from '../../decoders/types.js'
import type { Config } from '../config/types.js'
import type { Logger } from '../log.js'
import { GRANT_ISSUER, unauthenticated, type Grants } from './grants.js'
import { OidcVerifier, type OidcVerifierOptions } from './oidc.js'
import { RevocationStore } from './revocations.js'
import type { IdentityVerifier } from './types.js'

export interface VerifierParts {
  grants: Grants
  oidc: OidcVerifier[]
  revocations?: RevocationStore
}

/** Where the revocation and use-count store lives: beside the journal, like the approvals store. */
export function revocationsPath (config: Config): string {
  return config.journal.path.replace(/\.db$/, '') + '-revocations.db'
}

/**
 * The gateway's one IdentityVerifier. A token is routed by its (unverified) `iss` to the verifier that
 * owns that issuer — vecgate's own grants or one configured OIDC issuer — which then checks everything,
 * `iss` included; a token from any other issuer is refused. `use` runs on every request: revocation and
 * the use count of N-use grants are enforced there, by jti.
 */
export function createVerifier (parts: VerifierParts): IdentityVerifier & { revocations?: RevocationStore } {
  const byIssuer = new Map<string, IdentityVerifier>()
  byIssuer.set(GRANT_ISSUER, parts.grants)
  for (const o of parts.oidc) byIssuer.set(o.issuer, o)
  const store = parts.revocations

  return {
    revocations: store,
    async verify (token: string): Promise<Identity> {
      let iss: unknown
      try {
        iss = decodeJwt(token).iss
      } catch {
        throw unauthenticated('token is not a JWT')
      }
      const v = typeof iss === 'string' ? byIssuer.get(iss) : undefined
      if (v === undefined) throw unauthenticated('token issuer is not accepted')
      const identity = await v.verify(token)
      if (store !== undefined && identity.tokenId !== undefined && store.isRevoked(identity.tokenId)) {
        throw unauthenticated('token was revoked')
      }
      return identity
    },
    use (identity: Identity): void {
      if (store === undefined || identity.tokenId === undefined) return
      const jti = identity.tokenId
      if (store.isRevoked(jti)) throw unauthenticated('token was revoked')
      const uses = identity.scope?.uses
      if (uses !== undefined && !store.consume(jti, uses, identity.expiresAt)) {
        throw unauthenticated(uses === 1 ? 'single-use token was already used' : `token was already used ${uses} times`)
      }
    }
  }
}

/** Builds the verifier from the configuration: one OidcVerifier per configured issuer, the store on disk. */
export function createVerifierFromConfig (config: Config, grants: Grants, opts: { log?: Logger, revocations?: RevocationStore, oidc?: OidcVerifierOptions } = {}): IdentityVerifier & { revocations?: RevocationStore } {
  const oidc = config.identity.oidc.map(c => new OidcVerifier(c, { ...opts.oidc, ...(opts.log !== undefined ? { log: opts.log } : {}) }))
  const revocations = opts.revocations ?? new RevocationStore({ path: revocationsPath(config) })
  return createVerifier({ grants, oidc, revocations })
}
