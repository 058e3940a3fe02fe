/**
 * What the gateway's thread hands the journal's worker thread: per batch, one flat array of items,
 * each a tag followed by a fixed number of primitive slots, and one arena of bytes holding the
 * events' bodies. Structured clone copies such an array almost as fast as its strings' bytes, with no
 * object per event on either side of the thread boundary. The bodies are already JSON (results are
 * live views that only the gateway's thread can serialize), written once as UTF-8 into the arena,
 * which goes to the worker in the message's transfer list — moved, not copied; the sending side can no
 * longer read it. The worker hashes those bytes and SQLite stores them as the TEXT they are: a body
 * is never a string on the worker's side, and a Qdrant result's text never on either side.
 */
import type { KeyObject } from 'node:crypto'
import type { TextOut } from '../../decoders/types.js'
import type { SessionStart } from './types.js'

const START = 0
const EVENT = 1
const END = 2
/** events counted instead of recorded (journal.on_full: mark); not an item of the queue bound */
const LOST = 3

/** A batch as the worker reads it: the items, and the bytes their bodies are in (the arena it was sent). */
export interface Batch {
  items: unknown[]
  bodies: Buffer
}

/** the arena's first size, and the least the next batch's starts with */
export const ARENA_MIN = 64 * 1024

/**
 * Where a batch's bodies are written on the gateway's thread: UTF-8 from 0 to `pos`, grown by doubling
 * (a copy of what it holds). Allocated uninitialized and never pooled, so its buffer can be transferred.
 */
export class Arena implements TextOut {
  buf: Buffer
  pos = 0
  /** `from`: a buffer to write into again (one the worker gave back) */
  constructor (size = ARENA_MIN, from?: ArrayBuffer) {
    this.buf = from !== undefined && from.byteLength >= size ? Buffer.from(from) : Buffer.allocUnsafeSlow(size)
  }

  room (n: number): void {
    if (this.pos + n <= this.buf.length) return
    let size = this.buf.length * 2
    while (size < this.pos + n) size *= 2
    const bigger = Buffer.allocUnsafeSlow(size)
    this.buf.copy(bigger, 0, 0, this.pos)
    this.buf = bigger
  }

  string (text: string): void {
    // no character takes more than 3 bytes per UTF-16 unit: the exact count only when that may not fit
    if (text.length * 3 > this.buf.length - this.pos) this.room(Buffer.byteLength(text))
    this.pos += this.buf.write(text, this.pos, 'utf8')
  }

  bytes (from: Uint8Array, start: number, end: number): void {
    this.room(end - start)
    this.buf.set(from.subarray(start, end), this.pos)
    this.pos += end - start
  }
}

/** An event as the store writes it: the body is final JSON as UTF-8 bytes, ids are strings. */
export interface StoredEvent {
  session: string
  at: number
  kind: string
  call: number | null
  body: Buffer
  /** who-saw scope of `ids` */
  collection: string
  ids: string[] | null
  /** auth events: the identity the sessions table keeps */
  subject: string | null
  groups: string | null
  tokenId: string | null
}

/** An event as the gateway's thread queues it, its body bytes [start, end) of the batch's arena. */
export type EventFacts = Omit<StoredEvent, 'body'>

export interface BatchSink {
  start: (s: SessionStart) => void
  /** `e` is reused for the batch's next event: keep none of it but its strings and ids */
  event: (e: StoredEvent) => void
  end: (session: string, at: number, reason: string) => void
  lost: (session: string, counts: Record<string, number>) => void
}

export function pushStart (b: unknown[], s: SessionStart): void {
  b.push(START, s.id, s.backend, s.protocol, s.client, s.tls ? 1 : 0, s.at)
}

/** an event whose body is bytes [start, end) of the batch's arena */
export function pushEvent (b: unknown[], e: EventFacts, start: number, end: number): void {
  b.push(EVENT, e.session, e.at, e.kind, e.call, start, end, e.collection, e.ids, e.subject, e.groups, e.tokenId)
}

