import { createHmac } from 'node:crypto'
import { join } from 'node:path'
import { SignJWT } from 'jose'
import t from 'tap'
import type { Operation } from '../../../decoders/types.js'
import { OidcVerifier } from '../../../lib/identity/oidc.js'
import { RevocationStore, revocationTarget } from '../../../lib/identity/revocations.js'
import { createVerifier } from '../../../lib/identity/verifier.js'
import { testParts } from '../../helpers/parts.js'
import { startKeyServer } from '../../peers/oidc.js'

const parts = await testParts()
t.teardown(() => parts.cleanup())
const ks = await startKeyServer()
t.teardown(() => ks.close())
const oidc = new OidcVerifier({ issuer: ks.issuer, audience: 'vecgate', groups_claim: 'groups', algorithms: ['RS256', 'EdDSA'] })
const backend = { name: 'q', protocol: 'qdrant' as const, listen: { host: '127.0.0.1', port: 0 }, upstream: { host: '127.0.0.1', port: 1 }, credentials: {} }
const op = (o: Partial<Operation> = {}): Operation => ({ backend: 'q', protocol: 'qdrant', method: 'qdrant.Points/Search', action: 'search', collection: 'docs', bulk: false, summary: {}, ...o })
const b64 = (x: unknown): string => Buffer.from(JSON.stringify(x)).toString('base64url')

function setup (): { store: RevocationStore, verifier: ReturnType<typeof createVerifier> } {
  const store = new RevocationStore({ path: ':memory:', pruneEvery: 0 })
  t.teardown(() => store.close())
  return { store, verifier: createVerifier({ grants: parts.grants, oidc: [oidc], revocations: store }) }
}

t.test('tokens are routed by issuer: grants, the configured IdP, nothing else', async t => {
  const { verifier } = setup()
  t.equal((await verifier.verify(await parts.token('alice'))).source, 'grant')
  t.equal((await verifier.verify(await ks.sign({ sub: 'bob', aud: 'vecgate' }))).source, 'oidc')
  const stranger = await startKeyServer()
  t.teardown(() => stranger.close())
  await t.rejects(verifier.verify(await stranger.sign({ sub: 'eve', aud: 'vecgate' })), { code: 'VG_ERR_UNAUTHENTICATED', message: /issuer is not accepted/ })
  await t.rejects(verifier.verify('not-a-token'), { code: 'VG_ERR_UNAUTHENTICATED', message: /not a JWT/ })
})

t.test('forged grants: alg none, HS256 with the public key, a kid pointing elsewhere, tampering, expiry', async t => {
  const { verifier } = setup()
  const now = Math.floor(Date.now() / 1000)
  const body = { iss: 'vecgate', aud: 'vecgate', sub: 'mallory', exp: now + 60, jti: 'x', vg: {} }
  const pub = JSON.stringify(parts.key.publicJwk)
  const head = b64({ alg: 'HS256', typ: 'JWT', kid: parts.key.kid })
  const hs = `${head}.${b64(body)}.${createHmac('sha256', pub).update(`${head}.${b64(body)}`).digest('base64url')}`
  const good = await parts.token('alice', { collections: ['docs'] })
  const [gh, gp, gs] = good.split('.')
  const widened = JSON.parse(Buffer.from(gp, 'base64url').toString())
  delete widened.vg.collections
  const cases: Array<[string, string, RegExp]> = [
    ['alg none', `${b64({ alg: 'none' })}.${b64(body)}.`, /algorithm none/],
    ['HS256 signed with the public key', hs, /algorithm HS256/],
    ['kid pointing elsewhere', `${b64({ alg: 'EdDSA', kid: 'other' })}.${gp}.${gs}`, /unknown key/],
    ['tampered scope', `${gh}.${b64(widened)}.${gs}`, /signature is invalid/]
  ]
  for (const [name, token, reason] of cases) {
    await t.rejects(verifier.verify(token), { code: 'VG_ERR_UNAUTHENTICATED', message: reason }, name)
  }
  // expired and not-yet-valid grants, signed with the real key
  const signed = async (exp: number, nbf: number): Promise<string> => await new SignJWT({ groups: [], vg: {} })
    .setProtectedHeader({ alg: 'EdDSA', kid: parts.key.kid }).setIssuer('vecgate').setAudience('vecgate').setSubject('a')
    .setJti('e').setExpirationTime(exp).setNotBefore(nbf).sign(parts.key.privateKey)
  await t.rejects(verifier.verify(await signed(now - 120, now - 300)), { code: 'VG_ERR_UNAUTHENTICATED', message: /token expired/ })
  await t.rejects(verifier.verify(await signed(now + 900, now + 600)), { code: 'VG_ERR_UNAUTHENTICATED', message: /not yet valid/ })
  t.ok(await verifier.verify(await signed(now + 60, now - 10)))
})

t.test('a revoked grant is refused at authentication and on the next request of a live session', async t => {
  const { store, verifier } = setup()
  const p = parts.pipeline(backend, { extra: { verifier } })
  const s = p.open({ address: 'x', tls: false })
  const g = await parts.grants.issue({ subject: 'alice', ttl: 300 })
  const id = await s.authenticate(g.token)
  await s.admit(id, op())
  store.revoke(g.jti, g.expiresAt)
  await t.rejects(s.admit(id, op()), { code: 'VG_ERR_UNAUTHENTICATED', message: /revoked/ })
  await t.rejects(verifier.verify(g.token), { code: 'VG_ERR_UNAUTHENTICATED', message: /revoked/ })
  t.same(store.revoked().map(r => r.jti), [g.jti])
})

