import type protobuf from 'protobufjs'
import { VecgateError } from '../../lib/errors.js'
import { I32, I64, LEN, MessageBuilder, MessageEdits, VARINT, WireReader, roundFloats } from '../grpc/protowire.js'
import { DROP, type Masker, type RecordId, type ResultView, type WireChecks } from '../types.js'
import { idOf } from './methods.js'
import type { TextOut } from '../types.js'
import { JsonOut } from '../json-out.js'

type Msg = Record<string, any>

/** Where the points sit in a response: ScoredPoint / RetrievedPoint lists, batches of them, or groups. */
type Shape = 'points' | 'batch' | 'groups'

function shapeOf (type: protobuf.Type): Shape | undefined {
  const result = type.fields.result
  if (result === undefined) return undefined
  result.resolve()
  switch (result.resolvedType?.name) {
    case 'ScoredPoint':
    case 'RetrievedPoint': return result.repeated ? 'points' : undefined
    case 'BatchResult': return 'batch'
    case 'GroupsResult': return 'groups'
    default: return undefined
  }
}

/**
 * A lazy view over one Qdrant response message that returns points (search, query, get, scroll,
 * batches, groups). Masking walks the message on the wire (protowire.ts): a payload value the mask
 * cannot change (`Masker.wire`: no configured path reaches its key, no detector could match its
 * text) is never decoded, an entry the mask changes is decoded and re-encoded alone, and the message
 * is rebuilt around it from the bytes it came in; an unchanged message goes out as it came. Vectors
 * are rounded on their bytes. Points whose keys the detectors would rename and grouped results take
 * the decoded path.
 */
export class QdrantResultView implements ResultView {
  static handles (type: protobuf.Type): boolean { return shapeOf(type) !== undefined }

  private msg: Msg | undefined
  private readonly shape: Shape
  /** the decoded message was changed in place (decoded path) */
  private changed = false
  /** the message as rebuilt on the wire path */
  private out: Buffer | undefined
  private readonly layout: Layout | undefined

  constructor (private readonly type: protobuf.Type, private readonly bytes: Buffer) {
    this.shape = shapeOf(type) as Shape
    this.layout = layoutOf(type, this.shape)
  }

  /** the message as it stands: masked on the wire, or as it came */
  private get current (): Buffer { return this.out ?? this.bytes }

  private decoded (): Msg {
    if (this.msg === undefined) {
      try {
        this.msg = this.type.decode(this.current) as unknown as Msg
      } catch (e) {
        throw new VecgateError('VG_ERR_MALFORMED', `upstream response does not decode as ${this.type.name}`, {}, { cause: e })
      }
    }
    return this.msg
  }

  /** every point in the message, wherever the shape puts it */
  private points (): Msg[] {
    const m = this.decoded()
    switch (this.shape) {
      case 'points': return m.result ?? []
      case 'batch': return (m.result ?? []).flatMap((b: Msg) => b.result ?? [])
      case 'groups': {
        const out: Msg[] = []
        for (const g of m.result?.groups ?? []) {
          for (const h of g.hits ?? []) out.push(h)
          if (g.lookup != null) out.push(g.lookup)
        }
        return out
      }
    }
  }

  ids (): RecordId[] {
    const L = this.layout
    if (L === undefined || this.changed) return this.points().map(p => idOf(p.id))
    const out: RecordId[] = []
    const buf = this.current
    eachPoint(buf, 0, buf.length, 0, L, (a, b) => { out.push(wireId(buf, a, b, L)) })
    return out
  }

  counts (): { records: number, vectors: number } {
    const L = this.layout
    let records = 0
    let vectors = 0
    if (L === undefined || this.changed) {
      for (const p of this.points()) { records++; if (p.vectors != null) vectors++ }
      return { records, vectors }
    }
    const buf = this.current
    eachPoint(buf, 0, buf.length, 0, L, (a, b) => {
      records++
      const r = new WireReader(buf, a, b)
      while (r.next()) {
        if (r.field === L.vectors && r.wireType === LEN) { vectors++; break }
        r.skip()
      }
    })
    return { records, vectors }
  }

  mask (masker: Masker): boolean {
    const L = this.layout
    if (L === undefined || masker.wire === undefined || this.changed) return this.maskDecoded(masker)
    const buf = this.current
    const edits = wireEdits
    edits.reset()
    new WireMask(L, masker, masker.wire, edits).message(buf, 0, buf.length, 0)
    if (edits.count === 0) return false
    this.out = edits.write(buf, 0, buf.length)
    this.msg = undefined
    return true
  }

  private maskDecoded (masker: Masker): boolean {
    let changed = false
    for (const p of this.points()) if (maskPoint(p, masker)) changed = true
    if (changed) this.changed = true
    return changed
  }

  encode (): Buffer {
    if (!this.changed) return this.current
    return Buffer.from(this.type.encode(this.decoded()).finish())
  }

  toJSON (): unknown {
    return {
      points: this.points().map(p => {
        const o: Record<string, unknown> = { id: idOf(p.id) }
        if (typeof p.score === 'number') o.score = p.score
        if (p.payload != null) {
          const doc: Record<string, unknown> = {}
          for (const k in p.payload) doc[k] = valueToJs(p.payload[k])
          o.payload = doc
        }
        if (p.vectors != null) o.vectors = vectorsToJs(p.vectors)
        return o
      })
    }
  }

  /**
   * The journal's text of this result, written from its wire bytes: the same JSON the journal would
   * store for `toJSON()` (its vector rule included), without decoding the message into objects and
   * stringifying them — on a busy gateway that decode was a third of the event loop's time — and
   * straight into the journal's batch (`out`), never a string. False where the message holds anything
   * this writer does not reproduce exactly (vectors, keys JavaScript would reorder or merge, malformed
   * or unusual encodings); the journal then takes `toJSON`.
   */
  journalText (storeVectors: boolean, out: TextOut): boolean {
    const L = this.layout
    if (L === undefined || this.changed) return false
    try {
      return new JournalText(L, storeVectors, out).message(this.current)
    } catch {
      return false
    }
  }
}

/** one decoded point: payload through `document`, vectors by the profile; true when changed */
function maskPoint (p: Msg, masker: Masker): boolean {
  let changed = false
  if (p.payload != null && Object.keys(p.payload).length > 0) {
    const doc: Record<string, unknown> = {}
    for (const k in p.payload) doc[k] = valueToJs(p.payload[k])
    if (masker.document(doc, '')) {
      const payload: Msg = {}
      for (const k in doc) payload[k] = jsToValue(doc[k])
      p.payload = payload
      changed = true
    }
  }
  if (p.vectors != null && masker.vectors !== 'keep') {
    if (masker.vectors === 'drop') {
      p.vectors = null
      changed = true
    } else {
      changed = roundVectors(p.vectors, masker) || changed
    }
  }
  return changed
}

// ---- the wire path ----

/** Field numbers the wire path needs, read from the schema once per response type. */
interface Layout {
  /** field numbers from the response down to the point list: [result] or [result, result] */
  containers: number[]
  pointType: protobuf.Type
  id: number
  payload: number
  /** the tag of Point.payload (wire type LEN), when it is one byte; -1 otherwise */
  payloadTag: number
  vectors: number
  idNum: number
  idUuid: number
  valueType: protobuf.Type
  vNull: number
  vDouble: number
  vInt: number
  vString: number
  /** the tag of string_value (wire type LEN), when it is one byte; -1 otherwise */
  stringTag: number
  /** the tags of integer_value, bool_value and null_value (wire type VARINT), when one byte; -1 otherwise */
  intTag: number
  boolTag: number
  nullTag: number
  vBool: number
  vStruct: number
  vList: number
  structFields: number
  listValues: number
  /** ScoredPoint.score; -1 for points without one (RetrievedPoint) */
  score: number
  /** the wire type of each known field of the response, batch result and point messages, by field number */
  wireTypes: Array<Map<number, number>>
  /** VectorsOutput.vector, VectorOutput.data and .dense, DenseVector.data (for the journal's text) */
  outVector: number
  outData: number
  outDense: number
  denseData: number
}