export function pushEnd (b: unknown[], session: string, at: number, reason: string): void {
  b.push(END, session, at, reason)
}

export function pushLost (b: unknown[], session: string, counts: Record<string, number>): void {
  b.push(LOST, session, counts)
}

/** the event readBatch gives its sink, one object for all of them */
const NO_BYTES = Buffer.alloc(0)
const current: StoredEvent = { session: '', at: 0, kind: '', call: null, body: NO_BYTES, collection: '', ids: null, subject: null, groups: null, tokenId: null }

export function readBatch ({ items: b, bodies }: Batch, sink: BatchSink): void {
  let i = 0
  const e = current
  while (i < b.length) {
    switch (b[i]) {
      case START:
        sink.start({ id: b[i + 1] as string, backend: b[i + 2] as string, protocol: b[i + 3] as string, client: b[i + 4] as string, tls: b[i + 5] === 1, at: b[i + 6] as number })
        i += 7
        break
      case EVENT:
        e.session = b[i + 1] as string
        e.at = b[i + 2] as number
        e.kind = b[i + 3] as string
        e.call = b[i + 4] as number | null
        e.body = bodies.subarray(b[i + 5] as number, b[i + 6] as number)
        e.collection = b[i + 7] as string
        e.ids = b[i + 8] as string[] | null
        e.subject = b[i + 9] as string | null
        e.groups = b[i + 10] as string | null
        e.tokenId = b[i + 11] as string | null
        sink.event(e)
        i += 12
        break
      case END:
        sink.end(b[i + 1] as string, b[i + 2] as number, b[i + 3] as string)
        i += 4
        break
      case LOST:
        sink.lost(b[i + 1] as string, b[i + 2] as Record<string, number>)
        i += 3
        break
      default:
        throw new Error(`journal batch: unknown item tag ${String(b[i])} at ${i}`)
    }
  }
  // the batch's bytes are not kept alive by the object that read them
  e.body = NO_BYTES
  e.ids = null
}

/**
 * Counters both threads see without a message: the items the worker has settled (committed, in
 * order), a generation bumped at every settle or failure (what a held gateway thread waits on with
 * Atomics.wait), and whether the database is failing right now.
 */
export interface SharedState {
  buffer: SharedArrayBuffer
  settled: BigInt64Array
  /** [GENERATION, FAILING] */
  flags: Int32Array
}
export const GENERATION = 0
export const FAILING = 1

export function sharedState (buffer = new SharedArrayBuffer(16)): SharedState {
  return { buffer, settled: new BigInt64Array(buffer, 0, 1), flags: new Int32Array(buffer, 8, 2) }
}

/** The worker's side changed: wake a gateway thread held in Atomics.wait. */
export function signal (s: SharedState): void {
  Atomics.add(s.flags, GENERATION, 1)
  Atomics.notify(s.flags, GENERATION)
}

/** What the gateway's thread tells the worker. */
export type ToWorker =
  /**
   * `flush`: someone waits for this batch: say so with a `settled` message once it is committed.
   * `at`: when it was handed over (epoch ms); every event queued before then is in it or an earlier one.
   * `bodies`: the batch's arena, transferred (null when it has no bodies)
   */
  | { t: 'batch', b: unknown[], bodies: ArrayBuffer | null, n: number, flush: boolean, at: number }
  | { t: 'prune', id: number, now?: number }
  | { t: 'size', id: number }
  | { t: 'close', at: number }

/** What the worker tells the gateway's thread. */
export type FromWorker =
  | { t: 'settled', settled: number }
  /** the arenas of batches committed, transferred back to be written into again */
  | { t: 'spare', buffers: ArrayBuffer[] }
  | { t: 'failed', message: string }
  | { t: 'log', level: 'info' | 'warn' | 'error', o: object, msg: string }
  | { t: 'reply', id: number, value?: number, error?: string }
  | { t: 'closed' }

export interface WorkerData {
  path: string
  signingKey: KeyObject
  keyId: string
  retention?: { max_age?: number, max_bytes?: number }
  pruneEvery: number
  shared: SharedArrayBuffer
}
