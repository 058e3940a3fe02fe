/**
 * Admin routes for identity (CONTRACT.md "CLI", issue 5):
 *
 *   POST /v1/grants                 RFC 8693 token exchange: an IdP token (or a broader grant) for a grant
 *   GET  /v1/grants/requests/:id    a grant request held for approval: 202 while pending, then the grant
 *   POST /v1/saml/acs               SAML 2.0 POST binding: a signed SAMLResponse for a grant
 *   POST /v1/tokens/revoke          RFC 7009-style revocation by token or jti
 *
 * The logic lives in lib/identity (GrantExchange, SamlAcs, RevocationStore); this file wires it to the
 * gateway's parts: the policy decides a grant request the way it would decide requests made with it,
 * an `approve` verdict becomes an approval in lib/approvals (answered 202 with its id, RFC 8628 style
 * polling), and every exchange and revocation is journaled as a session of protocol `admin`.
 */
import { AsyncLocalStorage } from 'node:async_hooks'
import { randomBytes } from 'node:crypto'
import { decodeJwt } from 'jose'
import { ACTIONS, type Action, type Identity, type Operation, type Verdict } from '../../decoders/types.js'
import type { Config } from '../config/types.js'
import { VecgateError, asVecgateError } from '../errors.js'
import type { Gateway } from '../gateway.js'
import { GrantExchange, requestOf, type ExchangedGrant, type ScopeRequest } from '../identity/exchange.js'
import type { RevocationStore } from '../identity/revocations.js'
import { revocationTarget } from '../identity/revocations.js'
import { SamlAcs } from '../identity/saml.js'
import { checkScope } from '../identity/scope.js'
import type { IdentityVerifier } from '../identity/types.js'
import type { JournalEvent, JournalSink } from '../journal/types.js'
import type { AdminExtension, AdminRequest } from './server.js'

/** The `method` of the Operation a grant request is decided and approved as (never a data-path method). */
export const GRANT_REQUEST_METHOD = 'vecgate.Grants/Request'
const REVOKE_METHOD = 'vecgate.Tokens/Revoke'
/** seconds the CLI waits between two polls of a pending grant request (RFC 8628 §3.5 `interval`) */
const POLL_INTERVAL = 2

type Reply = { status?: number, json?: unknown }

interface ApprovalsApi {
  hold: NonNullable<Gateway['parts']['approvals']>['hold']
  get: (id: string) => ApprovalView
}

/** What this file reads of an approval (lib/approvals/types.ts Approval). */
interface ApprovalView {
  id: string
  status: 'pending' | 'approved' | 'denied' | 'expired' | 'used'
  requester: { subject: string, issuer: string }
  op: { method: string, summary: Record<string, unknown> }
  rule?: string
  reason?: string
  required: { count: number }
  approvals: Array<{ subject: string }>
  denial?: { subject: string, reason?: string }
  expiresAt: number
}

/** Per admin call: its journal record and the scope as asked (the exchange hands its hooks only part of it). */
interface CallContext { record: AdminRecord, asked: ScopeRequest }

