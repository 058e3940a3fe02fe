/**
 * A person gets access end to end, against a real OpenID Provider (panva/oidc-provider on a loopback
 * port): `vecgate login` with the device flow (RFC 8628) and with authorization code + PKCE (RFC 7636)
 * — the CLI commands themselves, with the provider's browser doing what a person does — stores a grant;
 * `vecgate request` exchanges it for a scoped one; unchanged clients use the grants through the
 * gateway: node-postgres against pgvector on PGlite, and the official Qdrant JS client against the
 * Qdrant test server. Out-of-scope calls are refused in each protocol's terms.
 */
import t from 'tap'
import pg from 'pg'
import { rmSync, statSync } from 'node:fs'
import { Writable } from 'node:stream'
import { decodeJwt } from 'jose'
import { QdrantClient } from '@qdrant/js-client-grpc'
import { startOidcProvider } from '../peers/oidc.js'
import { startPglite } from '../peers/pglite.js'
import { startQdrantServer } from '../peers/qdrant-server.js'
import { startTestGateway } from '../helpers/gateway.js'
import { isolatedCliHome } from '../helpers/cli-home.js'
import { identityCommands } from '../../lib/cli/identity.js'
import { credentialsPath, readStoredGrant } from '../../lib/identity/login.js'
import type { Config } from '../../lib/config/types.js'

isolatedCliHome(t)

const op = await startOidcProvider({ accounts: { alice: { groups: ['analysts'], email: 'alice@example.com' } } })
t.teardown(() => op.close())

const lite = await startPglite()
t.teardown(() => lite.close())
const direct = new pg.Client({ host: lite.host, port: lite.port, user: 'postgres', password: 'any', database: 'postgres' })
await direct.connect()
t.teardown(() => direct.end())
await direct.query('CREATE EXTENSION IF NOT EXISTS vector')
await direct.query(`CREATE TABLE items (id bigint PRIMARY KEY, title text, embedding vector(3));
  INSERT INTO items VALUES (1, 'alpha', '[1,0,0]'), (2, 'beta', '[0,1,0]'), (3, 'gamma', '[0,0,1]');
  CREATE TABLE salaries (id bigint PRIMARY KEY, amount int); INSERT INTO salaries VALUES (1, 100)`)

const QDRANT_KEY = 'upstream-qdrant-key'
const qpeer = await startQdrantServer({ apiKey: QDRANT_KEY })
t.teardown(() => qpeer.close())
const qdirect = new QdrantClient({ host: '127.0.0.1', port: qpeer.port, apiKey: QDRANT_KEY, https: false, checkCompatibility: false })
const pid = (n: number) => ({ pointIdOptions: { case: 'num' as const, value: BigInt(n) } })
for (const name of ['docs', 'secret']) {
  await qdirect.api('collections').create({ collectionName: name, vectorsConfig: { config: { case: 'params', value: { size: 3n, distance: 1 } } } })
  await qdirect.api('points').upsert({
    collectionName: name,
    wait: true,
    points: [1, 2, 3].map(i => ({ id: pid(i), vectors: { vectorsOptions: { case: 'vector' as const, value: { data: [i, 1, 0] } } }, payload: {} }))
  })
}

const gw = await startTestGateway({
  identity: { oidc: [{ issuer: op.issuer, audience: op.clientId, client_id: op.clientId }] },
  backends: [
    { name: 'pg', protocol: 'postgres', upstream: `${lite.host}:${lite.port}`, credentials: { user: 'postgres', password: 'any', database: 'postgres' } },
    { name: 'qdrant', protocol: 'qdrant', upstream: qpeer.address, credentials: { api_key: QDRANT_KEY } }
  ],
  policy: {
    rules: [
      { id: 'analysts-read', subjects: { groups: ['analysts'] }, collections: ['public.items', 'docs'], actions: ['read', 'search'], effect: 'allow' }
    ]
  }
})
t.teardown(() => gw.stop())

interface Run { code: number, out: string, err: string }

/** Runs a CLI command as bin/vecgate.ts does; `onErr` sees each line the command tells the person. */
async function cli (name: string, values: Record<string, unknown>, positionals: string[] = [], onErr?: (line: string) => void): Promise<Run> {
  const command = identityCommands.find(c => c.name === name)!
  let out = ''
  let err = ''
  const sink = (add: (s: string) => void): Writable => new Writable({ write (chunk, _e, cb) { add(String(chunk)); cb() } })
  const code = await command.run({
    values: { admin: gw.adminUrl, ...values },
    positionals,
    config: (): Config => gw.config,
    configPath: gw.config.file,
    out: sink(s => { out += s }),
    err: sink(s => { err += s; for (const line of s.split('\n')) if (line !== '') onErr?.(line) })
  })
  return { code, out, err }
}

const pgAs = async (password: string): Promise<pg.Client> => {
  const c = new pg.Client({ host: '127.0.0.1', port: gw.port('pg'), user: 'alice', password, database: 'postgres' })
  await c.connect()
  return c
}
const qdrantAs = (apiKey: string): QdrantClient => new QdrantClient({ host: '127.0.0.1', port: gw.port('qdrant'), apiKey, https: false, checkCompatibility: false, timeout: 10_000 })

