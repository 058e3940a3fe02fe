/**
 * THREATS.md "functions with side effects called from a SELECT … treat anything not understood as admin
 * (or refuse)": a function the classifier does not know (here a user-defined one that deletes) called
 * from a SELECT is not a read. With a read-only policy it must be refused and change nothing.
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
await direct.query(`CREATE TABLE IF NOT EXISTS items (id bigint PRIMARY KEY, title text);
  DELETE FROM items; INSERT INTO items VALUES (1, 'alpha'), (2, 'beta');
  CREATE OR REPLACE FUNCTION wipe_items() RETURNS int LANGUAGE plpgsql AS $$ BEGIN DELETE FROM items; RETURN 0; END $$`)
const gw = await startTestGateway({
  backends: [{ name: 'pg', protocol: 'postgres', upstream: `${lite.host}:${lite.port}`, credentials: { user: 'postgres', password: 'any', database: 'postgres' } }],
  policy: { rules: [{ id: 'readers', actions: ['read', 'search'], effect: 'allow' }] }
})
t.teardown(() => gw.stop())

t.test('a user-defined function that deletes, called from a SELECT, is not let through as a read', async t => {
  const c = new pg.Client({ host: '127.0.0.1', port: gw.port('pg'), user: 'alice', password: await gw.token('alice'), database: 'postgres' })
  c.on('error', () => {})
  await c.connect()
  t.teardown(() => c.end().catch(() => {}))
  await t.rejects(c.query('SELECT wipe_items()'), { code: '42501' })
  t.equal((await direct.query('SELECT count(*)::int AS n FROM items')).rows[0].n, 2, 'nothing was deleted')
})
