import type { IncomingHttpHeaders } from 'node:http'
import { ACTIONS, type Action, type Effect, type GrantScope, type Identity, type RecordId } from '../../decoders/types.js'
import { VecgateError, asVecgateError } from '../errors.js'
import type { Logger } from '../log.js'
import type { Grants, IssuedGrant } from './grants.js'
import type { SigningKey } from './keys.js'
import type { IdentityVerifier } from './types.js'

/** What a person asks for: every field left out is not narrowed (the policy still decides each request). */
export interface ScopeRequest {
  backend?: string
  collections?: string[]
  actions?: Action[]
  ids?: RecordId[]
  /** seconds; default identity.token_ttl, capped by identity.max_ttl */
  ttl?: number
  uses?: number
  /** why, for the approver and the journal */
  reason?: string
}

/** The policy's answer to "would any rule let this subject do this?" (the lead passes the compiled policy). */
export type Decide = (identity: Identity, request: ScopeRequest) =>
  { effect: Effect, rule?: string, reason: string } | Promise<{ effect: Effect, rule?: string, reason: string }>

/**
 * Holds an `approve` answer until a person decides. Resolves when approved (optionally naming the
 * approval, which the grant then carries as the `approval` claim); throws VecgateError otherwise
 * (VG_ERR_APPROVAL_REQUIRED with the approval id to come back later, VG_ERR_DENIED, VG_ERR_APPROVAL_TIMEOUT).
 */
export type Approve = (identity: Identity, request: ScopeRequest, verdict: { rule?: string, reason: string }) =>
  Promise<{ approvalId?: string } | undefined>

export interface GrantExchangeOptions {
  grants: Grants
  /** verifies subject tokens: the gateway's verifier (OIDC issuers and vecgate grants) */
  verifier: IdentityVerifier
  decide: Decide
  approve?: Approve
  /** default ttl in seconds (identity.token_ttl) */
  tokenTtl: number
  /** backend names in the configuration; a request naming another is refused */
  backends?: readonly string[]
  /** the gateway key, for `jwks()` */
  key?: SigningKey
  log?: Logger
}

export interface ExchangedGrant extends IssuedGrant {
  subject: string
  groups: string[]
  scope: GrantScope
}

/** RFC 8693 §2.1 and §3 identifiers. */
export const TOKEN_EXCHANGE = 'urn:ietf:params:oauth:grant-type:token-exchange'
export const TOKEN_TYPE_JWT = 'urn:ietf:params:oauth:token-type:jwt'
const SUBJECT_TOKEN_TYPES = new Set([
  TOKEN_TYPE_JWT,
  'urn:ietf:params:oauth:token-type:id_token',
  'urn:ietf:params:oauth:token-type:access_token'
])
/** IdP claims a grant carries on, so policy rules that match on claims still match. */
const CARRIED_CLAIMS = ['email', 'email_verified', 'preferred_username', 'name']

/**
 * Exchanges a proof of identity (an IdP token, a SAML assertion, or a broader grant) for a vecgate grant
 * scoped to what was asked: RFC 8693 token exchange, with the policy consulted first. A grant can be
 * exchanged only for a narrower one that does not outlive it.
 */
export class GrantExchange {
  constructor (private readonly opts: GrantExchangeOptions) {}

  /** `{ keys: [publicJwk] }` for GET /.well-known/jwks.json */
  jwks (): { keys: unknown[] } {
    if (this.opts.key === undefined) throw new VecgateError('VG_ERR_INTERNAL', 'no signing key given to the grant exchange')
    return { keys: [this.opts.key.publicJwk] }
  }

  async exchangeForGrant (subjectToken: string, request: ScopeRequest): Promise<ExchangedGrant> {
    const identity = await this.opts.verifier.verify(subjectToken)
    return await this.grantFor(identity, request)
  }

