/**
 * DataRow values the mask cannot change are passed over as their bytes (`Masker.wire`), never
 * decoded, and JSON values are masked on their text (`maskJson`). The rows that come out must be
 * those of the decoded path — byte for byte, except that a masked JSON value need only be the same
 * JSON value (the decoded path writes it anew with JSON.stringify; the text path keeps the text
 * around the change) — for text and binary formats, text and JSON columns, values with planted
 * sensitive text, JSON with escapes and exponents, under several profiles. Deterministic (seeded).
 */
import t from 'tap'
import type { Column } from '../../../decoders/postgres/messages.js'
import { MaskPlan, encodeDataRow } from '../../../decoders/postgres/result-view.js'
import type { Masker } from '../../../decoders/types.js'
import { compileMasking } from '../../../lib/mask/index.js'

let seed = 20261129
const rand = (): number => { seed = (seed * 1664525 + 1013904223) >>> 0; return seed / 4294967296 }
const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)]

const SENSITIVE = ['ann.lee@example.com', '+44 20 7946 0958', '4111 1111 1111 1111', '123-45-6789', '10.1.2.3',
  'sk_live_abcdefghijklmnopqrstuvwx', 'DE89 3704 0044 0532 0130 00', 'password=hunter2xyz']
const PLAIN = ['[redacted]', 'guides', 'eu-west-1', 'Installing the gateway', 'v2.4.1', '2024-03-18T09:12:44Z', 'ünïcödé', '', 'b3f1c9e2a4d5']
const text = (): string => rand() < 0.3 ? `note ${pick(SENSITIVE)} end` : rand() < 0.2 ? pick(SENSITIVE) : pick(PLAIN)
const json = (): string => pick([
  () => JSON.stringify({ title: text(), n: Math.floor(rand() * 100), tags: [text(), text()], customer: { phone: text(), tier: 'gold' } }),
  () => JSON.stringify([text(), 4111111111111111, true, null]),
  () => '{"a": "x\\u0040example.com", "b": 1}',
  () => '{"card": 4.111111111111111e15, "ok": false}',
  () => JSON.stringify(text()),
  () => '{"email": "a@b.example", "password": "hunter22"}'
])()

const col = (name: string, typeOid: number, format: number): Column => ({ name, tableOid: 1, attnum: 1, typeOid, typeLen: -1, typeMod: -1, format })
const profiles = compileMasking({
  pii: { fields: ['email', 'meta.customer.phone'], detectors: ['email', 'phone', 'credit_card'], action: 'redact' },
  every: { fields: [], detectors: ['all'], action: 'redact' },
  hash: { fields: ['title'], detectors: ['email', 'credit_card', 'national_id'], action: 'hash' },
  nul: { fields: [], detectors: ['email', 'phone', 'credit_card', 'ip'], action: 'null' },
  drop: { fields: ['email'], detectors: ['all'], action: 'drop' },
  partial: { fields: ['email'], detectors: ['all'], action: 'partial' }
}, { hashKey: Buffer.alloc(32, 9) })

const decodedOnly = (m: Masker): Masker => ({
  name: m.name, vectors: m.vectors, document: (d, p) => m.document(d, p), scalar: (p, v) => m.scalar(p, v), touches: (p) => m.touches(p), vector: (v) => m.vector(v)
})

/** a DataRow's values: bytes, or the parsed value of a JSON column (binary jsonb: after its version byte) */
function values (row: Buffer, cols: Column[]): unknown[] {
  const out: unknown[] = []
  let pos = 7
  for (let i = 0; i < row.readInt16BE(5); i++) {
    const len = row.readInt32BE(pos)
    pos += 4
    if (len < 0) { out.push(null); continue }
    const v = row.subarray(pos, pos + len)
    pos += len
    const c = cols[i]
    if (c.typeOid === 114 || c.typeOid === 3802) {
      const version = c.format === 1 && c.typeOid === 3802 ? v[0] : undefined
      out.push({ version, json: JSON.parse(v.toString('utf8', version === undefined ? 0 : 1)) })
    } else out.push(v)
  }
  return out
}

for (const format of [0, 1]) {
  const cols = [col('id', 23, format), col('title', 25, format), col('body', 25, format), col('email', 1043, format), col('meta', 3802, format), col('doc', 114, format), col('secret_token', 25, format),
    col('password', 1043, format), col('card', format === 0 ? 20 : 25, format)]
  // bytes that are not UTF-8 (a lone continuation byte, a cut-off sequence) around text with hits
  const raw = (): Buffer => rand() < 0.2 ? Buffer.concat([Buffer.from(text()), Buffer.from(pick([[0xff], [0xc3], [0x80, 0x41], [0xe2, 0x82]])), Buffer.from(text())]) : Buffer.from(text())
  for (const [name, m] of profiles) {
    t.test(`${format === 0 ? 'text' : 'binary'} format, profile ${name}: the same rows as the decoded path`, async t => {
      const wire = new MaskPlan(cols, m)
      const dec = new MaskPlan(cols, decodedOnly(m))
      let changed = 0
      for (let i = 0; i < 400; i++) {
        const id = Buffer.alloc(4); id.writeInt32BE(i)
        const meta = json()
        const row = encodeDataRow([
          format === 1 ? id : Buffer.from(String(i)),
          Buffer.from(text()), raw(), rand() < 0.2 ? null : Buffer.from(text()),
          format === 1 ? Buffer.concat([Buffer.from([1]), Buffer.from(meta)]) : Buffer.from(meta),
          Buffer.from(json()), Buffer.from(rand() < 0.5 ? 'Zx9!aQ7#kL2$mN5%pR8' : 'expired'),
          rand() < 0.5 ? raw() : Buffer.from('hunter22'), Buffer.from(rand() < 0.3 ? '4111111111111111' : String(i * 7919))
        ])
        const a = wire.apply(row)
        const b = dec.apply(row)
        if (a !== row) changed++
        t.same(values(a, cols), values(b, cols), `row ${i}`)
        if (b === row) t.equal(a, row, `row ${i}: unchanged rows are the bytes that came in`)
      }
      t.ok(changed > 0)
    })
  }
}