export const identityRoutes: AdminExtension = (gw, route) => {
  const config = gw.config
  const calls = new AsyncLocalStorage<CallContext>()
  const decide = grantPolicy(gw)
  const approvals = gw.parts.approvals as unknown as ApprovalsApi | undefined

  /** GrantExchange with the identity it acts for recorded in the call's journal session. */
  class JournaledExchange extends GrantExchange {
    override async grantFor (identity: Identity, request: ScopeRequest): Promise<ExchangedGrant> {
      calls.getStore()?.record.auth(identity)
      return await super.grantFor(identity, request)
    }
  }

  const exchange = new JournaledExchange({
    grants: gw.parts.grants,
    verifier: gw.parts.verifier,
    tokenTtl: config.identity.token_ttl,
    backends: config.backends.map(b => b.name),
    key: gw.parts.key,
    log: gw.log,
    decide: (identity, request) => {
      const verdict = decide(identity, request)
      const call = calls.getStore()
      if (call !== undefined) {
        const op = grantOperation(config, request, call.asked.ttl)
        call.record.decided(op, verdict)
      }
      return verdict
    },
    ...(approvals !== undefined
      ? {
          approve: async (identity, request) => {
            const call = calls.getStore()
            const verdict = decide(identity, request)
            const op = grantOperation(config, request, call?.asked.ttl)
            try {
              // no hold here: a grant request waits for a person for minutes, not inside one HTTP call;
              // the approval is created (or an approved one consumed) and the caller polls
              return await approvals.hold({
                identity,
                op,
                verdict,
                sessionId: call?.record.id ?? 'admin',
                ...(request.reason !== undefined ? { reason: request.reason } : {}),
                deadline: Date.now()
              })
            } catch (e) {
              const err = asVecgateError(e)
              // a hold that ends at once reads as the client's deadline passing; for a grant request it
              // means "pending, come back" (the approval stays pending)
              if (err.code === 'VG_ERR_DEADLINE' && err.detail.approvalId !== undefined) {
                throw new VecgateError('VG_ERR_APPROVAL_REQUIRED', `grant request ${err.detail.approvalId} is pending approval (${verdict.reason})`,
                  { approvalId: err.detail.approvalId, ...(verdict.rule !== undefined ? { rule: verdict.rule } : {}), hint: `an approver runs: vecgate approvals approve ${err.detail.approvalId}` })
              }
              throw err
            }
          }
        }
      : {})
  })

  let saml: SamlAcs | undefined
  if (config.identity.saml !== undefined) {
    try {
      saml = new SamlAcs({ config: config.identity.saml, exchange, revocations: revocationsOf(gw.parts.verifier), log: gw.log })
    } catch (e) {
      throw new VecgateError('VG_ERR_CONFIG', `identity.saml: ${(e as Error).message}`)
    }
  }

  /** Runs an exchange with its journal session; a 403 "authorization_pending" with an approval id becomes 202. */
  const exchanged = async (req: AdminRequest, asked: ScopeRequest, run: () => Promise<{ status: number, json: Record<string, unknown> }>): Promise<Reply> => {
    const record = new AdminRecord(gw.parts.journal, req.client)
    const { status, json } = await calls.run({ record, asked }, run)
    const approvalId = typeof json.approval_id === 'string' ? json.approval_id : undefined
    const reply = json.code === 'VG_ERR_APPROVAL_REQUIRED' && approvalId !== undefined && approvals !== undefined
      ? { status: 202, json: pending(approvalId, String(json.error_description ?? json.message ?? 'pending approval')) }
      : { status, json }
    record.finish(reply.status, reply.json)
    return reply
  }

  route('POST', '/v1/grants', async (req) => {
    return await exchanged(req, askedOf(req.body), async () => await exchange.handleGrantRequest(req.body ?? req.rawBody, req.headers))
  })

  route('GET', '/v1/grants/requests/:id', async (req) => {
    if (approvals === undefined) throw new VecgateError('VG_ERR_USAGE', 'approvals are not enabled on this gateway')
    const who = await req.identity()
    const a = approvalOf(approvals, req.params.id)
    // only the requester learns about their request: anyone else gets the same answer as for no request
    if (a === undefined || a.op.method !== GRANT_REQUEST_METHOD || a.requester.subject !== who.subject || a.requester.issuer !== who.issuer) {
      return { status: 404, json: { error: 'not_found', message: `no grant request ${req.params.id}` } }
    }
    switch (a.status) {
      case 'pending': return { status: 202, json: pending(a.id, `waiting for ${a.required.count - a.approvals.length} more approver(s)`) }
      case 'denied': return { status: 403, json: { error: 'access_denied', code: 'VG_ERR_DENIED', approval_id: a.id, ...(a.rule !== undefined ? { rule: a.rule } : {}), error_description: `grant request ${a.id} was denied by ${a.denial?.subject ?? 'an approver'}${a.denial?.reason !== undefined ? `: ${a.denial.reason}` : ''}` } }
      case 'expired': return { status: 403, json: { error: 'expired_token', code: 'VG_ERR_APPROVAL_TIMEOUT', approval_id: a.id, error_description: `grant request ${a.id} expired before it was approved; ask again` } }
      case 'used': return { status: 409, json: { error: 'invalid_grant', code: 'VG_ERR_USAGE', approval_id: a.id, error_description: `grant request ${a.id} was approved and its grant already issued; one approval gives one grant` } }
    }
    // approved: the same exchange again, now consuming the approval (the policy is asked again too)
    const fields = fieldsOfApproval(a)
    return await exchanged(req, requestOf(fields), async () => await exchange.handleGrantRequest(fields, req.headers))
  })

  route('POST', '/v1/saml/acs', async (req) => {
    if (saml === undefined) {
      return { status: 404, json: { error: 'VG_ERR_USAGE', message: 'SAML is not configured on this gateway (identity.saml)' } }
    }
    const acs = saml
    const body = req.body ?? req.rawBody
    const relay = (body as Record<string, unknown> | undefined)?.RelayState
    let asked: ScopeRequest = {}
    try { if (typeof relay === 'string') asked = requestOf({ scope: relay }) } catch {}
    return await exchanged(req, asked, async () => await acs.handleAcsRequest(body as Record<string, unknown>))
  })

  route('POST', '/v1/tokens/revoke', async (req) => {
    const record = new AdminRecord(gw.parts.journal, req.client)
    try {
      const who = await req.identity()
      record.auth(who)
      const out = revoke(gw, who, req.body, record)
      record.finish(200, out)
      return { json: out }
    } catch (e) {
      const err = asVecgateError(e)
      record.finish(0, { code: err.code, message: err.message, ...err.detail })
      throw err
    }
  })
}

