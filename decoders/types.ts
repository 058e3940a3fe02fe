/**
 * The protocol-neutral model. Policy, approvals, masking and the journal see only these types;
 * decoders see only these types (never policy rules or journal tables).
 */
import type { Cuts } from '../lib/mask/bytes.js'

export type Action = 'read' | 'search' | 'write' | 'delete' | 'admin'
export const ACTIONS: readonly Action[] = ['read', 'search', 'write', 'delete', 'admin']
export type Protocol = 'qdrant' | 'milvus' | 'postgres'
export type RecordId = string | number

/** One decoded request, whatever protocol carried it. */
export interface Operation {
  backend: string
  protocol: Protocol
  /** 'qdrant.Points/Delete', 'milvus.proto.milvus.MilvusService/Search', 'DELETE' */
  method: string
  action: Action
  database?: string
  /** collection, or schema-qualified table for Postgres */
  collection?: string
  /** further collections a request touches (Postgres joins, aliases resolved) */
  collections?: string[]
  /** when the request names points/rows */
  ids?: RecordId[]
  /** the request's filter / expression / WHERE, decoded */
  filter?: unknown
  /** delete/update by filter, drop, truncate, no WHERE ... */
  bulk: boolean
  limit?: number
  withVectors?: boolean
  /** what the journal records of the request; vectors summarized, never whole */
  summary: Record<string, unknown>
}

/** Who is asking: from a vecgate grant or an IdP token. */
export interface Identity {
  subject: string
  groups: string[]
  source: 'grant' | 'oidc' | 'saml'
  issuer: string
  /** token id (jti), for use counts, revocation and the journal */
  tokenId?: string
  /** epoch seconds */
  expiresAt: number
  /** present on grants: the request must fall inside it whatever the policy says */
  scope?: GrantScope
  claims: Record<string, unknown>
}

export interface GrantScope {
  backend?: string
  collections?: string[]
  actions?: Action[]
  ids?: RecordId[]
  /** how many requests the grant may make in all (enforced by jti) */
  uses?: number
}

export type Effect = 'allow' | 'deny' | 'approve'

export interface Verdict {
  effect: Effect
  /** id of the deciding rule; undefined when the default (deny) decided */
  rule?: string
  /** one line a person can read */
  reason: string
  /** mask profile name to apply to the response */
  mask?: string
  approvers?: { groups?: string[], users?: string[], count: number }
}

/** Marker a masker returns to remove a key or column. */
export const DROP: unique symbol = Symbol.for('vecgate.mask.drop')
export type Dropped = typeof DROP

/**
 * A compiled mask profile as decoders see it. Decoders walk their result structures and call these;
 * lib/mask implements them (compiled once at config load, so these are plain function calls).
 */
export interface Masker {
  readonly name: string
  /** what to do with vectors in results */
  readonly vectors: 'keep' | 'drop' | 'round'
  /**
   * Mask a JSON-like document in place (Qdrant payload, Milvus JSON/dynamic field, jsonb).
   * `prefix` is the path of the document itself ('' for a payload, the column name for a json column).
   * Returns true when anything changed.
   */
  document (doc: Record<string, unknown>, prefix?: string): boolean
  /** Mask one scalar named by `path` (a column or output field). Returns the value to send, or DROP. */
  scalar (path: string, value: string | number | boolean | null): string | number | boolean | null | Dropped
  /** true when `scalar(path, …)` can ever change something for this path (lets decoders skip work) */
  touches (path: string): boolean
  /** keep / round a vector; null when the profile drops vectors */
  vector (v: ArrayLike<number>): ArrayLike<number> | null
  /**
   * Optional checks for decoders that read results off the wire: with them a value the mask cannot
   * change is passed over as its bytes, never decoded; without them decoders decode and call the
   * methods above.
   */
  readonly wire?: WireChecks
}

