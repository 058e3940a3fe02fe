/**
 * A varchar column's rows gated in one WebAssembly call (`WireChecks.textRows`, then
 * `maskGatedText` for the rows it lists) must mask a Milvus result byte for byte as the row-by-row
 * path (`maskText` of every row) does: random columns with invalid UTF-8, every row length 0..300,
 * under several profiles and actions; a column whose rows are malformed is refused by the module and
 * goes the row-by-row way, with that path's outcome; and a process without WebAssembly (node
 * --jitless) masks every message as this one does.
 */
import { spawnSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import t from 'tap'
import type { Masker, WireChecks } from '../../../decoders/types.js'
import { digests, fixedMessages, masked, message, prng, profiles, varcharColumnOf, withColumns } from './varchar-columns.js'

/** the masker with the wire checks but `textRows`: every row gated on its own, as before */
function rowByRow (m: Masker): Masker {
  const wire = Object.create(m.wire!) as WireChecks
  wire.textRows = undefined
  const out = Object.create(m) as Masker & { wire: WireChecks }
  Object.defineProperty(out, 'wire', { value: wire })
  return out
}

const same = (a: Buffer | string, b: Buffer | string): boolean =>
  typeof a === 'string' || typeof b === 'string' ? a === b : a.equals(b)

t.test('the row-by-row masker really gates row by row (no textRows)', async t => {
  for (const [, m] of profiles) {
    t.equal(rowByRow(m).wire!.textRows, undefined)
    t.equal(typeof m.wire!.textRows, 'function')
  }
})

for (const [name, m] of profiles) {
  t.test(`profile ${name}: gated rows = row by row, random columns with invalid UTF-8`, async t => {
    const r = prng(name.length * 7919 + 1)
    const slow = rowByRow(m)
    let changed = 0
    for (let i = 0; i < 30; i++) {
      const isSearch = i % 2 === 0
      const rows = 1 + Math.floor(r() * (r() < 0.3 ? 300 : 10))
      const bytes = message(r, isSearch, rows, i % 3 !== 0, () => Math.floor(r() * (r() < 0.8 ? 60 : 300)))
      const a = masked(isSearch, bytes, m)
      const b = masked(isSearch, bytes, slow)
      t.ok(same(a, b), `message ${i} (${rows} rows)`)
      if (a !== bytes) changed++
    }
    if (name !== 'paths') t.ok(changed > 0)
  })
}

t.test('every row length 0..300, each with and without planted values', async t => {
  const r = prng(31)
  let failures = 0
  for (const [name, m] of profiles) {
    const slow = rowByRow(m)
    for (let n = 0; n <= 300 && failures < 5; n++) {
      const bytes = message(r, n % 2 === 0, 3, n % 5 === 0, () => n)
      const a = masked(n % 2 === 0, bytes, m)
      const b = masked(n % 2 === 0, bytes, slow)
      if (!same(a, b)) { failures++; t.fail(`${name}: rows of ${n} bytes`) }
    }
  }
  t.equal(failures, 0)
})

t.test('malformed rows: the module refuses them and the row-by-row path decides, as before', async t => {
  const text = [...Buffer.from('call +44 20 7946 0958 now')]
  const ok = [0x0a, text.length, ...text]
  const cases: Array<[string, number[]]> = [
    ['only good rows', [...ok, ...ok]],
    ['field 2 among the rows', [...ok, 0x12, text.length, ...text]],
    ['a varint field 1', [...ok, 0x08, 5]],
    ['the tag in two bytes', [0x8a, 0x00, text.length, ...text, ...ok]],
    ['a length past the end', [...ok, 0x0a, text.length + 1, ...text]],
    ['a length cut short', [...ok, 0x0a, 0x80]],
    ['a length in six bytes', [0x0a, 0x80 | text.length, 0x80, 0x80, 0x80, 0x80, 0x00, ...text]],
    ['a length in five bytes', [0x0a, 0x80 | text.length, 0x80, 0x80, 0x80, 0x00, ...text]]
  ]
  for (const [what, data] of cases) {
    const col = varcharColumnOf('notes', Buffer.from(data))
    for (const isSearch of [true, false]) {
      const bytes = withColumns(isSearch, 2, [col])
      for (const [name, m] of profiles) {
        const a = masked(isSearch, bytes, m)
        const b = masked(isSearch, bytes, rowByRow(m))
        t.ok(same(a, b), `${what}, ${isSearch ? 'search' : 'query'}, ${name}: ${typeof a === 'string' ? a : 'masked'}`)
      }
    }
  }
  // the good column is masked at all (the cases above are not all left alone)
  const bytes = withColumns(false, 2, [varcharColumnOf('notes', Buffer.from([...ok, ...ok]))])
  t.not(masked(false, bytes, profiles.get('typical')!), bytes)
})

t.test('without WebAssembly (node --jitless) every message is masked as here', async t => {
  const script = fileURLToPath(new URL('./varchar-columns.ts', import.meta.url))
  const run = spawnSync(process.execPath, ['--jitless', '--import', 'tsx', script], { encoding: 'utf8', timeout: 120_000 })
  t.equal(run.status, 0, run.stderr)
  const child = JSON.parse(run.stdout) as { wasm: boolean, digests: string[] }
  t.equal(child.wasm, false, 'the child had no WebAssembly')
  t.equal(fixedMessages().length * profiles.size, child.digests.length)
  t.same(child.digests, digests())
})
