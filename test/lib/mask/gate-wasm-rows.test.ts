/**
 * A varchar column's rows gated in one WebAssembly call (`WasmGate.gateRows`, `gateTextRows`,
 * `Scanner.gateRows`): the module walks the protobuf rows (tag 0x0a, varint length, text) itself,
 * so it must list exactly the rows whose per-row gate (`gateBytesLoop` / `contactGateBytesLoop`, &
 * the mask) is nonzero, where protowire's reader finds them, for any text (invalid UTF-8, every row
 * length 0..300, lengths written in up to five bytes), and refuse (null) every column that reader
 * would not read as rows of field 1: another tag, a tag in two bytes, a truncated or too long
 * length, a cut anywhere but between rows. Fail closed: no row may pass ungated.
 */
import t from 'tap'
import { LEN, WireReader } from '../../../decoders/grpc/protowire.js'
import { CONTACT_BITS, contactGateBytesLoop, DETECTORS, gateBytesLoop, gateStagedBytes, gateTextRows, stageBytes, unstageBytes, WASM_MAX } from '../../../lib/mask/detectors.js'
import { wasmGate, type WasmGate } from '../../../lib/mask/detect/wasm-gate.js'
import { compileMasking } from '../../../lib/mask/index.js'

function prng (seed: number): () => number {
  let a = seed >>> 0
  return () => { a = (a * 1664525 + 1013904223) >>> 0; return a / 4294967296 }
}

const wasm = wasmGate as WasmGate
const ALL = DETECTORS.reduce((m, d) => m | d.bit, 0)

const PIECES = [
  ...'0123456789 -.()+:@=_abcefyJskrghilxonpfAIKSGZé€😀\t"\'/,;',
  'eyJ', 'sk', 'gh', 'xo', 'AK', 'SG', '--', '4111 1111 1111 1111', '+44 20 7946 0958', '123-45-6789', '10.0.0.1', 'alice@example.com',
  'DE89 3704 0044 0532 0130 00', 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2ln', 'AKIAIOSFODNN7EXAMPLE', 'sk-proj-abcDEF123456ghiJKL789mno',
  'password=hunter22', '2001:db8::1', 'https://docs.example.com:8443/x', '09:12:44', 'AB 12 34 56 C', 'doc-17', 'Installing the gateway'
].map(p => Buffer.from(p)).concat([[0], [0x0a], [0x80], [0xff], [0xc3], [0xf3, 0x6b]].map(b => Buffer.from(b)))

function randomText (r: () => number, n: number): Buffer {
  const parts: Buffer[] = []
  let len = 0
  while (len < n) { const p = PIECES[Math.floor(r() * PIECES.length)]; parts.push(p); len += p.length }
  return Buffer.concat(parts).subarray(0, n)
}

const varint = (n: number, bytes = 0): number[] => {
  const out: number[] = []
  while (n >= 128) { out.push((n & 127) | 128); n = Math.floor(n / 128) }
  out.push(n)
  // a non-minimal length, as a writer may pad it: 0x80 bytes before the last
  while (out.length < bytes) { out[out.length - 1] |= 128; out.push(0) }
  return out
}
/** one row: tag, length (in `bytes` bytes at least), text */
const row = (text: Uint8Array, bytes = 0): Buffer => Buffer.from([0x0a, ...varint(text.length, bytes), ...text])

/** the rows as protowire reads them, gated one by one: [field start, text start, text end, gate & mask]…; null when not rows of field 1 */
function reference (b: Uint8Array, start: number, end: number, mask: number, contact: boolean): number[] | null {
  const out: number[] = []
  const r = new WireReader(b, start, end)
  try {
    while (r.next()) {
      if (r.field !== 1 || r.wireType !== LEN) return null
      const fs = r.fieldStart
      const s = r.len()
      const g = (contact ? contactGateBytesLoop(b, s, r.pos) : gateBytesLoop(b, s, r.pos)) & mask
      if (g !== 0) out.push(fs, s, r.pos, g)
    }
  } catch {
    return null
  }
  return out
}

const got = (b: Uint8Array, start: number, end: number, mask: number, contact: boolean): number[] | null => {
  const rows = gateTextRows(b, start, end, mask, contact)
  return rows === null ? null : [...rows]
}

const VARIANTS: Array<[string, number, boolean]> = [['full, every bit', ALL, false], ['full, some bits', 1 << 2 | 1 << 5 | 1 << 9 | 1 << 10, false],
  ['contact', CONTACT_BITS, true], ['contact, email only', 1 << 3, true]]

