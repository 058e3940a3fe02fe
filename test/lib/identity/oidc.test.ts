import { createHmac, createPublicKey } from 'node:crypto'
import t from 'tap'
import type { OidcIssuerConfig } from '../../../lib/config/types.js'
import { OidcVerifier } from '../../../lib/identity/oidc.js'
import { startKeyServer, startOidcProvider } from '../../peers/oidc.js'
import { discover } from '../../../lib/identity/oidc.js'
import { pkceFlow } from '../../../lib/identity/login.js'

const ks = await startKeyServer()
t.teardown(() => ks.close())

const config = (o: Partial<OidcIssuerConfig> = {}): OidcIssuerConfig => ({
  issuer: ks.issuer, audience: 'vecgate', groups_claim: 'groups', algorithms: ['RS256', 'ES256', 'PS256', 'EdDSA'], ...o
})
const now = (): number => Math.floor(Date.now() / 1000)
const b64 = (x: unknown): string => Buffer.from(JSON.stringify(x)).toString('base64url')
const claims = { sub: 'alice', aud: 'vecgate', groups: ['analysts'], jti: 'j1' }

t.test('a token signed by the issuer is accepted; groups come from the configured claim', async t => {
  const v = new OidcVerifier(config())
  const id = await v.verify(await ks.sign(claims))
  t.match(id, { subject: 'alice', groups: ['analysts'], source: 'oidc', issuer: ks.issuer, tokenId: 'j1' })
  const nested = new OidcVerifier(config({ groups_claim: 'realm_access.roles' }))
  const id2 = await nested.verify(await ks.sign({ ...claims, realm_access: { roles: ['ops', 7] } }))
  t.same(id2.groups, ['ops'], 'dotted paths reach nested claims; non-strings are dropped')
  const id3 = await v.verify(await ks.sign({ ...claims, groups: 'solo' }))
  t.same(id3.groups, ['solo'])
})

t.test('each forged or stale token is refused as unauthenticated, with its reason', async t => {
  const v = new OidcVerifier(config())
  const good = await ks.sign(claims)
  const [h, p] = good.split('.')
  const pub = createPublicKey(ks.signers[0].privateKey).export({ type: 'spki', format: 'pem' })
  const hs256 = (payload: unknown): string => {
    const head = b64({ alg: 'HS256', typ: 'JWT', kid: ks.signers[0].kid })
    const body = b64(payload)
    return `${head}.${body}.${createHmac('sha256', pub).update(`${head}.${body}`).digest('base64url')}`
  }
  const cases: Array<[string, string, RegExp]> = [
    ['expired', await ks.sign({ ...claims, exp: now() - 120 }), /token expired/],
    ['not yet valid', await ks.sign({ ...claims, nbf: now() + 600 }), /not yet valid/],
    ['wrong issuer', await ks.sign({ ...claims, iss: 'https://evil.example' }), /issuer/],
    ['wrong audience', await ks.sign({ ...claims, aud: 'someone-else' }), /audience/],
    ['alg none', `${b64({ alg: 'none', typ: 'JWT' })}.${b64({ ...claims, iss: ks.issuer, exp: now() + 60 })}.`, /algorithm none is not accepted/],
    ['HS256 signed with the public key', hs256({ ...claims, iss: ks.issuer, exp: now() + 60 }), /algorithm HS256 is not accepted/],
    ['tampered payload', `${h}.${b64({ ...JSON.parse(Buffer.from(p, 'base64url').toString()), groups: ['admins'] })}.${good.split('.')[2]}`, /signature is invalid/],
    ['jku header', await ks.sign(claims, { header: { jku: 'https://evil.example/jwks' } }), /names its own keys/],
    ['no exp', await ks.sign({ ...claims, exp: undefined }), /exp/],
    ['not a JWT', 'abc.def', /not a JWT/]
  ]
  for (const [name, token, reason] of cases) {
    await t.rejects(v.verify(token), { code: 'VG_ERR_UNAUTHENTICATED', message: reason }, name)
  }
  t.ok(await v.verify(good), 'the untampered token still verifies')
})

t.test('an algorithm outside the allow-list is refused even with a valid signature', async t => {
  const kid = await ks.addKey('ES256')
  t.teardown(() => { ks.signers = ks.signers.filter(s => s.kid !== kid) })
  const v = new OidcVerifier(config({ algorithms: ['RS256'] }))
  await t.rejects(v.verify(await ks.sign(claims, { kid })), { code: 'VG_ERR_UNAUTHENTICATED', message: /ES256 is not accepted/ })
  t.throws(() => new OidcVerifier(config({ algorithms: ['HS256', 'none'] })), { code: 'VG_ERR_CONFIG' })
})

