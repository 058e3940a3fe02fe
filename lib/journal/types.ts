import type { Identity, Operation, RecordId, Verdict } from '../../decoders/types.js'

/** What the pipeline tells the journal. Implementations batch off the request path. */
export interface SessionStart {
  id: string
  backend: string
  protocol: string
  /** client address 'ip:port' */
  client: string
  tls: boolean
  /** epoch ms */
  at: number
}

export type JournalEventKind =
  | 'auth'        // identity established (subject, groups, token id, issuer) or refused
  | 'request'     // decoded Operation
  | 'verdict'     // allow/deny/approve + rule
  | 'approval'    // approval step: created, approved, denied, expired, released
  | 'response'    // what the client received (masked), status, bytes, timing; a call's last result and its end may be one event
  | 'error'       // protocol error, upstream error, malformed input
  | 'loss'        // events the journal could not record

export interface JournalEvent {
  session: string
  /** epoch ms */
  at: number
  kind: JournalEventKind
  /** request number within the session, links request/verdict/response of one call */
  call?: number
  op?: Operation
  verdict?: Verdict
  identity?: Identity
  /** free-form, JSON-serializable; never secrets */
  data?: Record<string, unknown>
  /** record ids a response returned, for who-saw */
  ids?: RecordId[]
  /** collection the ids belong to */
  collection?: string
}

export interface JournalSink {
  start (s: SessionStart): void
  event (e: JournalEvent): void
  end (session: string, at: number, reason: string): void
  /**
   * Resolves once everything given so far is durable. Callers that must not answer before the
   * event is on disk (hold mode for writes and deletes) await it.
   */
  flush (): Promise<void>
  close (): Promise<void>
  /** set while the journal cannot write: the pipeline refuses new requests (fail closed) */
  readonly failure?: Error
}

/** A sink that records nothing: for tools and tests that do not journal. */
export const nullJournal: JournalSink = {
  start () {},
  event () {},
  end () {},
  flush: async () => {},
  close: async () => {}
}
