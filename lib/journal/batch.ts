/**
 * What the gateway's thread hands the journal's worker thread: one flat array per batch, each item a
 * tag followed by a fixed number of primitive slots. Structured clone copies such an array almost as
 * fast as its strings' bytes, with no object per event on either side of the thread boundary; the
 * bodies are already JSON (results are live views that only the gateway's thread can serialize).
 */
import type { KeyObject } from 'node:crypto'
import type { SessionStart } from './types.js'

const START = 0
const EVENT = 1
const END = 2
/** events counted instead of recorded (journal.on_full: mark); not an item of the queue bound */
const LOST = 3

export type Batch = unknown[]

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

export function pushStart (b: Batch, s: SessionStart): void {
  b.push(START, s.id, s.backend, s.protocol, s.client, s.tls ? 1 : 0, s.at)
}

export function pushEvent (b: Batch, e: StoredEvent): void {
  b.push(EVENT, e.session, e.at, e.kind, e.call, e.body, e.collection, e.ids, e.subject, e.groups, e.tokenId)
}

export function pushEnd (b: Batch, session: string, at: number, reason: string): void {
  b.push(END, session, at, reason)
}

export function pushLost (b: Batch, session: string, counts: Record<string, number>): void {
  b.push(LOST, session, counts)
}

export function readBatch (b: Batch, sink: BatchSink): void {
  let i = 0
  while (i < b.length) {
    switch (b[i]) {
      case START:
        sink.start({ id: b[i + 1] as string, backend: b[i + 2] as string, protocol: b[i + 3] as string, client: b[i + 4] as string, tls: b[i + 5] === 1, at: b[i + 6] as number })
        i += 7
        break
      case EVENT:
        sink.event({
          session: b[i + 1] as string,
          at: b[i + 2] as number,
          kind: b[i + 3] as string,
          call: b[i + 4] as number | null,
          body: b[i + 5] as string,
          collection: b[i + 6] as string,
          ids: b[i + 7] as string[] | null,
          subject: b[i + 8] as string | null,
          groups: b[i + 9] as string | null,
          tokenId: b[i + 10] as string | null
        })
        i += 11
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