/** RFC 6749 §5.2-shaped answer for a pending request, with where and how often to ask again. */
function pending (approvalId: string, message: string): Record<string, unknown> {
  return {
    status: 'pending',
    error: 'authorization_pending',
    error_description: message,
    code: 'VG_ERR_APPROVAL_REQUIRED',
    approval_id: approvalId,
    poll: `/v1/grants/requests/${approvalId}`,
    interval: POLL_INTERVAL
  }
}

function approvalOf (approvals: ApprovalsApi, id: string): ApprovalView | undefined {
  try {
    return approvals.get(id)
  } catch (e) {
    if (e instanceof VecgateError && e.code === 'VG_ERR_USAGE') return undefined
    throw e
  }
}

/** The scope a person asked for, as far as it can be read (the exchange validates it properly). */
function askedOf (body: unknown): ScopeRequest {
  if (body === null || typeof body !== 'object') return {}
  try { return requestOf(body as Record<string, unknown>) } catch { return {} }
}

/** The grant request an approval was created for, as /v1/grants fields. */
function fieldsOfApproval (a: ApprovalView): Record<string, unknown> {
  const g = (a.op.summary.grant ?? {}) as Record<string, unknown>
  const f: Record<string, unknown> = {}
  for (const k of ['backend', 'collections', 'actions', 'ids', 'ttl', 'uses'] as const) if (g[k] !== undefined) f[k] = g[k]
  if (a.reason !== undefined) f.reason = a.reason
  return f
}

/**
 * The Operation a grant request is decided and approved as. Its summary is what the approver sees and
 * what the approval's fingerprint covers (with the requester): the same request asked again finds the
 * same approval, a different scope or ttl does not.
 */
export function grantOperation (config: Config, r: ScopeRequest, ttl: number | undefined): Operation {
  const backend = r.backend ?? '*'
  const actions = r.actions ?? []
  // the strongest action asked for stands for the request (the summary lists them all)
  const action = actions.reduce<Action>((a, b) => ACTIONS.indexOf(b) > ACTIONS.indexOf(a) ? b : a, actions[0] ?? 'read')
  const grant: Record<string, unknown> = { backend: r.backend, collections: r.collections, actions: r.actions, ids: r.ids, ttl, uses: r.uses }
  return {
    backend,
    protocol: config.backends.find(b => b.name === backend)?.protocol ?? 'postgres',
    method: GRANT_REQUEST_METHOD,
    action,
    ...(r.collections !== undefined && r.collections.length > 0 ? { collection: r.collections[0], collections: r.collections } : {}),
    ...(r.ids !== undefined ? { ids: r.ids } : {}),
    bulk: false,
    summary: { grant }
  }
}

const RANK: Record<Verdict['effect'], number> = { allow: 0, approve: 1, deny: 2 }

/**
 * The policy's answer to a grant request, from the same rules that decide each request made with the
 * grant. Everything asked for explicitly must be possible (the strictest verdict over the collections
 * and actions named wins: one denied makes the grant useless as asked, one needing approval makes the
 * grant need it); what is left open need only be possible in some form (the most lenient verdict over
 * the backends or actions not named), because the policy still decides every request of the grant.
 * Requests are judged at their most modest — not bulk, no vectors, limit 1 — for the same reason.
 */
