/**
 * HPACK (RFC 7541): header block decoding and encoding with a dynamic table per direction.
 * Values are kept as latin1 strings so every octet round-trips exactly when the relay re-encodes.
 */
import { ErrorCode } from './constants.js'
import { Http2Error } from './frames.js'
import { huffmanDecode, huffmanEncode, huffmanLength } from './huffman.js'

export type Header = [name: string, value: string]

/** Appendix A */
const STATIC: Header[] = [
  [':authority', ''], [':method', 'GET'], [':method', 'POST'], [':path', '/'], [':path', '/index.html'],
  [':scheme', 'http'], [':scheme', 'https'], [':status', '200'], [':status', '204'], [':status', '206'],
  [':status', '304'], [':status', '400'], [':status', '404'], [':status', '500'], ['accept-charset', ''],
  ['accept-encoding', 'gzip, deflate'], ['accept-language', ''], ['accept-ranges', ''], ['accept', ''],
  ['access-control-allow-origin', ''], ['age', ''], ['allow', ''], ['authorization', ''], ['cache-control', ''],
  ['content-disposition', ''], ['content-encoding', ''], ['content-language', ''], ['content-length', ''],
  ['content-location', ''], ['content-range', ''], ['content-type', ''], ['cookie', ''], ['date', ''], ['etag', ''],
  ['expect', ''], ['expires', ''], ['from', ''], ['host', ''], ['if-match', ''], ['if-modified-since', ''],
  ['if-none-match', ''], ['if-range', ''], ['if-unmodified-since', ''], ['last-modified', ''], ['link', ''],
  ['location', ''], ['max-forwards', ''], ['proxy-authenticate', ''], ['proxy-authorization', ''], ['range', ''],
  ['referer', ''], ['refresh', ''], ['retry-after', ''], ['server', ''], ['set-cookie', ''],
  ['strict-transport-security', ''], ['transfer-encoding', ''], ['user-agent', ''], ['vary', ''], ['via', ''],
  ['www-authenticate', '']
]
const STATIC_EXACT = new Map<string, number>()
const STATIC_NAME = new Map<string, number>()
STATIC.forEach(([n, v], i) => {
  const key = n + '\0' + v
  if (!STATIC_EXACT.has(key)) STATIC_EXACT.set(key, i + 1)
  if (!STATIC_NAME.has(n)) STATIC_NAME.set(n, i + 1)
})

const entrySize = (h: Header): number => h[0].length + h[1].length + 32 // §4.1

/** The dynamic table (§2.3.2, §4): newest first, evicting from the end. */
class DynamicTable {
  entries: Header[] = []
  size = 0
  /** changes whenever the table does: what was decoded or encoded against it is only valid for one version */
  version = 0
  constructor (public maxSize: number) {}

  add (h: Header): void {
    this.version++
    const s = entrySize(h)
    this.evictTo(this.maxSize - s)
    if (s <= this.maxSize) {
      this.entries.unshift(h)
      this.size += s
    }
  }

  resize (max: number): void {
    this.version++
    this.maxSize = max
    this.evictTo(max)
  }

  private evictTo (limit: number): void {
    while (this.size > Math.max(limit, 0) && this.entries.length > 0) this.size -= entrySize(this.entries.pop()!)
  }
}

export class HpackDecoder {
  private readonly table: DynamicTable
  /** the most the peer's encoder may use: our SETTINGS_HEADER_TABLE_SIZE (§4.2) */
  private allowed: number
  private readonly maxHeaderListSize: number

  constructor (opts: { maxTableSize?: number, maxHeaderListSize?: number } = {}) {
    this.allowed = opts.maxTableSize ?? 4096
    this.table = new DynamicTable(this.allowed)
    this.maxHeaderListSize = opts.maxHeaderListSize ?? 64 * 1024
  }

  setAllowedTableSize (n: number): void {
    this.allowed = n
    if (this.table.maxSize > n) this.table.resize(n)
  }

  /** current dynamic table, newest first (for tests) */
  get dynamicTable (): readonly Header[] { return this.table.entries }
  get dynamicSize (): number { return this.table.size }

  /**
   * Blocks decoded without touching the dynamic table, by their bytes: a connection's requests (or
   * responses, or trailers) mostly repeat the same block, all indexed, and decoding it again gives the
   * same list as long as the table has not changed since (RFC 7541 §3.2). A few entries, for the
   * header and trailer blocks of one direction; cleared when the table changes.
   */
  private readonly seen: Array<{ block: Buffer, headers: Header[] }> = []
  private seenVersion = 0

  decode (block: Buffer): Header[] {
    const version = this.table.version
    if (this.seenVersion !== version) {
      this.seen.length = 0
      this.seenVersion = version
    } else {
      for (const e of this.seen) if (e.block.length === block.length && e.block.equals(block)) return e.headers.slice()
    }
    const out = this.decodeBlock(block)
    if (this.table.version === version && block.length <= 512) {
      // a copy of the bytes: the block is a view into a socket read that will be reused
      if (this.seen.length >= 4) this.seen.shift()
      this.seen.push({ block: Buffer.from(block), headers: out.slice() })
    }
    return out
  }

