import { createSecretKey, type KeyObject } from 'node:crypto'
import { SignJWT } from 'jose'
import type { Action, GrantScope, Identity } from '../../decoders/types.js'

/**
 * Least privilege at the database too: when Qdrant runs with JWT RBAC (`service.jwt_rbac: true`), the
 * gateway sends upstream a token minted for this session instead of the full API key. Qdrant verifies
 * it as HS256 with its API key as the secret and reads two claims (Qdrant docs, "Granular access control
 * with JWT"; `Claims` in qdrant `src/common/auth/claims.rs`):
 *
 *   exp     epoch seconds — here the grant's own expiry
 *   access  "r" (read everything) | "m" (manage: everything) |
 *           [{ collection, access: "r" | "rw" }] — per collection
 *
 * Collection-level access never reaches Qdrant's cluster-wide operations (create/delete collection,
 * snapshots of all): a grant scoped to collections gets `rw` at most, so an admin action the grant
 * allowed still fails upstream. That is the point: Qdrant cannot be asked for more than the grant says.
 */
export type QdrantAccess = 'r' | 'm' | Array<{ collection: string, access: 'r' | 'rw' }>

const READ_ONLY: ReadonlySet<Action> = new Set(['read', 'search'])

export function qdrantAccessFor (scope: GrantScope | undefined): QdrantAccess {
  const actions = scope?.actions
  // no actions named means every action the policy allows: only read-only grants can be narrowed
  const readOnly = actions !== undefined && actions.every(a => READ_ONLY.has(a))
  if (scope?.collections !== undefined && scope.collections.length > 0) {
    const access = readOnly ? 'r' : 'rw'
    return [...new Set(scope.collections)].map(collection => ({ collection, access }))
  }
  return readOnly ? 'r' : 'm'
}

/**
 * Mints Qdrant JWTs for sessions, one per grant (by jti) while it lives, so a connection's streams reuse
 * one token and the hot path does not sign.
 */
export class QdrantJwtMinter {
  private readonly secret: KeyObject
  private readonly cache = new Map<string, { token: string, exp: number }>()

  constructor (apiKey: string) {
    if (apiKey === '') throw new Error('the Qdrant backend has no api_key to sign JWTs with')
    this.secret = createSecretKey(Buffer.from(apiKey, 'utf8'))
  }

  async tokenFor (identity: Identity): Promise<string> {
    const key = identity.tokenId
    if (key !== undefined) {
      const hit = this.cache.get(key)
      if (hit !== undefined && hit.exp === identity.expiresAt) return hit.token
    }
    const token = await mintQdrantJwt(this.secret, identity)
    if (key !== undefined) {
      if (this.cache.size >= 1024) this.prune()
      this.cache.set(key, { token, exp: identity.expiresAt })
    }
    return token
  }

  private prune (): void {
    const now = Math.floor(Date.now() / 1000)
    for (const [k, v] of this.cache) if (v.exp <= now) this.cache.delete(k)
    if (this.cache.size >= 1024) this.cache.clear()
  }
}

export async function mintQdrantJwt (secret: KeyObject | string, identity: Identity): Promise<string> {
  const key = typeof secret === 'string' ? createSecretKey(Buffer.from(secret, 'utf8')) : secret
  return await new SignJWT({ access: qdrantAccessFor(identity.scope) })
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
    .setSubject(identity.subject)
    .setExpirationTime(identity.expiresAt)
    .sign(key)
}
