import { writeFileSync } from 'node:fs'
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import { join } from 'node:path'
import t from 'tap'
import { GrantExchange } from '../../../lib/identity/exchange.js'
import { RevocationStore } from '../../../lib/identity/revocations.js'
import { SamlAcs } from '../../../lib/identity/saml.js'
import { testParts } from '../../helpers/parts.js'
import { startSamlIdp } from '../../peers/saml.js'

const parts = await testParts()
t.teardown(() => parts.cleanup())
const store = new RevocationStore({ path: ':memory:', pruneEvery: 0 })
t.teardown(() => store.close())

// the ACS route as the admin server mounts it: POST /v1/saml/acs → SamlAcs.handleAcsRequest(raw form body)
const server = http.createServer()
await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
t.teardown(() => new Promise<void>(resolve => { server.closeAllConnections(); server.close(() => resolve()) }))
const acsUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1/saml/acs`
const idp = startSamlIdp({ audience: 'vecgate', acsUrl })
const certPath = join(parts.dir, 'idp.pem')
writeFileSync(certPath, idp.cert)

const exchange = new GrantExchange({
  grants: parts.grants,
  verifier: { verify: async () => { throw new Error('not used') } },
  tokenTtl: 300,
  decide: (id) => id.groups.includes('analysts') ? { effect: 'allow', rule: 'analysts', reason: 'ok' } : { effect: 'deny', reason: 'no rule allows this' }
})
const acs = new SamlAcs({ config: { idp_cert: certPath, audience: 'vecgate', acs_url: acsUrl, groups_attribute: 'groups' }, exchange, revocations: store })
server.on('request', (req, res) => {
  const chunks: Buffer[] = []
  req.on('data', (c: Buffer) => chunks.push(c))
  req.on('end', () => {
    void acs.handleAcsRequest(Buffer.concat(chunks).toString()).then(out => {
      res.writeHead(out.status, { 'content-type': 'application/json' }).end(JSON.stringify(out.json))
    })
  })
})

t.test('a signed assertion is exchanged for a grant with groups from the attribute', async t => {
  const r = await idp.post(acsUrl, idp.response({ groups: ['analysts', 'eu'] }), 'backend:pg collection:public.items action:read')
  t.equal(r.status, 200)
  const id = await parts.grants.verify(r.json.access_token)
  t.match(id, { subject: 'alice@example.com', groups: ['analysts', 'eu'], source: 'grant', scope: { backend: 'pg', collections: ['public.items'], actions: ['read'] } })
  t.equal(id.claims.idp, idp.entityId)
  t.equal(id.claims.email, 'alice@example.com')
})

t.test('unsigned, wrongly signed, tampered, expired, not yet valid, wrong audience, wrong recipient: refused', async t => {
  const cases: Array<[string, Parameters<typeof idp.response>[0], RegExp]> = [
    ['unsigned', { signedBy: 'none' }, /signature/],
    ['signed by another key', { signedBy: 'other' }, /signature/],
    ['tampered after signing', { tamper: x => x.replace('>analysts<', '>admins<') }, /signature/],
    ['expired', { notBefore: -900, notOnOrAfter: -300 }, /expired/],
    ['not yet valid', { notBefore: 600, notOnOrAfter: 900 }, /not yet valid/],
    ['wrong audience', { audience: 'https://someone-else.example' }, /audience/],
    ['wrong recipient', { recipient: 'https://evil.example/acs' }, /recipient/],
    ['wrong destination', { destination: 'https://evil.example/acs' }, /destination/]
  ]
  for (const [name, o, reason] of cases) {
    const r = await idp.post(acsUrl, idp.response(o))
    t.equal(r.status, 401, name)
    t.match(r.json, { error: 'VG_ERR_UNAUTHENTICATED', message: reason }, name)
  }
  const bad = await idp.post(acsUrl, 'bm90IHhtbA==')
  t.equal(bad.status, 401, 'not XML at all')
  const none = await acs.handleAcsRequest('RelayState=x')
  t.equal(none.status, 400, 'no SAMLResponse')
})

t.test('one assertion buys one grant: a replayed SAMLResponse is refused', async t => {
  const response = idp.response()
  t.equal((await idp.post(acsUrl, response)).status, 200)
  const again = await idp.post(acsUrl, response)
  t.equal(again.status, 401)
  t.match(again.json.message, /already used/)
})

t.test('the policy still decides: a signed assertion for someone no rule allows gets no scoped grant', async t => {
  const r = await idp.post(acsUrl, idp.response({ subject: 'bob@example.com', groups: ['sales'] }), 'backend:pg action:read')
  t.equal(r.status, 403)
  t.match(r.json, { error: 'VG_ERR_DENIED' })
})
