/**
 * How events become stored JSON: bigints as strings, bytes as their length, vectors summarized
 * unless `journal.store_vectors` is on (embeddings can be inverted back into text; the journal must
 * not become the copy of the collection the gateway exists to protect). Results are what the client
 * received — views serialize their masked state through `toJSON`, or write their text as UTF-8
 * straight into the batch's arena (`journalText`). Bodies are written into the arena (batch.ts) as the
 * UTF-8 bytes of the JSON text.
 */
import type { Identity, ResultView } from '../../decoders/types.js'
import { Arena } from './batch.js'
import type { JournalEvent } from './types.js'

/** Bodies beyond this are stored as a summary, so one huge result cannot stall the journal. */
export const MAX_BODY = 4 * 1024 * 1024
/** Arrays of at least this many numbers are treated as vectors. */
const VECTOR_MIN = 8

export function identityRecord (id: Identity): Record<string, unknown> {
  return { subject: id.subject, groups: id.groups, source: id.source, issuer: id.issuer, tokenId: id.tokenId, expiresAt: id.expiresAt, scope: id.scope }
}

/** The object an event's body is built in: the replacer leaves its own `ids` alone (they are record ids, not a vector). */
class EventDoc {
  [key: string]: unknown
}

function replacer (storeVectors: boolean): (this: unknown, key: string, value: unknown) => unknown {
  return function (key, value) {
    switch (typeof value) {
      case 'bigint': return value.toString()
      case 'function': return undefined
      case 'object': {
        if (value === null) return null
        if (ArrayBuffer.isView(value)) {
          if (value instanceof Uint8Array) return `<${value.byteLength} bytes>`
          const arr = value as unknown as ArrayLike<number>
          return storeVectors ? Array.from(arr) : `<vector dim=${arr.length}>`
        }
        const o = value as { type?: unknown, data?: unknown }
        if (o.type === 'Buffer' && Array.isArray(o.data)) return `<${o.data.length} bytes>`
        if (!storeVectors && Array.isArray(value) && value.length >= VECTOR_MIN && typeof value[0] === 'number' && typeof value[value.length - 1] === 'number' &&
          !(key === 'ids' && this instanceof EventDoc)) {
          return `<vector dim=${value.length}>`
        }
        return value
      }
      default: return value
    }
  }
}

/** Deeper than this, a result takes the replacer's path (which also reports a cycle). */
const PLAIN_DEPTH = 32

/**
 * Whether JSON.stringify gives `v` exactly as the replacer would, by leaving it as it is: no bigint,
 * function, symbol, bytes, typed array, number array that could be a vector, or toJSON of its own
 * anywhere in it. The replacer costs a call back into JavaScript for every value (most of a result's
 * serialization); this walk costs a small part of that, and anything it is unsure of takes the replacer.
 */
function plainValue (v: unknown, depth: number): boolean {
  switch (typeof v) {
    case 'string': case 'number': case 'boolean': case 'undefined': return true
    case 'object': {
      if (v === null) return true
      if (depth > PLAIN_DEPTH || ArrayBuffer.isView(v) || typeof (v as { toJSON?: unknown }).toJSON === 'function') return false
      if (Array.isArray(v)) {
        if (v.length >= VECTOR_MIN && typeof v[0] === 'number' && typeof v[v.length - 1] === 'number') return false
        for (let i = 0; i < v.length; i++) if (!plainValue(v[i], depth + 1)) return false
        return true
      }
      const o = v as Record<string, unknown>
      if (o.type === 'Buffer') return false
      for (const k in o) if (!plainValue(o[k], depth + 1)) return false
      return true
    }
    default: return false
  }
}

function recordIds (ids: unknown[]): boolean {
  for (const id of ids) if (typeof id !== 'string' && typeof id !== 'number') return false
  return true
}

function plain (doc: unknown): string | undefined {
  try { return JSON.stringify(doc) } catch { return undefined }
}

