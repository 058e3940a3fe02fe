import t from 'tap'
import { MaskPlan, RowEdits, RowsView, encodeDataRow } from '../../../decoders/postgres/result-view.js'
import type { Column } from '../../../decoders/postgres/messages.js'
import { Slices } from '../../../lib/postgres/burst.js'
import { DROP, type Masker } from '../../../decoders/types.js'

const col = (name: string, typeOid: number, format = 0): Column => ({ name, tableOid: 0, attnum: 0, typeOid, typeLen: -1, typeMod: -1, format })
const masker = (vectors: Masker['vectors'] = 'drop'): Masker => ({
  name: 'pii',
  vectors,
  touches: (p) => p === 'email' || p === 'age' || p === 'secret',
  scalar: (p, v) => p === 'secret' ? DROP : p === 'age' ? 0 : typeof v === 'string' ? v.replace(/@.*/, '@***') : v,
  document: (doc) => { if ('email' in doc) { doc.email = '***'; return true } return false },
  vector: (v) => vectors === 'drop' ? null : Array.from(v, x => Math.round(x))
})
const row = (...vals: Array<string | Buffer | null>): Buffer => encodeDataRow(vals.map(v => typeof v === 'string' ? Buffer.from(v) : v))
const values = (r: Buffer): Array<string | null> => {
  const n = r.readInt16BE(5); const out: Array<string | null> = []; let pos = 7
  for (let i = 0; i < n; i++) { const len = r.readInt32BE(pos); pos += 4; if (len < 0) { out.push(null); continue } out.push(r.toString('utf8', pos, pos + len)); pos += len }
  return out
}

t.test('text format: scalars, vectors, json, untouched columns', async t => {
  const cols = [col('id', 20), col('email', 25), col('embedding', 16385), col('doc', 3802), col('note', 25), col('age', 23), col('secret', 25)]
  const plan = new MaskPlan(cols, masker())
  const r = row('7', 'ann@example.com', '[1.5,2,3]', '{"email":"ann@example.com","k":1}', 'hello', '42', 'pw')
  const m = plan.apply(r)
  t.same(values(m), ['7', 'ann@***', null, '{"email":"***","k":1}', 'hello', '0', null])
  const untouched = row('8', null, null, null, 'x', null, null)
  t.equal(plan.apply(untouched), untouched, 'a row nothing changes is the same buffer')
  const keep = new MaskPlan(cols, masker('round'))
  t.equal(values(keep.apply(r))[2], '[2,2,3]')
})

t.test('binary format', async t => {
  const vec = Buffer.alloc(4 + 8); vec.writeInt16BE(2, 0); vec.writeFloatBE(1.25, 4); vec.writeFloatBE(2.75, 8)
  const age = Buffer.alloc(4); age.writeInt32BE(42)
  const cols = [col('email', 1043, 1), col('embedding', 16385, 1), col('age', 23, 1), col('doc', 3802, 1)]
  const jsonb = Buffer.concat([Buffer.from([1]), Buffer.from('{"email":"a@b"}')])
  const m = new MaskPlan(cols, masker('round')).apply(row(Buffer.from('bob@example.com'), vec, age, jsonb))
  const n = m.readInt16BE(5); t.equal(n, 4)
  let pos = 7
  const parts: Buffer[] = []
  for (let i = 0; i < n; i++) { const len = m.readInt32BE(pos); pos += 4; parts.push(m.subarray(pos, pos + len)); pos += len }
  t.equal(parts[0].toString(), 'bob@***')
  t.same([parts[1].readInt16BE(0), parts[1].readFloatBE(4), parts[1].readFloatBE(8)], [2, 1, 3])
  t.equal(parts[2].readInt32BE(0), 0)
  t.equal(parts[3][0], 1, 'jsonb version byte kept')
  t.same(JSON.parse(parts[3].toString('utf8', 1)), { email: '***' })
})

t.test('a binary value the masker cannot read is withheld', async t => {
  const m = new MaskPlan([col('email', 1700, 1)], masker()).apply(row(Buffer.from([0, 1, 0, 0])))
  t.same(values(m), [null])
})

t.test('RowsView: ids, counts, journal form', async t => {
  const v = new RowsView([col('id', 20), col('name', 25), col('embedding', 16385)], [row('1', 'a', '[1]'), row('2', null, '[2]')])
  t.same(v.ids(), [1, 2])
  t.same(v.counts(), { records: 2, vectors: 2 })
  t.same(v.toJSON(), [{ id: '1', name: 'a', embedding: '[1]' }, { id: '2', name: null, embedding: '[2]' }])
  t.ok(v.mask(masker()))
  t.same(values(v.rows[0]), ['1', 'a', null])
  t.equal(v.encode().length, v.rows[0].length + v.rows[1].length)
})