  /** Issues a grant for an identity already verified (SAML assertions come in this way). */
  async grantFor (identity: Identity, request: ScopeRequest): Promise<ExchangedGrant> {
    const req = this.validate(request)
    let scope: GrantScope = toScope(req)
    let ttl = req.ttl ?? this.opts.tokenTtl
    if (identity.source === 'grant') {
      // down-scoping only: a grant cannot mint a broader or longer-lived one, nor escape its use count
      if (identity.scope?.uses !== undefined) throw denied('a use-limited grant cannot be exchanged')
      scope = narrow(identity.scope ?? {}, scope)
      ttl = Math.min(ttl, identity.expiresAt - Math.floor(Date.now() / 1000))
      if (ttl <= 0) throw new VecgateError('VG_ERR_UNAUTHENTICATED', 'token expired')
    }
    let approvalId: string | undefined
    // An unscoped request asks for nothing the identity could not already do with its IdP token (the
    // policy decides every request of the grant), so only scoped requests are put to the policy here.
    if (!isEmpty(scope)) {
      const verdict = await this.opts.decide(identity, { ...scope, ...(req.reason !== undefined ? { reason: req.reason } : {}) })
      if (verdict.effect === 'deny') throw new VecgateError('VG_ERR_DENIED', verdict.reason, { ...(verdict.rule !== undefined ? { rule: verdict.rule } : {}) })
      if (verdict.effect === 'approve') {
        if (this.opts.approve === undefined) {
          throw new VecgateError('VG_ERR_APPROVAL_REQUIRED', `${verdict.reason}; approvals are not enabled on this gateway`, { ...(verdict.rule !== undefined ? { rule: verdict.rule } : {}) })
        }
        approvalId = (await this.opts.approve(identity, { ...scope, ...(req.reason !== undefined ? { reason: req.reason } : {}) }, verdict))?.approvalId
      }
    }
    const claims: Record<string, unknown> = { idp: identity.issuer }
    for (const k of CARRIED_CLAIMS) if (identity.claims[k] !== undefined) claims[k] = identity.claims[k]
    if (req.reason !== undefined) claims.reason = req.reason
    if (approvalId !== undefined) claims.approval = approvalId
    const issued = await this.opts.grants.issue({
      subject: identity.subject,
      groups: identity.groups,
      ...scope,
      ttl,
      claims
    })
    this.opts.log?.info({ subject: identity.subject, via: identity.source, jti: issued.jti, scope, approval: approvalId }, 'grant issued')
    return { ...issued, subject: identity.subject, groups: identity.groups, scope }
  }

  /**
   * POST /v1/grants: RFC 8693 token exchange. Accepts the form fields of §2.1 (`grant_type`,
   * `subject_token`, `subject_token_type`, `scope`, `resource`) or the same as JSON, plus vecgate's own
   * `backend`, `collections`, `actions`, `ids`, `ttl`, `uses`, `reason`. The subject token may instead come
   * as `Authorization: Bearer`; both at once must be the same token. Answers per §2.2 (success) and
   * RFC 6749 §5.2 (errors), with vecgate's error code beside.
   */
  async handleGrantRequest (body: unknown, headers: IncomingHttpHeaders): Promise<{ status: number, json: Record<string, unknown> }> {
    try {
      const fields = fieldsOf(body, headers)
      const grantType = str(fields.grant_type)
      if (grantType !== undefined && grantType !== TOKEN_EXCHANGE) {
        return oauthError(400, 'unsupported_grant_type', `grant_type must be ${TOKEN_EXCHANGE}`)
      }
      const tokenType = str(fields.subject_token_type)
      if (tokenType !== undefined && !SUBJECT_TOKEN_TYPES.has(tokenType)) {
        return oauthError(400, 'invalid_request', `subject_token_type ${tokenType} is not accepted (send a JWT)`)
      }
      const bearer = /^Bearer\s+(\S+)$/i.exec(headers.authorization ?? '')?.[1]
      const given = str(fields.subject_token)
      if (given !== undefined && bearer !== undefined && given !== bearer) {
        return oauthError(400, 'invalid_request', 'two different tokens: send subject_token or Authorization, not both')
      }
      const token = given ?? bearer
      if (token === undefined || token === '') return oauthError(400, 'invalid_request', 'subject_token is required')
      const g = await this.exchangeForGrant(token, requestOf(fields))
      return {
        status: 200,
        json: {
          access_token: g.token,
          issued_token_type: TOKEN_TYPE_JWT,
          token_type: 'Bearer',
          expires_in: g.expiresAt - Math.floor(Date.now() / 1000),
          scope: scopeString(g.scope),
          jti: g.jti,
          expires_at: g.expiresAt,
          subject: g.subject,
          grant: g.scope
        }
      }
    } catch (e) {
      const err = asVecgateError(e)
      const extra = { code: err.code, ...(err.detail.rule !== undefined ? { rule: err.detail.rule } : {}), ...(err.detail.approvalId !== undefined ? { approval_id: err.detail.approvalId } : {}) }
      switch (err.code) {
        case 'VG_ERR_USAGE':
        case 'VG_ERR_MALFORMED': return oauthError(400, 'invalid_request', err.message, extra)
        case 'VG_ERR_UNAUTHENTICATED': return oauthError(401, 'invalid_grant', err.message, extra)
        case 'VG_ERR_DENIED': return oauthError(403, 'access_denied', err.message, extra)
        case 'VG_ERR_APPROVAL_REQUIRED': return oauthError(403, 'authorization_pending', err.message, extra)
        case 'VG_ERR_APPROVAL_TIMEOUT': return oauthError(403, 'expired_token', err.message, extra)
        default:
          this.opts.log?.error({ err: (e as Error).message }, 'grant exchange failed')
          return oauthError(500, 'server_error', 'internal error', extra)
      }
    }
  }

