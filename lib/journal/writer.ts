/**
 * The journal writer: the gateway's JournalSink. The request path only appends to an in-memory
 * queue. Batches leave it for the journal's worker thread (worker.ts) — every `commitDelay` ms, at
 * once when BATCH events are queued, or right after the current I/O callback when someone waits
 * (`flush`) — as one flat array of primitives and an arena of the events' bodies, transferred rather
 * than copied (batch.ts). The only journal work left on the gateway's thread is serializing each event
 * to JSON, as UTF-8 into the arena (results are live views only this thread can read), at the end of
 * the I/O turn that gave it, and one postMessage per batch; hashing, sealing and SQLite
 * run in the worker, one transaction per batch or per run of batches that reached it together
 * (group commit).
 *
 * Why a delay of several ms for events nobody waits for: a postMessage and a commit each cost about
 * as much as journaling a few calls, so at low load one of each per call would double the journal's
 * cost; the price is that a read's events reach the disk up to that delay after its response. A kill
 * in that window loses them, and the next start says so: each committed batch records when it was
 * handed over (store.ts, journal_state), and recovery's loss events name that time as the one from
 * which events may be missing.
 *
 * `flush()` resolves once everything given so far is committed; protocol paths await it before the
 * last byte of a response leaves (writes, deletes, admin; every call with `journal.durable: all`),
 * so such a response the client received is never missing from the journal, even after a SIGKILL.
 *
 * Nothing is dropped silently. `journal.queue` bounds the events queued or handed to the worker and
 * not yet committed. When it is full: with `on_full: hold` the gateway's thread waits for the worker
 * (Atomics.wait on a shared counter), holding every client; with `on_full: mark`, or while the
 * database fails, the event is counted and a `loss` event says how many of which kind were lost.
 * A failing database is loud (an error log, `failure` set so the pipeline refuses new requests) and
 * retried; a worker that dies fails the journal for good, just as loudly.
 */