t.test('the same rows and gates as the per-row loops: random columns, invalid UTF-8, odd offsets, non-minimal lengths', async t => {
  const r = prng(20261129)
  let failures = 0; let listed = 0
  for (let k = 0; k < 400 && failures < 5; k++) {
    const rows: Buffer[] = []
    const count = Math.floor(r() * (r() < 0.2 ? 300 : 20))
    for (let i = 0; i < count; i++) {
      const n = r() < 0.7 ? Math.floor(r() * 60) : Math.floor(r() * 400)
      rows.push(row(randomText(r, n), r() < 0.1 ? 1 + Math.floor(r() * 5) : 0))
    }
    const pad = Math.floor(r() * 9)
    const b = Buffer.concat([randomText(r, pad), ...rows, randomText(r, 7)])
    const end = b.length - 7
    for (const [how, mask, contact] of VARIANTS) {
      const want = reference(b, pad, end, mask, contact)
      const have = got(b, pad, end, mask, contact)
      if (want === null || JSON.stringify(have) !== JSON.stringify(want)) {
        failures++
        t.fail(`${how}, column ${k}: ${JSON.stringify(have)?.slice(0, 200)} != ${JSON.stringify(want)?.slice(0, 200)}`)
      }
      listed += (want?.length ?? 0) / 4
    }
  }
  t.equal(failures, 0)
  t.ok(listed > 1000, `${listed} rows listed`)
})

t.test('every row length 0..300, alone and between others, each gate at every length', async t => {
  const r = prng(7)
  let failures = 0
  for (let n = 0; n <= 300 && failures < 5; n++) {
    for (let k = 0; k < 8 && failures < 5; k++) {
      const text = randomText(r, n)
      const b = k % 2 === 0 ? row(text) : Buffer.concat([row(randomText(r, 3)), row(text), row(randomText(r, 1 + Math.floor(r() * 140)))])
      for (const [how, mask, contact] of VARIANTS) {
        const want = reference(b, 0, b.length, mask, contact)
        const have = got(b, 0, b.length, mask, contact)
        if (JSON.stringify(have) !== JSON.stringify(want)) { failures++; t.fail(`${how}, length ${n}: ${JSON.stringify(have)} != ${JSON.stringify(want)}`) }
      }
    }
  }
  t.equal(failures, 0)
})

t.test('no rows: an empty column lists none', async t => {
  t.same(got(Buffer.alloc(4), 2, 2, ALL, false), [])
  t.same(got(Buffer.from(row(Buffer.from('quiet words only'))), 0, 18, ALL, false), [])
})

t.test('malformed columns are refused, never read past: another tag, a tag in two bytes, a truncated or too long length', async t => {
  const text = Buffer.from('card 4111 1111 1111 1111 and more')
  const ok = row(text)
  const cases: Array<[string, number[]]> = [
    ['field 2', [0x12, text.length, ...text]],
    ['field 1 as a varint', [0x08, 5]],
    ['field 1 as fixed32', [0x0d, 1, 2, 3, 4]],
    ['field 9', [0x4a, text.length, ...text]],
    ['the tag in two bytes (non-minimal)', [0x8a, 0x00, text.length, ...text]],
    ['a zero byte for a tag', [0x00]],
    ['the length past the end', [0x0a, text.length + 1, ...text]],
    ['the length past the end by far', [0x0a, ...varint(1 << 30), ...text]],
    ['a length that wraps 32 bits', [0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f, ...text]],
    ['a length of 2^32 + 3 (five bytes)', [0x0a, 0x83, 0x80, 0x80, 0x80, 0x10, ...text]],
    ['a length in six bytes', [0x0a, 0x80 | text.length, 0x80, 0x80, 0x80, 0x80, 0x00, ...text]],
    ['a length cut short', [0x0a, 0x80]],
    ['a tag and no length', [0x0a]]
  ]
  for (const [what, bytes] of cases) {
    for (const b of [Buffer.from(bytes), Buffer.concat([ok, Buffer.from(bytes)]), Buffer.concat([ok, Buffer.from(bytes), ok])]) {
      for (const [how, mask, contact] of VARIANTS) t.equal(got(b, 0, b.length, mask, contact), null, `${what} (${b.length} bytes), ${how}`)
    }
  }
  // a length in five bytes that fits is a length
  const five = Buffer.from([0x0a, 0x80 | text.length, 0x80, 0x80, 0x80, 0x00, ...text])
  t.same(got(five, 0, five.length, ALL, false), reference(five, 0, five.length, ALL, false))
  t.equal(got(five, 0, five.length, ALL, false)?.length, 4)
})

