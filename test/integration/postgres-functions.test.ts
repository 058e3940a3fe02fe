/**
 * THREATS.md "functions with side effects called from a SELECT … treat anything not understood as admin
 * (or refuse)": a function the classifier does not know (here a user-defined one that deletes) called
 * from a SELECT is not a read. With a read-only policy it must be refused and change nothing. Nor is
 * an overload of a built-in name the database defines (`public.lower(int)`), while pgvector's own
 * operators, functions and casts (members of the trusted `vector` extension) keep KNN searches reads
 * (PGlite with pgvector; test/integration/postgres-overloads.test.ts has operators and casts on
 * PostgreSQL 15).
 */
import t from 'tap'
import pg from 'pg'
import { startPglite } from '../peers/pglite.js'
import { startTestGateway } from '../helpers/gateway.js'

const lite = await startPglite()
t.teardown(() => lite.close())
const direct = new pg.Client({ host: lite.host, port: lite.port, user: 'postgres', password: 'any', database: 'postgres' })
await direct.connect()
t.teardown(() => direct.end())
await direct.query(`CREATE EXTENSION IF NOT EXISTS vector;
  CREATE TABLE IF NOT EXISTS items (id bigint PRIMARY KEY, title text, embedding vector(3));
  DELETE FROM items; INSERT INTO items VALUES (1, 'alpha', '[1,0,0]'), (2, 'beta', '[0,1,0]');
  CREATE OR REPLACE FUNCTION wipe_items() RETURNS int LANGUAGE plpgsql AS $$ BEGIN DELETE FROM items; RETURN 0; END $$;
  CREATE OR REPLACE FUNCTION public.lower(int) RETURNS text LANGUAGE plpgsql AS $$ BEGIN DELETE FROM items; RETURN 'x'; END $$`)
const gw = await startTestGateway({
  backends: [
    { name: 'pg', protocol: 'postgres', upstream: `${lite.host}:${lite.port}`, credentials: { user: 'postgres', password: 'any', database: 'postgres' } },
    // the same database with no extension trusted: pgvector's operators are then user-defined ones
    { name: 'untrusting', protocol: 'postgres', upstream: `${lite.host}:${lite.port}`, credentials: { user: 'postgres', password: 'any', database: 'postgres' }, trusted_extensions: [] }
  ],
  policy: { rules: [{ id: 'readers', actions: ['read', 'search'], effect: 'allow' }] }
})
t.teardown(() => gw.stop())

t.test('a user-defined function that deletes, called from a SELECT, is not let through as a read', async t => {
  const c = await alice(t, 'pg')
  await t.rejects(c.query('SELECT wipe_items()'), { code: '42501' })
  t.equal((await direct.query('SELECT count(*)::int AS n FROM items')).rows[0].n, 2, 'nothing was deleted')
})

t.test('an overload of a built-in name is refused; pgvector searches and built-ins are served', async t => {
  const c = await alice(t, 'pg')
  await t.rejects(c.query('SELECT lower(5)'), { code: '42501' }, 'public.lower(int), not the built-in')
  t.equal(await count(), 2, 'nothing was deleted')
  t.same((await c.query("SELECT lower('X') AS v")).rows, [{ v: 'x' }])
  t.same((await c.query("SELECT title FROM items ORDER BY embedding <-> '[0,1,0]' LIMIT 1")).rows, [{ title: 'beta' }], 'a KNN search with <->')
  t.same((await c.query({ text: 'SELECT title FROM items ORDER BY embedding <=> $1::vector LIMIT 1', values: ['[1,0,0]'] })).rows, [{ title: 'alpha' }], 'with <=> and a cast to vector')
  t.same((await c.query("SELECT round(l2_distance(embedding, '[1,0,0]')::numeric, 3) AS d FROM items WHERE id = 1")).rows, [{ d: '0.000' }])
  t.same((await c.query('SELECT avg(embedding)::text AS a, count(*)::int AS n FROM items')).rows, [{ a: '[0.5,0.5,0]', n: 2 }], 'pgvector\'s avg(vector) is an extension member')
  t.equal(await count(), 2)
})

t.test('with no extension trusted (trusted_extensions: []), a pgvector search is judged admin', async t => {
  const c = await alice(t, 'untrusting')
  await t.rejects(c.query("SELECT title FROM items ORDER BY embedding <-> '[0,1,0]' LIMIT 1"), { code: '42501' })
  // pgvector's implicit casts (vector to vector with a typmod function) are then user casts that any
  // expression may reach: only statements without expressions are reads
  await t.rejects(c.query("SELECT lower('X') AS v"), { code: '42501' })
  t.equal((await c.query('SELECT title FROM items')).rows.length, 2)
})

/** alice, who may read and search, through the gateway's backend `backend` */
async function alice (t: { teardown: (fn: () => Promise<void>) => void }, backend: string): Promise<pg.Client> {
  const c = new pg.Client({ host: '127.0.0.1', port: gw.port(backend), user: 'alice', password: await gw.token('alice'), database: 'postgres' })
  c.on('error', () => {})
  await c.connect()
  t.teardown(async () => await c.end().catch(() => {}))
  return c
}

async function count (): Promise<number> {
  return (await direct.query('SELECT count(*)::int AS n FROM items')).rows[0].n
}
