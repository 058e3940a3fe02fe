/**
 * THREATS.md "Forged tokens": a token whose header names the attacker's keys — `jku` or `x5u` (a URL),
 * `jwk` (the key itself), `x5c` (a certificate chain) — is refused, for vecgate's own grants and for IdP
 * tokens alike, and the URL it names is never fetched. Only the configured keys count: the signing key
 * for grants, the issuer's discovered JWKS for IdP tokens.
 */
import { generateKeyPairSync } from 'node:crypto'
import { exportJWK, SignJWT } from 'jose'
import t from 'tap'
import { OidcVerifier } from '../../../lib/identity/oidc.js'
import { testParts } from '../../helpers/parts.js'
import { startKeyServer } from '../../peers/oidc.js'

const parts = await testParts()
t.teardown(() => parts.cleanup())
const idp = await startKeyServer()
t.teardown(() => idp.close())
const attacker = await startKeyServer()
t.teardown(() => attacker.close())

const now = (): number => Math.floor(Date.now() / 1000)
const attackerEd = generateKeyPairSync('ed25519')
const attackerEdJwk = await exportJWK(attackerEd.publicKey)

t.test('grants: jku, x5u, jwk and x5c headers are refused, signed by our key or the attacker\'s', async t => {
  const claims = { iss: 'vecgate', aud: 'vecgate', sub: 'mallory', jti: 'j1', groups: ['admins'], vg: {}, exp: now() + 60 }
  const sign = async (key: import('node:crypto').KeyObject, header: Record<string, unknown>): Promise<string> =>
    await new SignJWT(claims).setProtectedHeader({ alg: 'EdDSA', kid: parts.key.kid, ...header }).sign(key)
  const headers: Array<[string, Record<string, unknown>]> = [
    ['jku', { jku: `${attacker.issuer}/jwks` }],
    ['x5u', { x5u: `${attacker.issuer}/cert.pem` }],
    ['jwk', { jwk: attackerEdJwk }]
  ]
  for (const [name, header] of headers) {
    await t.rejects(parts.grants.verify(await sign(attackerEd.privateKey, header)), { code: 'VG_ERR_UNAUTHENTICATED', message: /names its own keys/ }, `${name}, signed by the attacker`)
    await t.rejects(parts.grants.verify(await sign(parts.key.privateKey, header)), { code: 'VG_ERR_UNAUTHENTICATED', message: /names its own keys/ }, `${name}, even signed by our key`)
  }
  await t.rejects(parts.grants.verify(await sign(attackerEd.privateKey, { x5c: ['MIIBfake'] })), { code: 'VG_ERR_UNAUTHENTICATED' }, 'x5c with the attacker\'s signature')
  t.equal(attacker.jwksFetches, 0, 'the attacker\'s URL was never fetched')
  t.ok(await parts.grants.verify(await sign(parts.key.privateKey, {})), 'the same grant without those headers verifies')
})

t.test('IdP tokens: jku, x5u, jwk and x5c headers are refused; the attacker\'s URL is never fetched', async t => {
  const v = new OidcVerifier({ issuer: idp.issuer, audience: 'vecgate', groups_claim: 'groups', algorithms: ['RS256', 'EdDSA'] })
  const claims = { iss: idp.issuer, aud: 'vecgate', sub: 'mallory', groups: ['admins'] }
  const victimKid = idp.signers[0].kid
  // the attacker signs with its own key under the victim issuer's name and kid, and says where its key is
  const forged = async (header: Record<string, unknown>): Promise<string> => await attacker.sign(claims, { header: { kid: victimKid, ...header } })
  const cases: Array<[string, string]> = [
    ['jku naming the attacker\'s JWKS', await forged({ jku: `${attacker.issuer}/jwks` })],
    ['x5u naming the attacker\'s certificate', await forged({ x5u: `${attacker.issuer}/cert.pem` })],
    ['jwk carrying the attacker\'s key', await forged({ jwk: attacker.signers[0].publicJwk })],
    ['jku on a token the IdP really signed', await idp.sign(claims, { header: { jku: `${attacker.issuer}/jwks` } })],
    ['x5u on a token the IdP really signed', await idp.sign(claims, { header: { x5u: `${attacker.issuer}/cert.pem` } })]
  ]
  for (const [name, token] of cases) {
    await t.rejects(v.verify(token), { code: 'VG_ERR_UNAUTHENTICATED', message: /names its own keys/ }, name)
  }
  await t.rejects(v.verify(await forged({ x5c: ['MIIBfake'] })), { code: 'VG_ERR_UNAUTHENTICATED' }, 'x5c with the attacker\'s signature')
  await t.rejects(v.verify(await attacker.sign(claims, { kid: attacker.signers[0].kid })), { code: 'VG_ERR_UNAUTHENTICATED' }, 'the attacker\'s own kid')
  t.equal(attacker.jwksFetches, 0, 'the attacker\'s key server was never asked')
  t.ok(await v.verify(await idp.sign(claims)), 'a token the IdP signed, without those headers, verifies')
})
