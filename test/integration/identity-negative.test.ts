/**
 * Every way a token must fail, through the gateway, over Postgres (node-postgres against pgvector on
 * PGlite) and over gRPC (the Qdrant JS client against the Qdrant test server): each is refused in the
 * protocol's own terms (28P01 / UNAUTHENTICATED for the token, 42501 / PERMISSION_DENIED for the scope)
 * and leaves an `error` event with the vecgate code and reason in that backend's journal.
 *
 * Tokens: expired, not yet valid, wrong issuer, wrong audience, alg none, HS256 signed with the IdP's
 * public key, tampered payload, unknown kid, JWKS endpoint down. Grants: a replayed single-use grant,
 * a revoked grant, a request outside the grant's collections, actions or ids (the policy would allow
 * it), and a long-lived connection whose grant expires mid-session.
 */
import t, { type Test } from 'tap'
import pg from 'pg'
import { createPublicKey, generateKeyPairSync } from 'node:crypto'
import { SignJWT, decodeJwt } from 'jose'
import { QdrantClient } from '@qdrant/js-client-grpc'
import { startKeyServer } from '../peers/oidc.js'
import { startPglite } from '../peers/pglite.js'
import { startQdrantServer } from '../peers/qdrant-server.js'
import { startTestGateway } from '../helpers/gateway.js'
import { JournalReader } from '../../lib/journal/reader.js'
import type { RevocationStore } from '../../lib/identity/revocations.js'

const idp = await startKeyServer()
t.teardown(() => idp.close())
const downIdp = await startKeyServer()
downIdp.down = true
t.teardown(() => downIdp.close())
const strangerIdp = await startKeyServer()
t.teardown(() => strangerIdp.close())

const lite = await startPglite()
t.teardown(() => lite.close())
const direct = new pg.Client({ host: lite.host, port: lite.port, user: 'postgres', password: 'any', database: 'postgres' })
await direct.connect()
t.teardown(() => direct.end())
await direct.query('CREATE EXTENSION IF NOT EXISTS vector')
await direct.query(`CREATE TABLE items (id bigint PRIMARY KEY, title text, embedding vector(3));
  INSERT INTO items VALUES (1, 'alpha', '[1,0,0]'), (2, 'beta', '[0,1,0]');
  CREATE TABLE notes (id bigint PRIMARY KEY, body text); INSERT INTO notes VALUES (1, 'n')`)

const QDRANT_KEY = 'upstream-qdrant-key'
const qpeer = await startQdrantServer({ apiKey: QDRANT_KEY })
t.teardown(() => qpeer.close())
const qdirect = new QdrantClient({ host: '127.0.0.1', port: qpeer.port, apiKey: QDRANT_KEY, https: false, checkCompatibility: false })
const pid = (n: number) => ({ pointIdOptions: { case: 'num' as const, value: BigInt(n) } })
const point = (n: number) => ({ id: pid(n), vectors: { vectorsOptions: { case: 'vector' as const, value: { data: [n, 1, 0] } } }, payload: {} })
for (const name of ['docs', 'notes']) {
  await qdirect.api('collections').create({ collectionName: name, vectorsConfig: { config: { case: 'params', value: { size: 3n, distance: 1 } } } })
  await qdirect.api('points').upsert({ collectionName: name, wait: true, points: [point(1), point(2)] })
}

const gw = await startTestGateway({
  identity: { oidc: [{ issuer: idp.issuer, audience: 'vecgate' }, { issuer: downIdp.issuer, audience: 'vecgate' }] },
  backends: [
    { name: 'pg', protocol: 'postgres', upstream: `${lite.host}:${lite.port}`, credentials: { user: 'postgres', password: 'any', database: 'postgres' } },
    { name: 'qdrant', protocol: 'qdrant', upstream: qpeer.address, credentials: { api_key: QDRANT_KEY } }
  ],
  // the policy lets analysts read and write everything here: what is refused below, the token or the
  // grant's scope refuses
  policy: { rules: [{ id: 'analysts-all', subjects: { groups: ['analysts'] }, actions: ['read', 'search', 'write'], effect: 'allow' }] }
})
t.teardown(() => gw.stop())
const revocations = (gw.gw.parts.verifier as { revocations?: RevocationStore }).revocations!