/** Conservative answers: `true` only when the mask leaves the thing exactly as it is. */
export interface WireChecks {
  /** no configured path is `path`, lies under it or above it */
  pathFree (path: string): boolean
  /** a configured path is `path` or lies above it: the value at `path` is masked whole */
  covered (path: string): boolean
  /** the detectors leave this UTF-8 text (buf[start, end)) as it is, wherever it stands */
  quietText (buf: Uint8Array, start: number, end: number): boolean
  /**
   * `scalar(path, s)` of the UTF-8 text s = buf[start, end) at a path `pathFree` and `quietName`
   * answer for, gated once over the bytes: undefined when that is s itself (keep the bytes), else
   * the masked string, null or DROP. For a decoder that would otherwise ask `quietText` and then
   * decode the text and call `scalar`, which gates it a second time.
   */
  maskText (buf: Buffer, start: number, end: number): string | null | Dropped | undefined
  /** neither the name (as a key: renamed, removed) nor a value stored under it (secret-sounding names) is masked for the name */
  quietName (name: string): boolean
  /** the detectors leave this number as it is (card numbers stored as integers) */
  quietNumber (v: number): boolean
  /** the detectors leave every key, string and number of this JSON text (buf[start, end)) as it is */
  quietJson (buf: Uint8Array, start: number, end: number): boolean
  /**
   * One float32 of a vector as its IEEE 754 binary32 bit pattern (an unsigned 32-bit integer), as
   * `vector` leaves it under `vectors: round`: vectors read off the wire are rounded in place.
   */
  roundFloat32 (bits: number): number
  /**
   * The JSON text buf[start, end), the document at `prefix`, masked as `document(JSON.parse(text),
   * prefix)` and JSON.stringify would mask it: null when nothing changes, else the new text (the
   * same JSON value, with the text of the parts left alone kept as it came). Undefined when only the
   * decoded path can say: text that is not one JSON object, a configured prefix, key renames, keys
   * to drop, hash or partial of a value that is not a string.
   */
  maskJson (buf: Uint8Array, start: number, end: number, prefix: string): Uint8Array | null | undefined
  /**
   * `maskJson` for a caller that writes the new text into something larger (a DataRow), copying
   * once: the replaced spans are added to `cuts` (positions in buf). True when any were added,
   * false when nothing changes, undefined (nothing added) when only the decoded path can say.
   * `staged`: where buf[start] is in the detectors' WebAssembly memory when the caller staged a
   * larger text around it (`stageRows`), so the walk gates its strings there without a copy of its own.
   */
  maskJsonCuts (buf: Uint8Array, start: number, end: number, prefix: string, cuts: Cuts, staged?: number): boolean | undefined
  /**
   * Copies buf[start, end) (a column of JSON rows, a DataRow) into the detectors' WebAssembly memory
   * once, when this mask would gate or walk in place there (see `maskJsonCuts`' `staged`; `json`:
   * JSON texts are among what is staged, which the module walks for every mask): its address, -1
   * when not; the caller gives it back with `unstageBytes` (lib/mask/detectors.ts).
   */
  stageRows? (buf: Uint8Array, start: number, end: number, json: boolean): number
  /**
   * The text `scalar(path, s)` gives for every string `s` but itself (a configured path under
   * `redact`), so a decoder may write it without decoding the value; undefined when the result
   * depends on the value or is not a string.
   */
  fixedText? (path: string): string | undefined
  /**
   * `maskText` over every row of a protobuf `repeated string` field's content buf[start, end) (a
   * varchar column's rows) at once: the rows it may change, four numbers each — where the row's
   * field (tag included) starts, where its text starts and ends, and a gate to hand to
   * `maskGatedText` — so a decoder visits those alone: `maskText` leaves every other row as it is.
   * Null when the rows cannot be gated so (the decoder asks `maskText` row by row).
   */
  textRows? (buf: Uint8Array, start: number, end: number): Int32Array | null
  /** `maskText(buf, start, end)` of a row `textRows` listed, `gate` being the gate it listed */
  maskGatedText? (buf: Buffer, start: number, end: number, gate: number): string | null | Dropped | undefined
  /**
   * The gate to hand to `maskGatedText` for the text buf[start, end), part of a larger text the
   * caller staged (`stageRows`; `staged`: where buf[start] is there): gated in place, without a copy
   */
  stagedTextGate? (buf: Uint8Array, start: number, end: number, staged: number): number
}

/**
 * Where the journal has a result's text written (lib/journal/batch.ts, Arena): UTF-8 in `buf` from
 * `pos` on. `room(n)` makes room for n more bytes after `pos` (it may replace `buf`, keeping its
 * bytes up to `pos`).
 */
export interface TextOut {
  buf: Buffer
  pos: number
  room (n: number): void
}

/** What a response carries, as masking and the journal need it. Built lazily from one message / row. */
export interface ResultView {
  /** ids of the records this result returned (for `journal who-saw`) */
  ids (): RecordId[]
  /** count of records and of vectors returned (for exfiltration limits) */
  counts (): { records: number, vectors: number }
  /** apply a masker; true when anything changed */
  mask (masker: Masker): boolean
  /** the (masked) result as the client gets it, JSON-like, for the journal */
  toJSON (): unknown
  /**
   * Optional: the journal's JSON text of the (masked) result written straight from its bytes into
   * `out`, as UTF-8 — exactly the bytes of what the journal makes of `toJSON()`, with arrays of
   * `storeVectors`-dependent vector summaries. False when this view cannot say it exactly (the
   * journal then takes `toJSON`); what it wrote past `out.pos` by then is left for the caller to drop.
   */
  journalText? (storeVectors: boolean, out: TextOut): boolean
  /** the protocol bytes of the (masked) message; only called when mask() changed something */
  encode (): Buffer
}
