/**
 * Holding requests for a person's approval (ARCHITECTURE.md "approval hold").
 *
 * An `approve` verdict calls `hold`. The request is bound by its fingerprint (./fingerprint.ts) to an
 * approval: an approved and unused one is consumed at once (the retry after approval passes exactly
 * once); a pending one is waited on; otherwise one is created, with the blast radius measured first
 * and approvers notified. The request then waits in protocol until it is approved (released, and the
 * approval is used up), denied, the hold ends (APPROVAL_TIMEOUT with the id: retry once approved) or
 * the client's own deadline passes (DEADLINE), or the client goes away (the approval stays pending).
 *
 * Approvers are authenticated identities in the rule's approver groups or users, never the
 * requester, `count` distinct ones. Approvals live in SQLite so they survive a restart; a request held
 * when the gateway stopped is retried by its client and finds its approval again.
 */
import { randomBytes } from 'node:crypto'
import type { Identity, Operation, Verdict } from '../../decoders/types.js'
import type { PolicyConfig } from '../config/types.js'
import { VecgateError } from '../errors.js'
import type { JournalSink } from '../journal/types.js'
import { rootLogger, type Logger } from '../log.js'
import { collectionsOf, fingerprint } from './fingerprint.js'
import { ApprovalStore } from './store.js'
import { APPROVAL_STATUSES, type Approval, type ApprovalEvent, type ApprovalEventKind, type ApprovalOp, type ApprovalStatus, type ApprovalVote } from './types.js'
import { WebhookNotifier, type Notifier } from './webhook.js'

export interface HoldRequest {
  identity: Identity
  op: Operation
  verdict: Verdict
  sessionId: string
  /** why the requester needs it, shown to approvers */
  reason?: string
  /** measures what a bulk operation would touch; bounded in time */
  blastRadius?: () => Promise<number | undefined>
  /** values the Operation leaves out (SQL literals, bound parameters): part of what is approved */
  bound?: { literals?: readonly string[], parameters?: Uint8Array }
  /** epoch ms: the end of the hold (the earlier of the client's deadline and the gateway's hold maximum) */
  deadline: number
  /** epoch ms: the client's own deadline (gRPC grpc-timeout), when it gave one; tells DEADLINE from APPROVAL_REQUIRED */
  clientDeadline?: number
  /** aborted when the client goes away */
  signal?: AbortSignal
}

export interface ApprovalsOptions {
  /** approval_hold, approval_ttl (seconds) and webhook from the policy config */
  config?: Pick<PolicyConfig, 'approval_hold' | 'approval_ttl' | 'webhook'>
  /** SQLite file; ':memory:' (the default) keeps nothing across restarts */
  path?: string
  log?: Logger
  /** every step is recorded here as a journal event of kind 'approval' in the requesting session */
  journal?: JournalSink
  /** every step, for whoever else wants it */
  onEvent?: (e: ApprovalEvent) => void
  /** replaces the webhook from the config */
  notifier?: Notifier
  /** longest the blast radius is measured before asking anyway (default 5 s) */
  blastRadiusMs?: number
  /** how long decided approvals are kept in the store (default 30 days; the journal keeps them for good) */
  keepMs?: number
  now?: () => number
}

export interface ListFilter {
  status?: ApprovalStatus
  /** only approvals this identity requested or may decide */
  for?: Identity
  /** default 100, at most 1000 */
  limit?: number
}

interface Waiter {
  resolve: (v: { approvalId: string }) => void
  reject: (e: VecgateError) => void
  cleanup: () => void
}

const ID_ALPHABET = 'abcdefghijklmnopqrstuvwxyz234567'
const ID = /^apr_[a-z2-7]{10}$/
/** ids shown to approvers and kept in the store; the fingerprint covers all of them */
const MAX_IDS_SHOWN = 100
/** a deadline this much before the hold maximum is taken to be the client's own */
const DEADLINE_SLACK_MS = 20

/** 'apr_' + 10 base32 characters: 50 random bits, enough that ids cannot be guessed. */
export function newApprovalId (): string {
  const b = randomBytes(10)
  let s = 'apr_'
  for (const x of b) s += ID_ALPHABET[x & 31]
  return s
}

export class Approvals {
  readonly holdMs: number
  readonly ttlMs: number
  private readonly store: ApprovalStore
  private readonly log: Logger
  private readonly notifier: Notifier | undefined
  private readonly now: () => number
  private readonly waiters = new Map<string, Set<Waiter>>()
  private readonly sweeper: NodeJS.Timeout
  private closed = false