/** the wire type protobufjs reads a field with (a repeated number may also come packed: -1, either) */
function wireTypeOf (f: protobuf.Field): number {
  if (f.map || (f.resolvedType != null && 'fields' in f.resolvedType)) return LEN
  if (f.repeated && f.type !== 'string' && f.type !== 'bytes') return -1
  switch (f.type) {
    case 'string': case 'bytes': return LEN
    case 'double': case 'fixed64': case 'sfixed64': return I64
    case 'float': case 'fixed32': case 'sfixed32': return I32
    default: return VARINT // varint numbers, bool, enums
  }
}

function wireTypesOf (t: protobuf.Type): Map<number, number> {
  const m = new Map<number, number>()
  for (const f of t.fieldsArray) { f.resolve(); m.set(f.id, wireTypeOf(f)) }
  return m
}

const layouts = new WeakMap<protobuf.Type, Layout | null>()

function layoutOf (type: protobuf.Type, shape: Shape | undefined): Layout | undefined {
  if (shape !== 'points' && shape !== 'batch') return undefined
  let L = layouts.get(type)
  if (L === undefined) {
    L = buildLayout(type, shape)
    layouts.set(type, L)
  }
  return L ?? undefined
}

function buildLayout (type: protobuf.Type, shape: 'points' | 'batch'): Layout | null {
  const f = (t: protobuf.Type, name: string): protobuf.Field => {
    const x = t.fields[name]
    if (x === undefined) throw new Error(`${t.name} has no field ${name}`)
    x.resolve()
    return x
  }
  try {
    const result = f(type, 'result')
    const containers = [result.id]
    const wireTypes = [wireTypesOf(type)]
    let pointType = result.resolvedType as protobuf.Type
    if (shape === 'batch') {
      const inner = f(pointType, 'result')
      containers.push(inner.id)
      wireTypes.push(wireTypesOf(pointType))
      pointType = inner.resolvedType as protobuf.Type
    }
    wireTypes.push(wireTypesOf(pointType))
    const idType = f(pointType, 'id').resolvedType as protobuf.Type
    const payload = f(pointType, 'payload')
    const valueType = payload.resolvedType as protobuf.Type
    const structType = f(valueType, 'struct_value').resolvedType as protobuf.Type
    const listType = f(valueType, 'list_value').resolvedType as protobuf.Type
    return {
      containers,
      pointType,
      id: f(pointType, 'id').id,
      payload: payload.id,
      payloadTag: payload.id < 16 ? payload.id * 8 + LEN : -1,
      vectors: f(pointType, 'vectors').id,
      idNum: f(idType, 'num').id,
      idUuid: f(idType, 'uuid').id,
      valueType,
      vNull: f(valueType, 'null_value').id,
      vDouble: f(valueType, 'double_value').id,
      vInt: f(valueType, 'integer_value').id,
      vString: f(valueType, 'string_value').id,
      stringTag: f(valueType, 'string_value').id < 16 ? f(valueType, 'string_value').id * 8 + LEN : -1,
      intTag: f(valueType, 'integer_value').id < 16 ? f(valueType, 'integer_value').id * 8 + VARINT : -1,
      boolTag: f(valueType, 'bool_value').id < 16 ? f(valueType, 'bool_value').id * 8 + VARINT : -1,
      nullTag: f(valueType, 'null_value').id < 16 ? f(valueType, 'null_value').id * 8 + VARINT : -1,
      vBool: f(valueType, 'bool_value').id,
      vStruct: f(valueType, 'struct_value').id,
      vList: f(valueType, 'list_value').id,
      structFields: f(structType, 'fields').id,
      listValues: f(listType, 'values').id,
      score: pointType.fields.score?.id ?? -1,
      wireTypes,
      ...vectorFields(f(pointType, 'vectors').resolvedType as protobuf.Type, f)
    }
  } catch {
    return null // a schema this walker does not know: the decoded path serves it
  }
}

function vectorFields (vectorsType: protobuf.Type, f: (t: protobuf.Type, name: string) => protobuf.Field): { outVector: number, outData: number, outDense: number, denseData: number } {
  try {
    const vector = f(vectorsType, 'vector')
    const out = vector.resolvedType as protobuf.Type
    const dense = f(out, 'dense')
    return { outVector: vector.id, outData: f(out, 'data').id, outDense: dense.id, denseData: f(dense.resolvedType as protobuf.Type, 'data').id }
  } catch {
    return { outVector: -1, outData: -1, outDense: -1, denseData: -1 } // the journal's text leaves points with vectors to toJSON
  }
}

/** calls `fn` with the byte range of every point in the message */
function eachPoint (buf: Buffer, a: number, b: number, level: number, L: Layout, fn: (a: number, b: number) => void): void {
  const r = new WireReader(buf, a, b)
  const target = L.containers[level]
  const last = level === L.containers.length - 1
  while (r.next()) {
    if (r.field !== target || r.wireType !== LEN) { r.skip(); continue }
    const s = r.len()
    if (last) fn(s, r.pos)
    else eachPoint(buf, s, r.pos, level + 1, L, fn)
  }
}

/** PointId { num (uint64) | uuid }, as `idOf` gives it */
function wireId (buf: Buffer, a: number, b: number, L: Layout): RecordId {
  const r = new WireReader(buf, a, b)
  let id: RecordId = ''
  while (r.next()) {
    if (r.field !== L.id || r.wireType !== LEN) { r.skip(); continue }
    const p = new WireReader(buf, r.len(), r.pos)
    while (p.next()) {
      if (p.field === L.idNum && p.wireType === VARINT) {
        const start = p.pos
        const n = p.varint()
        id = Number.isSafeInteger(n) ? n : uint64Text(buf, start, p.pos)
      } else if (p.field === L.idUuid && p.wireType === LEN) {
        const s = p.len()
        id = buf.toString('utf8', s, p.pos)
      } else p.skip()
    }
  }
  return id
}

/** the exact decimal text of a uint64 varint beyond 2^53 */
function uint64Text (buf: Buffer, a: number, b: number): string {
  return varintBig(buf, a, b).toString()
}

/** the varint at `buf[a, b)`, all of its bits */
function varintBig (buf: Buffer, a: number, b: number): bigint {
  let x = 0n
  for (let i = b - 1; i >= a; i--) x = (x << 7n) | BigInt(buf[i] & 0x7f)
  return x
}

/** deeper than this a value is not checked on the wire; the decoded path refuses it (MAX_DEPTH in lib/mask) */
const MAX_WIRE_DEPTH = 256

/** what masking a point's entry gave: left as it came, changed (its edits recorded), or the decoded point needed */
const SAME = 0
const CHANGED = 1
const WHOLE = 2
type Outcome = typeof SAME | typeof CHANGED | typeof WHOLE
const NOT_SCALAR = Symbol('not a scalar')

