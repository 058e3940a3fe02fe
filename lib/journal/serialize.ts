/**
 * How events become stored JSON: bigints as strings, bytes as their length, vectors summarized
 * unless `journal.store_vectors` is on (embeddings can be inverted back into text; the journal must
 * not become the copy of the collection the gateway exists to protect). Results are what the client
 * received — views serialize their masked state through `toJSON`.
 */
import type { Identity } from '../../decoders/types.js'
import type { JournalEvent } from './types.js'

/** Bodies beyond this are stored as a summary, so one huge result cannot stall the journal. */
export const MAX_BODY = 4 * 1024 * 1024
/** Arrays of at least this many numbers are treated as vectors. */
const VECTOR_MIN = 8

export function identityRecord (id: Identity): Record<string, unknown> {
  return { subject: id.subject, groups: id.groups, source: id.source, issuer: id.issuer, tokenId: id.tokenId, expiresAt: id.expiresAt, scope: id.scope }
}

function replacer (storeVectors: boolean): (this: unknown, key: string, value: unknown) => unknown {
  return function (_key, value) {
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
        if (!storeVectors && Array.isArray(value) && value.length >= VECTOR_MIN && typeof value[0] === 'number' && typeof value[value.length - 1] === 'number') {
          return `<vector dim=${value.length}>`
        }
        return value
      }
      default: return value
    }
  }
}

function plain (doc: unknown): string | undefined {
  try { return JSON.stringify(doc) } catch { return undefined }
}

export class EventSerializer {
  private readonly replace: ReturnType<typeof replacer>
  constructor (storeVectors: boolean) {
    this.replace = replacer(storeVectors)
  }

  /** `forSession`: the event is kept in the gateway's own session on behalf of this one */
  body (e: JournalEvent, forSession?: string): string {
    const doc: Record<string, unknown> = {}
    if (forSession !== undefined) doc.for = forSession
    if (e.op !== undefined) doc.op = e.op
    if (e.verdict !== undefined) doc.verdict = e.verdict
    if (e.identity !== undefined) doc.identity = identityRecord(e.identity)
    if (e.collection !== undefined) doc.collection = e.collection
    if (e.ids !== undefined && e.ids.length > 0) doc.ids = e.ids
    if (e.data !== undefined) doc.data = e.data
    let text: string
    try {
      // a replacer makes stringify several times slower: only results (vectors, bytes) need it, and
      // anything else that holds a bigint falls back to it
      text = e.data?.result !== undefined ? JSON.stringify(doc, this.replace) : plain(doc) ?? JSON.stringify(doc, this.replace)
    } catch (err) {
      // a result that cannot serialize is still an event: say so instead of losing it
      text = JSON.stringify({ ...doc, data: { unserializable: (err as Error).message } }, this.replace)
    }
    if (text.length > MAX_BODY) {
      const { result, ...rest } = (e.data ?? {}) as Record<string, unknown>
      void result
      text = JSON.stringify({ ...doc, ids: undefined, data: { ...rest, truncated: { bytes: text.length, ids: e.ids?.length ?? 0 } } }, this.replace)
    }
    return text
  }
}
