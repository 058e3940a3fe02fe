/**
 * Memory of the gateway process while large results stream through it (performance issue: "a 64 MB
 * message and a 1 GB streamed result keep RSS bounded"): a ~1 GB Postgres result from a real
 * PostgreSQL 15 with a masking profile on, and Qdrant gRPC answers of 64 MB, alone and adding up to
 * 1 GB. Each gateway runs in its own process; its RSS is sampled from /proc. Writes the "Memory"
 * section of benchmarks/RESULTS.md.
 *
 *   node --import tsx benchmarks/memory/run.ts [--rows 1000000] [--slow-rows 200000] [--dry-run]
 */
import { parseArgs } from 'node:util'
import { startPostgres } from '../../test/peers/postgres.js'
import { machine } from '../lib/env.js'
import { writeSection } from '../results.js'
import { grpcMemory } from './grpc.js'
import { postgresMemory } from './postgres.js'
import { mib } from './sampler.js'

const { values } = parseArgs({
  options: {
    rows: { type: 'string', default: '1000000' },
    'slow-rows': { type: 'string', default: '200000' },
    'dry-run': { type: 'boolean', default: false }
  }
})
process.setMaxListeners(50) // one exit handler per gateway process started
const header = machine()
const log = (s: string): void => { process.stderr.write(s + '\n') }

const pg = await startPostgres({ settings: { work_mem: '64MB' } })
process.on('exit', () => pg.closeSync())
for (const sig of ['SIGINT', 'SIGTERM'] as const) process.on(sig, () => process.exit(1))
let pgRows
try {
  pgRows = await postgresMemory(pg, { rows: Number(values.rows), slowRows: Number(values['slow-rows']), slowMbps: 40, log })
} finally {
  await pg.close()
}
const grpcRows = await grpcMemory(log)

const gb = (b: number): string => b >= 1e9 ? `${(b / 1e9).toFixed(2)} GB` : `${(b / 1e6).toFixed(0)} MB`
const lines = [
  `Gateway process RSS while large results stream through it; ${header}.`,
  '`node --import tsx benchmarks/memory/run.ts` — VmRSS sampled every 20 ms from /proc/PID/status (peak), and VmHWM (the kernel\'s high-water mark, reset before each run); "baseline" is VmRSS after a warm-up query on the same connection.',
  '',
  '| path | result | time s | RSS baseline | RSS peak | VmHWM | growth |',
  '|---|---|---|---|---|---|---|',
  ...pgRows.map(r => `| PostgreSQL 15: ${r.name} | ${gb(r.read.bytes)}, ${r.read.rows} rows | ${(r.read.ms / 1000).toFixed(1)} | ${mib(r.rss.baseline)} | ${mib(r.rss.peak)} | ${mib(r.rss.hwm)} | +${mib(Math.max(r.rss.peak, r.rss.hwm) - r.rss.baseline)} |`),
  ...grpcRows.map(r => `| Qdrant gRPC: ${r.name} | ${gb(r.bytes)} in ${r.messages} message(s) | ${(r.ms / 1000).toFixed(1)} | ${mib(r.rss.baseline)} | ${mib(r.rss.peak)} | ${mib(r.rss.hwm)} | +${mib(Math.max(r.rss.peak, r.rss.hwm) - r.rss.baseline)} |`),
  '',
  'PostgreSQL: `SELECT i, repeat(\'x\', 1000) || i::text AS body, \'user\' || i || \'@example.com\' AS email FROM generate_series(1, N) i` over the simple query protocol, read by a raw client that keeps nothing and checks that no address reached it; mask: `email` redacted + email/phone/credit_card detectors. The slow client reads at ~40 MB/s, slower than the gateway can deliver, so backpressure (not buffering) has to hold the difference. Journal off (null sink) unless the row says "journal on".',
  'Qdrant gRPC: Search answers of ~4 KB points (an address, a 4 KB text, an integer) from a grpc-js upstream in its own process, read by grpc-js with raw bytes; mask as above, `limits.max_message` 128 MiB; journal off. The gateway holds at most one message per stream; the masked rows show what one 64 MB message costs while it is masked.'
]
const body = lines.join('\n')
process.stdout.write(body + '\n')
if (values['dry-run'] !== true) writeSection('Memory', body)
process.exit(0)
