/**
 * Qdrant through vecgate with the official JS client (@qdrant/js-client-grpc, connect-node over HTTP/2):
 * every allowed call returns exactly what the direct connection returns; denied calls get
 * PERMISSION_DENIED; bad, expired and forged tokens get UNAUTHENTICATED; upstream never sees the token.
 */
import t from 'tap'
import { QdrantClient } from '@qdrant/js-client-grpc'
import { SignJWT, importJWK } from 'jose'
import { generateKeyPairSync } from 'node:crypto'
import { startQdrantServer } from '../peers/qdrant-server.js'
import { startTestGateway } from '../helpers/gateway.js'

const UPSTREAM_KEY = 'upstream-secret-key'

const peer = await startQdrantServer({ apiKey: UPSTREAM_KEY })
t.teardown(() => peer.close())
const gw = await startTestGateway({
  backends: [{ name: 'qdrant', protocol: 'qdrant', upstream: peer.address, credentials: { api_key: UPSTREAM_KEY } }],
  policy: {
    rules: [
      { id: 'admins', subjects: { groups: ['admins'] }, backends: ['qdrant'], effect: 'allow' },
      { id: 'analysts-read', subjects: { groups: ['analysts'] }, collections: ['docs*'], actions: ['read', 'search'], effect: 'allow' },
      { id: 'no-secret', collections: ['secret'], effect: 'deny' }
    ]
  }
})
t.teardown(() => gw.stop())

const [host, port] = [gw.address('qdrant').split(':')[0], gw.port('qdrant')]
const peerPort = Number(peer.address.split(':')[1])
const adminToken = await gw.token('root', { groups: ['admins'] })
const analystToken = await gw.token('alice', { groups: ['analysts'] })

const client = (apiKey: string, p = port): QdrantClient => new QdrantClient({ host, port: p, apiKey, https: false, checkCompatibility: false, timeout: 10_000 })
const viaGateway = client(adminToken)
const direct = client(UPSTREAM_KEY, peerPort)

const pid = (n: number) => ({ pointIdOptions: { case: 'num' as const, value: BigInt(n) } })
const str = (s: string) => ({ kind: { case: 'stringValue' as const, value: s } })
const int = (n: number) => ({ kind: { case: 'integerValue' as const, value: BigInt(n) } })
const enable = { selectorOptions: { case: 'enable' as const, value: true } }
const matchGroup = (g: string) => ({
  must: [{ conditionOneOf: { case: 'field' as const, value: { key: 'group', match: { matchValue: { case: 'keyword' as const, value: g } } } } }]
})

/** the same call direct and through the gateway; results compared without Qdrant's timing field */
async function both<T> (fn: (c: QdrantClient, collection: string) => Promise<T>): Promise<[T, T]> {
  const a = await fn(direct, 'docs_direct')
  const b = await fn(viaGateway, 'docs_gw')
  return [strip(a), strip(b)]
}

function strip<T> (x: T): T {
  return JSON.parse(JSON.stringify(x, (k, v) => k === 'time' || k === '$typeName' ? undefined : typeof v === 'bigint' ? v.toString() : v))
}

t.test('collection life through the gateway equals direct', async t => {
  const [c1, c2] = await both((c, name) => c.api('collections').create({
    collectionName: name,
    vectorsConfig: { config: { case: 'params', value: { size: 4n, distance: 1 /* Cosine */ } } }
  }))
  t.same(c2, c1, 'create')

  const points = Array.from({ length: 40 }, (_, i) => ({
    id: pid(i + 1),
    vectors: { vectorsOptions: { case: 'vector' as const, value: { data: [i + 1, 1, 0.5, (i % 3)] } } },
    payload: { email: str(`user${i + 1}@example.com`), group: str(i % 2 === 0 ? 'a' : 'b'), n: int(i + 1), note: str('x'.repeat(50)) }
  }))
  const [u1, u2] = await both((c, name) => c.api('points').upsert({ collectionName: name, wait: true, points }))
  t.same(u2, u1, 'upsert (a message large enough for the client to gzip)')

  const [s1, s2] = await both((c, name) => c.api('points').search({ collectionName: name, vector: [1, 1, 0.5, 1], limit: 10n, withPayload: enable }))
  t.equal(s2.result.length, 10)
  t.same(s2, s1, 'search')

  const [q1, q2] = await both((c, name) => c.api('points').query({
    collectionName: name,
    query: { variant: { case: 'nearest', value: { variant: { case: 'dense', value: { data: [2, 1, 0.5, 0] } } } } },
    filter: matchGroup('a'),
    limit: 5n,
    withPayload: enable
  }))
  t.same(q2, q1, 'query with filter')

  const [sc1, sc2] = await both((c, name) => c.api('points').scroll({ collectionName: name, limit: 7, withPayload: enable, withVectors: enable }))
  t.same(sc2, sc1, 'scroll')

  const [g1, g2] = await both((c, name) => c.api('points').get({ collectionName: name, ids: [pid(3), pid(4)], withPayload: enable }))
  t.same(g2, g1, 'get')

  const [n1, n2] = await both((c, name) => c.api('points').count({ collectionName: name, exact: true }))
  t.same(n2, n1, 'count')

  const [d1, d2] = await both((c, name) => c.api('points').delete({
    collectionName: name, wait: true, points: { pointsSelectorOneOf: { case: 'points', value: { ids: [pid(1), pid(2)] } } }
  }))
  t.same(d2, d1, 'delete by ids')

  const [f1, f2] = await both((c, name) => c.api('points').delete({
    collectionName: name, wait: true, points: { pointsSelectorOneOf: { case: 'filter', value: matchGroup('b') } }
  }))
  t.same(f2, f1, 'delete by filter')

  const [m1, m2] = await both((c, name) => c.api('points').count({ collectionName: name, exact: true }))
  t.same(m2, m1, 'count after deletes')

  const [x1, x2] = await both((c, name) => c.api('collections').delete({ collectionName: name }))
  t.same(x2, x1, 'collection delete')
})