t.test('binary numbers read in place give the rows of the decoded path, byte for byte', async t => {
  // int2, int4, oid, int8, float4, float8; card numbers (as integers and floats) among plain values, edges of int8
  const cols = [col('a', 21, 1), col('b', 23, 1), col('c', 26, 1), col('d', 20, 1), col('e', 700, 1), col('f', 701, 1)]
  const CARDS = [4111111111111111, 5555555555554444, 4242424242424242, 378282246310005]
  const int8s = [0n, -1n, 2n ** 63n - 1n, -(2n ** 63n), 2n ** 53n + 1n, 4111111111111111n, 2000000000000n, 9007199254740993n, 6011111111111117n]
  for (const [name, m] of profiles) {
    const wire = new MaskPlan(cols, m)
    const dec = new MaskPlan(cols, decodedOnly(m))
    let changed = 0
    for (let i = 0; i < 600; i++) {
      const v = (size: number, write: (b: Buffer) => void): Buffer | null => {
        if (rand() < 0.05) return null
        const b = Buffer.alloc(rand() < 0.03 ? size + 1 : size) // a length not the type's now and then
        write(b)
        return b
      }
      const int = (): number => Math.floor((rand() - 0.5) * 2 ** 32)
      const row = encodeDataRow([
        v(2, b => b.writeInt16BE(Math.floor((rand() - 0.5) * 65536))),
        v(4, b => b.writeInt32BE(int() | 0)),
        v(4, b => b.writeUInt32BE(int() >>> 0)),
        v(8, b => b.writeBigInt64BE(rand() < 0.5 ? pick(int8s) : BigInt.asIntN(64, BigInt(rand() < 0.3 ? pick(CARDS) : int()) * BigInt(rand() < 0.5 ? 1 : 1_000_003)))),
        v(4, b => b.writeFloatBE(rand() < 0.3 ? pick(CARDS) : rand() < 0.1 ? NaN : (rand() - 0.5) * 1e16)),
        v(8, b => b.writeDoubleBE(rand() < 0.3 ? pick(CARDS) : rand() < 0.1 ? NaN : Math.round((rand() - 0.5) * 1e16)))
      ])
      const a = wire.apply(row)
      const b = dec.apply(row)
      if (b !== row) changed++
      t.ok(a.equals(b), `profile ${name}, row ${i}`)
      if (b === row) t.equal(a, row, `profile ${name}, row ${i}: unchanged rows are the bytes that came in`)
    }
    if (name !== 'every' && name !== 'hash' && name !== 'pii') continue
    t.ok(changed > 0, `profile ${name}: some rows changed (${changed})`)
  }
})

t.test('a row refused after its JSON value was masked on the text leaves none of its cuts to the next row', async t => {
  const m = profiles.get('pii')!
  const cols = [col('meta', 3802, 1), col('note', 25, 1)]
  const plan = new MaskPlan(cols, m)
  const meta = (phone: string): Buffer => Buffer.concat([Buffer.from([1]), Buffer.from(JSON.stringify({ customer: { phone, tier: 'gold' } }))])
  const bad = encodeDataRow([meta('+1 415 555 0100'), Buffer.from('note')])
  bad.writeInt32BE(1000, 7 + 4 + meta('+1 415 555 0100').length) // the note claims more bytes than the row has
  t.throws(() => plan.apply(bad), /shorter than its values say/)
  const good = encodeDataRow([meta('+1 415 555 0199'), Buffer.from('note')])
  const want = new MaskPlan(cols, decodedOnly(m)).apply(good)
  t.same(values(plan.apply(good), cols), values(want, cols), 'the next row is masked on its own')
  t.same(values(plan.apply(good), cols)[0], { version: 1, json: { customer: { phone: '[redacted]', tier: 'gold' } } })
})

t.test('rebuilt rows share one slab: each stays as it was written while thousands more are written after it, small rows and rows too large for it alike', async t => {
  const cols = [col('id', 23, 0), col('title', 25, 0), col('email', 25, 0), col('meta', 3802, 0)]
  const m = profiles.get('pii')!
  const wire = new MaskPlan(cols, m)
  const dec = new MaskPlan(cols, decodedOnly(m))
  const kept: Array<[Buffer, unknown[]]> = []
  for (let i = 0; i < 3000; i++) {
    // one row in fifty is larger than the slab takes (its own buffer)
    const title = i % 50 === 7 ? 'x'.repeat(3000) + ` ${i}` : `title ${i} ann.lee@example.com`
    const row = encodeDataRow([Buffer.from(String(i)), Buffer.from(title), Buffer.from(`user${i}@example.com`), Buffer.from(json())])
    const a = wire.apply(row)
    t.not(a, row, `row ${i} is rebuilt`)
    kept.push([a, values(dec.apply(row), cols)]) // the row as handed on, compared after all the others were written
  }
  for (let i = 0; i < kept.length; i++) {
    const [a, want] = kept[i]
    if (JSON.stringify(values(a, cols)) !== JSON.stringify(want)) { t.fail(`row ${i} changed after it was written`); return }
  }
  t.pass('every row as written')
})