t.test('device flow: vecgate login, the person confirms the code, the grant is stored and works over Postgres', async t => {
  let confirmed: Promise<unknown> | undefined
  const r = await cli('login', { device: true }, [], line => {
    const m = /\(or open (\S+)\)/.exec(line)
    if (m !== null) confirmed = op.browser.confirmDevice(m[1])
  })
  t.equal(r.code, 0, r.err)
  await confirmed
  t.match(r.err, /open http:\/\/127\.0\.0\.1:\d+\/device and enter the code \S+/)
  t.match(r.out, /Signed in as alice/)
  const stored = readStoredGrant()
  t.ok(stored, 'stored where the other commands look')
  t.equal(statSync(credentialsPath()).mode & 0o777, 0o600)
  t.match(decodeJwt(stored!.token), { iss: 'vecgate', sub: 'alice', groups: ['analysts'], idp: op.issuer })

  // the unscoped sign-in grant: the policy decides each request
  const c = await pgAs(stored!.token)
  t.teardown(() => c.end())
  const rows = await c.query("SELECT id, title FROM items ORDER BY embedding <-> '[1,0.1,0]' LIMIT 2")
  t.same(rows.rows.map(x => x.title), ['alpha', 'beta'])
  await t.rejects(c.query('SELECT amount FROM salaries'), { code: '42501' }, 'no rule allows salaries')
})

t.test('vecgate request: the stored grant exchanged for one collection and action, used by pg; outside it refused', async t => {
  const r = await cli('request', { backend: 'pg', collection: ['items'], actions: 'read', reason: 'INC-7 triage', ttl: '2m' })
  t.equal(r.code, 0, r.err)
  const token = r.out.trim()
  t.match(decodeJwt(token), { sub: 'alice', reason: 'INC-7 triage', vg: { backend: 'pg', collections: ['items'], actions: ['read'] } })
  t.match(r.err, /Granted/)
  const c = await pgAs(token)
  t.teardown(() => c.end())
  t.equal((await c.query('SELECT count(*)::int AS n FROM items')).rows[0].n, 3)
  await t.rejects(c.query('SELECT amount FROM salaries'), { code: '42501', message: /outside the grant's scope/ })
  await t.rejects(c.query("UPDATE items SET title = 'x' WHERE id = 1"), { code: '42501' })
  await t.rejects(pgAs(token.slice(0, -3) + 'abc'), { code: '28P01' }, 'a tampered grant cannot even sign in')

  const denied = await cli('request', { backend: 'pg', collection: ['salaries'], actions: 'read', reason: 'curious' }).catch(e => e)
  t.match(denied, { code: 'VG_ERR_DENIED' }, 'the policy refuses at the exchange already')
})

t.test('PKCE: vecgate login --pkce in the browser, then the Qdrant JS client with a requested grant', async t => {
  rmSync(credentialsPath(), { force: true })
  let visited: Promise<{ status: number, url: string }> | undefined
  const r = await cli('login', { pkce: true }, [], line => {
    if (/^\s+http/.test(line)) visited = op.browser.visit(line.trim())
  })
  t.equal(r.code, 0, r.err)
  t.match(await visited, { status: 200, url: /^http:\/\/127\.0\.0\.1:\d+\/callback\?code=/ })
  const stored = readStoredGrant()
  t.match(decodeJwt(stored!.token), { sub: 'alice', idp: op.issuer })

  const q = await cli('request', { backend: 'qdrant', collection: ['docs'], actions: 'search,read', reason: 'ranking check', json: true })
  t.equal(q.code, 0, q.err)
  const granted = JSON.parse(q.out)
  t.match(granted, { status: 'granted', subject: 'alice', scope: { backend: 'qdrant', collections: ['docs'], actions: ['search', 'read'] } })
  const client = qdrantAs(granted.token)
  const hits = await client.api('points').search({ collectionName: 'docs', vector: [3, 1, 0], limit: 2n })
  t.equal(hits.result.length, 2)
  const count = await client.api('points').count({ collectionName: 'docs', exact: true })
  t.equal(Number(count.result?.count), 3)
  await t.rejects(client.api('points').count({ collectionName: 'secret', exact: true }), { code: 7, rawMessage: /outside the grant's scope/ })
  await t.rejects(client.api('points').delete({ collectionName: 'docs', wait: true, points: { pointsSelectorOneOf: { case: 'points', value: { ids: [pid(1)] } } } }), { code: 7 })
  t.notOk(qpeer.calls.some(c => Object.values(c.metadata).includes(granted.token)), 'the upstream never sees the grant')

  // the sign-in grant itself, over gRPC too
  const signedIn = qdrantAs(stored!.token)
  t.equal(Number((await signedIn.api('points').count({ collectionName: 'docs', exact: true })).result?.count), 3)
})

t.test('token revoke by the CLI: the grant is refused from its next request on, over an open connection too', async t => {
  const r = await cli('request', { backend: 'pg', collection: ['items'], actions: 'read', reason: 'short look' })
  t.equal(r.code, 0, r.err)
  const token = r.out.trim()
  const c = await pgAs(token)
  t.teardown(() => c.end().catch(() => {}))
  t.equal((await c.query('SELECT count(*)::int AS n FROM items')).rows[0].n, 3)
  const revoked = await cli('token revoke', {}, [token])
  t.equal(revoked.code, 0, revoked.err)
  t.match(revoked.out, new RegExp(`revoked ${decodeJwt(token).jti as string}`))
  await t.rejects(c.query('SELECT count(*)::int AS n FROM items'), { code: '28P01', message: /revoked/ })
  await t.rejects(pgAs(token), { code: '28P01' })
})