  private decodeBlock (block: Buffer): Header[] {
    const out: Header[] = []
    let listSize = 0
    let i = 0
    let sawHeader = false
    const push = (h: Header): void => {
      listSize += entrySize(h)
      // an HPACK bomb: a small block that expands to a huge list (THREATS.md)
      if (listSize > this.maxHeaderListSize) throw new Http2Error(ErrorCode.ENHANCE_YOUR_CALM, `header list larger than ${this.maxHeaderListSize} bytes`)
      out.push(h)
      sawHeader = true
    }
    while (i < block.length) {
      const b = block[i]
      if ((b & 0x80) !== 0) { // §6.1 indexed
        const [idx, n] = readInt(block, i, 7)
        i = n
        push(this.lookup(idx))
      } else if ((b & 0xc0) === 0x40) { // §6.2.1 literal with incremental indexing
        const [idx, n] = readInt(block, i, 6)
        i = n
        let name: string
        if (idx === 0) { const s = readString(block, i); name = s[0]; i = s[1] } else name = this.lookup(idx)[0]
        const v = readString(block, i)
        i = v[1]
        const h: Header = [name, v[0]]
        this.table.add(h)
        push(h)
      } else if ((b & 0xe0) === 0x20) { // §6.3 dynamic table size update
        if (sawHeader) throw new Http2Error(ErrorCode.COMPRESSION_ERROR, 'table size update after a header field')
        const [size, n] = readInt(block, i, 5)
        i = n
        if (size > this.allowed) throw new Http2Error(ErrorCode.COMPRESSION_ERROR, `table size update to ${size} beyond the allowed ${this.allowed}`)
        this.table.resize(size)
      } else { // §6.2.2 without indexing (0000) and §6.2.3 never indexed (0001)
        const never = (b & 0xf0) === 0x10
        const [idx, n] = readInt(block, i, 4)
        i = n
        let name: string
        if (idx === 0) { const s = readString(block, i); name = s[0]; i = s[1] } else name = this.lookup(idx)[0]
        const v = readString(block, i)
        i = v[1]
        const h: Header = [name, v[0]]
        if (never) markNeverIndexed(h)
        push(h)
      }
    }
    return out
  }

  private lookup (idx: number): Header {
    if (idx === 0) throw new Http2Error(ErrorCode.COMPRESSION_ERROR, 'header index 0')
    if (idx <= STATIC.length) return STATIC[idx - 1]
    const h = this.table.entries[idx - STATIC.length - 1]
    if (h === undefined) throw new Http2Error(ErrorCode.COMPRESSION_ERROR, `header index ${idx} out of range`)
    return h
  }
}

/** §5.1 integer with an N-bit prefix; returns [value, next offset] */
function readInt (b: Buffer, i: number, prefix: number): [number, number] {
  const max = (1 << prefix) - 1
  let v = b[i] & max
  i++
  if (v < max) return [v, i]
  let m = 0
  for (;;) {
    if (i >= b.length) throw new Http2Error(ErrorCode.COMPRESSION_ERROR, 'truncated integer')
    const x = b[i++]
    v += (x & 0x7f) * 2 ** m
    m += 7
    if ((x & 0x80) === 0) break
    if (m > 28) throw new Http2Error(ErrorCode.COMPRESSION_ERROR, 'integer too large')
  }
  return [v, i]
}

/** §5.2 string literal; returns [value, next offset] */
function readString (b: Buffer, i: number): [string, number] {
  if (i >= b.length) throw new Http2Error(ErrorCode.COMPRESSION_ERROR, 'truncated string')
  const huffman = (b[i] & 0x80) !== 0
  const [len, n] = readInt(b, i, 7)
  if (n + len > b.length) throw new Http2Error(ErrorCode.COMPRESSION_ERROR, 'string longer than the block')
  const raw = b.subarray(n, n + len)
  return [(huffman ? huffmanDecode(raw) : raw).toString('latin1'), n + len]
}

/**
 * Fields that arrived as never-indexed literals (§6.2.3): an intermediary re-encoding them must use the
 * same representation (§7.1.3), so the decoder marks the very Header it returns and the encoder checks
 * the mark. The flag keeps the common case (no such field seen in this process) free of lookups.
 */
const NEVER_INDEXED = new WeakSet<Header>()
let neverIndexedSeen = false
function markNeverIndexed (h: Header): void {
  NEVER_INDEXED.add(h)
  neverIndexedSeen = true
}

/** Header names whose values are never put in a table anywhere (§7.1.3): secrets. */
const SENSITIVE = new Set(['authorization', 'api-key', 'cookie', 'set-cookie', 'proxy-authorization', 'token'])
/** Values that change per request: indexing them would only churn the table. */
const UNINDEXED = new Set(['grpc-timeout', 'grpc-message', 'content-length', 'date', 'vecgate-approval-id'])

export class HpackEncoder {
  private readonly table = new DynamicTable(4096)
  private pendingSizeUpdate: number | undefined
  /** the smallest size set since the last block: signalled first when it differs from the final one (§4.2) */
  private pendingSizeMin: number | undefined

