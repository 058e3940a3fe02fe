/**
 * lib/postgres/catalog.ts readCatalog against a real PostgreSQL 15: a read handed the previous one
 * keeps it only while the snapshot is the same, and reads again after any change made behind the
 * gateway's back: a new overload, a rename that keeps the oid, CREATE OR REPLACE, and a transaction
 * that was open during the previous read and commits after it.
 */
import t from 'tap'
import pg from 'pg'
import type { BackendConfig } from '../../lib/config/types.js'
import { createLogger } from '../../lib/log.js'
import { readCatalog, type CatalogRead } from '../../lib/postgres/catalog.js'
import { startPostgres } from '../peers/postgres.js'

const up = await startPostgres()
t.teardown(() => up.close())
const client = async (): Promise<pg.Client> => {
  const c = new pg.Client({ host: up.host, port: up.port, user: up.user, password: up.password, database: up.database })
  await c.connect()
  t.teardown(() => c.end())
  return c
}
const direct = await client()
const other = await client()
const backend = {
  name: 'pg', protocol: 'postgres', upstream: { host: up.host, port: up.port },
  credentials: { user: up.user, password: up.password, database: up.database }
} as unknown as BackendConfig
const log = createLogger({ level: 'silent' })

await direct.query('CREATE FUNCTION public.harmless(int) RETURNS text LANGUAGE sql AS $$ SELECT \'x\' $$')

t.test('an unchanged catalog keeps the last read; every kind of change reads again', async t => {
  const first = await readCatalog(backend, log)
  t.type(first.snapshot, 'string', 'a full read says which snapshot it read in')
  t.notOk(first.keys.has('f:lower'))
  t.equal(await readCatalog(backend, log, first), first, 'nothing happened since: the same read')

  await direct.query('ALTER FUNCTION public.harmless(int) RENAME TO lower')
  const renamed = await readCatalog(backend, log, first)
  t.not(renamed, first)
  t.ok(renamed.keys.has('f:lower'), 'a rename keeps the oid and is still seen')

  await direct.query('CREATE OR REPLACE FUNCTION public.lower(int) RETURNS text LANGUAGE sql AS $$ SELECT \'y\' $$')
  const replaced = await readCatalog(backend, log, renamed)
  t.not(replaced, renamed, 'CREATE OR REPLACE changes the snapshot: read again')
  t.ok(replaced.keys.has('f:lower'))

  // a change in a transaction open during the read: not in it, but in the next one once committed
  await other.query('BEGIN')
  await other.query('CREATE FUNCTION public.upper(int) RETURNS text LANGUAGE sql AS $$ SELECT \'z\' $$')
  const during = await readCatalog(backend, log, replaced)
  t.notOk(during.keys.has('f:upper'), 'not committed yet')
  t.equal(await readCatalog(backend, log, during), during, 'still open: nothing changed')
  await other.query('COMMIT')
  const after = await readCatalog(backend, log, during)
  t.not(after, during)
  t.ok(after.keys.has('f:upper'), 'committed after the read: seen by the next')

  await direct.query('DROP FUNCTION public.upper(int)')
  t.notOk((await readCatalog(backend, log, after)).keys.has('f:upper'), 'a drop is seen too')
})