const journal = new JournalReader(gw.config.journal.path)
t.teardown(() => journal.close())
const seen = new Set<number>()

/**
 * The refusal is in the journal: a new `error` event in a session of `backend` with `code` and a
 * message matching `reason`.
 */
async function journaled (t: Test, backend: string, code: string, reason: RegExp): Promise<void> {
  await gw.gw.parts.journal.flush()
  const hit = journal.sessions({ backend, limit: 100_000 })
    .flatMap(s => journal.events(s.id))
    .find(e => !seen.has(e.id) && e.kind === 'error' && e.body.data?.code === code && reason.test(String(e.body.data?.message)))
  t.ok(hit, `journaled on ${backend}: ${code} ${String(reason)}`)
  if (hit !== undefined) seen.add(hit.id)
}

const now = (): number => Math.floor(Date.now() / 1000)
const claims = { sub: 'alice', aud: 'vecgate', groups: ['analysts'] }
const b64 = (x: unknown): string => Buffer.from(JSON.stringify(x)).toString('base64url')

const badTokens: Array<{ name: string, reason: RegExp, token: () => Promise<string> }> = [
  { name: 'expired', reason: /token expired/, token: async () => await idp.sign({ ...claims, iat: now() - 600, exp: now() - 120 }) },
  { name: 'not yet valid', reason: /not yet valid/, token: async () => await idp.sign({ ...claims, nbf: now() + 600, exp: now() + 900 }) },
  { name: 'wrong issuer', reason: /issuer is not accepted/, token: async () => await strangerIdp.sign(claims) },
  {
    name: 'wrong issuer claimed with the right key',
    reason: /issuer is not accepted/,
    token: async () => await idp.sign({ ...claims, iss: 'https://evil.example.com' })
  },
  { name: 'wrong audience', reason: /audience does not match/, token: async () => await idp.sign({ ...claims, aud: 'another-app' }) },
  {
    name: 'alg none',
    reason: /algorithm none is not accepted/,
    token: async () => `${b64({ alg: 'none', typ: 'JWT' })}.${b64({ ...claims, iss: idp.issuer, exp: now() + 300 })}.`
  },
  {
    name: 'HS256 signed with the public key',
    reason: /algorithm HS256 is not accepted/,
    token: async () => {
      const s = idp.signers[0]
      const pem = createPublicKey({ key: s.publicJwk as any, format: 'jwk' }).export({ type: 'spki', format: 'pem' }) as string
      return await new SignJWT({ ...claims, iss: idp.issuer, exp: now() + 300 }).setProtectedHeader({ alg: 'HS256', kid: s.kid }).sign(Buffer.from(pem))
    }
  },
  {
    name: 'tampered payload',
    reason: /signature is invalid/,
    token: async () => {
      const [h, , s] = (await idp.sign({ sub: 'mallory', aud: 'vecgate', groups: [] })).split('.')
      return `${h}.${b64({ ...claims, iss: idp.issuer, iat: now(), exp: now() + 300 })}.${s}`
    }
  },
  {
    name: 'unknown kid',
    reason: /unknown key/,
    token: async () => {
      const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 })
      return await new SignJWT({ ...claims, iss: idp.issuer, exp: now() + 300 }).setProtectedHeader({ alg: 'RS256', kid: 'not-published' }).sign(privateKey)
    }
  },
  { name: 'JWKS endpoint down', reason: /identity provider unreachable/, token: async () => await downIdp.sign(claims) }
]

const pgConnect = async (password: string): Promise<pg.Client> => {
  const c = new pg.Client({ host: '127.0.0.1', port: gw.port('pg'), user: 'alice', password, database: 'postgres' })
  c.on('error', () => {})
  await c.connect()
  return c
}
const qdrant = (apiKey: string): QdrantClient => new QdrantClient({ host: '127.0.0.1', port: gw.port('qdrant'), apiKey, https: false, checkCompatibility: false, timeout: 10_000 })
const qcount = async (c: QdrantClient, collection = 'docs'): Promise<number> => Number((await c.api('points').count({ collectionName: collection, exact: true })).result?.count)