  private validate (r: ScopeRequest): ScopeRequest {
    if (r.backend !== undefined && this.opts.backends !== undefined && !this.opts.backends.includes(r.backend)) {
      throw usage(`no backend named ${r.backend}`)
    }
    if (r.actions !== undefined) for (const a of r.actions) if (!(ACTIONS as readonly string[]).includes(a)) throw usage(`action ${String(a)} is not one of ${ACTIONS.join(', ')}`)
    if (r.ttl !== undefined && !(Number.isFinite(r.ttl) && r.ttl > 0)) throw usage('ttl must be a positive number of seconds')
    if (r.uses !== undefined && !(Number.isInteger(r.uses) && r.uses > 0)) throw usage('uses must be a whole number above 0')
    if (r.reason !== undefined && r.reason.length > 1000) throw usage('reason is longer than 1000 characters')
    return r
  }
}

function toScope (r: ScopeRequest): GrantScope {
  const s: GrantScope = {}
  if (r.backend !== undefined) s.backend = r.backend
  if (r.collections !== undefined && r.collections.length > 0) s.collections = r.collections
  if (r.actions !== undefined && r.actions.length > 0) s.actions = r.actions
  if (r.ids !== undefined && r.ids.length > 0) s.ids = r.ids
  if (r.uses !== undefined) s.uses = r.uses
  return s
}

function isEmpty (s: GrantScope): boolean {
  return s.backend === undefined && s.collections === undefined && s.actions === undefined && s.ids === undefined
}

/** The requested scope inside the parent's: what is not asked for is inherited, what is asked must fit. */
function narrow (parent: GrantScope, want: GrantScope): GrantScope {
  const out: GrantScope = { ...want }
  if (parent.backend !== undefined) {
    if (want.backend !== undefined && want.backend !== parent.backend) throw denied(`backend ${want.backend} is outside the grant's scope`)
    out.backend = parent.backend
  }
  const within = <T>(what: string, p: T[] | undefined, w: T[] | undefined, key: 'collections' | 'actions' | 'ids'): void => {
    if (p === undefined) return
    if (w === undefined) { (out as Record<string, unknown>)[key] = p; return }
    const allowed = new Set(p.map(String))
    for (const x of w) if (!allowed.has(String(x))) throw denied(`${what} ${String(x)} is outside the grant's scope`)
  }
  within('collection', parent.collections, want.collections, 'collections')
  within('action', parent.actions, want.actions, 'actions')
  within('id', parent.ids, want.ids, 'ids')
  return out
}

function fieldsOf (body: unknown, headers: IncomingHttpHeaders): Record<string, unknown> {
  if (body === undefined || body === null || body === '') return {}
  if (typeof body === 'string') {
    if ((headers['content-type'] ?? '').includes('application/x-www-form-urlencoded')) return formFields(new URLSearchParams(body))
    try { body = JSON.parse(body) } catch { throw new VecgateError('VG_ERR_MALFORMED', 'request body is neither JSON nor a form') }
  }
  if (body instanceof URLSearchParams) return formFields(body)
  if (typeof body !== 'object' || Array.isArray(body)) throw new VecgateError('VG_ERR_MALFORMED', 'request body must be an object')
  return body as Record<string, unknown>
}

/** Repeated form fields (`resource` may repeat, RFC 8693 §2.1) become arrays. */
function formFields (p: URLSearchParams): Record<string, unknown> {
  const out: Record<string, unknown> = {}
  for (const k of new Set(p.keys())) {
    const all = p.getAll(k)
    out[k] = all.length === 1 ? all[0] : all
  }
  return out
}

/**
 * The scope request from RFC 8693 fields and vecgate's own. `scope` is space-delimited (RFC 6749 §3.3)
 * with `backend:NAME`, `collection:C`, `action:A`, `id:X`, `uses:N` tokens; `resource` names the backend
 * (`urn:vecgate:backend:NAME` or the bare name).
 */