export function grantPolicy (gw: Pick<Gateway, 'config' | 'parts'>): (identity: Identity, r: ScopeRequest) => Verdict {
  const policy = gw.parts.policy
  const backends = gw.config.backends
  return (identity, r) => {
    const onBackends = r.backend !== undefined ? backends.filter(b => b.name === r.backend) : backends
    if (onBackends.length === 0) return { effect: 'deny', reason: `no backend named ${String(r.backend)}` }
    const collections: Array<string | undefined> = r.collections !== undefined && r.collections.length > 0 ? r.collections : [undefined]
    const explicitActions: Array<Action | undefined> = r.actions !== undefined && r.actions.length > 0 ? r.actions : [undefined]
    let worst: Verdict | undefined
    for (const collection of collections) {
      for (const asked of explicitActions) {
        let best: Verdict | undefined
        for (const b of onBackends) {
          for (const action of asked !== undefined ? [asked] : ACTIONS) {
            const op: Operation = {
              backend: b.name,
              protocol: b.protocol,
              method: GRANT_REQUEST_METHOD,
              action,
              ...(collection !== undefined ? { collection } : {}),
              ...(r.ids !== undefined && r.ids.length > 0 ? { ids: r.ids } : {}),
              bulk: false,
              limit: 1,
              withVectors: false,
              summary: {}
            }
            const v = policy.decide(identity, op)
            if (best === undefined || RANK[v.effect] < RANK[best.effect]) best = v
            if (best.effect === 'allow') break
          }
          if (best?.effect === 'allow') break
        }
        if (worst === undefined || RANK[best!.effect] > RANK[worst.effect]) worst = best
        if (worst!.effect === 'deny') return worst!
      }
    }
    return worst!
  }
}

/**
 * POST /v1/tokens/revoke: `token` (a jti or a whole token, RFC 7009 §2.1) or `jti`. A caller may revoke
 * their own tokens; anyone else's needs what the policy calls `admin` on the token's backend and
 * collections (on every backend when only a jti is given, so its backend is unknown). Revoking an unknown or expired token is
 * not an error (RFC 7009 §2.2): the row is pruned once the token would have expired.
 */
function revoke (gw: Gateway, who: Identity, body: unknown, record: AdminRecord): Record<string, unknown> {
  const b = (body !== null && typeof body === 'object' ? body : {}) as Record<string, unknown>
  const arg = typeof b.token === 'string' && b.token !== '' ? b.token : typeof b.jti === 'string' && b.jti !== '' ? b.jti : undefined
  if (arg === undefined) throw new VecgateError('VG_ERR_USAGE', 'send `token` (a jti or a whole token) to revoke')
  let target: { jti: string, expiresAt?: number }
  try { target = revocationTarget(arg) } catch (e) { throw new VecgateError('VG_ERR_USAGE', (e as Error).message) }
  let owner: string | undefined
  let backend: string | undefined
  let collections: string[] | undefined
  if (arg.includes('.')) {
    const claims = decodeJwt(arg)
    owner = typeof claims.sub === 'string' ? claims.sub : undefined
    const scope = claims.vg as { backend?: unknown, collections?: unknown } | undefined
    backend = typeof scope?.backend === 'string' ? scope.backend : undefined
    if (Array.isArray(scope?.collections) && scope.collections.length > 0) collections = scope.collections.map(String)
  } else if (who.tokenId === target.jti) {
    owner = who.subject
  }
  const own = owner !== undefined && owner === who.subject
  const on = backend !== undefined ? [backend] : gw.config.backends.map(x => x.name)
  if (!own) {
    for (const name of on) {
      const be = gw.config.backends.find(x => x.name === name)
      // on the grant's collections when it names them; otherwise its reach is unknown, and the policy
      // decides an admin action with no collection (deny rules naming collections apply: fail closed)
      const op: Operation = { backend: name, protocol: be?.protocol ?? 'postgres', method: REVOKE_METHOD, action: 'admin', ...(collections !== undefined ? { collection: collections[0], collections } : {}), bulk: false, summary: {} }
      const v = be === undefined ? undefined : adminVerdict(gw, who, op)
      if (v?.effect !== 'allow') {
        throw new VecgateError('VG_ERR_DENIED', `${who.subject} may revoke only their own tokens; revoking others' needs the admin action on backend ${name} (${v?.reason ?? 'no such backend'})`, { ...(v?.rule !== undefined ? { rule: v.rule } : {}) })
      }
    }
  }
  const store = revocationsOf(gw.parts.verifier)
  if (store === undefined) throw new VecgateError('VG_ERR_INTERNAL', 'this gateway keeps no revocation list')
  store.revoke(target.jti, target.expiresAt)
  record.revoked(target.jti, backend)
  gw.log.info({ jti: target.jti, by: who.subject, own }, 'token revoked')
  return { revoked: target.jti, ...(target.expiresAt !== undefined ? { expires_at: target.expiresAt } : {}), ...(owner !== undefined ? { subject: owner } : {}) }
}

