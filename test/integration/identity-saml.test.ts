/**
 * SAML 2.0 through the gateway's POST /v1/saml/acs (POST binding), with a test IdP that signs
 * assertions the way IdPs do (enveloped XML-DSig, RSA-SHA256): a signed assertion buys a grant (scoped
 * by RelayState when given, the policy deciding), once; unsigned, wrongly signed, tampered, expired,
 * wrong-audience and wrong-recipient ones are refused with 401 and journaled.
 */
import t from 'tap'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { decodeJwt } from 'jose'
import { startSamlIdp } from '../peers/saml.js'
import { startTestGateway } from '../helpers/gateway.js'
import { JournalReader } from '../../lib/journal/reader.js'

const ACS = 'https://vecgate.example.com/v1/saml/acs'
const idp = startSamlIdp({ audience: 'vecgate-sp', acsUrl: ACS })
const dir = mkdtempSync(join(tmpdir(), 'vecgate-saml-'))
t.teardown(() => rmSync(dir, { recursive: true, force: true }))
const certPath = join(dir, 'idp.pem')
writeFileSync(certPath, idp.cert)

const gw = await startTestGateway({
  identity: { saml: { idp_cert: certPath, audience: 'vecgate-sp', acs_url: ACS } },
  backends: [{ name: 'pg', protocol: 'postgres', upstream: '127.0.0.1:9', credentials: { user: 'u', password: 'p', database: 'd' } }],
  policy: { rules: [{ id: 'analysts-read', subjects: { groups: ['analysts'] }, collections: ['items'], actions: ['read', 'search'], effect: 'allow' }] }
})
t.teardown(() => gw.stop())
const acs = `${gw.adminUrl}/v1/saml/acs`

t.test('a signed assertion is exchanged for a grant, once', async t => {
  const response = idp.response({ subject: 'alice@example.com', groups: ['analysts'] })
  const r = await idp.post(acs, response)
  t.equal(r.status, 200, JSON.stringify(r.json))
  t.match(r.json, { token_type: 'Bearer', subject: 'alice@example.com', jti: /\w/ })
  const id = await gw.gw.parts.verifier.verify(r.json.access_token)
  t.match(id, { subject: 'alice@example.com', groups: ['analysts'], source: 'grant' })
  t.equal(id.claims.idp, idp.entityId, 'the grant names the IdP it came from')
  t.ok(id.expiresAt - Math.floor(Date.now() / 1000) <= gw.config.identity.token_ttl)

  const replay = await idp.post(acs, response)
  t.equal(replay.status, 401, 'one assertion buys one grant')
  t.match(replay.json, { error: 'VG_ERR_UNAUTHENTICATED', message: /already used/ })
})

t.test('RelayState narrows the grant; the policy still decides', async t => {
  const r = await idp.post(acs, idp.response({ groups: ['analysts'] }), 'backend:pg collection:items action:read')
  t.equal(r.status, 200, JSON.stringify(r.json))
  t.match(decodeJwt(r.json.access_token), { vg: { backend: 'pg', collections: ['items'], actions: ['read'] } })
  const denied = await idp.post(acs, idp.response({ groups: ['analysts'] }), 'backend:pg collection:items action:delete')
  t.equal(denied.status, 403)
  t.match(denied.json, { error: 'VG_ERR_DENIED' })
  const outsider = await idp.post(acs, idp.response({ subject: 'mallory@example.com', groups: [] }), 'backend:pg collection:items action:read')
  t.equal(outsider.status, 403, 'no rule for her groups')
})

const refused: Array<{ name: string, response: () => string, reason: RegExp }> = [
  { name: 'unsigned', response: () => idp.response({ signedBy: 'none' }), reason: /signature is invalid or missing/ },
  { name: 'signed by a key nobody trusts', response: () => idp.response({ signedBy: 'other' }), reason: /signature is invalid or missing/ },
  {
    name: 'tampered after signing (another subject)',
    response: () => idp.response({ tamper: xml => xml.replace('alice@example.com</saml:NameID>', 'root@example.com</saml:NameID>') }),
    reason: /signature is invalid or missing|invalid/
  },
  { name: 'expired', response: () => idp.response({ notBefore: -600, notOnOrAfter: -120 }), reason: /expired/ },
  { name: 'not yet valid', response: () => idp.response({ notBefore: 600, notOnOrAfter: 900 }), reason: /not yet valid|invalid/ },
  { name: 'for another audience', response: () => idp.response({ audience: 'some-other-sp' }), reason: /audience does not match/ },
  { name: 'for another recipient', response: () => idp.response({ recipient: 'https://evil.example.com/acs' }), reason: /recipient does not match/ },
  { name: 'for another destination', response: () => idp.response({ destination: 'https://evil.example.com/acs' }), reason: /destination does not match/ }
]

for (const c of refused) {
  t.test(`${c.name}: refused with 401`, async t => {
    const r = await idp.post(acs, c.response())
    t.equal(r.status, 401, JSON.stringify(r.json))
    t.match(r.json, { error: 'VG_ERR_UNAUTHENTICATED', message: c.reason })
    t.notOk(JSON.stringify(r.json).includes('<saml'), 'the answer does not echo the XML')
  })
}

t.test('a form without SAMLResponse is a usage error', async t => {
  const r = await idp.post(acs, '')
  t.equal(r.status, 400)
  t.match(r.json, { error: 'VG_ERR_USAGE', message: /SAMLResponse is required/ })
})

t.test('grants issued and assertions refused are in the journal', async t => {
  await gw.gw.parts.journal.flush()
  const r = new JournalReader(gw.config.journal.path)
  t.teardown(() => r.close())
  const sessions = r.sessions({ limit: 1000 }).filter(s => s.protocol === 'admin')
  const events = sessions.flatMap(s => r.events(s.id))
  t.ok(events.some(e => e.kind === 'auth' && e.body.identity?.source === 'saml' && e.body.identity?.subject === 'alice@example.com'), 'the SAML identity')
  t.ok(events.some(e => e.kind === 'response' && e.body.data?.grant?.subject === 'alice@example.com'), 'the grant')
  const refusals = events.filter(e => e.kind === 'error' && e.body.data?.code === 'VG_ERR_UNAUTHENTICATED')
  t.ok(refusals.length >= refused.length + 1, `refused assertions: ${refusals.length}`)
  t.notOk(events.some(e => JSON.stringify(e.body).includes('<saml')), 'no XML in the journal')
})
