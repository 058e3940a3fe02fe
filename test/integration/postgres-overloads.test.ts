/**
 * THREATS.md "functions with side effects called from a SELECT": names the classifier knows as
 * read-only built-ins can mean something else in a database. On a real PostgreSQL 15 with a
 * `public.lower(int)` overload, a user-defined operator and a user-defined cast that all delete, a
 * reader (read and search allowed, admin not) is refused (42501) and the rows survive, while
 * `lower('X')`, `count(*)`, jsonb operators and ordinary comparisons are still served as reads.
 * Schema changes made through the gateway are seen by the next statement, with no waiting.
 */
import t from 'tap'
import pg from 'pg'
import { startPostgres } from '../peers/postgres.js'
import { startTestGateway } from '../helpers/gateway.js'

const up = await startPostgres()
t.teardown(() => up.close())
const direct = new pg.Client({ host: up.host, port: up.port, user: up.user, password: up.password, database: up.database })
await direct.connect()
t.teardown(() => direct.end())
await direct.query(`CREATE TABLE items (id int PRIMARY KEY, title text, doc jsonb);
  INSERT INTO items VALUES (1, 'alpha', '{"k": "a"}'), (2, 'beta', '{"k": "b"}');
  CREATE FUNCTION public.lower(int) RETURNS text LANGUAGE plpgsql AS $$ BEGIN DELETE FROM items; RETURN 'x'; END $$;
  CREATE FUNCTION wipe_op(int, int) RETURNS int LANGUAGE plpgsql AS $$ BEGIN DELETE FROM items; RETURN 0; END $$;
  CREATE OPERATOR === (LEFTARG = int, RIGHTARG = int, FUNCTION = wipe_op);
  CREATE TYPE tag AS (v text);
  CREATE FUNCTION wipe_tag(int) RETURNS tag LANGUAGE plpgsql AS $$ BEGIN DELETE FROM items; RETURN ROW('x')::tag; END $$;
  CREATE CAST (int AS tag) WITH FUNCTION wipe_tag(int);
  CREATE DOMAIN tagged AS tag;
  CREATE FUNCTION wipe_check(text) RETURNS bool LANGUAGE plpgsql AS $$ BEGIN DELETE FROM items; RETURN true; END $$;
  CREATE DOMAIN checked AS text CHECK (wipe_check(VALUE));
  CREATE FUNCTION wipe_text(tag) RETURNS text LANGUAGE plpgsql AS $$ BEGIN DELETE FROM items; RETURN 'x'; END $$;
  CREATE CAST (tag AS text) WITH FUNCTION wipe_text(tag);
  CREATE TABLE tags (v tag); INSERT INTO tags VALUES (ROW('a'))`)

const gw = await startTestGateway({
  backends: [{ name: 'pg', protocol: 'postgres', upstream: `${up.host}:${up.port}`, credentials: { user: up.user, password: up.password, database: up.database } }],
  policy: {
    rules: [
      { id: 'readers', subjects: { groups: ['readers'] }, actions: ['read', 'search'], effect: 'allow' },
      { id: 'dbas', subjects: { groups: ['dbas'] }, effect: 'allow' }
    ]
  }
})
t.teardown(() => gw.stop())

async function connect (t: { teardown: (fn: () => Promise<void>) => void }, user: string, groups: string[]): Promise<pg.Client> {
  const c = new pg.Client({ host: '127.0.0.1', port: gw.port('pg'), user, password: await gw.token(user, { groups }), database: up.database })
  c.on('error', () => {})
  await c.connect()
  t.teardown(() => c.end().catch(() => {}))
  return c
}

const rows = async (): Promise<number> => (await direct.query('SELECT count(*)::int AS n FROM items')).rows[0].n

t.test('an overload of a built-in name, a user operator and a user cast that delete are refused to a reader', async t => {
  const alice = await connect(t, 'alice', ['readers'])
  await t.rejects(alice.query('SELECT lower(5)'), { code: '42501' }, 'lower(int) is public.lower, not the built-in')
  await t.rejects(alice.query('SELECT title FROM items WHERE lower(id) = \'x\''), { code: '42501' })
  await t.rejects(alice.query('SELECT 1 === 2'), { code: '42501' }, 'a user-defined operator')
  await t.rejects(alice.query('SELECT 5::tag'), { code: '42501' }, 'a user-defined cast')
  await t.rejects(alice.query('SELECT CAST(5 AS tag)'), { code: '42501' })
  await t.rejects(alice.query('SELECT 5::tagged'), { code: '42501' }, 'a domain over the cast\'s target')
  await t.rejects(alice.query('SELECT ARRAY[5]::tag[]'), { code: '42501' }, 'an array of the target: each element is cast')
  await t.rejects(alice.query('SELECT \'x\'::checked'), { code: '42501' }, 'a domain whose check calls a user function')
  await t.rejects(alice.query('SELECT text(v) FROM tags'), { code: '42501' }, 'text(x) is a cast written as a call')
  // the extended protocol is judged the same way at Execute
  await t.rejects(alice.query({ text: 'SELECT lower($1::int)', values: [5] }), { code: '42501' })
  t.equal(await rows(), 2, 'nothing was deleted')
})

