import { decodeJwt } from 'jose'
import type { BackendConfig } from '../../lib/config/types.js'
import { VecgateError } from '../../lib/errors.js'
import type { GrpcMethod, GrpcService, Metadata } from '../grpc/service.js'
import type { Identity } from '../types.js'
import { MilvusCollections } from './collections.js'
import { milvusMethods } from './methods.js'
import { milvusSchema } from './schema.js'
import { AliasMap, type SideCall } from '../grpc/aliases.js'

/**
 * Metadata that carries a credential. Milvus reads only `authorization`; `api-key` (Qdrant's) and
 * `token` are what a client configured for another protocol, or a probe, would add beside it. Any two of
 * these in one request are two credentials, refused rather than one picked (THREATS.md), and none of
 * them is ever forwarded upstream.
 */
const CREDENTIAL_HEADERS = ['authorization', 'api-key', 'token'] as const

/** A compact JWS or JWE (RFC 7515 §7.1, RFC 7516 §7.1) whose first part is a JSON object: a token. */
function looksLikeToken (s: string): boolean {
  const parts = s.split('.')
  if ((parts.length !== 3 && parts.length !== 5) || !parts.every(p => /^[A-Za-z0-9_-]*$/.test(p))) return false
  return Buffer.from(parts[0], 'base64url').toString('latin1').trimStart().startsWith('{')
}

const unauthenticated = (message: string): VecgateError => new VecgateError('VG_ERR_UNAUTHENTICATED', message)

/**
 * Milvus over gRPC. Both SDKs send `authorization: base64(user:password)`, or `base64(token)` when
 * given a token (and a `token` of the form user:password is the same bytes). CONTRACT.md: the vecgate
 * token comes as the token, or as the password with the token's subject (or no name) as user name — as
 * Postgres asks. Upstream, the backend's own credentials replace it. One instance per backend: its
 * method table learns that backend's schemas.
 */
export class MilvusService implements GrpcService {
  readonly protocol = 'milvus' as const
  readonly secretHeaders: ReadonlySet<string> = new Set(CREDENTIAL_HEADERS)
  private readonly methods: Map<string, GrpcMethod>
  /** the subject of the last token read with a user name: clients send the same token on every call */
  private lastSubject: { token: string, subject: string | undefined } | undefined

  /** this backend's aliases per database, read with ListAliases and DescribeAlias */
  readonly aliases = new AliasMap(listMilvusAliases)

  constructor (readonly collections = new MilvusCollections()) {
    this.methods = milvusMethods({ collections })
  }

  method (path: string): GrpcMethod | undefined { return this.methods.get(path) }

  /**
   * The refusals never repeat the user name nor any part of the metadata: a token pasted into the
   * wrong field is still a credential, and these messages reach the log, the journal and the client.
   */
  credential (md: Metadata): string | undefined {
    let count = 0
    for (const name of CREDENTIAL_HEADERS) count += md.all(name).length
    if (count > 1) {
      throw unauthenticated('more than one credential in the request (authorization, api-key, token): send exactly one authorization value')
    }
    if (count === 0) return undefined
    const auths = md.all('authorization')
    if (auths.length === 0) {
      throw unauthenticated('Milvus takes the vecgate token in authorization metadata (the SDK\'s token, or its password), not in api-key or token')
    }
    const raw = auths[0].trim()
    if (!/^[A-Za-z0-9+/]+={0,2}$/.test(raw)) {
      throw unauthenticated('authorization metadata must be base64 of "user:token" or of the token')
    }
    const text = Buffer.from(raw, 'base64').toString('utf8')
    const colon = text.indexOf(':')
    if (colon < 0) return text
    const user = text.slice(0, colon)
    const token = text.slice(colon + 1)
    if (token === '') throw unauthenticated('empty password: send the vecgate token as the password or as the token')
    if (user === '') return token
    if (looksLikeToken(user)) {
      throw unauthenticated('a token in the user name: two credentials in one request; send the token as the password (or as the token) only')
    }
    // The subject is read before the signature is checked; the token is verified right after, so a
    // subject changed to match the name fails there. Grants and OIDC tokens alike take it from `sub`.
    if (user !== this.subjectOf(token)) {
      throw unauthenticated('the user name does not match the token\'s subject: send the subject as the user name, or no user name')
    }
    return token
  }

  private subjectOf (token: string): string | undefined {
    const last = this.lastSubject
    if (last !== undefined && last.token === token) return last.subject
    let subject: string | undefined
    try {
      const sub = decodeJwt(token).sub
      subject = typeof sub === 'string' && sub !== '' ? sub : undefined
    } catch {
      subject = undefined
    }
    this.lastSubject = { token, subject }
    return subject
  }

  ownCredentials (backend: BackendConfig): Array<[string, string]> {
    return this.upstreamCredentials(backend)
  }

  upstreamCredentials (backend: BackendConfig, _identity?: Identity): Array<[string, string]> {
    const { username, password, token } = backend.credentials
    if (token !== undefined && token !== '') return [['authorization', Buffer.from(token).toString('base64')]]
    if (username !== undefined && username !== '') {
      return [['authorization', Buffer.from(`${username}:${password ?? ''}`).toString('base64')]]
    }
    return []
  }
}

type Status = { code?: number, error_code?: number, reason?: string } | null | undefined
function checked (what: string, status: Status): void {
  if (status != null && ((status.code ?? 0) !== 0 || (status.error_code ?? 0) !== 0)) {
    throw new Error(`${what}: ${status.reason ?? `error ${status.code ?? status.error_code}`}`)
  }
}

/** every alias of one database: ListAliases names them, DescribeAlias gives each one's collection */
async function listMilvusAliases (database: string, call: SideCall): Promise<Map<string, string>> {
  const root = milvusSchema().root
  const ListReq = root.lookupType('milvus.proto.milvus.ListAliasesRequest')
  const ListRes = root.lookupType('milvus.proto.milvus.ListAliasesResponse')
  const DescReq = root.lookupType('milvus.proto.milvus.DescribeAliasRequest')
  const DescRes = root.lookupType('milvus.proto.milvus.DescribeAliasResponse')
  const listed = ListRes.decode(await call('/milvus.proto.milvus.MilvusService/ListAliases', ListReq.encode(ListReq.create({ db_name: database })).finish())) as unknown as { status?: Status, aliases?: string[] }
  checked('ListAliases', listed.status)
  const names = [...new Set((listed.aliases ?? []).filter(a => typeof a === 'string' && a !== ''))]
  const out = new Map<string, string>()
  await Promise.all(names.map(async (alias) => {
    const d = DescRes.decode(await call('/milvus.proto.milvus.MilvusService/DescribeAlias', DescReq.encode(DescReq.create({ db_name: database, alias })).finish())) as unknown as { status?: Status, collection?: string }
    checked('DescribeAlias', d.status)
    if (typeof d.collection !== 'string' || d.collection === '') throw new Error(`DescribeAlias: no collection for an alias of ${database}`)
    out.set(alias, d.collection)
  }))
  return out
}
