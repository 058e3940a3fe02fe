import type { BackendConfig } from '../../lib/config/types.js'
import { QdrantJwtMinter } from '../../lib/identity/qdrant-jwt.js'
import { VecgateError } from '../../lib/errors.js'
import type { GrpcMethod, GrpcService, Metadata } from '../grpc/service.js'
import type { Identity } from '../types.js'
import { qdrantMethods } from './methods.js'

/**
 * Qdrant over gRPC. Clients send their secret as `api-key` metadata, or `authorization: Bearer …`;
 * here that secret is a vecgate token. Upstream, the backend's own API key replaces it.
 */
export class QdrantService implements GrpcService {
  readonly protocol = 'qdrant' as const
  readonly secretHeaders: ReadonlySet<string> = new Set(['api-key', 'authorization'])
  private readonly methods = qdrantMethods()

  method (path: string): GrpcMethod | undefined { return this.methods.get(path) }

  credential (md: Metadata): string | undefined {
    const keys = md.all('api-key')
    const auths = md.all('authorization')
    if (keys.length + auths.length > 1) {
      throw new VecgateError('VG_ERR_UNAUTHENTICATED', 'more than one credential in the request (api-key and authorization): send exactly one')
    }
    if (keys.length === 1) return keys[0]
    if (auths.length === 1) {
      const m = /^Bearer\s+(\S+)\s*$/i.exec(auths[0])
      if (m === null) throw new VecgateError('VG_ERR_UNAUTHENTICATED', 'authorization metadata must be "Bearer <token>"')
      return m[1]
    }
    return undefined
  }

  private minter: QdrantJwtMinter | undefined

  /**
   * The backend's API key; or, when the backend runs Qdrant's JWT RBAC (`credentials.jwt_rbac: true`),
   * a Qdrant JWT minted for this grant: its collections, read-only when it is, expiring with it.
   */
  upstreamCredentials (backend: BackendConfig, identity: Identity): Array<[string, string]> | Promise<Array<[string, string]>> {
    const key = backend.credentials.api_key
    if (key === undefined || key === '') return []
    if (backend.credentials.jwt_rbac === 'true') {
      this.minter ??= new QdrantJwtMinter(key)
      return this.minter.tokenFor(identity).then(jwt => [['api-key', jwt]])
    }
    return [['api-key', key]]
  }
}
