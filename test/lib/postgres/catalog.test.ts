/**
 * lib/postgres/catalog.ts without a server: which keys catalog rows taint, how a statement is judged
 * with them, one read shared by concurrent callers, a failed read judging admin (fail closed), and
 * invalidation making the next statement wait for a new read.
 */
import t from 'tap'
import { classify, loadClassifier } from '../../../decoders/postgres/classify.js'
import type { BackendConfig } from '../../../lib/config/types.js'
import { createLogger } from '../../../lib/log.js'
import { PgCatalog, catalogQuery, keysOf, type CatalogKeys, type CatalogRead } from '../../../lib/postgres/catalog.js'

await loadClassifier()
const one = (sql: string) => classify(sql).statements[0]
const backend = { name: 'pg' } as unknown as BackendConfig
const log = createLogger({ level: 'silent' })

t.test('rows of the catalog query become keys', async t => {
  t.same([...keysOf([['f', 'lower'], ['o', '==='], ['t', 'tag']])].sort(), ['f:lower', 'o:===', 't:tag'])
  t.same([...keysOf([['i', 'tag']])].sort(), ['coerce', 't:tag'], 'an implicit cast taints every expression')
  t.match(catalogQuery(), /x\.extname IN \('vector'\)/, 'pgvector is the trusted extension')
  t.match(catalogQuery(['vector', 'postgis']), /x\.extname IN \('vector', 'postgis'\)/, 'or those the backend names')
  t.match(catalogQuery([]), /x\.extname IN \(NULL\)/, 'or none')
})

t.test('judging with what the catalog holds', async t => {
  let keys: CatalogKeys = keysOf([['f', 'lower'], ['o', '==='], ['t', 'tag']])
  let reads = 0
  const c = new PgCatalog(backend, log, async () => { reads++; return { keys } }, 60_000)
  const lower5 = one('SELECT lower(5)')
  t.ok(c.stale(lower5), 'never read: stale')
  t.notOk(c.stale(one('SELECT a FROM t')), 'a statement that relies on nothing never waits')
  await Promise.all([c.refresh(), c.refresh(), c.refresh()])
  t.equal(reads, 1, 'concurrent callers share one read')
  t.notOk(c.stale(lower5))
  t.match(c.judge(lower5), { action: 'admin', judged: 'f:lower' })
  t.equal(c.judge(lower5), c.judge(lower5), 'the admin copy is made once per catalog read')
  t.match(c.judge(one("SELECT lower('X')")), { action: 'read' }, 'public.lower(int) cannot win lower(\'X\')')
  t.match(c.judge(one('SELECT 1 === 2')), { action: 'admin' })
  t.match(c.judge(one('SELECT 5::tag')), { action: 'admin' })
  t.match(c.judge(one('SELECT count(*) FROM t WHERE a = 1')), { action: 'read' })
  t.match(c.judge(one("SELECT id FROM items ORDER BY embedding <-> '[1,2,3]' LIMIT 5")), { action: 'search' })
  // a schema change ended: the next statement waits for a new read, which sees the new overload
  keys = keysOf([['f', 'count']])
  c.invalidate()
  t.ok(c.stale(lower5))
  await c.refresh()
  t.equal(reads, 2)
  t.match(c.judge(one('SELECT count(*) FROM t')), { action: 'admin' })
  t.match(c.judge(lower5), { action: 'read' })
})

t.test('a catalog that cannot be read judges every statement that relies on it admin', async t => {
  const c = new PgCatalog(backend, log, async () => { throw new Error('connection refused') }, 60_000)
  await c.refresh()
  t.notOk(c.stale(one('SELECT lower(5)')), 'not retried at once')
  t.match(c.judge(one("SELECT lower('X')")), { action: 'admin', judged: 'the catalog could not be read' })
  t.match(c.judge(one('SELECT a FROM t')), { action: 'read' }, 'a statement that relies on nothing is unaffected')
})

t.test('a read that was running when the schema changed does not count', async t => {
  let release!: (k: CatalogKeys) => void
  let reads = 0
  const c = new PgCatalog(backend, log, async () => { reads++; return { keys: await new Promise<CatalogKeys>(resolve => { release = resolve }) } }, 60_000)
  const first = c.refresh()
  await new Promise(resolve => setImmediate(resolve))
  c.invalidate()
  release(keysOf([['f', 'count']]))
  await new Promise(resolve => setImmediate(resolve))
  t.ok(c.stale(one('SELECT lower(5)')), 'still stale: its result may predate the change')
  t.equal(reads, 2, 'the caller waits for a read that started after the change')
  release(keysOf([['f', 'lower']]))
  await first
  t.match(c.judge(one('SELECT lower(5)')), { action: 'admin', judged: 'f:lower' }, 'judged with the second read')
})

t.test('under steady traffic the next read starts ahead of time: statements do not wait for it', async t => {
  let reads = 0
  const c = new PgCatalog(backend, log, async () => { reads++; return { keys: keysOf([['f', 'lower']]) } }, 400)
  const lower5 = one('SELECT lower(5)')
  await c.refresh()
  t.equal(reads, 1)
  t.notOk(c.stale(lower5), 'fresh')
  t.equal(reads, 1, 'no read while the catalog is young')
  await new Promise(resolve => setTimeout(resolve, 320))
  t.notOk(c.stale(lower5), 'in the last quarter: still fresh, the statement does not wait')
  await new Promise(resolve => setTimeout(resolve, 20))
  t.equal(reads, 2, 'but the next read has started')
  t.notOk(c.stale(lower5), 'and, done, makes the catalog fresh again')
  t.match(c.judge(lower5), { action: 'admin', judged: 'f:lower' })
})

t.test('each read is handed the last one, to keep it when the catalog cannot have changed; a schema change drops it', async t => {
  const seen: Array<CatalogRead | undefined> = []
  const first: CatalogRead = { keys: keysOf([['f', 'lower']]), snapshot: '100:100:' }
  const c = new PgCatalog(backend, log, async (_b, _l, last) => { seen.push(last); return last ?? first }, 0)
  const lower5 = one('SELECT lower(5)')
  await c.refresh()
  await c.refresh()
  t.same(seen, [undefined, first], 'the second read is handed the first')
  t.equal(c.judge(lower5), c.judge(lower5), 'a read kept as it was keeps its admin copies')
  c.invalidate()
  await c.refresh()
  t.equal(seen[2], undefined, 'after a schema change through the gateway: a full read')
  const failing = new PgCatalog(backend, log, async (_b, _l, last) => { seen.push(last); if (seen.length === 4) throw new Error('down'); return first }, 0)
  await failing.refresh()
  await failing.refresh()
  t.equal(seen[4], undefined, 'after a failed read: a full read')
})