t.test('a good IdP token passes on both protocols (the baseline the refusals differ from)', async t => {
  const token = await idp.sign(claims)
  const c = await pgConnect(token)
  t.equal((await c.query('SELECT count(*)::int AS n FROM items')).rows[0].n, 2)
  await c.end()
  t.equal(await qcount(qdrant(token)), 2)
})

for (const bad of badTokens) {
  t.test(`${bad.name}: refused over Postgres (28P01) and gRPC (UNAUTHENTICATED), journaled`, async t => {
    const token = await bad.token()
    const e = await pgConnect(token).then(async c => { await c.end(); return undefined }, (err: unknown) => err)
    t.match(e, { code: '28P01', message: bad.reason }, 'Postgres')
    await journaled(t, 'pg', 'VG_ERR_UNAUTHENTICATED', bad.reason)
    await t.rejects(qcount(qdrant(token)), { code: 16, rawMessage: bad.reason }, 'gRPC')
    await journaled(t, 'qdrant', 'VG_ERR_UNAUTHENTICATED', bad.reason)
  })
}

t.test('a replayed single-use grant', async t => {
  const forPg = await gw.token('alice', { groups: ['analysts'], uses: 1 })
  const c = await pgConnect(forPg)
  t.teardown(() => c.end().catch(() => {}))
  t.equal((await c.query('SELECT count(*)::int AS n FROM items')).rows[0].n, 2, 'its one use')
  await t.rejects(c.query('SELECT count(*)::int AS n FROM items'), { code: '28P01', message: /single-use token was already used/ })
  await journaled(t, 'pg', 'VG_ERR_UNAUTHENTICATED', /single-use token was already used/)
  const again = await pgConnect(forPg).catch((e: unknown) => e)
  const replay = again instanceof pg.Client ? await again.query('SELECT 1 AS one FROM items').then(() => undefined, (e: unknown) => e) : again
  if (again instanceof pg.Client) await again.end().catch(() => {})
  t.match(replay, { code: '28P01', message: /already used/ }, 'on a new connection too')
  await journaled(t, 'pg', 'VG_ERR_UNAUTHENTICATED', /already used/)

  const forGrpc = await gw.token('alice', { groups: ['analysts'], uses: 1 })
  t.equal(await qcount(qdrant(forGrpc)), 2)
  await t.rejects(qcount(qdrant(forGrpc)), { code: 16, rawMessage: /single-use token was already used/ })
  await journaled(t, 'qdrant', 'VG_ERR_UNAUTHENTICATED', /single-use token was already used/)
})

t.test('a revoked grant, on a connection already open', async t => {
  const token = await gw.token('alice', { groups: ['analysts'] })
  const c = await pgConnect(token)
  t.teardown(() => c.end().catch(() => {}))
  const q = qdrant(token)
  t.equal((await c.query('SELECT count(*)::int AS n FROM items')).rows[0].n, 2)
  t.equal(await qcount(q), 2)
  revocations.revoke(decodeJwt(token).jti as string)
  await t.rejects(c.query('SELECT count(*)::int AS n FROM items'), { code: '28P01', message: /revoked/ })
  await journaled(t, 'pg', 'VG_ERR_UNAUTHENTICATED', /revoked/)
  await t.rejects(qcount(q), { code: 16, rawMessage: /revoked/ })
  await journaled(t, 'qdrant', 'VG_ERR_UNAUTHENTICATED', /revoked/)
  await t.rejects(qcount(qdrant(token)), { code: 16, rawMessage: /revoked/ }, 'and on a new connection')
  await journaled(t, 'qdrant', 'VG_ERR_UNAUTHENTICATED', /revoked/)
})