/** what the wire walk needs of a payload key: its text, its path, the mask's answers for them */
interface KeyInfo {
  bytes: Buffer
  /** the Struct field holding this key's struct; null at the top of the payload */
  parent: KeyInfo | null
  id: number
  /** in the table; a key under a key not kept is not kept either (it would hold its parent) */
  kept: boolean
  key: string
  path: string
  quietName: boolean
  pathFree: boolean
  covered: boolean
  /** `WireChecks.fixedText` of the path, and as UTF-8: what any string value under this key becomes */
  fixedText: string | undefined
  fixed: Buffer | undefined
  /** the last masked text of a value under this key and its entry's bytes (`entryFor`) */
  lastOut?: string
  lastEntry?: Buffer
  /**
   * Where the last value under this key that `quiet` passed sits, in the message `quietIn` (a
   * `WireMask.walk`): a value with the same bytes in the same message is quiet too (the checks
   * answer for bytes), so values repeated from point to point are compared, not checked again.
   */
  quietIn: number
  quietAt: number
  quietEnd: number
  /** the key that came after this one last time, and the first key under this one (`PayloadKeys.at`) */
  next?: KeyInfo
  first?: KeyInfo
  /** the name that came after this one last time (`PayloadKeys.name`) */
  nextName?: KeyInfo
  /**
   * The start of an entry holding this key as the layout writers give it, key (1) then value (2):
   * 0x0a, the key's length, the key, 0x12; as little-endian 32-bit words at 0, 4, … and the last
   * at its last four bytes (`headAt`). Empty for keys it does not fit (longer than 127 bytes, or a
   * head shorter than four bytes).
   */
  head: number[]
  headLength: number
}

/**
 * Payload keys repeat from point to point and response to response: each key's text and the mask's
 * answers for its path are kept per mask, found by the key's bytes and the key it sits under
 * (FNV-1a into a small table), so a repeated key is neither decoded nor looked up by string. A
 * compiled mask never changes its answers, so they may be kept.
 */
class PayloadKeys {
  private readonly slots: Array<KeyInfo | undefined> = new Array<KeyInfo | undefined>(1024).fill(undefined)
  private ids = 0
  constructor (private readonly wire: WireChecks) {}

  /** the key that came after `prev` (null: the first) under `parent` last time */
  guess (parent: KeyInfo | null, prev: KeyInfo | null): KeyInfo | undefined {
    const guess = prev !== null ? prev.next : parent !== null ? parent.first : this.first
    return guess !== undefined && guess.parent === parent ? guess : undefined
  }

  /**
   * The key at buf[a, b) under `parent`, after the key `prev` (null: the first). Points of one
   * collection carry their keys in the same order, so the key that followed `prev` last time is
   * tried first, by its bytes, before the table.
   */
  at (buf: Buffer, a: number, b: number, parent: KeyInfo | null, prev: KeyInfo | null = null): KeyInfo {
    const guess = this.guess(parent, prev)
    if (guess !== undefined && sameBytes(guess.bytes, buf, a, b)) return guess
    const k = this.lookUp(buf, a, b, parent)
    if (k.kept) {
      if (prev !== null) { if (prev.kept) prev.next = k } else if (parent !== null) parent.first = k
      else this.first = k
    }
    return k
  }

  /** the first payload key last time */
  private first: KeyInfo | undefined

  /**
   * A key at buf[a, b) asked about for its name alone (`quietName`: keys inside values no configured
   * path reaches), after the name `prev` (null: the first of its struct). The names that follow one
   * another are kept apart from the keys of `at`, which they would mislead.
   */
  name (buf: Buffer, a: number, b: number, prev: KeyInfo | null): KeyInfo {
    const guess = prev !== null ? prev.nextName : this.firstName
    if (guess !== undefined && sameBytes(guess.bytes, buf, a, b)) return guess
    const k = this.lookUp(buf, a, b, null)
    if (k.kept) {
      if (prev === null) this.firstName = k
      else if (prev.kept) prev.nextName = k
    }
    return k
  }

  /** the first name of a struct last time (`name`) */
  private firstName: KeyInfo | undefined

  /** the key at buf[a, b) under `parent`, from the table (where its place among its neighbours does not matter) */
  lookUp (buf: Buffer, a: number, b: number, parent: KeyInfo | null): KeyInfo {
    let h = parent === null ? 0x811c9dc5 : Math.imul(0x811c9dc5 ^ parent.id, 0x01000193)
    for (let i = a; i < b; i++) h = Math.imul(h ^ buf[i], 0x01000193)
    const slot = h & 1023
    const k = this.slots[slot]
    if (k !== undefined && k.parent === parent && sameBytes(k.bytes, buf, a, b)) return k
    const key = buf.toString('utf8', a, b)
    const path = parent === null ? key : `${parent.path}.${key}`
    const w = this.wire
    // long keys (and keys under them) are answered but not kept: the table stays small
    const kept = b - a <= KEPT_KEY && path.length <= 4 * KEPT_KEY && (parent === null || parent.kept)
    const fixedText = w.fixedText?.(path)
    const bytes = Buffer.from(buf.subarray(a, b))
    const info = { bytes, parent, id: ++this.ids, kept, key, path, quietName: w.quietName(key), pathFree: w.pathFree(path), covered: w.covered(path), fixedText, fixed: fixedText === undefined ? undefined : Buffer.from(fixedText), lastOut: undefined, lastEntry: undefined, quietIn: 0, quietAt: 0, quietEnd: 0, next: undefined, first: undefined, nextName: undefined, head: headWords(bytes), headLength: bytes.length + 3 }
    if (kept) this.slots[slot] = info
    return info
  }
}

function headWords (key: Buffer): number[] {
  if (key.length > 127 || key.length + 3 < 4) return []
  const head = Buffer.concat([Buffer.from([0x0a, key.length]), key, Buffer.from([0x12])])
  const words: number[] = []
  for (let at = 0; at + 4 < head.length; at += 4) words.push(head.readInt32LE(at))
  words.push(head.readInt32LE(head.length - 4))
  return words
}

/** whether the entry at `view`'s byte `a` starts with `k`'s head (`KeyInfo.head`); the caller saw that it fits before the entry's end */
function headAt (k: KeyInfo, view: DataView, a: number): boolean {
  const w = k.head
  const last = w.length - 1
  if (last < 0) return false
  for (let j = 0; j < last; j++) if (view.getInt32(a + 4 * j, true) !== w[j]) return false
  return view.getInt32(a + k.headLength - 4, true) === w[last]
}

/** whether the bytes at [a, b) and [c, d) of `view` are the same, compared four at a time */
function sameRun (view: DataView, a: number, b: number, c: number, d: number): boolean {
  const n = b - a
  if (n !== d - c) return false
  if (n < 4) {
    for (let i = 0; i < n; i++) if (view.getUint8(a + i) !== view.getUint8(c + i)) return false
    return true
  }
  // values that differ mostly differ at one end (a number or a name at the end, an id at the start): those first
  if (view.getInt32(b - 4, true) !== view.getInt32(d - 4, true) || view.getInt32(a, true) !== view.getInt32(c, true)) return false
  for (let i = 4; i < n - 4; i += 4) if (view.getInt32(a + i, true) !== view.getInt32(c + i, true)) return false
  return true
}

function sameBytes (x: Uint8Array, buf: Uint8Array, a: number, b: number): boolean {
  if (x.length !== b - a) return false
  for (let i = 0; i < x.length; i++) if (x[i] !== buf[a + i]) return false
  return true
}

const payloadKeys = new WeakMap<WireChecks, PayloadKeys>()
const NO_VIEW = new DataView(new ArrayBuffer(0))
let walks = 0
/** the edits of the message being masked: one list, reused (a walk runs to its end before the next starts) */
const wireEdits = new MessageEdits()
const KEPT_KEY = 128

/** readers per nesting level in `WireMask` (`reader`): each function uses its own slots at a depth */
const SLOTS = 8
const Q_VALUE = 0; const Q_STRUCT = 1; const Q_ENTRY = 2; const Q_LIST = 3; const S_VALUE = 4; const S_FIELDS = 5; const SCALAR = 6; const ENTRY = 7

class WireMask {
  private readonly keys: PayloadKeys
  /** reused readers, SLOTS per depth; a reader is taken only by the function that owns its slot at that depth */
  private readonly readers: WireReader[] = []
  private pointReader: WireReader | undefined
  /** the message's bytes, for reading four at a time */
  private view: DataView = NO_VIEW
  /** this walk's number (`KeyInfo.quietIn`) */
  private readonly walk = ++walks
  /** the key `entry` last looked up, for the next entry's `PayloadKeys.at` */
  private seen: KeyInfo | null = null