/** `row` with the values `changed` names (an entry per column; undefined: as it came) replaced whole */
function rewriteDataRow (row: Buffer, changed: Array<Buffer | null | undefined>): Buffer {
  const edits = new RowEdits()
  let pos = 7
  for (let i = 0; i < row.readInt16BE(5); i++) {
    const len = row.readInt32BE(pos)
    pos += 4
    const start = pos
    pos += Math.max(len, 0)
    const c = changed[i]
    if (c !== undefined) edits.replace(start, pos, c)
  }
  edits.write(row, pos)
  const w = edits.written
  return w.buf.subarray(w.start, w.end)
}

t.test('RowEdits gives the row encodeDataRow builds from the values with the changes in', async t => {
  let seed = 5
  const r = (): number => { seed = (Math.imul(seed, 1103515245) + 12345) >>> 0; return seed / 4294967296 }
  const value = (): Buffer | null => r() < 0.2 ? null : Buffer.from('x'.repeat(Math.floor(r() * 12)))
  for (let k = 0; k < 300; k++) {
    const n = Math.floor(r() * 6)
    const values = Array.from({ length: n }, value)
    const changed = values.map(() => r() < 0.4 ? value() : undefined)
    const want = encodeDataRow(values.map((v, i) => changed[i] === undefined ? v : changed[i] as Buffer | null))
    t.same(rewriteDataRow(encodeDataRow(values), changed), want, `row ${k}`)
  }
})

t.test('a column masked to the same text row after row, and to new text, is written as the Masker gives it each time', async t => {
  const plan = new MaskPlan([col('email', 25), col('note', 25)], masker())
  const rows = ['a@x.example', 'b@x.example', 'c@y.example', 'c@y.example', 'd@x.example'].map((e, i) => row(e, `n${i}`))
  t.same(rows.map(r => values(plan.apply(r))), [
    ['a@***', 'n0'], ['b@***', 'n1'], ['c@***', 'n2'], ['c@***', 'n3'], ['d@***', 'n4']
  ])
  // the shared bytes of the last text are copied into each row, never handed out to be changed
  const a = plan.apply(rows[0])
  a.fill(0, 11)
  t.same(values(plan.apply(rows[1])), ['b@***', 'n1'])
})

t.test('a DataRow whose values run past its end is refused, not passed on', async t => {
  const plan = new MaskPlan([col('email', 25), col('note', 25)], masker())
  const good = row('a@x.example', 'note')
  for (const cut of [good.length - 1, good.length - 5, 9, 7]) {
    const bad = Buffer.from(good.subarray(0, cut))
    bad.writeInt32BE(bad.length - 1, 1)
    t.throws(() => plan.apply(bad), { code: 'VG_ERR_MALFORMED' }, `cut at ${cut}`)
  }
  const long = Buffer.from(good)
  long.writeInt32BE(1000, 7)
  t.throws(() => plan.apply(long), { code: 'VG_ERR_MALFORMED' }, 'a length beyond the row')
})

t.test('a row refused half-way leaves nothing of its values to the next row', async t => {
  const cols = [col('email', 25), col('age', 25)]
  const plan = new MaskPlan(cols, masker())
  const good = row('ann@example.com', '42')
  const cut = Buffer.from(good)
  cut.writeInt32BE(1000, 7 + 4 + Buffer.byteLength('ann@example.com')) // age claims more bytes than the row has
  t.throws(() => plan.apply(cut), /shorter than its values say/)
  t.same(values(plan.apply(row(null, '42'))), [null, '0'], 'the next row gets its own values only')
  const plain = row(null, null)
  t.equal(plan.apply(plain), plain, 'a row nothing changes goes out as it came')
})

t.test('RowsView of runs: rows back to back in one buffer read as the same rows one per buffer', async t => {
  const cols = [col('id', 20), col('name', 25), col('embedding', 16385)]
  const rows = Array.from({ length: 7 }, (_, i) => row(String(i + 1), i % 3 === 0 ? null : `n${i}`, `[${i}]`))
  const one = new RowsView(cols, rows.map(r => Buffer.from(r)))
  for (const cut of [[7], [1, 6], [3, 3, 1], [1, 1, 1, 1, 1, 1, 1]]) {
    const runs: Buffer[] = []
    let k = 0
    for (const n of cut) { runs.push(Buffer.concat(rows.slice(k, k + n))); k += n }
    const v = new RowsView(cols, runs)
    t.same(v.counts(), one.counts(), `counts, runs of ${cut.join('+')}`)
    t.same(v.ids(), one.ids(), 'ids')
    t.same(v.toJSON(), one.toJSON(), 'journal form')
    t.same(v.encode(), one.encode(), 'bytes')
    t.same(v.rows.map(r => [...r]), rows.map(r => [...r]), 'rows')
    const m = new RowsView(cols, runs.map(r => Buffer.from(r)))
    t.ok(m.mask(masker()), 'masked')
    t.same(m.toJSON(), rows.map((_, i) => ({ id: String(i + 1), name: i % 3 === 0 ? null : `n${i}`, embedding: null })), 'masked per row')
  }
})

