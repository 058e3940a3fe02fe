import type protobuf from 'protobufjs'
import { VecgateError } from '../../lib/errors.js'
import type { Masker, RecordId, ResultView } from '../types.js'
import { columnValues, idsOf, int64, isVectorColumn, maskColumn, vectorRows, type Msg } from './fields.js'

/** Where the records sit: SearchResults.results (SearchResultData) or QueryResults' own columns. */
export type ResultShape = 'search' | 'query'

export function resultShapeOf (type: protobuf.Type): ResultShape | undefined {
  switch (type.fullName) {
    case '.milvus.proto.milvus.SearchResults': return 'search'
    case '.milvus.proto.milvus.QueryResults': return 'query'
    default: return undefined
  }
}

/**
 * A lazy view over one Milvus response message with records (Search, HybridSearch, Query). Decoded
 * only when asked; re-encoded only when masking changed it. Columns the masker drops whole (vectors
 * under `vectors: drop`, a field masked to DROP) leave both `fields_data` and `output_fields`.
 */
export class MilvusResultView implements ResultView {
  private msg: Msg | undefined
  private changed = false

  constructor (private readonly type: protobuf.Type, private readonly bytes: Buffer, private readonly shape: ResultShape) {}

  private decoded (): Msg {
    if (this.msg === undefined) {
      try {
        this.msg = this.type.decode(this.bytes) as unknown as Msg
      } catch (e) {
        throw new VecgateError('VG_ERR_MALFORMED', `upstream response does not decode as ${this.type.name}`, {}, { cause: e })
      }
    }
    return this.msg
  }

  /** the message part that holds fields_data and output_fields */
  private holder (): Msg | undefined {
    const m = this.decoded()
    return this.shape === 'search' ? m.results ?? undefined : m
  }

  private columns (): Msg[] { return this.holder()?.fields_data ?? [] }

  ids (): RecordId[] {
    if (this.shape === 'search') return idsOf(this.holder()?.ids)
    const pk: string = this.decoded().primary_field_name ?? ''
    const col = pk === '' ? undefined : this.columns().find(c => c.field_name === pk)
    return col === undefined ? [] : columnValues(col) as RecordId[]
  }

  private records (): number {
    if (this.shape === 'search') {
      const r = this.holder()
      if (r == null) return 0
      const ids = idsOf(r.ids).length
      if (ids > 0) return ids
      let n = 0
      for (const k of r.topks ?? []) n += Number(int64(k))
      return n
    }
    let n = 0
    for (const c of this.columns()) n = Math.max(n, isVectorColumn(c) ? vectorRows(c) : columnValues(c).length)
    return n
  }

  counts (): { records: number, vectors: number } {
    let vectors = 0
    for (const c of this.columns()) if (isVectorColumn(c)) vectors += vectorRows(c)
    return { records: this.records(), vectors }
  }

  mask (masker: Masker): boolean {
    const h = this.holder()
    if (h == null || h.fields_data == null || h.fields_data.length === 0) return false
    let changed = false
    const kept: Msg[] = []
    const dropped = new Set<string>()
    for (const c of h.fields_data as Msg[]) {
      const r = maskColumn(c, masker)
      if (r === 'drop') {
        dropped.add(c.field_name)
        changed = true
      } else {
        kept.push(c)
        if (r) changed = true
      }
    }
    if (dropped.size > 0) {
      h.fields_data = kept
      if (Array.isArray(h.output_fields)) h.output_fields = h.output_fields.filter((f: string) => !dropped.has(f))
    }
    if (changed) this.changed = true
    return changed
  }

  encode (): Buffer {
    if (!this.changed) return this.bytes
    return Buffer.from(this.type.encode(this.decoded()).finish())
  }

  toJSON (): unknown {
    const cols = this.columns().map(c => ({ name: c.is_dynamic === true ? '$meta' : c.field_name as string, values: columnValues(c) }))
    const n = this.records()
    const rows: Array<Record<string, unknown>> = []
    const ids = this.shape === 'search' ? idsOf(this.holder()?.ids) : undefined
    const scores: number[] = this.shape === 'search' ? this.holder()?.scores ?? [] : []
    for (let i = 0; i < n; i++) {
      const row: Record<string, unknown> = {}
      if (ids !== undefined) {
        row.id = ids[i]
        if (scores[i] !== undefined) row.score = scores[i]
      }
      for (const c of cols) if (i < c.values.length) row[c.name] = c.values[i]
      rows.push(row)
    }
    if (this.shape === 'query') return { rows }
    return { topks: (this.holder()?.topks ?? []).map((k: unknown) => Number(int64(k))), hits: rows }
  }
}