export function requestOf (f: Record<string, unknown>): ScopeRequest {
  const r: ScopeRequest = {}
  const collections: string[] = []
  const actions: Action[] = []
  const ids: RecordId[] = []
  const scope = str(f.scope)
  if (scope !== undefined) {
    for (const tok of scope.split(' ').filter(x => x !== '')) {
      const i = tok.indexOf(':')
      const k = i < 0 ? tok : tok.slice(0, i)
      const v = i < 0 ? '' : tok.slice(i + 1)
      if (v === '') throw usage(`scope token ${tok} has no value (expected backend:NAME, collection:C, action:A, id:X or uses:N)`)
      if (k === 'backend') setBackend(r, v)
      else if (k === 'collection') collections.push(v)
      else if (k === 'action' || k === 'actions') actions.push(...v.split(',') as Action[])
      else if (k === 'id') ids.push(idOf(v))
      else if (k === 'uses') r.uses = Number(v)
      else throw usage(`scope token ${tok} is not understood (expected backend:, collection:, action:, id: or uses:)`)
    }
  }
  for (const res of list(f.resource)) setBackend(r, res.startsWith('urn:vecgate:backend:') ? res.slice('urn:vecgate:backend:'.length) : res)
  const backend = str(f.backend)
  if (backend !== undefined) setBackend(r, backend)
  collections.push(...list(f.collections), ...list(f.collection))
  for (const a of [...list(f.actions), ...list(f.action)]) actions.push(...a.split(',').map(x => x.trim()).filter(x => x !== '') as Action[])
  if (f.ids !== undefined) {
    const raw = Array.isArray(f.ids) ? f.ids : typeof f.ids === 'string' ? f.ids.split(',') : [f.ids]
    for (const x of raw) ids.push(typeof x === 'number' ? x : idOf(String(x).trim()))
  }
  if (collections.length > 0) r.collections = [...new Set(collections)]
  if (actions.length > 0) r.actions = [...new Set(actions)]
  if (ids.length > 0) r.ids = ids
  const ttl = f.ttl ?? f.requested_ttl
  if (ttl !== undefined) r.ttl = typeof ttl === 'number' ? ttl : seconds(String(ttl))
  if (f.uses !== undefined) r.uses = Number(f.uses)
  const reason = str(f.reason)
  if (reason !== undefined) r.reason = reason
  return r
}

/** The grant's scope as an RFC 6749 §3.3 scope string, in the grammar `requestOf` reads. */
export function scopeString (s: GrantScope): string {
  const parts: string[] = []
  if (s.backend !== undefined) parts.push(`backend:${s.backend}`)
  for (const c of s.collections ?? []) parts.push(`collection:${c}`)
  for (const a of s.actions ?? []) parts.push(`action:${a}`)
  for (const i of s.ids ?? []) parts.push(`id:${String(i)}`)
  if (s.uses !== undefined) parts.push(`uses:${s.uses}`)
  return parts.join(' ')
}

function setBackend (r: ScopeRequest, b: string): void {
  if (r.backend !== undefined && r.backend !== b) throw usage(`two backends asked for (${r.backend}, ${b}): a grant is for one backend`)
  r.backend = b
}

function idOf (s: string): RecordId {
  return /^\d{1,15}$/.test(s) ? Number(s) : s
}

function seconds (s: string): number {
  const m = /^(\d+)(s|m|h|d)?$/.exec(s.trim())
  if (m === null) throw usage(`ttl: expected seconds or a duration like 90s, 5m, 1h (got ${JSON.stringify(s)})`)
  const n = Number(m[1])
  return m[2] === 'm' ? n * 60 : m[2] === 'h' ? n * 3600 : m[2] === 'd' ? n * 86400 : n
}

function str (v: unknown): string | undefined {
  if (v === undefined || v === null) return undefined
  if (typeof v !== 'string') throw usage('expected a string field')
  return v
}

function list (v: unknown): string[] {
  if (v === undefined || v === null) return []
  if (Array.isArray(v)) return v.map(String)
  return [String(v)]
}

function oauthError (status: number, error: string, description: string, extra: Record<string, unknown> = {}): { status: number, json: Record<string, unknown> } {
  return { status, json: { error, error_description: description, ...extra } }
}

function usage (m: string): VecgateError {
  return new VecgateError('VG_ERR_USAGE', m)
}

function denied (m: string): VecgateError {
  return new VecgateError('VG_ERR_DENIED', m, { rule: 'grant-scope' })
}
