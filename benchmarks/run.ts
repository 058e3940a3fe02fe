/**
 * `npm run bench`: every benchmark in one go, each measuring vecgate against the direct connection
 * in the same run and writing its section of benchmarks/RESULTS.md. One at a time: they share the
 * two cores with the peers they start.
 */
import { spawnSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'

const benches = [
  ['Qdrant Search', 'qdrant/search.ts'],
  ['Qdrant Upsert', 'qdrant/upsert.ts'],
  ['Milvus Search', 'milvus/search.ts'],
  ['Journal', 'journal/run.ts'],
  ['PostgreSQL pgbench', 'pg/pgbench.ts'],
  ['Policy micro', 'micro/policy.ts'],
  ['Mask micro', 'micro/mask.ts'],
  ['Journal per row micro', 'micro/journal-rows.ts'],
  ['Memory', 'memory/run.ts']
]
let failed = 0
for (const [name, file] of benches) {
  process.stdout.write(`\n== ${name} (${file})\n`)
  const r = spawnSync(process.execPath, ['--import', 'tsx', fileURLToPath(new URL(file, import.meta.url))], { stdio: 'inherit' })
  if (r.status !== 0) { failed++; process.stdout.write(`${name}: exited ${String(r.status ?? r.signal)}\n`) }
}
process.exit(failed === 0 ? 0 : 1)
