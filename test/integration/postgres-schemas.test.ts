/**
 * Schema-qualified table names through a real client and server: node-postgres through vecgate to
 * PostgreSQL (PGlite). A grant for `public.items` reads `FROM items`, a grant for `items` reads
 * `FROM public.items`, and neither reads `other.items`; a policy rule written `public.items` (as in
 * CONTRACT.md's example) decides `FROM items`; `journal who-saw` finds the rows whichever spelling the
 * statements and the auditor used.
 */
import t from 'tap'
import pg from 'pg'
import { startPglite } from '../peers/pglite.js'
import { startTestGateway } from '../helpers/gateway.js'
import { JournalReader } from '../../lib/journal/reader.js'

const lite = await startPglite()
t.teardown(() => lite.close())
const up = { host: lite.host, port: lite.port, user: 'postgres', password: 'any', database: 'postgres' }
const direct = new pg.Client(up)
await direct.connect()
t.teardown(() => direct.end())
await direct.query('CREATE EXTENSION IF NOT EXISTS vector')
await direct.query(`CREATE TABLE public.items (id bigint PRIMARY KEY, title text, embedding vector(3));
  INSERT INTO public.items VALUES (1, 'alpha', '[1,0,0]'), (2, 'beta', '[0,1,0]');
  CREATE SCHEMA other;
  CREATE TABLE other.items (id bigint PRIMARY KEY, title text);
  INSERT INTO other.items VALUES (1, 'other-alpha')`)

const gw = await startTestGateway({
  backends: [{ name: 'pg', protocol: 'postgres', upstream: `${lite.host}:${lite.port}`, credentials: up }],
  policy: {
    rules: [
      // the grants below decide the collections for alice; the policy lets analysts read anything
      { id: 'analysts-read-all', subjects: { groups: ['analysts'] }, backends: ['pg'], actions: ['read', 'search'], effect: 'allow' },
      // CONTRACT.md's example rule, for bob
      { id: 'readers', subjects: { groups: ['readers'] }, backends: ['pg'], collections: ['docs', 'public.items'], actions: ['read', 'search'], effect: 'allow' }
    ]
  }
})
t.teardown(() => gw.stop())

async function connect (t: { teardown: (fn: () => Promise<void>) => void }, user: string, token: string): Promise<pg.Client> {
  const c = new pg.Client({ host: '127.0.0.1', port: gw.port('pg'), user, password: token, database: 'postgres' })
  await c.connect()
  t.teardown(() => c.end())
  return c
}
const titles = async (c: pg.Client, sql: string): Promise<string[]> => (await c.query(sql)).rows.map(r => String(r.title))

t.test('a grant for public.items reads FROM items and FROM public.items, not other.items', async t => {
  const c = await connect(t, 'alice', await gw.token('alice', { groups: ['analysts'], backend: 'pg', collections: ['public.items'], actions: ['read', 'search'] }))
  t.same(await titles(c, 'SELECT id, title FROM items WHERE id = 1'), ['alpha'])
  t.same(await titles(c, 'SELECT id, title FROM public.items WHERE id = 1'), ['alpha'])
  t.same(await titles(c, "SELECT id, title FROM items ORDER BY embedding <-> '[0,1,0]' LIMIT 1"), ['beta'], 'a search too')
  await t.rejects(c.query('SELECT id, title FROM other.items'), { code: '42501', message: /other\.items is outside the grant's scope/ })
  t.same(await titles(c, 'SELECT id, title FROM items WHERE id = 2'), ['beta'], 'the connection goes on after a refusal')
})

t.test('a grant for items reads FROM public.items and FROM items, not other.items', async t => {
  const c = await connect(t, 'alice', await gw.token('alice', { groups: ['analysts'], backend: 'pg', collections: ['items'], actions: ['read'] }))
  t.same(await titles(c, 'SELECT id, title FROM public.items WHERE id = 1'), ['alpha'])
  t.same(await titles(c, 'SELECT id, title FROM items WHERE id = 1'), ['alpha'])
  await t.rejects(c.query('SELECT id, title FROM other.items'), { code: '42501', message: /other\.items is outside the grant's scope/ })
  await t.rejects(c.query('SELECT i.id, i.title FROM items i JOIN other.items o USING (id)'), { code: '42501' }, 'nor in a join')
})

t.test('a grant for other.items reads only other.items', async t => {
  const c = await connect(t, 'alice', await gw.token('alice', { groups: ['analysts'], backend: 'pg', collections: ['other.items'], actions: ['read'] }))
  t.same(await titles(c, 'SELECT id, title FROM other.items'), ['other-alpha'])
  await t.rejects(c.query('SELECT id, title FROM items'), { code: '42501', message: /collection items is outside/ })
  await t.rejects(c.query('SELECT id, title FROM public.items'), { code: '42501' })
})

t.test('a policy rule on public.items decides FROM items', async t => {
  const c = await connect(t, 'bob', await gw.token('bob', { groups: ['readers'] }))
  t.same(await titles(c, 'SELECT id, title FROM items WHERE id = 2'), ['beta'])
  t.same(await titles(c, 'SELECT id, title FROM public.items WHERE id = 2'), ['beta'])
  await t.rejects(c.query('SELECT id, title FROM other.items'), { code: '42501', message: /no rule allows/ })
})

t.test('who-saw finds the rows asked either way', async t => {
  await gw.gw.parts.journal.flush()
  const r = new JournalReader(gw.config.journal.path)
  t.teardown(() => r.close())
  const bySpelling = (name: string): string[] => r.whoSaw('pg', name, '1').map(x => x.session.id).sort()
  const sessions = bySpelling('items')
  t.ok(sessions.length >= 2, `row 1 of public.items went to the sessions of both grants: ${sessions.join(', ')}`)
  t.same(bySpelling('public.items'), sessions, 'the same sessions asked as public.items')
  const other = bySpelling('other.items')
  t.equal(other.length, 1, 'other.items row 1 went to one session')
  t.notOk(sessions.includes(other[0]), 'and that session never read public.items row 1')
})
