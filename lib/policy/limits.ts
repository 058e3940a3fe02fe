/**
 * Exfiltration limits (THREATS.md: a valid token must not drain a collection): per identity subject and
 * window, how many requests it may make and how many records and vectors it may receive. A request is
 * refused once a count has reached its limit; what a response returns is counted after it streamed, so
 * the request that crosses the line completes and the next one is refused.
 *
 * Windows are fixed, or sliding by the two-bucket estimate (the previous window's count weighted by how
 * much of it still overlaps the sliding window): O(1) memory per identity, no per-request timestamps.
 * Memory is bounded: identities idle for two windows are swept, and past `maxIdentities` the oldest
 * entries go first.
 */
import type { Identity } from '../../decoders/types.js'
import type { PolicyConfig } from '../config/types.js'
import { VecgateError } from '../errors.js'

export type LimitsConfig = NonNullable<PolicyConfig['limits']>

export interface LimitsOptions {
  /** 'sliding' (default) or 'fixed' */
  mode?: 'sliding' | 'fixed'
  /** identities tracked at most (default 100,000) */
  maxIdentities?: number
  /** clock in epoch ms; tests pass their own */
  now?: () => number
}

/** Counts of one identity: the current window and the one before it. */
interface Counter {
  start: number
  requests: number
  records: number
  vectors: number
  prevRequests: number
  prevRecords: number
  prevVectors: number
  /** last activity, for the idle sweep */
  seen: number
}

export class ExfiltrationLimits {
  private readonly windowMs: number
  private readonly sliding: boolean
  private readonly max: number
  private readonly now: () => number
  private readonly counters = new Map<string, Counter>()
  private lastSweep: number

  constructor (readonly config: LimitsConfig, opts: LimitsOptions = {}) {
    if (!(config.window > 0)) throw new VecgateError('VG_ERR_CONFIG', `policy.limits.window: expected a duration above 0, not ${String(config.window)}`)
    this.windowMs = config.window * 1000
    this.sliding = (opts.mode ?? 'sliding') === 'sliding'
    this.max = opts.maxIdentities ?? 100_000
    this.now = opts.now ?? Date.now
    this.lastSweep = this.now()
  }

  /** Called before a request goes upstream; throws VG_ERR_LIMIT when a limit has been reached. */
  admit (identity: Identity): void {
    const now = this.now()
    const c = this.counter(identity.subject, now)
    const weight = this.weight(c, now)
    const { requests, records, vectors } = this.config
    if (requests !== undefined && c.requests + c.prevRequests * weight >= requests) {
      throw this.refusal(identity, 'requests', requests, c.requests, c.prevRequests, c.start, now)
    }
    if (records !== undefined && c.records + c.prevRecords * weight >= records) {
      throw this.refusal(identity, 'records', records, c.records, c.prevRecords, c.start, now)
    }
    if (vectors !== undefined && c.vectors + c.prevVectors * weight >= vectors) {
      throw this.refusal(identity, 'vectors', vectors, c.vectors, c.prevVectors, c.start, now)
    }
    c.requests++
  }

  /** What one response returned to the identity. */
  account (identity: Identity, counts: { records: number, vectors: number }): void {
    const now = this.now()
    const c = this.counter(identity.subject, now)
    c.records += counts.records
    c.vectors += counts.vectors
  }

  /** Identities currently tracked (for metrics and tests). */
  get size (): number { return this.counters.size }

  private counter (subject: string, now: number): Counter {
    let c = this.counters.get(subject)
    if (c === undefined) {
      if (now - this.lastSweep >= this.windowMs || this.counters.size >= this.max) this.sweep(now)
      c = { start: now - (now % this.windowMs), requests: 0, records: 0, vectors: 0, prevRequests: 0, prevRecords: 0, prevVectors: 0, seen: now }
      this.counters.set(subject, c)
      return c
    }
    c.seen = now
    const elapsed = now - c.start
    if (elapsed >= this.windowMs) {
      // one window on: the current counts become the previous; two or more: both start over
      const one = elapsed < 2 * this.windowMs
      c.prevRequests = one ? c.requests : 0
      c.prevRecords = one ? c.records : 0
      c.prevVectors = one ? c.vectors : 0
      c.requests = c.records = c.vectors = 0
      c.start = now - (now % this.windowMs)
    }
    return c
  }

  /** How much of the previous window still counts: 0 for fixed windows. */
  private weight (c: Counter, now: number): number {
    return this.sliding ? 1 - (now - c.start) / this.windowMs : 0
  }

  private sweep (now: number): void {
    this.lastSweep = now
    for (const [k, c] of this.counters) if (now - c.seen >= 2 * this.windowMs) this.counters.delete(k)
    // still full: the oldest entries (Map order is insertion order) make room
    if (this.counters.size >= this.max) {
      let drop = this.counters.size - this.max + 1 + Math.floor(this.max / 10)
      for (const k of this.counters.keys()) {
        if (drop-- <= 0) break
        this.counters.delete(k)
      }
    }
  }

  /** When the count will have dropped below the limit, if nothing more is counted. */
  private freeAt (limit: number, cur: number, prev: number, start: number): number {
    const w = this.windowMs
    if (!this.sliding) return start + w
    // this window: cur + prev·(1 − f) < limit once f passes 1 − (limit − cur)/prev
    if (cur < limit && prev > 0) return start + w * (1 - (limit - cur) / prev)
    // the next window, where this one's count is the previous one and fades
    return start + w + w * Math.max(0, 1 - limit / cur)
  }

  private refusal (identity: Identity, what: 'requests' | 'records' | 'vectors', limit: number, cur: number, prev: number, start: number, now: number): VecgateError {
    const seconds = this.windowMs / 1000
    const retry = Math.max(1, Math.ceil((this.freeAt(limit, cur, prev, start) - now) / 1000))
    const did = what === 'requests' ? 'made' : 'received'
    return new VecgateError('VG_ERR_LIMIT',
      `exfiltration limit: ${identity.subject} ${did} ${limit} ${what} or more in ${seconds}s (limit ${limit} per ${seconds}s); try again in ${retry}s`,
      { hint: `policy.limits.${what} is ${limit} per ${seconds}s` })
  }
}
