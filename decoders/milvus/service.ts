import type { BackendConfig } from '../../lib/config/types.js'
import { VecgateError } from '../../lib/errors.js'
import type { GrpcMethod, GrpcService, Metadata } from '../grpc/service.js'
import type { Identity } from '../types.js'
import { MilvusCollections } from './collections.js'
import { milvusMethods } from './methods.js'

/**
 * Milvus over gRPC. Both SDKs send `authorization: base64(user:password)`, or `base64(token)` when
 * given a token (and a `token` of the form user:password is the same bytes). CONTRACT.md: the vecgate
 * token comes as the token, or as the password with any user name. Upstream, the backend's own
 * credentials replace it. One instance per backend: its method table learns that backend's schemas.
 */
export class MilvusService implements GrpcService {
  readonly protocol = 'milvus' as const
  readonly secretHeaders: ReadonlySet<string> = new Set(['authorization'])
  private readonly methods: Map<string, GrpcMethod>

  constructor (readonly collections = new MilvusCollections()) {
    this.methods = milvusMethods({ collections })
  }

  method (path: string): GrpcMethod | undefined { return this.methods.get(path) }

  credential (md: Metadata): string | undefined {
    const auths = md.all('authorization')
    if (auths.length > 1) {
      throw new VecgateError('VG_ERR_UNAUTHENTICATED', 'more than one authorization value in the request: send exactly one')
    }
    if (auths.length === 0) return undefined
    const raw = auths[0].trim()
    if (!/^[A-Za-z0-9+/]+={0,2}$/.test(raw)) {
      throw new VecgateError('VG_ERR_UNAUTHENTICATED', 'authorization metadata must be base64 of "user:token" or of the token')
    }
    const text = Buffer.from(raw, 'base64').toString('utf8')
    const colon = text.indexOf(':')
    const token = colon < 0 ? text : text.slice(colon + 1)
    if (token === '') throw new VecgateError('VG_ERR_UNAUTHENTICATED', 'empty password: send the vecgate token as the password or as the token')
    return token
  }

  upstreamCredentials (backend: BackendConfig, _identity: Identity): Array<[string, string]> {
    const { username, password, token } = backend.credentials
    if (token !== undefined && token !== '') return [['authorization', Buffer.from(token).toString('base64')]]
    if (username !== undefined && username !== '') {
      return [['authorization', Buffer.from(`${username}:${password ?? ''}`).toString('base64')]]
    }
    return []
  }
}