  constructor (private readonly opts: ApprovalsOptions = {}) {
    this.holdMs = (opts.config?.approval_hold ?? 30) * 1000
    this.ttlMs = (opts.config?.approval_ttl ?? 900) * 1000
    this.log = (opts.log ?? rootLogger).child({ module: 'approvals' })
    this.now = opts.now ?? Date.now
    this.store = new ApprovalStore(opts.path ?? ':memory:')
    this.notifier = opts.notifier ?? (opts.config?.webhook !== undefined ? new WebhookNotifier({ url: opts.config.webhook.url, log: this.log }) : undefined)
    this.sweeper = setInterval(() => this.sweep(), Math.max(1000, Math.min(this.ttlMs, 30_000))).unref()
  }

  async hold (req: HoldRequest): Promise<{ approvalId: string }> {
    const { identity, op, verdict } = req
    if (verdict.effect !== 'approve' || verdict.approvers === undefined) {
      throw new VecgateError('VG_ERR_INTERNAL', 'hold called without an approve verdict')
    }
    if (this.closed) throw new VecgateError('VG_ERR_APPROVAL_REQUIRED', `${verdict.reason}; the gateway is stopping, retry later`, { rule: verdict.rule })
    const start = this.now()
    this.sweep(start)
    const holdEnd = Math.min(req.deadline, start + this.holdMs)
    const clientDeadline = req.clientDeadline ?? (req.deadline < start + this.holdMs - DEADLINE_SLACK_MS ? req.deadline : undefined)
    const fp = fingerprint(identity, op, req.bound)

    const approved = this.find(fp, 'approved', verdict, start)
    if (approved !== undefined && this.store.consume(approved.id, start)) {
      this.emit('released', { ...approved, status: 'used', usedAt: start }, undefined, start)
      return { approvalId: approved.id }
    }
    const denied = this.find(fp, 'denied', verdict, start)
    if (denied !== undefined) throw deniedError(denied)

    let a = this.find(fp, 'pending', verdict, start)
    if (a === undefined) {
      if (req.signal?.aborted === true) throw abandoned(verdict)
      const blast = await this.measure(req.blastRadius, Math.min(holdEnd, start + (this.opts.blastRadiusMs ?? 5000)))
      if (this.closed) throw new VecgateError('VG_ERR_APPROVAL_REQUIRED', `${verdict.reason}; the gateway is stopping, retry later`, { rule: verdict.rule })
      const now = this.now()
      // an identical request may have asked while this one measured
      a = this.find(fp, 'pending', verdict, now) ?? this.create(req, fp, blast, now)
    }
    return await this.wait(a, holdEnd, clientDeadline, req.signal)
  }

  /** GET /v1/approvals: pending first, then newest first. */
  list (filter: ListFilter = {}): Approval[] {
    if (filter.status !== undefined && !APPROVAL_STATUSES.includes(filter.status)) {
      throw new VecgateError('VG_ERR_USAGE', `status: expected one of ${APPROVAL_STATUSES.join(', ')}, not "${String(filter.status)}"`)
    }
    this.sweep()
    const limit = Math.min(Math.max(1, filter.limit ?? 100), 1000)
    const who = filter.for
    const all = this.store.list(filter.status, who === undefined ? limit : 1000)
    return (who === undefined ? all : all.filter(a => a.requester.subject === who.subject || mayDecide(a, who))).slice(0, limit)
  }

  /** GET /v1/approvals/:id */
  get (id: string): Approval {
    this.sweep()
    return this.require(id)
  }

  /** POST /v1/approvals/:id/approve: one vote; the approval is given once `count` distinct approvers voted. */
  approve (id: string, approver: Identity, reason?: string): Approval {
    const now = this.now()
    this.sweep(now)
    const a = this.require(id)
    this.checkApprover(a, approver, 'approve', now)
    if (a.status !== 'pending') throw notPending(a, 'approve')
    if (a.approvals.some(v => v.subject === approver.subject)) {
      throw new VecgateError('VG_ERR_USAGE', `${approver.subject} has already approved ${a.id}; it needs ${a.required.count - a.approvals.length} more approver(s)`, { approvalId: a.id })
    }
    const votes = [...a.approvals, vote(approver, now, reason)]
    if (votes.length < a.required.count) {
      this.store.vote(a.id, votes)
      const after: Approval = { ...a, approvals: votes }
      this.emit('vote', after, approver, now)
      return after
    }
    const expiresAt = now + this.ttlMs
    this.store.approve(a.id, votes, now, expiresAt)
    const after: Approval = { ...a, status: 'approved', approvals: votes, decidedAt: now, expiresAt }
    this.emit('approved', after, approver, now)
    return this.release(after, now)
  }