t.test('built-ins, comparisons and jsonb operators stay reads and are served', async t => {
  const alice = await connect(t, 'alice', ['readers'])
  t.equal((await alice.query('SELECT lower(\'X\') AS v')).rows[0].v, 'x')
  t.equal((await alice.query('SELECT pg_catalog.lower(\'Y\') AS v')).rows[0].v, 'y')
  t.equal((await alice.query('SELECT count(*)::int AS n FROM items')).rows[0].n, 2)
  t.same((await alice.query('SELECT title FROM items WHERE id = 1')).rows, [{ title: 'alpha' }])
  t.same((await alice.query('SELECT doc->>\'k\' AS k FROM items WHERE doc @> \'{"k": "b"}\'')).rows, [{ k: 'b' }])
  t.same((await alice.query({ text: 'SELECT upper(title) AS t FROM items WHERE id = $1 ORDER BY id', values: [2] })).rows, [{ t: 'BETA' }])
  t.same((await alice.query('SELECT 1 + 2 AS v')).rows, [{ v: 3 }])
  t.equal(await rows(), 2)
})

t.test('schema changes through the gateway count at once, inside and after their transaction', async t => {
  const alice = await connect(t, 'alice', ['readers'])
  const dba = await connect(t, 'dba', ['dbas'])
  t.same((await alice.query('SELECT upper(title) AS t FROM items WHERE id = 1')).rows, [{ t: 'ALPHA' }])
  // a dba creates an overload of upper(): the next reader statement already sees it
  await dba.query('CREATE FUNCTION public.upper(int) RETURNS text LANGUAGE plpgsql AS $$ BEGIN DELETE FROM items; RETURN \'x\'; END $$')
  await t.rejects(alice.query('SELECT upper(1)'), { code: '42501' })
  // the shape served a moment ago (and cached) is judged again: a column's type is not known to vecgate
  await t.rejects(alice.query('SELECT upper(title) AS t FROM items WHERE id = 1'), { code: '42501' })
  t.same((await alice.query('SELECT upper(\'b\') AS t')).rows, [{ t: 'B' }], 'a quoted literal still resolves to the built-in')
  // an implicit cast from a built-in type may run behind any expression: fail closed for all of them
  await dba.query('BEGIN')
  await dba.query('CREATE FUNCTION wipe_text(int2) RETURNS tag LANGUAGE plpgsql AS $$ BEGIN DELETE FROM items; RETURN NULL; END $$')
  await dba.query('CREATE CAST (int2 AS tag) WITH FUNCTION wipe_text(int2) AS IMPLICIT')
  await dba.query('COMMIT')
  await t.rejects(alice.query('SELECT title FROM items WHERE id = 1'), { code: '42501' }, 'an expression may apply the implicit cast')
  t.same((await alice.query('SELECT title FROM items')).rows.length, 2, 'a statement without expressions is still a read')
  await dba.query('DROP CAST (int2 AS tag)')
  t.same((await alice.query('SELECT title FROM items WHERE id = 1')).rows, [{ title: 'alpha' }], 'served again once the cast is gone')
  t.equal(await rows(), 2)
})

t.test('a catalog that cannot be read: reads that call functions or use operators are refused, plain reads served', async t => {
  // the backend's role may hold one connection: the relay's own; the catalog read is refused (53300)
  await direct.query(`CREATE ROLE app LOGIN PASSWORD 'app-secret' CONNECTION LIMIT 1; GRANT SELECT ON items TO app;
    CREATE ROLE app2 LOGIN PASSWORD 'app2-secret'; GRANT SELECT ON items TO app2`)
  const gw2 = await startTestGateway({
    backends: [
      { name: 'limited', protocol: 'postgres', upstream: `${up.host}:${up.port}`, credentials: { user: 'app', password: 'app-secret', database: up.database } },
      { name: 'plain', protocol: 'postgres', upstream: `${up.host}:${up.port}`, credentials: { user: 'app2', password: 'app2-secret', database: up.database } }
    ],
    policy: { rules: [{ id: 'readers', actions: ['read', 'search'], effect: 'allow' }] }
  })
  t.teardown(() => gw2.stop())
  const client = async (backend: string): Promise<pg.Client> => {
    const c = new pg.Client({ host: '127.0.0.1', port: gw2.port(backend), user: 'bob', password: await gw2.token('bob'), database: up.database })
    c.on('error', () => {})
    await c.connect()
    t.teardown(() => c.end().catch(() => {}))
    return c
  }
  const limited = await client('limited')
  await t.rejects(limited.query('SELECT title FROM items WHERE id = 1'), { code: '42501' }, 'fail closed: the operator cannot be checked')
  await t.rejects(limited.query('SELECT lower(\'X\')'), { code: '42501' })
  t.equal((await limited.query('SELECT title FROM items')).rows.length, 2, 'a statement that relies on nothing is served')
  // a role that is not a superuser reads the catalog as well
  const plain = await client('plain')
  t.same((await plain.query('SELECT title FROM items WHERE id = 1')).rows, [{ title: 'alpha' }])
  await t.rejects(plain.query('SELECT lower(5)'), { code: '42501' })
  t.equal(await rows(), 2)
})
