import type { BackendConfig } from '../../lib/config/types.js'
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

  upstreamCredentials (backend: BackendConfig, _identity: Identity): Array<[string, string]> {
    const key = backend.credentials.api_key
    return key !== undefined && key !== '' ? [['api-key', key]] : []
  }
}