  /** POST /v1/approvals/:id/deny: one eligible approver's no decides (also withdraws an approval not yet used). */
  deny (id: string, approver: Identity, reason?: string): Approval {
    const now = this.now()
    this.sweep(now)
    const a = this.require(id)
    this.checkApprover(a, approver, 'deny', now)
    if (a.status !== 'pending' && a.status !== 'approved') throw notPending(a, 'deny')
    const denial = vote(approver, now, reason)
    // a denial stands for approval_ttl: the same request retried meanwhile is refused with its reason
    const expiresAt = now + this.ttlMs
    this.store.deny(a.id, a.approvals, denial, now, expiresAt)
    const after: Approval = { ...a, status: 'denied', denial, decidedAt: now, expiresAt }
    this.emit('denied', after, approver, now)
    this.settle(a.id, w => w.reject(deniedError(after)))
    return after
  }

  /** Stops the sweeper, lets held requests go with APPROVAL_REQUIRED, closes the store. */
  close (): void {
    if (this.closed) return
    this.closed = true
    clearInterval(this.sweeper)
    for (const id of [...this.waiters.keys()]) {
      this.settle(id, w => w.reject(new VecgateError('VG_ERR_APPROVAL_REQUIRED', `approval ${id} is pending; the gateway is stopping, retry once it is approved`, { approvalId: id })))
    }
    this.store.close()
  }

  private require (id: string): Approval {
    if (typeof id !== 'string' || !ID.test(id)) throw new VecgateError('VG_ERR_USAGE', `not an approval id: ${JSON.stringify(String(id).slice(0, 40))} (they look like apr_k3j4h5g6f7)`)
    const a = this.store.get(id)
    if (a === undefined) throw new VecgateError('VG_ERR_USAGE', `no approval ${id}`, { approvalId: id })
    return a
  }

  /** A live approval for this request under the rule that decides now (a changed policy asks anew). */
  private find (fp: string, status: ApprovalStatus, verdict: Verdict, now: number): Approval | undefined {
    const a = this.store.find(fp, status, now)
    if (a === undefined || a.rule !== verdict.rule || !sameApprovers(a.required, verdict.approvers!)) return undefined
    return a
  }

  private create (req: HoldRequest, fp: string, blastRadius: number | undefined, now: number): Approval {
    const { identity, op, verdict } = req
    const a: Approval = {
      id: newApprovalId(),
      status: 'pending',
      requester: {
        subject: identity.subject,
        issuer: identity.issuer,
        source: identity.source,
        groups: [...identity.groups],
        ...(identity.tokenId !== undefined ? { tokenId: identity.tokenId } : {})
      },
      session: req.sessionId,
      op: approvalOp(op),
      ...(verdict.rule !== undefined ? { rule: verdict.rule } : {}),
      verdict: verdict.reason,
      ...(req.reason !== undefined ? { reason: req.reason } : {}),
      ...(blastRadius !== undefined ? { blastRadius } : {}),
      required: { ...verdict.approvers!, count: verdict.approvers!.count },
      approvals: [],
      createdAt: now,
      expiresAt: now + this.ttlMs,
      fingerprint: fp
    }
    this.store.insert(a)
    this.emit('created', a, undefined, now)
    if (this.notifier !== undefined) void this.notifier.notify(a).catch(() => false)
    return a
  }

  private async measure (count: HoldRequest['blastRadius'], until: number): Promise<number | undefined> {
    const ms = until - this.now()
    if (count === undefined || ms <= 0) return undefined
    let timer: NodeJS.Timeout | undefined
    try {
      const n = await Promise.race([
        count(),
        new Promise<undefined>(resolve => { timer = setTimeout(() => resolve(undefined), ms) })
      ])
      if (n === undefined) this.log.info('blast radius not measured in time; asking without it')
      return typeof n === 'number' && Number.isFinite(n) && n >= 0 ? n : undefined
    } catch (e) {
      this.log.warn({ err: (e as Error).message }, 'blast radius could not be measured; asking without it')
      return undefined
    } finally {
      clearTimeout(timer)
    }
  }