/** The policy on an admin action, inside the caller's own grant scope (a read-only grant cannot revoke). */
function adminVerdict (gw: Gateway, who: Identity, op: Operation): Verdict {
  try {
    checkScope(who.scope, op)
  } catch (e) {
    return { effect: 'deny', rule: 'grant-scope', reason: (e as Error).message }
  }
  return gw.parts.policy.decide(who, op)
}

function revocationsOf (verifier: IdentityVerifier): RevocationStore | undefined {
  return (verifier as { revocations?: RevocationStore }).revocations
}

const SESSION_ALPHABET = 'abcdefghijklmnopqrstuvwxyz234567'

/**
 * One admin call as a journal session (protocol `admin`): who, what was asked, the verdict, and the
 * grant issued or the refusal. Events are kept until the end so the session can be filed under the
 * backend the grant is for.
 */
class AdminRecord {
  readonly id: string
  private readonly at = Date.now()
  private readonly events: JournalEvent[] = []
  private identity: Identity | undefined
  private backend: string | undefined

  constructor (private readonly journal: JournalSink, private readonly client: string) {
    let s = 'ses_'
    for (const x of randomBytes(12)) s += SESSION_ALPHABET[x & 31]
    this.id = s
  }

  auth (identity: Identity): void {
    if (this.identity?.tokenId === identity.tokenId && this.identity?.subject === identity.subject) return
    this.identity = identity
    this.events.push({ session: this.id, at: Date.now(), kind: 'auth', identity })
  }

  decided (op: Operation, verdict: Verdict): void {
    if (op.backend !== '*') this.backend = op.backend
    const at = Date.now()
    this.events.push({ session: this.id, at, kind: 'request', call: 1, op, data: { subject: this.identity?.subject } })
    this.events.push({ session: this.id, at, kind: 'verdict', call: 1, verdict })
  }

  revoked (jti: string, backend: string | undefined): void {
    if (backend !== undefined) this.backend = backend
    this.events.push({ session: this.id, at: Date.now(), kind: 'request', call: 1, data: { subject: this.identity?.subject, revoke: jti } })
  }

  /** status 0: a refusal thrown past the route */
  finish (status: number, json: Record<string, unknown>): void {
    const at = Date.now()
    if (status === 200) {
      const data: Record<string, unknown> = { ok: true, status }
      if (typeof json.jti === 'string') data.grant = { jti: json.jti, expires_at: json.expires_at, subject: json.subject, scope: json.grant }
      if (typeof json.revoked === 'string') data.revoked = json.revoked
      this.events.push({ session: this.id, at, kind: 'response', call: 1, data })
    } else {
      const code = typeof json.code === 'string' ? json.code : typeof json.error === 'string' ? json.error : 'VG_ERR_INTERNAL'
      const message = json.error_description ?? json.message
      this.events.push({
        session: this.id,
        at,
        kind: 'error',
        call: 1,
        data: { code, message, status, ...(json.rule !== undefined ? { rule: json.rule } : {}), ...(json.approval_id !== undefined ? { approvalId: json.approval_id } : {}), ...(json.approvalId !== undefined ? { approvalId: json.approvalId } : {}) }
      })
    }
    this.journal.start({ id: this.id, backend: this.backend ?? '-', protocol: 'admin', client: this.client, tls: false, at: this.at })
    for (const e of this.events) this.journal.event(e)
    this.journal.end(this.id, at, status === 200 ? 'done' : status === 202 ? 'pending approval' : 'refused')
  }
}
