/**
 * How long keeping lib/postgres/catalog.ts's catalog fresh takes the database: a full read (connect,
 * authenticate, the catalog query in its transaction) and a read handed the previous one while
 * nothing changed (connect, authenticate, the snapshot probe), on PostgreSQL 15 and on PGlite with
 * pgvector (one backend: while it reads, nothing else is answered). Medians of `--reads` each.
 *
 *   node --import tsx benchmarks/pg/catalog-read.ts [--reads 40]
 */
import { parseArgs } from 'node:util'
import type { BackendConfig } from '../../lib/config/types.js'
import { createLogger } from '../../lib/log.js'
import { readCatalog } from '../../lib/postgres/catalog.js'
import { startPglite } from '../../test/peers/pglite.js'
import { startPostgres } from '../../test/peers/postgres.js'
import pg from 'pg'

const { values } = parseArgs({ options: { reads: { type: 'string', default: '40' } } })
const reads = Number(values.reads)
const log = createLogger({ level: 'silent' })
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[xs.length >> 1]

async function time (backend: BackendConfig): Promise<{ full: number, probe: number }> {
  const full: number[] = []
  const probe: number[] = []
  let last = await readCatalog(backend, log)
  for (let i = 0; i < reads; i++) {
    let t0 = process.hrtime.bigint()
    last = await readCatalog(backend, log)
    full.push(Number(process.hrtime.bigint() - t0) / 1e6)
    t0 = process.hrtime.bigint()
    const again = await readCatalog(backend, log, last)
    probe.push(Number(process.hrtime.bigint() - t0) / 1e6)
    if (again !== last) throw new Error('the catalog changed while nothing happened')
  }
  return { full: median(full), probe: median(probe) }
}

const backendOf = (host: string, port: number, user: string, password: string, database: string): BackendConfig =>
  ({ name: 'pg', protocol: 'postgres', upstream: { host, port }, credentials: { user, password, database } }) as unknown as BackendConfig

const up = await startPostgres()
const pgT = await time(backendOf(up.host, up.port, up.user, up.password, up.database))
await up.close()

const lite = await startPglite()
const c = new pg.Client({ host: lite.host, port: lite.port, user: 'postgres', password: 'any', database: 'postgres' })
await c.connect()
await c.query('CREATE EXTENSION IF NOT EXISTS vector')
await c.end()
const liteT = await time(backendOf(lite.host, lite.port, 'postgres', 'any', 'postgres'))
lite.kill()

process.stdout.write(`catalog read, median of ${reads} (ms): PostgreSQL 15 full ${pgT.full.toFixed(2)} unchanged ${pgT.probe.toFixed(2)}; ` +
  `PGlite full ${liteT.full.toFixed(2)} unchanged ${liteT.probe.toFixed(2)}\n`)
process.exit(0)