  constructor (private readonly L: Layout, private readonly masker: Masker, private readonly wire: WireChecks, private readonly edits: MessageEdits) {
    let k = payloadKeys.get(wire)
    if (k === undefined) payloadKeys.set(wire, k = new PayloadKeys(wire))
    this.keys = k
  }

  /** the reader for `slot` at `depth`, moved to buf[a, b) */
  private reader (depth: number, slot: number, buf: Buffer, a: number, b: number): WireReader {
    const i = depth * SLOTS + slot
    const r = this.readers[i]
    if (r !== undefined) return r.reset(buf, a, b)
    while (this.readers.length < i) this.readers.push(undefined as unknown as WireReader) // keep the array packed enough to index
    return (this.readers[i] = new WireReader(buf, a, b))
  }

  /** every point of the message at buf[a, b) (a response, or a batch result at level 1), masked as edits */
  message (buf: Buffer, a: number, b: number, level: number): void {
    const L = this.L
    if (this.view.buffer !== buf.buffer || this.view.byteOffset !== buf.byteOffset || this.view.byteLength !== buf.length) this.view = new DataView(buf.buffer, buf.byteOffset, buf.length)
    const r = new WireReader(buf, a, b)
    const target = L.containers[level]
    const last = level === L.containers.length - 1
    const edits = this.edits
    while (r.next()) {
      if (r.field !== target || r.wireType !== LEN) { r.skip(); continue }
      const fs = r.fieldStart
      const s = r.len()
      if (last) {
        this.point(buf, fs, s, r.pos, target)
      } else {
        const i = edits.open(fs, s, target)
        this.message(buf, s, r.pos, level + 1)
        edits.close(i, r.pos - s)
      }
    }
  }

  /** the point in field `field` at buf[fs, b), its content from `a` */
  private point (buf: Buffer, fs: number, a: number, b: number, field: number): void {
    const L = this.L
    const edits = this.edits
    const d0 = edits.delta
    const i = edits.open(fs, a, field)
    const r = this.pointReader === undefined ? (this.pointReader = new WireReader(buf, a, b)) : this.pointReader.reset(buf, a, b)
    const payloadTag = L.payloadTag
    let prev: KeyInfo | null = null
    while (r.pos < b) {
      // payload entries (most of a point) read here when their tag is one byte and their length one or two
      const es = r.pos
      let s = -1
      let e = -1
      if (buf[es] === payloadTag) {
        const n = buf[es + 1]
        if (n < 0x80) {
          s = es + 2
          e = s + n
        } else if (n >= 0x80 && es + 2 < b && buf[es + 2] < 0x80) {
          s = es + 3
          e = s + ((n & 0x7f) | (buf[es + 2] << 7))
        }
        if (e > b) s = -1
      }
      let f = L.payload
      if (s < 0) {
        r.next()
        f = r.field
        if (f === L.payload && r.wireType === LEN) {
          s = r.len()
          e = r.pos
        } else if (f === L.vectors && r.wireType === LEN && this.masker.vectors !== 'keep') {
          const vs = r.len()
          if (this.masker.vectors === 'drop') edits.replace(es, r.pos, f, undefined)
          else {
            const v = this.rounded(buf, vs, r.pos)
            if (v !== null) edits.replace(es, r.pos, f, v)
          }
          continue
        } else {
          r.skip()
          continue
        }
      }
      r.pos = e
      const out = this.entry(buf, es, s, e, f, null, 0, prev)
      prev = this.seen
      if (out === WHOLE) {
        edits.truncate(i, d0)
        const p = this.decodedPoint(buf, a, b)
        if (p !== null) edits.replace(fs, b, field, p)
        return
      }
    }
    edits.close(i, b - a)
  }

  /**
   * One payload map entry { key = 1, value = 2 } at buf[fs, b), its content from `a`, in field
   * `field` of a point, or one of the fields of a Struct under `parent`: a change is recorded as
   * edits (the entry rewritten, removed, or the struct under it rewritten field by field).
   */
  private entry (buf: Buffer, fs: number, a: number, b: number, field: number, parent: KeyInfo | null, depth: number, prev: KeyInfo | null): Outcome {
    this.seen = null
    let ks = a; let ke = a; let vs = -1; let ve = -1
    let k: KeyInfo | undefined
    // most entries hold the key that followed the last one in the last point, as the writers lay
    // entries out: their first bytes are compared with that key's head, a word at a time
    const g = this.keys.guess(parent, prev)
    if (g !== undefined && a + g.headLength + 1 <= b && headAt(g, this.view, a)) {
      const vt = a + g.headLength - 1
      const n = buf[vt + 1]
      if (n < 0x80) {
        if (vt + 2 + n === b) vs = vt + 2
      } else if (vt + 3 <= b && buf[vt + 2] < 0x80 && vt + 3 + ((n & 0x7f) | (buf[vt + 2] << 7)) === b) vs = vt + 3
      if (vs >= 0) { k = g; ks = a + 2; ke = vt; ve = b }
    }
    if (k === undefined) {
      const kl = buf[a + 1]
      const vt = a + 2 + kl
      if (buf[a] === 0x0a && kl < 0x80 && vt + 2 <= b && buf[vt] === 0x12) {
        // the layout writers give an entry: key (1) then value (2), the key's length in one byte, the value's in one or two
        const n = buf[vt + 1]
        if (n < 0x80) {
          if (vt + 2 + n === b) { ks = a + 2; ke = vt; vs = vt + 2; ve = b }
        } else if (vt + 3 <= b && buf[vt + 2] < 0x80 && vt + 3 + ((n & 0x7f) | (buf[vt + 2] << 7)) === b) {
          ks = a + 2; ke = vt; vs = vt + 3; ve = b
        }
      }
      if (vs < 0) {
        const r = this.reader(depth, ENTRY, buf, a, b)
        while (r.next()) {
          if (r.field === 1 && r.wireType === LEN) { ks = r.len(); ke = r.pos } else if (r.field === 2 && r.wireType === LEN) { vs = r.len(); ve = r.pos } else r.skip()
        }
      }
      if (vs < 0) return WHOLE
      k = this.keys.at(buf, ks, ke, parent, prev)
    }
    this.seen = k
    // a key the detectors rename may collide with its neighbours: only the whole payload can say
    if (!k.quietName) return WHOLE
    if (k.pathFree) {
      if (k.quietIn === this.walk && sameRun(this.view, k.quietAt, k.quietEnd, vs, ve)) return SAME
      const t = this.stringAt(buf, vs, ve)
      if (t >= 0) {
        // one string under a free, quiet key: what `value` makes of it (`scalar` at the top level,
        // `document` of { key: s } below) is the detectors' scan, gated once over the bytes
        const out = this.wire.maskText(buf, t, ve)
        if (out === undefined) {
          k.quietIn = this.walk
          k.quietAt = vs
          k.quietEnd = ve
          return SAME
        }
        this.edits.replace(fs, b, field, out === DROP ? undefined : this.entryFor(k, buf, ks, ke, out))
        return CHANGED
      }
      if (this.quiet(buf, vs, ve, depth)) {
        k.quietIn = this.walk
        k.quietAt = vs
        k.quietEnd = ve
        return SAME
      }
    }
    return this.value(buf, fs, a, b, field, parent, depth, k, ks, ke, vs, ve)
  }