t.test('rows masked one after another are written back to back in the slab: the relay sends them as one slice', async t => {
  const cols = [col('id', 20), col('email', 25)]
  const plan = new MaskPlan(cols, masker())
  const out = new Slices()
  const rows = Array.from({ length: 300 }, (_, i) => row(String(i), `user${i}@example.com`))
  let slices = 0
  let last: Buffer | undefined
  for (const r of rows) {
    t.ok(plan.mask(r), 'masked')
    const w = plan.output
    if (w.buf !== last || out.empty) slices++
    last = w.buf
    out.slice(w.buf, w.start, w.end)
  }
  const sent = out.take()
  t.equal(sent.length, slices, 'one slice per slab the rows went into')
  t.ok(sent.length <= 2, 'a few slices, not a buffer per row')
  const runs = new RowsView(cols, sent)
  t.same(runs.toJSON(), rows.map((_, i) => ({ id: String(i), email: 'user' + String(i) + '@***' })), 'every row masked, in order')
  t.equal(plan.mask(row('1', null)), false, 'a row the mask leaves alone is not written')
})

t.test('RowsView ids: read in place in either format; a value cut short or of no number is passed over, bytes that are no whole row end the run', async t => {
  const int4 = (n: number): Buffer => { const b = Buffer.alloc(4); b.writeInt32BE(n); return b }
  const int8 = (n: bigint): Buffer => { const b = Buffer.alloc(8); b.writeBigInt64BE(n); return b }
  const bin4 = [col('name', 25, 1), col('id', 23, 1)]
  const rows4 = [row('a', int4(7)), row('b', null), row('c', Buffer.from([0, 1])), row('d', int4(-3))]
  t.same(new RowsView(bin4, [Buffer.concat(rows4)]).ids(), [7, -3], 'int4: NULL and a 2-byte value passed over')
  const bin8 = [col('id', 20, 1)]
  t.same(new RowsView(bin8, [row(int8(9007199254740993n)), row(int8(-5n))]).ids(), [Number(9007199254740993n), -5], 'int8 as Number(readBigInt64BE) gives it')
  t.same(new RowsView([col('id', 25, 1)], [row('doc-1'), row('doc-2')]).ids(), ['doc-1', 'doc-2'], 'binary text')
  t.same(new RowsView([col('id', 2950, 1)], [row(Buffer.alloc(16))]).ids(), [], 'a binary type it cannot read')
  const text = [col('x', 25), col('id', 20)]
  const rows = [row('a', '1'), row('b', '9007199254740993'), row('c', 'x7'), row('d')]
  t.same(new RowsView(text, [Buffer.concat(rows)]).ids(), [1, '9007199254740993', 'x7'], 'text: safe integers as numbers, others as text, a row without the column passed over')
  const cut = Buffer.concat([row('a', '1'), row('b', '2').subarray(0, 9)])
  const v = new RowsView(text, [cut])
  t.same(v.ids(), [1], 'a run ending in part of a row: the whole rows')
  t.same(v.counts().records, 1)
  t.equal(v.rows.length, 1)
  const bad = Buffer.from(row('a', '1')); bad.writeInt32BE(2, 1)
  t.same(new RowsView(text, [bad]).counts().records, 0, 'a length shorter than a DataRow ends the run')
})

t.test('RowsView ids of a numeric text column: what Number gives for an integer it holds exactly, else the text', async t => {
  const texts = ['0', '-0', '7', '007', '-42', '123456789012345', '999999999999999', '9007199254740991', '9007199254740993', '-9007199254740991',
    '1.5', '1e3', '+1', '-', '', ' 1', '12a', '١٢']
  const v = new RowsView([col('id', 20)], [Buffer.concat(texts.map(x => row(x)))])
  const want = texts.map(x => /^-?\d+$/.test(x) && Number.isSafeInteger(Number(x)) ? Number(x) : x)
  t.same(v.ids(), want)
  t.ok(Object.is(v.ids()[1], -0), '-0 as Number gives it')
})