t.test('a column cut at every byte: listed where it ends between rows, refused elsewhere', async t => {
  const r = prng(11)
  const rows = Array.from({ length: 12 }, (_, i) => row(randomText(r, [0, 5, 6, 9, 46, 130, 200][i % 7]), i % 5 === 4 ? 3 : 0))
  const b = Buffer.concat(rows)
  const ends = new Set<number>([0])
  let at = 0
  for (const x of rows) { at += x.length; ends.add(at) }
  let failures = 0
  for (let cut = 0; cut <= b.length && failures < 5; cut++) {
    for (const [how, mask, contact] of VARIANTS) {
      const have = got(b, 0, cut, mask, contact)
      const want = ends.has(cut) ? reference(b, 0, cut, mask, contact) : null
      if (JSON.stringify(have) !== JSON.stringify(want)) { failures++; t.fail(`cut at ${cut}, ${how}: ${JSON.stringify(have)} != ${JSON.stringify(want)}`) }
      // every prefix protowire refuses, the module refuses too
      if (reference(b, 0, cut, mask, contact) === null && have !== null) { failures++; t.fail(`cut at ${cut}, ${how}: listed a column protowire refuses`) }
    }
  }
  t.equal(failures, 0)
})

t.test('large columns grow the memory (up to WASM_MAX; over it no column is copied in); a staged text stays as it was; the answer is read before the next call', async t => {
  const r = prng(13)
  const doc = randomText(r, 300)
  const staged = stageBytes(doc, 0, doc.length)
  try {
    for (const rows of [10, 5000, 20000, 200, 40000]) {
      const b = Buffer.concat(Array.from({ length: rows }, () => row(randomText(r, Math.floor(r() * 80)))))
      for (const [how, mask, contact] of VARIANTS) {
        // over WASM_MAX a column is not copied into the module (its memory only grows): gated row by row
        if (b.length > WASM_MAX) t.equal(gateTextRows(b, 0, b.length, mask, contact), null, `${rows} rows (${b.length} bytes), ${how}: over the limit`)
        else t.same(got(b, 0, b.length, mask, contact), reference(b, 0, b.length, mask, contact), `${rows} rows (${b.length} bytes), ${how}`)
      }
    }
    let same = true
    for (let s = 0; s < doc.length; s += 3) {
      for (const e of [s + 6, s + 20, s + 90]) {
        if (e <= doc.length && gateStagedBytes(doc, s, e, staged + s) !== gateBytesLoop(doc, s, e)) same = false
      }
    }
    t.ok(same, 'the staged text gates as before')
  } finally {
    unstageBytes(staged)
  }
  // the answer array is reused: a caller keeps what it needs before the next call
  const a = Buffer.concat([row(Buffer.from('mail ann@example.com')), row(Buffer.from('+44 20 7946 0958'))])
  const first = wasm.gateRows(a, 0, a.length, ALL, false)!
  t.equal(first.length, 8)
  const copy = [...first]
  wasm.gateRows(a, 0, a.length, 1 << 3, true)
  t.same(copy, reference(a, 0, a.length, ALL, false))
})

t.test('Scanner.gateRows: each profile\'s gate (`gateOf`) of each row, and its scan of them as `scanBytes`', async t => {
  const profiles = compileMasking({
    typical: { fields: ['email'], detectors: ['email', 'phone', 'credit_card'], action: 'redact', vectors: 'keep' },
    every: { fields: [], detectors: ['all'], action: 'redact', vectors: 'keep' },
    partial: { fields: [], detectors: ['all'], action: 'partial', vectors: 'keep' },
    ids: { fields: [], detectors: ['ip', 'national_id'], action: 'hash', vectors: 'keep' },
    none: { fields: ['email'], detectors: [], action: 'redact', vectors: 'keep' }
  }, { hashKey: Buffer.alloc(32, 3) })
  const r = prng(17)
  const texts = Array.from({ length: 600 }, () => randomText(r, Math.floor(r() * (r() < 0.8 ? 60 : 300))))
  const b = Buffer.concat(texts.map(x => row(x)))
  for (const [name, m] of profiles) {
    const p = m.wire!
    const listed = p.textRows!(b, 0, b.length)
    t.not(listed, null, name)
    const byStart = new Map<number, number>()
    for (let k = 0; k < listed!.length; k += 4) byStart.set(listed![k + 1], k)
    let at = 0; let mismatches = 0
    const wantRows = [...listed!]
    for (const x of texts) {
      const fs = at
      const s = at + 1 + varint(x.length).length
      const e = s + x.length
      at = e
      const want = p.maskText(b, s, e)
      const k = byStart.get(s)
      if (k === undefined) {
        if (want !== undefined) mismatches++ // a row not listed must be one maskText leaves
        continue
      }
      if (wantRows[k] !== fs || wantRows[k + 2] !== e) mismatches++
      if (p.maskGatedText!(b, s, e, wantRows[k + 3]) !== want) mismatches++
    }
    t.equal(mismatches, 0, `${name}: ${byStart.size} rows listed`)
  }
})