  /** `entry` for a value a mask may change: the entry's key (`k`, at buf[ks, ke)) and value (buf[vs, ve)) found */
  private value (buf: Buffer, fs: number, a: number, b: number, field: number, parent: KeyInfo | null, depth: number, k: KeyInfo, ks: number, ke: number, vs: number, ve: number): Outcome {
    const key = k.key
    const path = k.path
    const edits = this.edits
    const fixed = k.fixed
    if (fixed !== undefined) {
      // a string (a Value of one string_value) under a configured path masked to the same text
      // whatever it says: compared and written as bytes, not decoded
      const n = buf[vs + 1]
      if (buf[vs] === this.L.stringTag && n < 0x80 && vs + 2 + n === ve) {
        if (sameBytes(fixed, buf, vs + 2, ve)) return SAME
        edits.replace(fs, b, field, this.entryFor(k, buf, ks, ke, k.fixedText))
        return CHANGED
      }
    }
    // scalars (most configured fields) are read and written here, and so are structs no configured
    // path covers whole (`customer` under `customer.phone`), field by field; lists by protobufjs
    const scalar = this.scalar(buf, vs, ve, depth)
    const covered = k.covered
    if (scalar !== NOT_SCALAR && (covered || parent === null)) {
      // a configured field, or a top-level one (its path is its key, the name the detectors read):
      // `scalar` gives what `document` would (the key is one the detectors leave as it is)
      const out = this.masker.scalar(path, scalar as string | number | boolean | null)
      if (out === scalar) return SAME
      edits.replace(fs, b, field, out === DROP ? undefined : this.entryFor(k, buf, ks, ke, out))
      return CHANGED
    }
    if (scalar === NOT_SCALAR && !covered) {
      const st = this.structEntry(buf, fs, a, b, field, ks, ke, vs, ve, k, depth)
      if (st !== undefined) return st
    }
    // `document` at the entry's own level: `prefix` is where a Struct field sits
    const doc: Record<string, unknown> = { [key]: scalar !== NOT_SCALAR ? scalar : valueToJs(this.L.valueType.decode(buf.subarray(vs, ve)) as unknown as Msg) }
    if (!this.masker.document(doc, parent === null ? '' : parent.path)) return SAME
    const keys = Object.keys(doc)
    if (keys.length === 0) {
      edits.replace(fs, b, field, undefined)
      return CHANGED
    }
    if (keys.length !== 1 || keys[0] !== key) return WHOLE
    edits.replace(fs, b, field, this.entryOf(buf, ks, ke, doc[key]).finish())
    return CHANGED
  }

  /**
   * The entry at buf[fs, b) whose value (buf[vs, ve)) is one struct_value, its fields masked one by
   * one (`struct`); undefined when the value is anything else (the caller decodes it). A changed
   * entry is written as `entryOf` writes one, { key, value: { struct_value } }: with the key first
   * in the source, its header, the value's and the struct's are edits around the fields' own (the
   * bytes around them go); with the key last, the struct is written out first.
   */
  private structEntry (buf: Buffer, fs: number, a: number, b: number, field: number, ks: number, ke: number, vs: number, ve: number, k: KeyInfo, depth: number): Outcome | undefined {
    const edits = this.edits
    const i0 = edits.count
    const d0 = edits.delta
    const keyFirst = ke <= vs
    let ie = -1
    let iv = -1
    if (keyFirst) {
      ie = edits.open(fs, a, field)
      // the key's header as `entryOf` writes it (field 1), where the source has it otherwise or has more before it
      if (ks !== a + 2 || buf[a] !== 0x0a || buf[a + 1] !== ke - ks) edits.edit(a, ks, 1 * 8 + LEN, ke - ks, undefined)
      iv = edits.open(ke, vs, 2)
    }
    const st = this.struct(buf, vs, ve, k, depth + 1)
    this.seen = k
    if (st === WHOLE) return WHOLE
    if (st !== CHANGED) {
      edits.truncate(i0, d0)
      return st
    }
    if (keyFirst) {
      edits.close(iv, ve - vs)
      if (ve < b) edits.edit(ve, b, -1, -1, undefined)
      edits.close(ie, b - a)
    } else {
      const entry = new MessageBuilder(buf)
      entry.sourceField(1, ks, ke)
      entry.field(2, edits.take(buf, vs, ve, i0, d0))
      edits.replace(fs, b, field, entry.finish())
    }
    return CHANGED
  }

  /** `entryOf` as bytes; a configured field masks to the same text point after point, so the last one is kept per key */
  private entryFor (k: KeyInfo, buf: Buffer, ks: number, ke: number, x: unknown): Buffer {
    if (typeof x === 'string' && k.lastOut === x) return k.lastEntry!
    const entry = this.entryOf(buf, ks, ke, x).finish()
    if (typeof x === 'string') { k.lastOut = x; k.lastEntry = entry }
    return entry
  }

  /** a payload map entry: the key's bytes and `x` as a qdrant.Value (written with the message) */
  private entryOf (buf: Buffer, ks: number, ke: number, x: unknown): MessageBuilder {
    const entry = new MessageBuilder(buf)
    entry.sourceField(1, ks, ke)
    entry.field(2, this.encodeScalar(x) ?? this.L.valueType.encode(jsToValue(x)).finish())
    return entry
  }

  /**
   * A qdrant.Value that is one struct_value, its fields masked one by one as `entry`s under `parent`:
   * CHANGED (the Value's struct header and the fields that changed recorded as edits), SAME, WHOLE
   * (a field needs the decoded point), or undefined when the Value is anything else (the caller
   * decodes it; no edit is left).
   */
  private struct (buf: Buffer, a: number, b: number, parent: KeyInfo, depth: number): Outcome | undefined {
    if (depth > MAX_WIRE_DEPTH) return undefined
    const L = this.L
    const v = this.reader(depth, S_VALUE, buf, a, b)
    if (!v.next() || v.field !== L.vStruct || v.wireType !== LEN) return undefined
    const sa = v.len()
    const sb = v.pos
    if (v.next()) return undefined // a second member: leave the oneof rules to protobufjs
    const edits = this.edits
    const d0 = edits.delta
    const i = edits.open(a, sa, L.vStruct)
    const r = this.reader(depth, S_FIELDS, buf, sa, sb)
    let prev: KeyInfo | null = null
    while (r.next()) {
      if (r.field !== L.structFields || r.wireType !== LEN) {
        edits.truncate(i, d0)
        return undefined
      }
      const fs = r.fieldStart
      const s = r.len()
      const e = this.entry(buf, fs, s, r.pos, L.structFields, parent, depth, prev)
      prev = this.seen
      if (e === WHOLE) return WHOLE
    }
    return edits.close(i, sb - sa) ? CHANGED : SAME
  }

  /** a qdrant.Value holding one scalar, as `valueToJs` gives it; NOT_SCALAR for anything else */
  private scalar (buf: Buffer, a: number, b: number, depth: number): unknown {
    const L = this.L
    const r = this.reader(depth, SCALAR, buf, a, b)
    if (!r.next()) return NOT_SCALAR
    let v: unknown
    const f = r.field
    if (f === L.vString && r.wireType === LEN) { const s = r.len(); v = buf.toString('utf8', s, r.pos) } else if (f === L.vInt && r.wireType === VARINT) {
      const n = r.varint()
      if (n > Number.MAX_SAFE_INTEGER) return NOT_SCALAR // negative or beyond 2^53: protobufjs reads it as int64
      v = n
    } else if (f === L.vDouble && r.wireType === I64) v = r.double()
    else if (f === L.vBool && r.wireType === VARINT) v = r.varint() !== 0
    else if (f === L.vNull && r.wireType === VARINT) { r.varint(); v = null } else return NOT_SCALAR
    return r.next() ? NOT_SCALAR : v // a second member: leave the oneof rules to protobufjs
  }