import { closeSync, mkdirSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs'
import { dirname } from 'node:path'
import { Worker } from 'node:worker_threads'
import type { KeyObject } from 'node:crypto'
import type { Logger } from '../log.js'
import { VecgateError } from '../errors.js'
import { Arena, ARENA_MIN, FAILING, GENERATION, pushEnd, pushEvent, pushLost, pushStart, sharedState, type EventFacts, type FromWorker, type SharedState, type ToWorker, type WorkerData } from './batch.js'
import { EventSerializer, identityRecord } from './serialize.js'
import { JournalStore } from './store.js'
import type { JournalEvent, JournalSink, SessionStart } from './types.js'

export interface JournalWriterOptions {
  path: string
  onFull: 'hold' | 'mark'
  queue: number
  storeVectors: boolean
  signingKey: KeyObject
  keyId: string
  log: Logger
  retention?: { max_age?: number, max_bytes?: number }
  /** how often retention runs, ms (default 10 minutes) */
  pruneEvery?: number
  /** longest an event nobody waits for stays queued before it goes to the worker, ms (default 10) */
  commitDelay?: number
  /** bytes of serialized events kept before the queue counts as full (default QUEUE_BYTES) */
  queueBytes?: number
}

interface Waiter { target: number, resolve: () => void, reject: (e: Error) => void }

/** queued events that go to the worker without waiting for the commit delay */
const BATCH = 1024
/** arenas given back by the worker kept for the next batches */
const SPARE = 2

/**
 * The most bytes of serialized events this thread keeps, queued or handed to the worker and not yet
 * committed, beside `journal.queue`'s count of events: results are large events (a burst of rows, a
 * message), and a client reading a large result faster than the worker commits it would otherwise
 * fill this thread's memory up to the event count (a 1 GB PostgreSQL result with the journal on
 * peaked at 655 MiB). Past it the queue is full, as past the count: `on_full: hold` waits for the
 * worker, so the gateway reads no more than the journal keeps up with.
 */
export const QUEUE_BYTES = 64 * 1024 * 1024

export class JournalWriter implements JournalSink {
  readonly path: string
  private readonly opts: JournalWriterOptions
  private readonly serializer: EventSerializer
  private readonly lock: string
  private readonly worker: Worker
  private readonly shared: SharedState
  /**
   * the next batch, encoded at the end of the I/O turn that gave its events: what waits for the
   * worker is strings, numbers and bytes, not the events' objects (a response's result view, its
   * operation), which die young instead of outliving the commit delay; each turn serializes its own
   * few events rather than a burst every `commitDelay` ms holding whichever request arrives then
   */
  private batch: unknown[] = []
  /** the bodies of `batch` and of the results held, as UTF-8; a new one for each batch handed over */
  private arena = new Arena()
  /** arenas of committed batches the worker gave back, to write the next batches into */
  private spare: ArrayBuffer[] = []
  /**
   * events given in this turn, serialized into `batch` once the turn's writes have left (the
   * protocol paths cork their sockets until a setImmediate queued before this one), not before them
   */
  private given: JournalEvent[] = []
  private encodeSoon = false
  /** items in `batch` and `given` */
  private queued = 0
  /** items handed to the worker so far; the worker's settled count catches up with it */
  private posted = 0
  /** per batch handed to the worker and not yet settled: the `posted` count it ends at and its bytes */
  private readonly postedBytes: number[] = []
  /** the sum of the bytes in `postedBytes` */
  private inflightBytes = 0
  /** flush callers whose target is set when their batch is handed over */
  private unsent: Waiter[] = []
  /** flush callers waiting for the worker, in target order */
  private waiters: Waiter[] = []
  /** events not recorded (queue full), per session and kind, until a loss event says so */
  private readonly lost = new Map<string, Record<string, number>>()
  private lastError: Error | undefined
  /** set for good when the worker stopped on its own */
  private dead: Error | undefined
  private timer: NodeJS.Timeout | undefined
  private scheduled = false
  private commitSoon = false
  private closed = false
  private closing: Promise<void> | undefined
  private requests = 0
  private readonly replies = new Map<number, { resolve: (v: number) => void, reject: (e: Error) => void }>()

  constructor (opts: JournalWriterOptions) {
    this.opts = opts
    this.path = opts.path
    this.serializer = new EventSerializer(opts.storeVectors)
    mkdirSync(dirname(opts.path), { recursive: true })
    this.lock = takeLock(opts.path)
    try {
      // opened here first, synchronously: a bad path fails the start, and sessions a killed gateway
      // left open are closed before any new one begins
      const store = new JournalStore({ path: opts.path, signingKey: opts.signingKey, keyId: opts.keyId, log: opts.log, retention: opts.retention })
      // then marked as written by this gateway until it stops cleanly: nothing of it is queued yet
      try { store.recover(); store.running(opts.commitDelay ?? 10) } finally { store.close() }
    } catch (e) {
      rmSync(this.lock, { force: true })
      throw e
    }
    this.shared = sharedState()
    const data: WorkerData = {
      path: opts.path,
      signingKey: opts.signingKey,
      keyId: opts.keyId,
      retention: opts.retention,
      pruneEvery: opts.pruneEvery ?? 600_000,
      shared: this.shared.buffer
    }
    this.worker = startWorker(data)
    this.worker.on('message', (m: FromWorker) => this.onMessage(m))
    this.worker.on('error', (e) => this.died(e))
    this.worker.on('exit', (code) => { if (!this.closed) this.died(new Error(`the journal worker exited (code ${code})`)) })
    // the journal keeps the process alive only while someone waits for it (see ref()); the gateway
    // closes it when it stops, which commits the rest
    this.worker.unref()
  }

  /** events committed so far (and, while the database fails, counted as lost), for the benchmark and /metrics */
  get written (): number {
    return this.settled()
  }

  /** set while the database refuses writes; the pipeline refuses new requests meanwhile (fail closed) */
  get failure (): Error | undefined {
    if (this.dead !== undefined) return this.dead
    if (Atomics.load(this.shared.flags, FAILING) === 0) return undefined
    return this.lastError ?? new VecgateError('VG_ERR_JOURNAL', 'journal write failed')
  }

  start (s: SessionStart): void {
    if (this.closed) return
    // starts and ends are never dropped: the chain needs them, and there are few
    this.room()
    this.encodeGiven()
    pushStart(this.batch, s)
    this.queuedOne()
  }

  event (e: JournalEvent): void {
    if (this.closed) return
    if (!this.room()) {
      this.countLoss(e)
      return
    }
    this.given.push(e)
    if (!this.encodeSoon) {
      this.encodeSoon = true
      setImmediate(this.encodeAtTurnEnd)
    }
    this.queuedOne()
  }

  end (session: string, at: number, reason: string): void {
    if (this.closed) return
    this.room()
    this.encodeGiven()
    // the session's results go before its end and seal
    this.releaseHeld()
    pushEnd(this.batch, session, at, reason)
    this.queuedOne()
  }

  private readonly encodeAtTurnEnd = (): void => {
    this.encodeSoon = false
    this.encodeGiven()
  }

  /** Serializes the events given so far into the batch, in order (but for results held: `encode`). */
  private encodeGiven (): void {
    if (this.given.length === 0) return
    const given = this.given
    this.given = []
    for (const e of given) this.encode(e)
  }

  async flush (): Promise<void> {
    if (this.closed) return
    if (this.queued === 0 && this.lost.size === 0 && this.inflight() === 0 && this.failure === undefined) return
    return await new Promise<void>((resolve, reject) => {
      this.unsent.push({ target: 0, resolve, reject })
      // hand over as soon as the current I/O callback is done (a microtask), with everything it
      // produced, rather than after the commit delay
      if (!this.commitSoon) {
        this.commitSoon = true
        queueMicrotask(() => {
          this.commitSoon = false
          this.send(true)
        })
      }
    })
  }

  async close (): Promise<void> {
    if (this.closing !== undefined) return await this.closing
    this.closing = this.shutdown()
    return await this.closing
  }

  private async shutdown (): Promise<void> {
    clearTimeout(this.timer)
    this.send(false, true)
    this.closed = true
    if (this.dead === undefined) {
      const closed = new Promise<void>(resolve => {
        const done = (m: FromWorker): void => { if (m.t === 'closed') resolve() }
        this.worker.on('message', done)
        this.worker.once('exit', () => resolve())
      })
      this.worker.ref()
      this.post({ t: 'close', at: Date.now() })
      await closed
    }
    await this.worker.terminate()
    // flushes given before close are answered by what the worker committed last
    this.settle()
    const err = this.dead ?? new VecgateError('VG_ERR_JOURNAL', 'journal closed')
    for (const w of this.waiters.splice(0).concat(this.unsent.splice(0))) w.reject(err)
    for (const r of this.replies.values()) r.reject(err)
    rmSync(this.lock, { force: true })
  }

  /** Retention now (it also runs every `pruneEvery` ms): resolves with the sessions pruned. */
  async prune (now?: number): Promise<number> {
    return await this.request({ t: 'prune', id: ++this.requests, now })
  }

  /** Bytes the journal's pages hold (without free pages). */
  async size (): Promise<number> {
    return await this.request({ t: 'size', id: ++this.requests })
  }

  private async request (m: ToWorker & { id: number }): Promise<number> {
    if (this.closed || this.dead !== undefined) throw new VecgateError('VG_ERR_JOURNAL', 'journal closed')
    return await new Promise<number>((resolve, reject) => {
      this.replies.set(m.id, { resolve, reject })
      this.ref()
      this.post(m)
    })
  }

  private settled (): number {
    return Number(Atomics.load(this.shared.settled, 0))
  }

  private inflight (): number {
    return this.posted - this.settled()
  }

  /** bytes of serialized events queued or handed to the worker and not yet committed (see QUEUE_BYTES) */
  private bytesHeld (): number {
    const settled = this.settled()
    const b = this.postedBytes
    while (b.length > 0 && b[0] <= settled) {
      this.inflightBytes -= b[1]
      b.splice(0, 2)
    }
    return this.inflightBytes + this.arena.pos
  }

  /**
   * Whether the queue has room for one more item, after holding for it (on_full: hold); with
   * on_full: mark, or while the database fails, false at once when it is full: `journal.queue` items,
   * or QUEUE_BYTES of them.
   */
  private room (): boolean {
    if (!this.full(this.queued)) return true
    if (this.opts.onFull === 'hold') this.hold()
    return !this.full(this.queued)
  }

  /** whether the queue is full with `queued` items not yet handed over: `journal.queue` items, or QUEUE_BYTES */
  private full (queued: number): boolean {
    return queued + this.inflight() >= this.opts.queue || this.bytesHeld() >= (this.opts.queueBytes ?? QUEUE_BYTES)
  }

  private queuedOne (): void {
    this.queued++
    this.schedule()
  }

  /**
   * on_full hold: the caller — the whole gateway thread — waits until the worker has committed enough
   * to make room. A failing database ends the wait: its events are counted as lost, not held forever.
   */
  private hold (): void {
    this.send(true)
    const flags = this.shared.flags
    for (;;) {
      if (this.dead !== undefined || Atomics.load(flags, FAILING) !== 0) return
      const generation = Atomics.load(flags, GENERATION)
      if (!this.full(0)) return
      Atomics.wait(flags, GENERATION, generation, 1000)
    }
  }

  private countLoss (e: JournalEvent): void {
    let l = this.lost.get(e.session)
    if (l === undefined) { l = {}; this.lost.set(e.session, l) }
    l[e.kind] = (l[e.kind] ?? 0) + 1
  }

  /**
   * Events nobody waits for go to the worker within `commitDelay` ms, or at once when BATCH of them
   * are queued: the worker writes one batch while this thread builds the next.
   */
  private schedule (): void {
    if (this.queued >= BATCH) {
      this.send(false)
      return
    }
    this.armTimer()
  }

  private armTimer (): void {
    if (this.scheduled) return
    this.scheduled = true
    this.timer = setTimeout(() => {
      this.scheduled = false
      this.send(false)
    }, this.opts.commitDelay ?? 10)
  }

  /**
   * Hands everything queued to the worker. `flush`: someone waits, so the worker commits at once and
   * says so — asked even when nothing is queued, for events handed over earlier or to retry a failure.
   * `all`: results held for their call's end go too, however young (a flush, a close).
   */
  private send (flush: boolean, all = flush): void {
    if (this.dead !== undefined) {
      this.rejectAll(this.dead)
      return
    }
    this.encodeGiven()
    const now = Date.now()
    // a flush (someone waits for everything given) and a close take every result held
    const heldSince = this.releaseHeld(all ? Infinity : now - (this.opts.commitDelay ?? 10))
    // once closed, the close itself handed everything over; waiters are answered when it is done
    if (!this.closed && (this.queued > this.held.size || this.batch.length > 0 || this.lost.size > 0 || (flush && (this.inflight() > 0 || this.failure !== undefined)))) {
      let b = this.batch
      // losses first: a session's end in this batch then records them before its seal
      if (this.lost.size > 0) {
        const lost: unknown[] = []
        for (const [session, counts] of this.lost) pushLost(lost, session, counts)
        this.lost.clear()
        b = lost.concat(b)
      }
      // results still held stay queued: they count as handed over when they are
      const n = this.queued - this.held.size
      this.posted += n
      this.batch = []
      this.queued = this.held.size
      const size = this.arena.pos
      const bodies = this.takeArena()
      if (bodies !== null) {
        // the arena goes with the batch: its bytes count until the batch is committed
        this.postedBytes.push(this.posted, size - this.arena.pos)
        this.inflightBytes += size - this.arena.pos
      }
      // every event queued so far is in this batch or an earlier one, but for results held since
      // `heldSince`: once committed, recovery after a kill knows nothing queued before then is missing
      this.post({ t: 'batch', b, bodies, n, flush, at: Math.min(now, heldSince) }, bodies)
    }
    // results still held go at the next hand-over, even if nothing else is given meanwhile
    if (this.held.size > 0 && !this.closed) this.armTimer()
    if (this.unsent.length > 0) {
      for (const w of this.unsent) { w.target = this.posted; this.waiters.push(w) }
      this.unsent = []
      this.ref()
      this.settle()
    }
  }

  /**
   * A call's result, serialized, waiting for the call's end: a unary call's trailers come a moment
   * after its message (in a later read, a few ms later when upstream is busy), and the two are stored
   * as one response event — a row, a hash and a body fewer per call. Held until the first hand-over
   * once it is `commitDelay` ms old, and never past a flush; a hand-over to the worker while one is
   * held says it was handed over when the oldest one held was given (what recovery after a kill
   * names as the time from which events may be missing). A result whose call has not ended by then is stored alone, as is one
   * followed by another event of its call. A held result takes the place of its end (or of the
   * hand-over) among the session's events: after those of calls running beside it given in between.
   */
  private held = new Map<string, Held>()

  private encode (e: JournalEvent): void {
    const arena = this.arena
    const start = arena.pos
    this.serializer.write(e, arena)
    const end = arena.pos
    if (e.call === undefined) {
      pushEvent(this.batch, facts(e), start, end)
      return
    }
    const key = e.session + ' ' + String(e.call)
    const result = this.held.get(key)
    if (result !== undefined) {
      this.held.delete(key)
      // both bodies end with their data object: the end's members join the result's
      if (isEnd(e) && startsWith(arena.buf, start, end, END_BODY) && endsWith(arena.buf, result.start, result.end, ENDS)) {
        const members = end - start - END_BODY.length
        if (members - 1 <= SLACK) {
          // in the room left after the result: its closing `}}` becomes a comma and the end's members follow
          arena.buf[result.end - 2] = 0x2c
          arena.buf.copy(arena.buf, result.end - 1, start + END_BODY.length, end)
          arena.pos = start
          result.facts.at = e.at
          pushEvent(this.batch, result.facts, result.start, result.end - 1 + members)
          return
        }
        // written over the end's body: the result without its closing `}}`, a comma, the end's members
        // (those moved first: the result's bytes lie before the end's, untouched)
        const kept = result.end - result.start - ENDS.length
        arena.room(kept + 1 + members - (end - start))
        const buf = arena.buf
        buf.copyWithin(start + kept + 1, start + END_BODY.length, end)
        buf.copyWithin(start, result.start, result.start + kept)
        buf[start + kept] = 0x2c
        arena.pos = start + kept + 1 + members
        result.facts.at = e.at
        pushEvent(this.batch, result.facts, start, arena.pos)
        return
      }
      // anything else of the call (an error, another result) follows its result, as given
      pushEvent(this.batch, result.facts, result.start, result.end)
      pushEvent(this.batch, facts(e), start, end)
      return
    }
    if (e.kind === 'response' && e.data?.result !== undefined && e.data.final === undefined) {
      // when it was given: the time the pipeline stamped on it (never later than now)
      this.held.set(key, { facts: facts(e), start, end, at: Math.min(e.at, Date.now()) })
      arena.room(SLACK)
      arena.pos += SLACK
      return
    }
    pushEvent(this.batch, facts(e), start, end)
  }

  /**
   * The arena's buffer, to be transferred with the batch (null when it holds nothing: it stays for the
   * next); the bodies of the results still held move to the next arena, sized after this one.
   */
  private takeArena (): ArrayBuffer | null {
    const old = this.arena
    if (old.pos === 0) return null
    const size = old.pos > old.buf.length / 4 ? old.buf.length : Math.max(ARENA_MIN, old.buf.length / 2)
    // a spare one no smaller, and not so much bigger that a quieter gateway keeps a busy one's memory
    const spare = this.spare.findIndex(b => b.byteLength >= size && b.byteLength <= size * 4)
    const next = new Arena(size, spare >= 0 ? this.spare.splice(spare, 1)[0] : undefined)
    for (const h of this.held.values()) {
      const start = next.pos
      next.bytes(old.buf, h.start, h.end)
      h.start = start
      h.end = next.pos
      next.room(SLACK)
      next.pos += SLACK
    }
    this.arena = next
    return old.buf.buffer as ArrayBuffer
  }

  /**
   * Stores alone the results held since before `before` (all of them by default), in the order they
   * were given; returns when the oldest result still held was given (`before` when none is).
   */
  private releaseHeld (before = Infinity): number {
    let oldest = before
    for (const [key, h] of this.held) {
      if (h.at < before) {
        pushEvent(this.batch, h.facts, h.start, h.end)
        this.held.delete(key)
      } else {
        oldest = Math.min(oldest, h.at)
      }
    }
    return oldest
  }

  /** `bodies`: the batch's arena, moved to the worker (unreadable here afterwards) */
  private post (m: ToWorker, bodies: ArrayBuffer | null = null): void {
    if (bodies !== null) this.worker.postMessage(m, [bodies])
    else this.worker.postMessage(m)
  }

  private onMessage (m: FromWorker): void {
    switch (m.t) {
      case 'settled':
        this.lastError = undefined
        this.settle()
        break
      case 'spare':
        // enough for the batches being written meanwhile; the rest are let go
        this.spare = m.buffers.concat(this.spare).slice(0, SPARE)
        break
      case 'failed':
        this.lastError = new VecgateError('VG_ERR_JOURNAL', `journal write failed: ${m.message}`)
        for (const w of this.waiters.splice(0)) w.reject(this.lastError)
        this.unref()
        break
      case 'log':
        this.opts.log[m.level](m.o, m.msg)
        break
      case 'reply': {
        const r = this.replies.get(m.id)
        this.replies.delete(m.id)
        if (m.error !== undefined) r?.reject(new VecgateError('VG_ERR_JOURNAL', m.error))
        else r?.resolve(m.value ?? 0)
        this.unref()
        break
      }
    }
  }

  /** Resolves the flush callers whose events the worker has committed. */
  private settle (): void {
    const settled = this.settled()
    let i = 0
    while (i < this.waiters.length && this.waiters[i].target <= settled) this.waiters[i++].resolve()
    if (i > 0) this.waiters.splice(0, i)
    this.unref()
  }

  private rejectAll (err: Error): void {
    for (const w of this.waiters.splice(0).concat(this.unsent.splice(0))) w.reject(err)
  }

  private died (e: Error): void {
    if (this.dead !== undefined) return
    this.dead = new VecgateError('VG_ERR_JOURNAL', `journal worker stopped: ${e.message}`)
    this.opts.log.error({ err: e.message, path: this.path }, 'JOURNAL WORKER STOPPED: nothing more is journaled and new requests are refused; restart the gateway')
    this.rejectAll(this.dead)
    for (const r of this.replies.values()) r.reject(this.dead)
    this.replies.clear()
  }

  private refd = false
  /** Keeps the process alive while someone waits for the worker. */
  private ref (): void {
    if (this.refd) return
    this.refd = true
    this.worker.ref()
  }

  private unref (): void {
    if (!this.refd || this.closing !== undefined) return
    if (this.waiters.length > 0 || this.unsent.length > 0 || this.replies.size > 0) return
    this.refd = false
    this.worker.unref()
  }
}

/** a result held for its call's end: its body is bytes [start, end) of the arena, SLACK more bytes kept free after it */
interface Held { facts: EventFacts, start: number, end: number, at: number }
/** room for the end's members after a held result, which a unary call's end takes (about 100 bytes) */
const SLACK = 256

function facts (e: JournalEvent): EventFacts {
  const auth = e.kind === 'auth' && e.identity !== undefined ? e.identity : undefined
  return {
    session: e.session,
    at: e.at,
    kind: e.kind,
    call: e.call ?? null,
    collection: e.collection ?? e.op?.collection ?? '',
    ids: e.ids !== undefined && e.ids.length > 0 ? e.ids.map(String) : null,
    subject: auth?.subject ?? null,
    groups: auth !== undefined ? JSON.stringify(auth.groups) : null,
    tokenId: auth?.tokenId ?? null
  }
}

/** how the body of a call's final response event begins: its data alone */
const END_BODY = Buffer.from('{"data":{')
/** how a body with a data object last ends */
const ENDS = Buffer.from('}}')

function startsWith (buf: Buffer, start: number, end: number, what: Buffer): boolean {
  return end - start >= what.length && buf.compare(what, 0, what.length, start, start + what.length) === 0
}

function endsWith (buf: Buffer, start: number, end: number, what: Buffer): boolean {
  return end - start >= what.length && buf.compare(what, 0, what.length, end - what.length, end) === 0
}

/** the final response event of a call (pipeline.ts, Call.finish): its body is `{"data":{…}}` alone */
function isEnd (e: JournalEvent): boolean {
  return e.data?.final === true && e.data.result === undefined && e.ids === undefined && e.op === undefined &&
    e.verdict === undefined && e.identity === undefined && e.collection === undefined
}

/**
 * The worker runs the compiled worker.js next to this file, or, when vecgate runs from its
 * TypeScript sources (tests, benchmarks), worker.ts through tsx, which registers itself only on the
 * main thread: the worker registers it again if the inherited loader cannot read TypeScript.
 */
function startWorker (workerData: WorkerData): Worker {
  if (!import.meta.url.endsWith('.ts')) return new Worker(new URL('./worker.js', import.meta.url), { workerData })
  const file = new URL('./worker.ts', import.meta.url).href
  let tsx = ''
  try { tsx = import.meta.resolve('tsx/esm/api') } catch {}
  const boot = `const f = ${JSON.stringify(file)}
import(f).catch(e => {
  if (e.code !== 'ERR_UNKNOWN_FILE_EXTENSION' || ${JSON.stringify(tsx)} === '') throw e
  return import(${JSON.stringify(tsx)}).then(m => { m.register(); return import(f + '?tsx') })
})`
  return new Worker(boot, { eval: true, workerData })
}

/**
 * One writer per journal file: a lock file with the writer's pid. A lock left by a process that no
 * longer runs is taken over (that process crashed; recovery closes its sessions).
 */
function takeLock (path: string): string {
  const lock = path + '.lock'
  for (let i = 0; i < 2; i++) {
    try {
      const fd = openSync(lock, 'wx', 0o600)
      writeSync(fd, String(process.pid))
      closeSync(fd)
      return lock
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw new VecgateError('VG_ERR_JOURNAL', `journal.path: cannot create ${lock}: ${(e as Error).message}`)
      const pid = Number(readFileSync(lock, 'utf8'))
      if (Number.isInteger(pid) && pid > 0 && alive(pid)) {
        throw new VecgateError('VG_ERR_JOURNAL', `journal.path: ${path} is in use by another vecgate (pid ${pid})`, { hint: 'stop it, or give this gateway its own journal.path' })
      }
      rmSync(lock, { force: true })
    }
  }
  throw new VecgateError('VG_ERR_JOURNAL', `journal.path: cannot lock ${path}`)
}

function alive (pid: number): boolean {
  try { process.kill(pid, 0); return true } catch (e) { return (e as NodeJS.ErrnoException).code === 'EPERM' }
}

export { identityRecord }
