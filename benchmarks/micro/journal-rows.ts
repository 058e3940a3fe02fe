/**
 * What the journal spends on a burst of PostgreSQL rows on the event loop, per row: the record ids
 * (`RowsView.ids`, read on every journaled burst) and the result's text (`journalText`, written
 * from the rows' bytes into the journal's batch) against the text through `toJSON` and
 * JSON.stringify (what the journal took before, and still takes where `journalText` declines).
 * 1000 text-format rows of the masking benchmark's shape (int4 id, two texts, a masked email, a
 * jsonb document), given one Buffer each and as one run (rows masked in turn lie back to back).
 * ns per row per CPU second, best of 20 rounds. Writes the "Journal work per PostgreSQL row"
 * section of benchmarks/RESULTS.md (not with --no-write).
 *
 *   node --import tsx benchmarks/micro/journal-rows.ts [--no-write]
 */
import { RowsView, encodeDataRow } from '../../decoders/postgres/result-view.js'
import type { Column } from '../../decoders/postgres/messages.js'
import { parseArgs } from 'node:util'
import { machine } from '../lib/env.js'
import { writeSection } from '../results.js'

const col = (name: string, typeOid: number): Column => ({ name, tableOid: 1, attnum: 1, typeOid, typeLen: -1, typeMod: -1, format: 0 })
const cols = [col('id', 23), col('title', 25), col('body', 25), col('email', 25), col('meta', 3802)]
const rows = Array.from({ length: 1000 }, (_, i) => encodeDataRow([
  Buffer.from(String(i + 1)),
  Buffer.from('Installing the gateway behind a load balancer'),
  Buffer.from(`Vector databases index embeddings for approximate nearest neighbour search; chunk ${i} covers a load balancer, split from a product manual, section 4.3, revision 2024-03-13, scored 0.8752 by the reranker.`),
  Buffer.from('[redacted]'),
  Buffer.from('{"author": {"name": "Ann Lee", "team": "docs"}, "customer": {"id": 4411, "tier": "gold", "phone": "[redacted]"}}')
]))
const run = Buffer.concat(rows)
const bytes = run.length / rows.length

const cpu = (): number => { const u = process.cpuUsage(); return u.user + u.system }
let sink = 0
function perRow (fn: () => number): number {
  let best = Infinity
  for (let r = 0; r < 20; r++) {
    const t0 = cpu()
    let n = 0
    while (cpu() - t0 < 50000) { sink += fn(); n++ }
    best = Math.min(best, (cpu() - t0) * 1000 / n / rows.length)
  }
  return best
}
const out = { buf: Buffer.alloc(1 << 20), pos: 0, room: (n: number) => { throw new Error(`the benchmark's batch is too small for ${n} more bytes`) } }
const text = (runs: Buffer[]) => (): number => { out.pos = 0; if (!new RowsView(cols, runs).journalText(false, out)) throw new Error('journalText declined'); return out.pos }
const lines = [
  `| ids, a Buffer per row | ${perRow(() => new RowsView(cols, rows).ids().length).toFixed(0)} |`,
  `| ids, one run | ${perRow(() => new RowsView(cols, [run]).ids().length).toFixed(0)} |`,
  `| journal text from the bytes, a Buffer per row | ${perRow(text(rows)).toFixed(0)} |`,
  `| journal text from the bytes, one run | ${perRow(text([run])).toFixed(0)} |`,
  `| toJSON and JSON.stringify | ${perRow(() => JSON.stringify(new RowsView(cols, rows).toJSON()).length).toFixed(0)} |`
]
if (sink === 0) throw new Error('nothing measured')
const body = [
  `Event-loop work of the journal per PostgreSQL row (${bytes.toFixed(0)} bytes, 1000 text-format rows: int4 id, two texts, a masked email, a jsonb document); ${machine()}.`,
  '`node --import tsx benchmarks/micro/journal-rows.ts` — best of 20 rounds, ns per row per CPU second. "A Buffer per row": the rows as the relay handed them on before masked rows became ranges of the slab; "one run": rows back to back, as rows masked or copied in turn are now.',
  '',
  '| | ns per row |',
  '|---|---|',
  ...lines
].join('\n')
process.stdout.write(body + '\n')
if (parseArgs({ options: { 'no-write': { type: 'boolean', default: false } } }).values['no-write'] !== true) writeSection('Journal work per PostgreSQL row', body)