  /** `jsToValue` + encode for what masking makes of a scalar; undefined for anything else */
  private encodeScalar (x: unknown): Uint8Array | undefined {
    const L = this.L
    if (typeof x === 'string') {
      const n = Buffer.byteLength(x)
      const out = new MessageBuilder()
      out.field(L.vString, n === x.length ? Buffer.from(x, 'latin1') : Buffer.from(x))
      return out.finish()
    }
    if (x === null) return Buffer.from([L.vNull * 8, 0])
    return undefined
  }

  /** where the string starts when the qdrant.Value buf[a, b) is one string (most payload values) with its length in one or two bytes, else -1 */
  private stringAt (buf: Buffer, a: number, b: number): number {
    if (buf[a] !== this.L.stringTag) return -1
    const n = buf[a + 1]
    if (n < 0x80) return a + 2 + n === b ? a + 2 : -1
    return buf[a + 2] < 0x80 && a + 3 + ((n & 0x7f) | (buf[a + 2] << 7)) === b ? a + 3 : -1
  }

  /** true when the mask leaves this qdrant.Value as it is under a key it does not touch */
  private quiet (buf: Buffer, a: number, b: number, depth: number): boolean {
    if (depth > MAX_WIRE_DEPTH) return false
    const L = this.L
    const wire = this.wire
    if (buf[a] === L.stringTag) {
      const t = this.stringAt(buf, a, b)
      if (t >= 0) return wire.quietText(buf, t, b)
    } else if (buf[a] === L.intTag) {
      // one integer (ids, counts, timestamps) of up to seven varint bytes: below 2^49, exact
      let v = 0
      let mul = 1
      for (let p = a + 1; p < b && p < a + 8; p++) {
        const c = buf[p]
        v += (c & 0x7f) * mul
        if (c < 0x80) {
          if (p + 1 === b) return wire.quietNumber(v)
          break
        }
        mul *= 128
      }
    } else if ((buf[a] === L.boolTag || buf[a] === L.nullTag) && a + 2 === b && buf[a + 1] < 0x80) {
      return true
    }
    const r = this.reader(depth, Q_VALUE, buf, a, b)
    while (r.next()) {
      const f = r.field
      if (f === L.vString && r.wireType === LEN) {
        const s = r.len()
        if (!wire.quietText(buf, s, r.pos)) return false
      } else if (f === L.vInt && r.wireType === VARINT) {
        // beyond 2^53 the decoded path turns it into text, which the detectors scan
        const v = r.varint()
        if (v > Number.MAX_SAFE_INTEGER || !wire.quietNumber(v)) return false
      } else if (f === L.vDouble && r.wireType === I64) {
        if (!wire.quietNumber(r.double())) return false
      } else if ((f === L.vBool || f === L.vNull) && r.wireType === VARINT) {
        r.skip()
      } else if (f === L.vStruct && r.wireType === LEN) {
        const s = this.reader(depth, Q_STRUCT, buf, r.len(), r.pos)
        let name: KeyInfo | null = null
        while (s.next()) {
          if (s.field !== L.structFields || s.wireType !== LEN) return false
          const e = this.reader(depth, Q_ENTRY, buf, s.len(), s.pos)
          while (e.next()) {
            if (e.wireType !== LEN) return false
            const start = e.len()
            if (e.field === 1) {
              name = this.keys.name(buf, start, e.pos, name)
              if (!name.quietName) return false
            } else if (e.field === 2) {
              if (!this.quiet(buf, start, e.pos, depth + 1)) return false
            } else return false
          }
        }
      } else if (f === L.vList && r.wireType === LEN) {
        const l = this.reader(depth, Q_LIST, buf, r.len(), r.pos)
        while (l.next()) {
          if (l.field !== L.listValues || l.wireType !== LEN) return false
          const start = l.len()
          if (!this.quiet(buf, start, l.pos, depth + 1)) return false
        }
      } else {
        return false
      }
    }
    return true
  }

  /**
   * VectorsOutput with every dense float vector rounded (`roundVectors` on the wire): the one
   * `vector` or each of the named `vectors`, their `data`, `dense.data` and `multi_dense` members.
   * Rounding keeps a float32 four bytes wide, so a copy of the bytes is rounded in place and every
   * length stays as it was; null when it holds no float vector.
   */
  private rounded (buf: Buffer, a: number, b: number): Buffer | null {
    const out = Buffer.from(buf.subarray(a, b))
    let floats = 0
    const r = new WireReader(out, 0, out.length)
    while (r.next()) {
      if (r.wireType !== LEN) { r.skip(); continue }
      const s = r.len()
      if (r.field === 1) floats += this.roundOutput(out, s, r.pos)
      else if (r.field === 2) {
        // NamedVectorsOutput { map<string, VectorOutput> vectors = 1 }: entries { key = 1, value = 2 }
        const named = new WireReader(out, s, r.pos)
        while (named.next()) {
          if (named.field !== 1 || named.wireType !== LEN) { named.skip(); continue }
          const e = new WireReader(out, named.len(), named.pos)
          while (e.next()) {
            if (e.field === 2 && e.wireType === LEN) { const es = e.len(); floats += this.roundOutput(out, es, e.pos) } else e.skip()
          }
        }
      }
    }
    return floats > 0 ? out : null
  }

  /** VectorOutput { data = 1, dense = 101 { data = 1 }, multi_dense = 103 { vectors = 1 [{ data = 1 }] } }: floats rounded */
  private roundOutput (buf: Buffer, a: number, b: number): number {
    let floats = 0
    const r = new WireReader(buf, a, b)
    while (r.next()) {
      if (r.field === 1) { floats += roundFloats(r, this.wire); continue }
      if (r.wireType !== LEN || (r.field !== 101 && r.field !== 103)) { r.skip(); continue }
      const s = r.len()
      const inner = new WireReader(buf, s, r.pos)
      if (r.field === 101) {
        while (inner.next()) { if (inner.field === 1) floats += roundFloats(inner, this.wire); else inner.skip() }
      } else {
        while (inner.next()) {
          if (inner.field !== 1 || inner.wireType !== LEN) { inner.skip(); continue }
          const d = new WireReader(buf, inner.len(), inner.pos)
          while (d.next()) { if (d.field === 1) floats += roundFloats(d, this.wire); else d.skip() }
        }
      }
    }
    return floats
  }

  /** the decoded path for one point: payload keys renamed, vectors rounded */
  private decodedPoint (buf: Buffer, a: number, b: number): Buffer | null {
    const p = this.L.pointType.decode(buf.subarray(a, b)) as unknown as Msg
    if (!maskPoint(p, this.masker)) return null
    return Buffer.from(this.L.pointType.encode(p).finish())
  }
}

function roundVectors (v: Msg, masker: Masker): boolean {
  let changed = false
  const outputs: Msg[] = v.vectors_options === 'vectors'
    ? Object.values(v.vectors?.vectors ?? {})
    : v.vector != null ? [v.vector] : []
  for (const o of outputs) {
    if (Array.isArray(o.data) && o.data.length > 0) { o.data = Array.from(masker.vector(o.data) ?? []); changed = true }
    if (o.dense?.data?.length > 0) { o.dense.data = Array.from(masker.vector(o.dense.data) ?? []); changed = true }
    for (const d of o.multi_dense?.vectors ?? []) {
      if (d.data?.length > 0) { d.data = Array.from(masker.vector(d.data) ?? []); changed = true }
    }
  }
  return changed
}

function vectorsToJs (v: Msg): unknown {
  const one = (o: Msg): unknown => o.dense?.data ?? (o.data?.length > 0 ? o.data : undefined) ?? o.multi_dense?.vectors?.map((d: Msg) => d.data) ?? null
  if (v.vectors_options === 'vectors') {
    const out: Record<string, unknown> = {}
    for (const [k, o] of Object.entries(v.vectors?.vectors ?? {})) out[k] = one(o as Msg)
    return out
  }
  return v.vector != null ? one(v.vector) : null
}