t.test('policy: analysts may search docs but not delete, nor touch other collections', async t => {
  await viaGateway.api('collections').create({ collectionName: 'docs', vectorsConfig: { config: { case: 'params', value: { size: 4n, distance: 1 } } } })
  await viaGateway.api('points').upsert({ collectionName: 'docs', wait: true, points: [{ id: pid(1), vectors: { vectorsOptions: { case: 'vector', value: { data: [1, 0, 0, 0] } } }, payload: {} }] })
  const analyst = client(analystToken)
  const r = await analyst.api('points').search({ collectionName: 'docs', vector: [1, 0, 0, 0], limit: 1n })
  t.equal(r.result.length, 1, 'search allowed')
  await t.rejects(analyst.api('points').delete({ collectionName: 'docs', points: { pointsSelectorOneOf: { case: 'points', value: { ids: [pid(1)] } } } }),
    { code: 7, rawMessage: /no rule allows|denied/ }, 'delete denied with PERMISSION_DENIED')
  await t.rejects(analyst.api('collections').create({ collectionName: 'secret', vectorsConfig: { config: { case: 'params', value: { size: 4n, distance: 1 } } } }),
    { code: 7 }, 'create collection denied')
  await t.rejects(viaGateway.api('points').count({ collectionName: 'secret', exact: true }), { code: 7, rawMessage: /no-secret/ }, 'deny rule wins and is named')
})

t.test('tokens: missing, bad, expired, forged, wrong audience → UNAUTHENTICATED', async t => {
  const key = gw.gw.parts.key
  const now = Math.floor(Date.now() / 1000)
  const expired = await new SignJWT({ groups: ['admins'] }).setProtectedHeader({ alg: 'EdDSA', kid: key.kid }).setIssuer('vecgate').setAudience('vecgate')
    .setSubject('root').setIssuedAt(now - 600).setExpirationTime(now - 120).setJti('old').sign(key.privateKey)
  const notYet = await new SignJWT({ groups: ['admins'] }).setProtectedHeader({ alg: 'EdDSA', kid: key.kid }).setIssuer('vecgate').setAudience('vecgate')
    .setSubject('root').setNotBefore(now + 600).setExpirationTime(now + 900).setJti('future').sign(key.privateKey)
  const { privateKey } = generateKeyPairSync('ed25519')
  const forged = await new SignJWT({ groups: ['admins'] }).setProtectedHeader({ alg: 'EdDSA' }).setIssuer('vecgate').setAudience('vecgate')
    .setSubject('root').setExpirationTime('5m').setJti('x').sign(privateKey)
  const hs = await new SignJWT({ groups: ['admins'] }).setProtectedHeader({ alg: 'HS256' }).setIssuer('vecgate').setAudience('vecgate')
    .setSubject('root').setExpirationTime('5m').setJti('y').sign(await importJWK({ kty: 'oct', k: Buffer.from(JSON.stringify(gw.gw.parts.key.publicJwk)).toString('base64url') }, 'HS256'))
  const none = Buffer.from('{"alg":"none"}').toString('base64url') + '.' + Buffer.from(JSON.stringify({ sub: 'root', iss: 'vecgate', aud: 'vecgate', groups: ['admins'], exp: 9999999999, jti: 'z' })).toString('base64url') + '.'
  const wrongAud = (await gw.grants.issue({ subject: 'root', groups: ['admins'], ttl: 60 })).token.split('.')
  wrongAud[1] = Buffer.from(JSON.stringify({ ...JSON.parse(Buffer.from(wrongAud[1], 'base64url').toString()), aud: 'other' })).toString('base64url')
  for (const [label, token] of [['garbage', 'not-a-token'], ['forged key', forged], ['HS256 with the public key', hs], ['alg none', none], ['tampered payload', wrongAud.join('.')], ['upstream key itself', UPSTREAM_KEY], ['expired', expired], ['not yet valid', notYet]] as const) {
    await t.rejects(client(token).api('points').count({ collectionName: 'docs', exact: true }), { code: 16 }, label)
  }
  await t.rejects(new QdrantClient({ host, port, checkCompatibility: false }).api('points').count({ collectionName: 'docs', exact: true }), { code: 16 }, 'no token')
})

t.test('the upstream never sees a client token, only the backend key', async t => {
  const seen = peer.calls.map(c => c.metadata['api-key'])
  t.ok(seen.length > 20, 'calls reached upstream')
  t.ok(seen.every(k => k === UPSTREAM_KEY || k === undefined), 'only the upstream key')
  const tokens = [adminToken, analystToken]
  t.notOk(peer.calls.some(c => JSON.stringify(c.metadata).includes(tokens[0].slice(-20)) || JSON.stringify(c.metadata).includes(tokens[1].slice(-20))), 'no token in any metadata')
  t.notOk(peer.calls.some(c => 'authorization' in c.metadata), 'no authorization header upstream')
})