t.test('single-use and N-use grants: a replayed jti beyond its uses is refused', async t => {
  const { verifier } = setup()
  const p = parts.pipeline(backend, { extra: { verifier } })
  const once = await parts.grants.issue({ subject: 'alice', ttl: 300, uses: 1 })
  const s1 = p.open({ address: 'a', tls: false })
  const id1 = await s1.authenticate(once.token)
  await s1.admit(id1, op())
  await t.rejects(s1.admit(id1, op()), { code: 'VG_ERR_UNAUTHENTICATED', message: /single-use token was already used/ })
  // replayed on a new connection: still used up
  const s2 = p.open({ address: 'b', tls: false })
  const id2 = await s2.authenticate(once.token)
  await t.rejects(s2.admit(id2, op()), { code: 'VG_ERR_UNAUTHENTICATED', message: /already used/ })

  const thrice = await parts.grants.issue({ subject: 'alice', ttl: 300, uses: 3 })
  const s3 = p.open({ address: 'c', tls: false })
  const id3 = await s3.authenticate(thrice.token)
  for (let i = 0; i < 3; i++) await s3.admit(id3, op())
  await t.rejects(s3.admit(id3, op()), { code: 'VG_ERR_UNAUTHENTICATED', message: /already used 3 times/ })
})

t.test('out-of-scope collection, action and id are refused even when the policy allows', async t => {
  const { verifier } = setup()
  const s = parts.pipeline(backend, { extra: { verifier } }).open({ address: 'x', tls: false })
  const id = await s.authenticate((await parts.grants.issue({ subject: 'alice', ttl: 300, backend: 'q', collections: ['docs'], actions: ['read'], ids: [1, 'a'] })).token)
  await s.admit(id, op({ action: 'read', ids: [1, 'a'] }))
  await t.rejects(s.admit(id, op({ action: 'read', collection: 'hr', ids: [1] })), { code: 'VG_ERR_DENIED', message: /collection hr/ })
  await t.rejects(s.admit(id, op({ action: 'delete', ids: [1] })), { code: 'VG_ERR_DENIED', message: /action delete/ })
  await t.rejects(s.admit(id, op({ action: 'read', ids: [2] })), { code: 'VG_ERR_DENIED', message: /id 2/ })
})

t.test('a long-lived connection whose token expires mid-session is cut off at its next request', async t => {
  const { verifier } = setup()
  const s = parts.pipeline(backend, { extra: { verifier } }).open({ address: 'x', tls: false })
  const g = await parts.grants.issue({ subject: 'alice', ttl: 60 })
  const id = await s.authenticate(g.token)
  await s.admit(id, op())
  const real = Date.now
  Date.now = () => real() + 61_000
  t.teardown(() => { Date.now = real })
  await t.rejects(s.admit(id, op()), { code: 'VG_ERR_UNAUTHENTICATED', message: /expired during the session/ })
  Date.now = real
})

t.test('revocations and use counts are shared through the file: the CLI revokes, the gateway sees it', async t => {
  const path = join(parts.dir, 'revocations.db')
  const gateway = new RevocationStore({ path, pruneEvery: 0, recheckAfter: 0 })
  const cli = new RevocationStore({ path, pruneEvery: 0 })
  t.teardown(() => { gateway.close(); cli.close() })
  t.notOk(gateway.isRevoked('j'))
  cli.revoke('j')
  t.ok(gateway.isRevoked('j'))
  const exp = Math.floor(Date.now() / 1000) + 60
  t.ok(gateway.consume('u', 2, exp))
  t.ok(cli.consume('u', 2, exp))
  t.notOk(gateway.consume('u', 2, exp), 'the third use across two stores is refused')
  t.equal(cli.usesOf('u'), 3)
  // rows outlive nothing: pruned once the token has expired
  cli.revoke('old', Math.floor(Date.now() / 1000) - 3600)
  t.ok(gateway.isRevoked('old'))
  gateway.prune()
  t.notOk(gateway.isRevoked('old'))
  t.ok(gateway.isRevoked('j'), 'unexpired revocations stay')
  t.equal(gateway.usesOf('u'), 3)
})

t.test('another process\'s revocation is seen once the last look at the file is recheckAfter old; this store\'s own at once', async t => {
  const path = join(parts.dir, 'revocations-recheck.db')
  const gateway = new RevocationStore({ path, pruneEvery: 0, recheckAfter: 50 })
  const cli = new RevocationStore({ path, pruneEvery: 0 })
  t.teardown(() => { gateway.close(); cli.close() })
  t.notOk(gateway.isRevoked('k'))
  gateway.revoke('own')
  t.ok(gateway.isRevoked('own'), 'a revocation through the same store needs no look at the file')
  cli.revoke('k')
  await new Promise(resolve => setTimeout(resolve, 60))
  t.ok(gateway.isRevoked('k'), 'seen after the recheck interval')
})

t.test('token revoke takes a jti or a whole token', async t => {
  const g = await parts.grants.issue({ subject: 'alice', ttl: 60 })
  t.same(revocationTarget(g.token), { jti: g.jti, expiresAt: g.expiresAt })
  t.same(revocationTarget(g.jti), { jti: g.jti })
  t.throws(() => revocationTarget('a b'))
})