  private async wait (a: Approval, holdEnd: number, clientDeadline: number | undefined, signal: AbortSignal | undefined): Promise<{ approvalId: string }> {
    return await new Promise((resolve, reject) => {
      if (signal?.aborted === true) {
        this.emit('abandoned', a, undefined, this.now())
        reject(abandonedWhile(a))
        return
      }
      let set = this.waiters.get(a.id)
      if (set === undefined) this.waiters.set(a.id, set = new Set())
      const waiters = set
      const onTimeout = (): void => {
        leave()
        const now = this.now()
        this.emit('timeout', a, undefined, now)
        if (clientDeadline !== undefined && clientDeadline <= holdEnd) {
          reject(new VecgateError('VG_ERR_DEADLINE', `the client's deadline passed while approval ${a.id} was pending; it stays pending: retry once it is approved`, { rule: a.rule, approvalId: a.id }))
        } else {
          // the hold maximum passed (CONTRACT.md "approval timed out while held": Postgres 57014, gRPC
          // PERMISSION_DENIED); the approval stays pending
          reject(new VecgateError('VG_ERR_APPROVAL_TIMEOUT', `approval ${a.id} is pending (${a.verdict}); the hold ended: retry once it is approved`, { rule: a.rule, approvalId: a.id, hint: `vecgate approvals show ${a.id}` }))
        }
      }
      const onAbort = (): void => {
        leave()
        this.emit('abandoned', a, undefined, this.now())
        reject(abandonedWhile(a))
      }
      const timer = setTimeout(onTimeout, Math.max(0, holdEnd - this.now()))
      signal?.addEventListener('abort', onAbort, { once: true })
      const leave = (): void => {
        clearTimeout(timer)
        signal?.removeEventListener('abort', onAbort)
        waiters.delete(waiter)
        if (waiters.size === 0 && this.waiters.get(a.id) === waiters) this.waiters.delete(a.id)
      }
      const waiter: Waiter = { resolve, reject, cleanup: leave }
      waiters.add(waiter)
    })
  }

  /** Given approval releases the first held request (using it up); others held on it ask again. */
  private release (a: Approval, now: number): Approval {
    const set = this.waiters.get(a.id)
    const first = set?.values().next().value
    if (first === undefined) return a
    if (!this.store.consume(a.id, now)) return a
    const used: Approval = { ...a, status: 'used', usedAt: now }
    first.cleanup()
    this.emit('released', used, undefined, now)
    first.resolve({ approvalId: a.id })
    this.settle(a.id, w => w.reject(new VecgateError('VG_ERR_APPROVAL_REQUIRED',
      `approval ${a.id} released an identical request held at the same time; retry to ask for a new approval`, { rule: a.rule, approvalId: a.id })))
    return used
  }

  private settle (id: string, fn: (w: Waiter) => void): void {
    const set = this.waiters.get(id)
    if (set === undefined) return
    for (const w of [...set]) {
      w.cleanup()
      fn(w)
    }
    this.waiters.delete(id)
  }

  /** Expires approvals whose time is up (on every call and every little while), and forgets old ones. */
  private sweep (now = this.now()): void {
    if (this.closed) return
    for (const a of this.store.expireDue(now)) {
      this.emit('expired', a, undefined, now)
      this.settle(a.id, w => w.reject(new VecgateError('VG_ERR_APPROVAL_TIMEOUT', `approval ${a.id} expired before it was approved`, { rule: a.rule, approvalId: a.id })))
    }
    this.store.prune(now - (this.opts.keepMs ?? 30 * 86_400_000))
  }

  private checkApprover (a: Approval, approver: Identity, verb: 'approve' | 'deny', now: number): void {
    if (approver === undefined || typeof approver.subject !== 'string' || approver.subject === '') {
      throw new VecgateError('VG_ERR_UNAUTHENTICATED', `sign in to ${verb} approvals`)
    }
    if (approver.expiresAt * 1000 <= now) throw new VecgateError('VG_ERR_UNAUTHENTICATED', 'your token has expired; get a fresh one')
    if (approver.subject === a.requester.subject) {
      throw new VecgateError('VG_ERR_DENIED', `${approver.subject} cannot ${verb} ${a.id}: it is their own request; another approver must decide`, { approvalId: a.id, rule: a.rule })
    }
    if (!mayDecide(a, approver)) {
      throw new VecgateError('VG_ERR_DENIED', `${approver.subject} may not ${verb} ${a.id}: it needs ${approversText(a.required)}`, { approvalId: a.id, rule: a.rule })
    }
  }

