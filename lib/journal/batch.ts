/**
 * What the gateway's thread hands the journal's worker thread: one string per batch. Structured clone
 * copies a flat string as fast as its bytes, while an array costs a few hundred ns per value (a search
 * call is about forty of them); the bodies are already JSON (results are live views that only the
 * gateway's thread can serialize). Every field carries its length, so no value — a collection name, a
 * record id, a body — can be read as the start of another, whatever characters it holds.
 */
import type { KeyObject } from 'node:crypto'
import type { SessionStart } from './types.js'

const START = 'S'
const EVENT = 'E'
const END = 'X'
/** events counted instead of recorded (journal.on_full: mark); not an item of the queue bound */
const LOST = 'L'
/** a null field */
const NONE = '_'

export type Batch = string

/** An event as the store writes it: the body is final JSON, ids are strings. */
export interface StoredEvent {
  session: string
  at: number
  kind: string
  call: number | null
  body: string
  /** who-saw scope of `ids` */
  collection: string
  ids: string[] | null
  /** auth events: the identity the sessions table keeps */
  subject: string | null
  groups: string | null
  tokenId: string | null
}

export interface BatchSink {
  start: (s: SessionStart) => void
  event: (e: StoredEvent) => void
  end: (session: string, at: number, reason: string) => void
  lost: (session: string, counts: Record<string, number>) => void
}

/** a field: its length in UTF-16 units, a colon, the text (null: a lone NONE) */
function field (s: string | null): string {
  return s === null ? NONE : s.length + ':' + s
}

export function startItem (s: SessionStart): string {
  return START + field(s.id) + field(s.backend) + field(s.protocol) + field(s.client) + (s.tls ? '1' : '0') + field(String(s.at))
}

export function eventItem (e: StoredEvent): string {
  let ids = NONE
  if (e.ids !== null) {
    ids = e.ids.length + ':'
    for (const id of e.ids) ids += field(id)
  }
  return EVENT + field(e.session) + field(String(e.at)) + field(e.kind) + field(e.call === null ? null : String(e.call)) + field(e.body) +
    field(e.collection) + ids + field(e.subject) + field(e.groups) + field(e.tokenId)
}

export function endItem (session: string, at: number, reason: string): string {
  return END + field(session) + field(String(at)) + field(reason)
}

export function lostItem (session: string, counts: Record<string, number>): string {
  return LOST + field(session) + field(JSON.stringify(counts))
}

/** Reads a batch back, item by item, in order. A batch that does not parse throws (nothing is guessed). */
export function readBatch (b: Batch, sink: BatchSink): void {
  let i = 0
  /** the length before a colon, then past the colon */
  const count = (): number => {
    const colon = b.indexOf(':', i)
    if (colon <= i || colon - i > 10) throw new Error(`journal batch: bad field at ${i}`)
    const n = Number(b.slice(i, colon))
    if (!Number.isSafeInteger(n) || n < 0) throw new Error(`journal batch: bad field length at ${i}`)
    i = colon + 1
    return n
  }
  const maybe = (): string | null => {
    if (b[i] === NONE) { i++; return null }
    const n = count()
    if (i + n > b.length) throw new Error(`journal batch: field past the end at ${i}`)
    const s = b.slice(i, i + n)
    i += n
    return s
  }
  const text = (): string => {
    const s = maybe()
    if (s === null) throw new Error(`journal batch: missing field at ${i}`)
    return s
  }
  const num = (): number => {
    const n = Number(text())
    if (!Number.isFinite(n)) throw new Error(`journal batch: bad number at ${i}`)
    return n
  }
  while (i < b.length) {
    switch (b[i++]) {
      case START: {
        const id = text(); const backend = text(); const protocol = text(); const client = text()
        const tls = b[i++] === '1'
        sink.start({ id, backend, protocol, client, tls, at: num() })
        break
      }
      case EVENT: {
        const session = text(); const at = num(); const kind = text()
        const call = maybe()
        const body = text(); const collection = text()
        let ids: string[] | null = null
        if (b[i] === NONE) i++
        else {
          const n = count()
          ids = new Array<string>(n)
          for (let k = 0; k < n; k++) ids[k] = text()
        }
        const subject = maybe(); const groups = maybe(); const tokenId = maybe()
        sink.event({ session, at, kind, call: call === null ? null : Number(call), body, collection, ids, subject, groups, tokenId })
        break
      }
      case END: {
        const session = text(); const at = num()
        sink.end(session, at, text())
        break
      }
      case LOST: {
        const session = text()
        sink.lost(session, JSON.parse(text()) as Record<string, number>)
        break
      }
      default:
        throw new Error(`journal batch: unknown item tag ${String(b[i - 1])} at ${i - 1}`)
    }
  }
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
   * `at`: when it was handed over (epoch ms); every event queued before then is in it or an earlier one
   */
  | { t: 'batch', b: Batch, n: number, flush: boolean, at: number }
  | { t: 'prune', id: number, now?: number }
  | { t: 'size', id: number }
  | { t: 'close', at: number }

/** What the worker tells the gateway's thread. */
export type FromWorker =
  | { t: 'settled', settled: number }
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