t.test('RowsView journalText: the bytes of JSON.stringify(toJSON()), or false where it cannot say them (random rows, names, bytes)', async t => {
  let seed = 17
  const r = (): number => { seed = (seed * 1103515245 + 12345) & 0x7fffffff; return seed / 0x7fffffff }
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]
  const NAMES = ['id', 'name', 'email', 'note', 'é', 'a"b', 'back\\slash', 'tab\there', 'x'.repeat(40), '__proto__', '0', '1', '01', '4294967295', '4294967294', 'constructor', 'ключ']
  const TYPES = [[25, 0], [25, 1], [1043, 1], [23, 0], [3802, 0], [16385, 0], [23, 1], [3802, 1]] as const
  const BYTES = [[], [0x61], [0x22], [0x5c], [0x0a], [0x00], [0x1f], [0x7f], [0xc3, 0xa9], [0xe2, 0x80, 0xa8], [0xf0, 0x9f, 0x98, 0x80], [0xe2], [0xc3], [0xff], [0xed, 0xa0, 0x80], [0xc0, 0x80], [0x20]]
  const value = (): Buffer | null => {
    if (r() < 0.15) return null
    const parts: number[] = []
    const n = Math.floor(r() * (r() < 0.2 ? 60 : 8))
    for (let i = 0; i < n; i++) parts.push(...(r() < 0.6 ? [0x61 + Math.floor(r() * 26)] : pick(BYTES)))
    return Buffer.from(parts)
  }
  const sink = (): { buf: Buffer, pos: number, room: (n: number) => void } => {
    const s = { buf: Buffer.alloc(8), pos: 0, room: (n: number) => { const b = Buffer.alloc((s.pos + n) * 2); s.buf.copy(b, 0, 0, s.pos); s.buf = b } }
    return s
  }
  let written = 0
  let declined = 0
  for (let k = 0; k < 1500; k++) {
    const ncols = 1 + Math.floor(r() * 5)
    const cols = Array.from({ length: ncols }, (_, i) => { const [oid, format] = pick(TYPES); return col(r() < 0.6 ? `c${i}` : pick(NAMES), oid, r() < 0.8 ? 0 : format) })
    const rows = Array.from({ length: Math.floor(r() * 6) }, () => {
      const n = ncols + (r() < 0.1 ? pick([-1, 1, 2]) : 0)
      let b = encodeDataRow(Array.from({ length: Math.max(n, 0) }, value))
      if (r() < 0.05) { b = Buffer.from(b); const at = 7 + Math.floor(r() * Math.max(b.length - 10, 1)); b[at] = Math.floor(r() * 256) } // a byte anywhere, a length too
      return b
    })
    const runs: Buffer[] = []
    for (let i = 0; i < rows.length;) { const n = 1 + Math.floor(r() * 3); runs.push(Buffer.concat(rows.slice(i, i + n))); i += n }
    const v = new RowsView(cols, runs)
    let want: Buffer | undefined
    try { want = Buffer.from(JSON.stringify(new RowsView(cols, runs.map(x => Buffer.from(x))).toJSON())) } catch {}
    const out = sink()
    out.pos = 3 // after text already in the batch
    if (v.journalText(false, out)) {
      written++
      if (want === undefined) { t.fail(`case ${k}: written where toJSON throws`); continue }
      if (!out.buf.subarray(3, out.pos).equals(want)) t.fail(`case ${k}: ${out.buf.toString('utf8', 3, out.pos)} against ${want.toString()}`)
    } else declined++
  }
  t.ok(written > 600, `most cases written from the bytes (${written} written, ${declined} left to toJSON)`)
  t.ok(declined > 100, 'and the unusual ones left to toJSON')
})

t.test('RowsView journalText leaves to toJSON the columns an object would not keep as written', async t => {
  const text = { buf: Buffer.alloc(256), pos: 0, room: () => {} }
  const rows = [row('a', 'b')]
  for (const [names, why] of [[['c0', '1'], 'an array index, which objects put first'], [['__proto__', 'x'], '__proto__'], [['x', 'x'], 'a name twice']] as const) {
    const v = new RowsView(names.map(n => col(n, 25)), rows)
    t.equal(v.journalText(false, text), false, why)
    t.not(JSON.stringify(v.toJSON()), `[{${names.map((n, i) => `${JSON.stringify(n)}:"${'ab'[i]}"`).join(',')}}]`, `toJSON does not keep them as written: ${why}`)
  }
  t.equal(new RowsView([col('x', 23, 1), col('y', 25)], rows).journalText(false, text), false, 'a binary number: toJSON decodes it')
  t.equal(new RowsView(undefined, rows).journalText(false, text), false, 'no columns: toJSON gives arrays')
  t.equal(new RowsView([col('01', 25), col('4294967295', 25)], rows).journalText(false, text), true, 'names that are no array index are written')
  t.equal(text.buf.toString('utf8', 0, text.pos), JSON.stringify(new RowsView([col('01', 25), col('4294967295', 25)], rows).toJSON()))
})