  constructor (private readonly sensitive: ReadonlySet<string> = SENSITIVE) {}

  /** the peer's SETTINGS_HEADER_TABLE_SIZE (or less): announced at the start of the next block */
  setMaxTableSize (n: number): void {
    if (n === this.table.maxSize) return
    this.table.resize(n)
    this.pendingSizeUpdate = n
    if (this.pendingSizeMin === undefined || n < this.pendingSizeMin) this.pendingSizeMin = n
  }

  /**
   * Lists encoded without touching the dynamic table (every field indexed, or a literal not indexed),
   * with their output: the same list against the same table encodes to the same bytes. A few entries,
   * for the header and trailer lists of one direction; cleared when the table changes.
   */
  private readonly done: Array<{ headers: Header[], block: Buffer }> = []
  private doneVersion = 0

  encode (headers: Header[]): Buffer {
    const version = this.table.version
    if (this.doneVersion !== version) {
      this.done.length = 0
      this.doneVersion = version
    } else if (this.pendingSizeUpdate === undefined) {
      for (const e of this.done) if (sameList(e.headers, headers)) return e.block
    }
    const sizeUpdate = this.pendingSizeUpdate !== undefined
    const block = this.encodeList(headers)
    if (this.table.version === version && !sizeUpdate && headers.length <= 32) {
      if (this.done.length >= 4) this.done.shift()
      this.done.push({ headers: headers.slice(), block })
    }
    return block
  }

  private encodeList (headers: Header[]): Buffer {
    let cap = 16
    for (const h of headers) cap += h[0].length + h[1].length + 12
    const out = Buffer.allocUnsafe(cap)
    let o = 0
    if (this.pendingSizeUpdate !== undefined) {
      // entries evicted by a smaller size in between must be evicted by the peer too (§4.2)
      if (this.pendingSizeMin! < this.pendingSizeUpdate) o = writeInt(out, o, this.pendingSizeMin!, 5, 0x20)
      o = writeInt(out, o, this.pendingSizeUpdate, 5, 0x20)
      this.pendingSizeUpdate = undefined
      this.pendingSizeMin = undefined
    }
    for (const h of headers) {
      const [name, value] = h
      if (this.sensitive.has(name) || (neverIndexedSeen && NEVER_INDEXED.has(h))) {
        o = this.literal(out, o, h, 4, 0x10, false)
        continue
      }
      const exact = STATIC_EXACT.get(name + '\0' + value) ?? this.findDynamic(name, value)
      if (exact !== undefined) {
        o = writeInt(out, o, exact, 7, 0x80)
        continue
      }
      if (UNINDEXED.has(name) || entrySize(h) > this.table.maxSize / 2) {
        o = this.literal(out, o, h, 4, 0x00, false)
      } else {
        o = this.literal(out, o, h, 6, 0x40, true)
      }
    }
    return out.subarray(0, o)
  }

  private literal (out: Buffer, o: number, h: Header, prefix: number, pattern: number, index: boolean): number {
    const nameIdx = STATIC_NAME.get(h[0]) ?? this.findDynamicName(h[0])
    if (nameIdx !== undefined) {
      o = writeInt(out, o, nameIdx, prefix, pattern)
    } else {
      out[o++] = pattern
      o = writeString(out, o, h[0])
    }
    o = writeString(out, o, h[1])
    if (index) this.table.add(h)
    return o
  }

  private findDynamic (name: string, value: string): number | undefined {
    const e = this.table.entries
    for (let i = 0; i < e.length; i++) if (e[i][0] === name && e[i][1] === value) return STATIC.length + 1 + i
    return undefined
  }

  private findDynamicName (name: string): number | undefined {
    const e = this.table.entries
    for (let i = 0; i < e.length; i++) if (e[i][0] === name) return STATIC.length + 1 + i
    return undefined
  }
}

/** the same fields in the same order, each with the same never-indexed mark (it changes the encoding) */
function sameList (a: Header[], b: Header[]): boolean {
  if (a.length !== b.length) return false
  for (let i = 0; i < a.length; i++) {
    const x = a[i]
    const y = b[i]
    if (x === y) continue
    if (x[0] !== y[0] || x[1] !== y[1]) return false
    if (neverIndexedSeen && NEVER_INDEXED.has(x) !== NEVER_INDEXED.has(y)) return false
  }
  return true
}

function writeInt (out: Buffer, o: number, v: number, prefix: number, pattern: number): number {
  const max = (1 << prefix) - 1
  if (v < max) {
    out[o++] = pattern | v
    return o
  }
  out[o++] = pattern | max
  v -= max
  while (v >= 128) {
    out[o++] = (v % 128) | 0x80
    v = Math.floor(v / 128)
  }
  out[o++] = v
  return o
}

function writeString (out: Buffer, o: number, s: string): number {
  const raw = Buffer.from(s, 'latin1')
  const hlen = huffmanLength(raw)
  if (hlen < raw.length) {
    o = writeInt(out, o, hlen, 7, 0x80)
    return huffmanEncode(raw, out, o)
  }
  o = writeInt(out, o, raw.length, 7, 0x00)
  raw.copy(out, o)
  return o + raw.length
}
