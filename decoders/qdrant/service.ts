import type { BackendConfig } from '../../lib/config/types.js'
import { QdrantJwtMinter } from '../../lib/identity/qdrant-jwt.js'
import { VecgateError } from '../../lib/errors.js'
import type { GrpcMethod, GrpcService, Metadata } from '../grpc/service.js'
import type { SideCall } from '../grpc/aliases.js'
import type { Identity } from '../types.js'
import { qdrantMethods } from './methods.js'
import { qdrantSchema } from './schema.js'
import { AliasMap } from '../grpc/aliases.js'

/**
 * Qdrant over gRPC. Clients send their secret as `api-key` metadata, or `authorization: Bearer …`;
 * here that secret is a vecgate token. Upstream, the backend's own API key replaces it.
 */
export class QdrantService implements GrpcService {
  readonly protocol = 'qdrant' as const
  readonly secretHeaders: ReadonlySet<string> = new Set(['api-key', 'authorization'])
  private readonly methods = qdrantMethods()
  /** this backend's aliases, read with qdrant.Collections/ListAliases (Qdrant has no databases) */
  readonly aliases = new AliasMap(listQdrantAliases)

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

  /** the backend's API key itself: a JWT minted for one grant may not see every alias */
  ownCredentials (backend: BackendConfig): Array<[string, string]> {
    const key = backend.credentials.api_key
    return key === undefined || key === '' ? [] : [['api-key', key]]
  }

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

async function listQdrantAliases (_database: string, call: SideCall): Promise<Map<string, string>> {
  const root = qdrantSchema().root
  const Req = root.lookupType('qdrant.ListAliasesRequest')
  const Res = root.lookupType('qdrant.ListAliasesResponse')
  let answer: Buffer
  try {
    answer = await call('/qdrant.Collections/ListAliases', Req.encode(Req.create({})).finish())
  } catch (e) {
    // every Qdrant since 1.0 serves ListAliases; an upstream that does not implement it has no aliases
    // to point anywhere (a Qdrant-protocol server built for one purpose). Any other failure refuses.
    if ((e as { grpcStatus?: number }).grpcStatus === 12) return new Map()
    throw e
  }
  const r = Res.decode(answer) as unknown as { aliases?: Array<{ alias_name?: string, collection_name?: string, aliasName?: string, collectionName?: string }> }
  const out = new Map<string, string>()
  for (const a of r.aliases ?? []) {
    const alias = a.alias_name ?? a.aliasName
    const target = a.collection_name ?? a.collectionName
    if (typeof alias === 'string' && alias !== '' && typeof target === 'string' && target !== '') out.set(alias, target)
  }
  return out
}
