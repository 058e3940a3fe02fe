/**
 * THREATS.md "Classification evasion", end to end through a whole gateway to a real pgvector upstream:
 * the policy allows everything but admin statements, and each trick that hides one (a DO block, COPY
 * … PROGRAM, SET ROLE / SET SESSION AUTHORIZATION, a statement after a dollar-quoted string, a
 * side-effecting function called from a SELECT, the same in a Parse message) is refused with 42501 and
 * changes nothing upstream. A prepared statement parsed under a valid grant and executed after the
 * grant was revoked is refused at Execute, with no new Parse.
 */
import t from 'tap'
import pg from 'pg'
import { decodeJwt } from 'jose'
import { startPglite } from '../peers/pglite.js'
import { startTestGateway } from '../helpers/gateway.js'
import type { RevocationStore } from '../../lib/identity/revocations.js'

const lite = await startPglite()
t.teardown(() => lite.close())
const direct = new pg.Client({ host: lite.host, port: lite.port, user: 'postgres', password: 'any', database: 'postgres' })
await direct.connect()
t.teardown(() => direct.end())
await direct.query(`CREATE TABLE IF NOT EXISTS items (id bigint PRIMARY KEY, title text);
  DELETE FROM items; INSERT INTO items VALUES (1, 'alpha'), (2, 'beta')`)

const gw = await startTestGateway({
  backends: [{ name: 'pg', protocol: 'postgres', upstream: `${lite.host}:${lite.port}`, credentials: { user: 'postgres', password: 'any', database: 'postgres' } }],
  policy: { rules: [{ id: 'all-but-admin', actions: ['read', 'search', 'write', 'delete'], effect: 'allow' }] }
})
t.teardown(() => gw.stop())
const revocations = (gw.gw.parts.verifier as { revocations?: RevocationStore }).revocations!

async function connect (token?: string): Promise<pg.Client> {
  const c = new pg.Client({ host: '127.0.0.1', port: gw.port('pg'), user: 'alice', password: token ?? await gw.token('alice'), database: 'postgres' })
  c.on('error', () => {})
  await c.connect()
  t.teardown(() => c.end().catch(() => {}))
  return c
}
const itemCount = async (): Promise<number> => (await direct.query('SELECT count(*)::int AS n FROM items')).rows[0].n

t.test('admin statements in disguise are refused, simple and extended, and nothing happens upstream', async t => {
  const c = await connect()
  t.same((await c.query('SELECT title FROM items WHERE id = 1')).rows, [{ title: 'alpha' }], 'the baseline read')
  const tricks = [
    'DO $$ BEGIN DELETE FROM items; END $$',
    "DO LANGUAGE plpgsql 'BEGIN DROP TABLE items; END'",
    "COPY items FROM PROGRAM 'id'",
    "COPY (SELECT 1) TO PROGRAM 'touch /tmp/vecgate-pwned'",
    'SET ROLE postgres',
    'SET SESSION AUTHORIZATION postgres',
    'SET LOCAL ROLE postgres',
    "SELECT set_config('role', 'postgres', false)",
    'SELECT $q$;$q$; DROP TABLE items',
    "SELECT $$ ' $$ AS x; DROP TABLE items; --'",
    'SELECT 1; /* ; */ ALTER TABLE items RENAME TO gone',
    "SELECT pg_read_file('/etc/passwd')",
    "SELECT lo_import('/etc/passwd')",
    "SELECT query_to_xml('DELETE FROM items RETURNING 1', true, true, '')"
  ]
  for (const sql of tricks) {
    await t.rejects(c.query(sql), { code: '42501' }, `simple: ${sql}`)
    await t.rejects(c.query({ text: sql, values: [] }), { code: /^(42501|08P01)$/ }, `extended: ${sql}`)
  }
  t.equal(await itemCount(), 2, 'items is still there, with both rows')
  t.same((await c.query('SELECT title FROM items WHERE id = 2')).rows, [{ title: 'beta' }], 'the session is still usable')
})

t.test('a prepared statement parsed under a valid grant is refused at Execute once the grant is revoked', async t => {
  const token = await gw.token('alice')
  const c = await connect(token)
  const q = { name: 'by-id', text: 'SELECT title FROM items WHERE id = $1', values: [1] }
  t.same((await c.query(q)).rows, [{ title: 'alpha' }], 'parsed and executed under the grant')
  t.same((await c.query({ ...q, values: [2] })).rows, [{ title: 'beta' }], 'executed again: Bind and Execute only')
  revocations.revoke(decodeJwt(token).jti as string)
  await t.rejects(c.query({ ...q, values: [1] }), { code: '28P01', message: /revoked/ }, 'the same statement after revocation')
})