const VALUE_KINDS = ['string_value', 'integer_value', 'double_value', 'bool_value', 'struct_value', 'list_value', 'null_value']

/** qdrant.Value → plain JS (google.protobuf.Value-like, with integer_value as int64) */
export function valueToJs (v: Msg | null | undefined): unknown {
  if (v == null) return null
  // decoded messages name their oneof in `kind`; plain objects built by jsToValue carry only the field
  const kind: string | undefined = v.kind ?? VALUE_KINDS.find(k => v[k] !== undefined && v[k] !== null)
  switch (kind) {
    case 'null_value': return null
    case 'double_value': return v.double_value
    case 'integer_value': {
      const n = v.integer_value
      if (typeof n === 'number') return n
      const asNum = Number(String(n))
      return Number.isSafeInteger(asNum) ? asNum : String(n)
    }
    case 'string_value': return v.string_value
    case 'bool_value': return v.bool_value
    case 'struct_value': {
      const out: Record<string, unknown> = {}
      const fields = v.struct_value?.fields ?? {}
      for (const k in fields) out[k] = valueToJs(fields[k])
      return out
    }
    case 'list_value': return (v.list_value?.values ?? []).map(valueToJs)
    default: return null
  }
}

/** plain JS → qdrant.Value as a plain object protobufjs encodes */
export function jsToValue (x: unknown): Msg {
  if (x === null || x === undefined) return { null_value: 0 }
  switch (typeof x) {
    case 'string': return { string_value: x }
    case 'boolean': return { bool_value: x }
    case 'number': return Number.isInteger(x) ? { integer_value: x } : { double_value: x }
    case 'bigint': return { integer_value: x.toString() }
    case 'object': {
      if (Array.isArray(x)) return { list_value: { values: x.map(jsToValue) } }
      const fields: Msg = {}
      for (const [k, v] of Object.entries(x as object)) fields[k] = jsToValue(v)
      return { struct_value: { fields } }
    }
    default: return { null_value: 0 }
  }
}

// ---- the journal's text, from the wire ----

/** deeper than this the journal takes `toJSON` */
const MAX_TEXT_DEPTH = 64
/** the journal's replacer summarizes arrays of at least this many numbers as vectors (lib/journal/serialize.ts) */
const VECTOR_MIN = 8

/**
 * Writes what `JSON.stringify(view.toJSON(), journal replacer)` gives, from the message's bytes. Each
 * method returns false (or undefined) where protobufjs' decode and `valueToJs` could read the bytes
 * differently from a plain reading — a field with another wire type than its own, two members of one
 * oneof, a repeated singular field, a bool of more than one byte, points with vectors — and for
 * payload keys a JavaScript object would reorder (array-index-like) or merge (repeated, `__proto__`),
 * and structs the replacer would take for a Buffer.
 */
class JournalText extends JsonOut {
  /** [start, end, hash] of the ASCII keys of the maps being written, innermost last */
  private readonly keys: number[] = []
  private points = 0
  /** whether the last value written is a number in JSON (for the vector rule) */
  private numeric = false
  constructor (private readonly L: Layout, private readonly storeVectors: boolean, sink: TextOut) {
    super(sink)
  }

  message (buf: Buffer): boolean {
    const start = this.pos
    this.ascii('{"points":[')
    if (!this.container(buf, 0, buf.length, 0)) return false
    this.ascii(']}')
    this.done(start)
    return true
  }

  /** the points of a response (level 0) or of one batch result (level 1), in order */
  private container (buf: Buffer, a: number, b: number, level: number): boolean {
    const L = this.L
    const r = new WireReader(buf, a, b)
    const target = L.containers[level]
    const last = level === L.containers.length - 1
    const types = L.wireTypes[level]
    while (r.next()) {
      if (r.field !== target) {
        if (!expected(types, r.field, r.wireType)) return false
        r.skip()
        continue
      }
      if (r.wireType !== LEN) return false
      const s = r.len()
      if (!last) {
        if (!this.container(buf, s, r.pos, level + 1)) return false
        continue
      }
      if (this.points++ > 0) this.ascii(',')
      if (!this.point(buf, s, r.pos)) return false
    }
    return true
  }

  private point (buf: Buffer, a: number, b: number): boolean {
    const L = this.L
    const r = new WireReader(buf, a, b)
    let idA = -1
    let idB = -1
    let score = 0
    let vecA = -1
    let vecB = -1
    const entries: number[] = []
    while (r.next()) {
      const f = r.field
      if (f === L.id) {
        if (r.wireType !== LEN || idA >= 0) return false
        idA = r.len()
        idB = r.pos
      } else if (f === L.payload) {
        if (r.wireType !== LEN) return false
        entries.push(r.len(), r.pos)
      } else if (f === L.score) {
        if (r.wireType !== I32 || r.pos + 4 > b) return false
        score = buf.readFloatLE(r.pos)
        r.pos += 4
      } else if (f === L.vectors) {
        if (r.wireType !== LEN || vecA >= 0) return false
        vecA = r.len()
        vecB = r.pos
      } else {
        if (!expected(L.wireTypes[L.containers.length], f, r.wireType)) return false
        r.skip()
      }
    }
    this.ascii('{"id":')
    if (idA < 0) this.ascii('""')
    else if (!this.id(buf, idA, idB)) return false
    if (L.score >= 0) this.ascii(',"score":' + number(score))
    this.ascii(',"payload":')
    if (!this.map(buf, entries, 0)) return false
    if (vecA >= 0) {
      this.ascii(',"vectors":')
      if (!this.vectors(buf, vecA, vecB)) return false
    }
    this.ascii('}')
    return true
  }

  /**
   * VectorsOutput as `vectorsToJs` gives it, for one unnamed dense vector (`dense`, or the older
   * `data`) and for none; named, sparse and multi-dense vectors are left to toJSON.
   */
  private vectors (buf: Buffer, a: number, b: number): boolean {
    const L = this.L
    if (L.outVector < 0) return false
    const r = new WireReader(buf, a, b)
    let oA = -1
    let oB = -1
    while (r.next()) {
      if (r.field === L.outVector) {
        if (r.wireType !== LEN || oA >= 0) return false
        oA = r.len()
        oB = r.pos
      } else if (r.field === 2) return false // named vectors
      else r.skip()
    }
    if (oA < 0) { this.ascii('null'); return true }
    const data: number[] = []
    let dense: number[] | undefined
    const o = new WireReader(buf, oA, oB)
    while (o.next()) {
      if (o.field === L.outData) {
        if (!floats(o, buf, data)) return false
      } else if (o.field === L.outDense) {
        if (o.wireType !== LEN || dense !== undefined) return false
        const s = o.len()
        dense = []
        const d = new WireReader(buf, s, o.pos)
        while (d.next()) {
          if (d.field !== L.denseData) { d.skip(); continue }
          if (!floats(d, buf, dense)) return false
        }
      } else if (o.field === 2 || o.field === 3 || o.field === 102 || o.field === 103) return false // indices, count, sparse, multi-dense
      else o.skip()
    }
    const v = dense ?? (data.length > 0 ? data : undefined)
    if (v === undefined) this.ascii('null')
    else if (!this.storeVectors && v.length >= VECTOR_MIN) this.ascii(`"<vector dim=${v.length}>"`)
    else {
      this.ascii('[')
      for (let i = 0; i < v.length; i++) this.ascii(i === 0 ? number(v[i]) : ',' + number(v[i]))
      this.ascii(']')
    }
    return true
  }