  private emit (kind: ApprovalEventKind, approval: Approval, actor: Identity | undefined, at: number): void {
    const e: ApprovalEvent = { kind, approval, at, ...(actor !== undefined ? { actor } : {}) }
    this.log.info({ approval: approval.id, step: kind, actor: actor?.subject, status: approval.status }, `approval ${kind}`)
    try {
      this.opts.journal?.event({
        session: approval.session,
        at,
        kind: 'approval',
        ...(actor !== undefined ? { identity: actor } : {}),
        data: {
          step: kind,
          approval: approval.id,
          status: approval.status,
          rule: approval.rule,
          requester: approval.requester.subject,
          actor: actor?.subject,
          reason: kind === 'created' ? approval.reason : kind === 'denied' ? approval.denial?.reason : kind === 'vote' || kind === 'approved' ? approval.approvals.at(-1)?.reason : undefined,
          blastRadius: kind === 'created' ? approval.blastRadius : undefined
        }
      })
      this.opts.onEvent?.(e)
    } catch (err) {
      // the journal is loud about its own failures; here it must not stop a decision half-way
      this.log.error({ approval: approval.id, step: kind, err: (err as Error).message }, 'approval event not recorded')
    }
  }
}

function mayDecide (a: Approval, who: Identity): boolean {
  if (who.subject === a.requester.subject) return false
  if (a.required.users?.includes(who.subject) === true) return true
  const groups = a.required.groups
  return groups !== undefined && who.groups.some(g => groups.includes(g))
}

function sameApprovers (a: Approval['required'], b: NonNullable<Verdict['approvers']>): boolean {
  const eq = (x?: string[], y?: string[]): boolean => (x ?? []).join('\n') === (y ?? []).join('\n')
  return a.count === b.count && eq(a.groups, b.groups) && eq(a.users, b.users)
}

function approversText (r: Approval['required']): string {
  const who = [...(r.groups ?? []).map(g => `group ${g}`), ...(r.users ?? []).map(u => `user ${u}`)].join(' or ')
  return `${r.count} approver(s) from ${who}, other than the requester`
}

function vote (who: Identity, at: number, reason: string | undefined): ApprovalVote {
  return { subject: who.subject, issuer: who.issuer, at, ...(reason !== undefined && reason !== '' ? { reason: String(reason).slice(0, 1000) } : {}) }
}

function approvalOp (op: Operation): ApprovalOp {
  const out: ApprovalOp = {
    backend: op.backend,
    protocol: op.protocol,
    method: op.method,
    action: op.action,
    bulk: op.bulk,
    summary: op.summary
  }
  if (op.database !== undefined) out.database = op.database
  if (op.collection !== undefined) out.collection = op.collection
  const all = collectionsOf(op)
  if (all.length > 1 || (op.collections !== undefined && op.collections.length > 0)) out.collections = all
  if (op.ids !== undefined) {
    out.ids = op.ids.slice(0, MAX_IDS_SHOWN)
    out.idCount = op.ids.length
  }
  if (op.filter !== undefined) out.filter = op.filter
  if (op.limit !== undefined) out.limit = op.limit
  if (op.withVectors !== undefined) out.withVectors = op.withVectors
  return JSON.parse(JSON.stringify(out, (_k, v: unknown) => typeof v === 'bigint' ? v.toString() : v)) as ApprovalOp
}

function deniedError (a: Approval): VecgateError {
  const by = a.denial !== undefined ? ` by ${a.denial.subject}${a.denial.reason !== undefined ? `: ${a.denial.reason}` : ''}` : ''
  return new VecgateError('VG_ERR_DENIED', `approval ${a.id} was denied${by}`, { rule: a.rule, approvalId: a.id })
}

function notPending (a: Approval, verb: 'approve' | 'deny'): VecgateError {
  if (a.status === 'expired') return new VecgateError('VG_ERR_APPROVAL_TIMEOUT', `approval ${a.id} has expired; the requester must ask again`, { approvalId: a.id })
  return new VecgateError('VG_ERR_USAGE', `cannot ${verb} ${a.id}: it is already ${a.status}`, { approvalId: a.id })
}

function abandoned (verdict: Verdict): VecgateError {
  return new VecgateError('VG_ERR_APPROVAL_REQUIRED', `${verdict.reason}; the client went away before asking`, { rule: verdict.rule })
}

function abandonedWhile (a: Approval): VecgateError {
  return new VecgateError('VG_ERR_APPROVAL_REQUIRED', `the client went away while approval ${a.id} was pending; it stays pending: retry once it is approved`, { rule: a.rule, approvalId: a.id })
}