export class EventSerializer {
  private readonly replace: ReturnType<typeof replacer>
  constructor (private readonly storeVectors: boolean) {
    this.replace = replacer(storeVectors)
  }

  /**
   * Writes the event's body into `out` from `out.pos` on, as UTF-8, advancing `out.pos`.
   * `forSession`: the event is kept in the gateway's own session on behalf of this one
   */
  write (e: JournalEvent, out: Arena, forSession?: string): void {
    const doc = new EventDoc()
    if (forSession !== undefined) doc.for = forSession
    if (e.op !== undefined) doc.op = e.op
    if (e.verdict !== undefined) doc.verdict = e.verdict
    if (e.identity !== undefined) doc.identity = identityRecord(e.identity)
    if (e.collection !== undefined) doc.collection = e.collection
    if (e.ids !== undefined && e.ids.length > 0) doc.ids = e.ids
    if (e.data !== undefined) doc.data = e.data
    const start = out.pos
    let text: string | undefined
    let length: number
    try {
      text = this.stringify(doc, e.data, out)
      length = text?.length ?? 0
      // the result's text went into `out`: its length in UTF-16 units (what MAX_BODY counts) is never
      // more than its bytes, so it is counted only when the bytes are too many
      if (text === undefined && out.pos - start > MAX_BODY) length = out.buf.toString('utf8', start, out.pos).length
    } catch (err) {
      // a result that cannot serialize is still an event: say so instead of losing it
      text = JSON.stringify({ ...doc, data: { unserializable: (err as Error).message } }, this.replace)
      length = text.length
    }
    if (length > MAX_BODY) {
      const { result, ...rest } = (e.data ?? {}) as Record<string, unknown>
      void result
      text = JSON.stringify({ ...doc, ids: undefined, data: { ...rest, truncated: { bytes: length, ids: e.ids?.length ?? 0 } } }, this.replace)
    }
    if (text !== undefined) {
      out.pos = start
      out.string(text)
    }
  }

  /** The event's body as a string: the text `write` writes. */
  body (e: JournalEvent, forSession?: string): string {
    const out = new Arena(4096)
    this.write(e, out, forSession)
    return out.buf.toString('utf8', 0, out.pos)
  }

  /**
   * Results (vectors, bytes) may need the replacer, which makes stringify several times slower: a
   * result is read once (its toJSON) and takes the replacer only when something in it needs one.
   * Anything else that holds a bigint falls back to the replacer. A result that writes its own text
   * (`journalText`) goes into `out` with the rest of the event, and the answer is undefined.
   */
  private stringify (doc: EventDoc, data: Record<string, unknown> | undefined, out: Arena): string | undefined {
    const result = data?.result
    if (result === undefined) return plain(doc) ?? JSON.stringify(doc, this.replace)
    if (typeof (result as Partial<ResultView> | null)?.journalText === 'function') {
      // the rest of the event as usual, the result's text put in as the last member of `data` (the last member of the event)
      const { result: _, ...rest } = data as Record<string, unknown>
      doc.data = rest
      const head = this.docText(doc)
      if (head.endsWith('}}')) {
        const start = out.pos
        out.string(head)
        out.pos -= 2
        out.string(head.charCodeAt(head.length - 3) === 0x7b ? '"result":' : ',"result":')
        if ((result as ResultView).journalText!(this.storeVectors, out)) {
          out.string('}}')
          return undefined
        }
        out.pos = start
      }
    }
    const value = typeof (result as { toJSON?: unknown } | null)?.toJSON === 'function' ? (result as { toJSON: () => unknown }).toJSON() : result
    doc.data = { ...data, result: value }
    return this.docText(doc)
  }

  private docText (doc: EventDoc): string {
    for (const k in doc) {
      if (k === 'ids' ? !recordIds(doc.ids as unknown[]) : !plainValue(doc[k], 0)) return JSON.stringify(doc, this.replace)
    }
    return JSON.stringify(doc)
  }
}