  /** PointId as `idOf` gives it */
  private id (buf: Buffer, a: number, b: number): boolean {
    const L = this.L
    const r = new WireReader(buf, a, b)
    let kind = -1
    let s = 0
    let e = 0
    while (r.next()) {
      if (r.field !== L.idNum && r.field !== L.idUuid) { r.skip(); continue }
      if (kind >= 0) return false
      kind = r.field
      if (kind === L.idNum) {
        if (r.wireType !== VARINT) return false
        s = r.pos
        r.varint()
      } else {
        if (r.wireType !== LEN) return false
        s = r.len()
      }
      e = r.pos
    }
    if (kind < 0) return false // an empty PointId: idOf reads its default, left to toJSON
    if (kind === L.idUuid) { this.string(buf, s, e); return true }
    if (e - s <= 7) { this.ascii(String(new WireReader(buf, s, e).varint())); return true }
    const x = BigInt.asUintN(64, varintBig(buf, s, e))
    this.ascii(x <= MAX_SAFE ? x.toString() : '"' + x.toString() + '"')
    return true
  }

  /** map<string, Value> entries (payload, Struct.fields) given as [start, end] pairs, as a JSON object */
  private map (buf: Buffer, entries: number[], depth: number): boolean {
    if (depth > MAX_TEXT_DEPTH) return false
    const keys = this.keys
    const base = keys.length
    let wide: Set<string> | undefined
    this.ascii('{')
    for (let k = 0; k < entries.length; k += 2) {
      const r = new WireReader(buf, entries[k], entries[k + 1])
      let kA = -1
      let kB = -1
      let vA = -1
      let vB = -1
      while (r.next()) {
        if (r.field === 1) {
          if (r.wireType !== LEN || kA >= 0) return false
          kA = r.len()
          kB = r.pos
        } else if (r.field === 2) {
          if (r.wireType !== LEN || vA >= 0) return false
          vA = r.len()
          vB = r.pos
        } else r.skip()
      }
      if (kA < 0) { kA = 0; kB = 0 } // no key: ""
      // keys a JavaScript object would merge (the same text twice, __proto__) or reorder (array indices)
      let ascii = true
      let digits = kB > kA
      let hash = 0
      for (let i = kA; i < kB; i++) {
        const c = buf[i]
        hash = (Math.imul(hash, 31) + c) | 0
        if (c >= 0x80) ascii = false
        if (c < 0x30 || c > 0x39) digits = false
      }
      if (digits) return false
      if (ascii) {
        if (kB - kA === 9 && buf.toString('latin1', kA, kB) === '__proto__') return false
        for (let j = base; j < keys.length; j += 3) if (keys[j + 2] === hash && sameRange(buf, keys[j], keys[j + 1], kA, kB)) return false
        keys.push(kA, kB, hash)
      } else {
        // bytes that are not UTF-8 may decode to the same text: compare them decoded
        const text = buf.toString('utf8', kA, kB)
        wide ??= new Set()
        if (wide.has(text)) return false
        wide.add(text)
      }
      if (k > 0) this.ascii(',')
      this.string(buf, kA, kB)
      this.ascii(':')
      if (vA < 0) this.ascii('null')
      else {
        const at = this.pos
        if (!this.value(buf, vA, vB, depth + 1)) return false
        // {"type": "Buffer", ...} is what the journal's replacer takes for a serialized Buffer
        if (this.pos - at === 8 && kB - kA === 4 && buf.toString('latin1', kA, kB) === 'type' && this.out.toString('latin1', at, this.pos) === '"Buffer"') return false
      }
    }
    keys.length = base
    this.ascii('}')
    this.numeric = false
    return true
  }

  /** one qdrant.Value as `valueToJs` gives it */
  private value (buf: Buffer, a: number, b: number, depth: number): boolean {
    const L = this.L
    const r = new WireReader(buf, a, b)
    let kind = -1
    let s = 0
    let e = 0
    while (r.next()) {
      const f = r.field
      if (f !== L.vNull && f !== L.vDouble && f !== L.vInt && f !== L.vString && f !== L.vBool && f !== L.vStruct && f !== L.vList) { r.skip(); continue }
      if (kind >= 0) return false
      kind = f
      s = r.pos
      if (f === L.vDouble) {
        if (r.wireType !== I64) return false
        r.double()
      } else if (f === L.vString || f === L.vStruct || f === L.vList) {
        if (r.wireType !== LEN) return false
        s = r.len()
      } else {
        if (r.wireType !== VARINT) return false
        r.varint()
      }
      e = r.pos
    }
    this.numeric = false
    switch (kind) {
      case L.vString:
        this.string(buf, s, e)
        return true
      case L.vDouble:
        this.ascii(number(buf.readDoubleLE(s)))
        this.numeric = true
        return true
      case L.vInt: {
        if (e - s <= 7) {
          this.ascii(String(new WireReader(buf, s, e).varint()))
          this.numeric = true
          return true
        }
        const x = BigInt.asIntN(64, varintBig(buf, s, e))
        const safe = x >= MIN_SAFE && x <= MAX_SAFE
        this.ascii(safe ? x.toString() : '"' + x.toString() + '"')
        this.numeric = safe
        return true
      }
      case L.vBool:
        if (e - s !== 1) return false // protobufjs reads a bool from the low 32 bits of its varint
        this.ascii(buf[s] !== 0 ? 'true' : 'false')
        return true
      case L.vStruct: {
        const entries: number[] = []
        const q = new WireReader(buf, s, e)
        while (q.next()) {
          if (q.field !== L.structFields) { q.skip(); continue }
          if (q.wireType !== LEN) return false
          entries.push(q.len(), q.pos)
        }
        return this.map(buf, entries, depth)
      }
      case L.vList:
        return this.list(buf, s, e, depth)
      case L.vNull:
        this.ascii('null')
        return true
      default: // a Value with no kind: valueToJs finds string_value's default on the decoded message
        this.ascii('""')
        return true
    }
  }

  /** ListValue as an array, or the replacer's vector summary */
  private list (buf: Buffer, a: number, b: number, depth: number): boolean {
    if (depth > MAX_TEXT_DEPTH) return false
    const L = this.L
    const r = new WireReader(buf, a, b)
    const start = this.pos
    let n = 0
    let firstNumeric = false
    this.ascii('[')
    while (r.next()) {
      if (r.field !== L.listValues) { r.skip(); continue }
      if (r.wireType !== LEN) return false
      const s = r.len()
      if (n > 0) this.ascii(',')
      if (!this.value(buf, s, r.pos, depth + 1)) return false
      if (n === 0) firstNumeric = this.numeric
      n++
    }
    if (!this.storeVectors && n >= VECTOR_MIN && firstNumeric && this.numeric) {
      this.pos = start
      this.ascii(`"<vector dim=${n}>"`)
    } else this.ascii(']')
    this.numeric = false
    return true
  }
}

const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER)
const MIN_SAFE = BigInt(Number.MIN_SAFE_INTEGER)

/** a repeated float, packed or one at a time, as protobufjs reads it */
function floats (r: WireReader, buf: Buffer, out: number[]): boolean {
  if (r.wireType === I32) {
    if (r.pos + 4 > r.end) return false
    out.push(buf.readFloatLE(r.pos))
    r.pos += 4
    return true
  }
  if (r.wireType !== LEN) return false
  const s = r.len()
  if ((r.pos - s) % 4 !== 0) return false
  for (let i = s; i < r.pos; i += 4) out.push(buf.readFloatLE(i))
  return true
}

function sameRange (buf: Buffer, a: number, b: number, c: number, d: number): boolean {
  if (b - a !== d - c) return false
  for (let i = 0; i < b - a; i++) if (buf[a + i] !== buf[c + i]) return false
  return true
}

/** false where protobufjs would read a known field with another wire type than it came in */
function expected (types: Map<number, number>, field: number, wireType: number): boolean {
  const w = types.get(field)
  return w === undefined || w === wireType || (w === -1 && wireType !== 3 && wireType !== 4)
}

/** a double as JSON.stringify writes it */
function number (x: number): string {
  return Number.isFinite(x) ? String(x) : 'null'
}