t.test('unknown kid: the key set is fetched again (rotation), at most once per cooldown', async t => {
  const v = new OidcVerifier(config(), { refetchCooldown: 3600 })
  await v.verify(await ks.sign(claims))
  const fetches = ks.jwksFetches
  // a kid nobody published: refused, and within the cooldown no second fetch happens
  const stray = await ks.addKey('RS256')
  const strayToken = await ks.sign(claims, { kid: stray })
  ks.signers = ks.signers.filter(s => s.kid !== stray)
  await t.rejects(v.verify(strayToken), { code: 'VG_ERR_UNAUTHENTICATED', message: /unknown key/ })
  await t.rejects(v.verify(strayToken), { code: 'VG_ERR_UNAUTHENTICATED', message: /unknown key/ })
  t.ok(ks.jwksFetches - fetches <= 1, 'made-up kids do not turn into a fetch each')

  const rotating = new OidcVerifier(config(), { refetchCooldown: 0 })
  await rotating.verify(await ks.sign(claims))
  const kid = await ks.addKey('EdDSA')
  const before = ks.jwksFetches
  const id = await rotating.verify(await ks.sign(claims, { kid }))
  t.equal(id.subject, 'alice', 'a token signed with the newly published key verifies')
  t.equal(ks.jwksFetches, before + 1, 'one refetch for the new kid')
  await rotating.verify(await ks.sign(claims, { kid }))
  t.equal(ks.jwksFetches, before + 1, 'then the key is cached')
})

t.test('IdP unreachable: verification fails closed', async t => {
  const down = await startKeyServer()
  down.down = true
  const v = new OidcVerifier(config({ issuer: down.issuer }))
  await t.rejects(v.verify(await down.sign({ ...claims })), { code: 'VG_ERR_UNAUTHENTICATED', message: 'identity provider unreachable' })
  await down.close()
  await t.rejects(v.verify(await down.sign({ ...claims })), { code: 'VG_ERR_UNAUTHENTICATED', message: 'identity provider unreachable' }, 'also when nothing listens')

  // keys go stale (ttl 0) while the JWKS endpoint is down: refused, not trusted from the old cache
  const flaky = await startKeyServer()
  t.teardown(() => flaky.close())
  const w = new OidcVerifier(config({ issuer: flaky.issuer }), { jwksTtl: 0 })
  const tok = await flaky.sign(claims)
  await w.verify(tok)
  flaky.down = true
  await t.rejects(w.verify(tok), { code: 'VG_ERR_UNAUTHENTICATED', message: 'identity provider unreachable' })
  flaky.down = false
  await new Promise(resolve => setTimeout(resolve, 1100)) // past the one-second retry back-off
  t.ok(await w.verify(tok), 'verifies again once the IdP is back')
})

t.test('discovery must name exactly the configured issuer', async t => {
  const v = new OidcVerifier(config({ issuer: ks.issuer + '/' }))
  await t.rejects(v.verify(await ks.sign({ ...claims, iss: ks.issuer + '/' })), { message: 'identity provider unreachable' })
  await t.rejects(discover(ks.issuer + '/'), /does not match/)
  t.throws(() => new OidcVerifier(config({ issuer: 'http://idp.example.com' })), /https/, 'plain http only on loopback')
})

t.test('a real OpenID Provider: its ID token verifies, a token signed by it for another client does not', async t => {
  const op = await startOidcProvider()
  t.teardown(() => op.close())
  const v = new OidcVerifier({ issuer: op.issuer, audience: op.clientId, groups_claim: 'groups', algorithms: ['RS256'] })
  const meta = await discover(op.issuer)
  let visit: Promise<unknown> = Promise.resolve()
  const tokens = await pkceFlow(meta, op.clientId, 'openid email groups', url => { visit = op.browser.visit(url) })
  await visit
  const id = await v.verify(tokens.id_token as string)
  t.match(id, { subject: 'alice', groups: ['analysts'], source: 'oidc', issuer: op.issuer })
  const other = new OidcVerifier({ issuer: op.issuer, audience: 'vecgate', groups_claim: 'groups', algorithms: ['RS256'] })
  await t.rejects(other.verify(tokens.id_token as string), { code: 'VG_ERR_UNAUTHENTICATED', message: /audience/ })
})