t.test('outside the grant\'s collections, actions or ids: refused although the policy would allow it', async t => {
  const pgGrant = await gw.token('alice', { groups: ['analysts'], backend: 'pg', collections: ['items'], actions: ['read'] })
  const c = await pgConnect(pgGrant)
  t.teardown(() => c.end().catch(() => {}))
  t.equal((await c.query('SELECT count(*)::int AS n FROM items')).rows[0].n, 2)
  await t.rejects(c.query('SELECT body FROM notes'), { code: '42501', message: /collection notes is outside the grant's scope/ })
  await journaled(t, 'pg', 'VG_ERR_DENIED', /collection notes is outside the grant's scope/)
  await t.rejects(c.query("UPDATE items SET title = 'x' WHERE id = 1"), { code: '42501', message: /action write is outside the grant's scope/ })
  await journaled(t, 'pg', 'VG_ERR_DENIED', /action write is outside the grant's scope/)
  const idGrant = await gw.token('alice', { groups: ['analysts'], backend: 'pg', ids: [1] })
  const ci = await pgConnect(idGrant)
  t.teardown(() => ci.end().catch(() => {}))
  await t.rejects(ci.query('SELECT title FROM items WHERE id = 2'), { code: '42501', message: /not limited to the granted ids/ }, 'SQL names no ids the gateway can hold it to')
  await journaled(t, 'pg', 'VG_ERR_DENIED', /not limited to the granted ids/)
  const otherBackend = await pgConnect(await gw.token('alice', { groups: ['analysts'], backend: 'qdrant' }))
  t.teardown(() => otherBackend.end().catch(() => {}))
  await t.rejects(otherBackend.query('SELECT 1 AS one FROM items'), { code: '42501', message: /backend pg is outside the grant's scope/ })
  await journaled(t, 'pg', 'VG_ERR_DENIED', /backend pg is outside the grant's scope/)

  const q = qdrant(await gw.token('alice', { groups: ['analysts'], backend: 'qdrant', collections: ['docs'], actions: ['read'], ids: [1] }))
  const got = await q.api('points').get({ collectionName: 'docs', ids: [pid(1)] })
  t.equal(got.result.length, 1, 'the granted id')
  await t.rejects(q.api('points').get({ collectionName: 'docs', ids: [pid(1), pid(2)] }), { code: 7, rawMessage: /id 2 is outside the grant's scope/ })
  await journaled(t, 'qdrant', 'VG_ERR_DENIED', /id 2 is outside the grant's scope/)
  await t.rejects(q.api('points').get({ collectionName: 'notes', ids: [pid(1)] }), { code: 7, rawMessage: /collection notes is outside the grant's scope/ })
  await journaled(t, 'qdrant', 'VG_ERR_DENIED', /collection notes is outside the grant's scope/)
  await t.rejects(q.api('points').upsert({ collectionName: 'docs', wait: true, points: [point(1)] }), { code: 7, rawMessage: /action write is outside the grant's scope/ })
  await journaled(t, 'qdrant', 'VG_ERR_DENIED', /action write is outside the grant's scope/)
  await t.rejects(q.api('points').search({ collectionName: 'docs', vector: [1, 1, 0], limit: 1n }), { code: 7, rawMessage: /outside the grant's scope/ }, 'a search could return any id')
  await journaled(t, 'qdrant', 'VG_ERR_DENIED', /outside the grant's scope/)
})

t.test('a long-lived connection whose grant expires mid-session', async t => {
  const token = await gw.token('alice', { groups: ['analysts'], ttl: 2 })
  const exp = decodeJwt(token).exp as number
  const c = await pgConnect(token)
  t.teardown(() => c.end().catch(() => {}))
  const q = qdrant(token)
  t.equal((await c.query('SELECT count(*)::int AS n FROM items')).rows[0].n, 2)
  t.equal(await qcount(q), 2)
  // wait for the clock, not for a guessed duration
  while (Date.now() <= exp * 1000) await new Promise(resolve => setTimeout(resolve, 100))
  await t.rejects(c.query('SELECT count(*)::int AS n FROM items'), { code: '28P01', message: /expired during the session/ })
  await journaled(t, 'pg', 'VG_ERR_UNAUTHENTICATED', /expired during the session/)
  await t.rejects(qcount(q), { code: 16, rawMessage: /expired during the session/ }, 'the same HTTP/2 connection')
  await journaled(t, 'qdrant', 'VG_ERR_UNAUTHENTICATED', /expired during the session/)
})
