import { statSync } from 'node:fs'
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import { join } from 'node:path'
import t from 'tap'
import { request } from 'undici'
import { GrantExchange } from '../../../lib/identity/exchange.js'
import { credentialsPath, loginWithDeviceCode, loginWithPkce, readStoredGrant } from '../../../lib/identity/login.js'
import { OidcVerifier } from '../../../lib/identity/oidc.js'
import { RevocationStore } from '../../../lib/identity/revocations.js'
import { createVerifier } from '../../../lib/identity/verifier.js'
import { testParts } from '../../helpers/parts.js'
import { startOidcProvider } from '../../peers/oidc.js'

const parts = await testParts()
t.teardown(() => parts.cleanup())
const op = await startOidcProvider({ accounts: { alice: { groups: ['analysts'], email: 'alice@example.com' }, mallory: { groups: [] } } })
t.teardown(() => op.close())

const store = new RevocationStore({ path: ':memory:', pruneEvery: 0 })
t.teardown(() => store.close())
const verifier = createVerifier({
  grants: parts.grants,
  oidc: [new OidcVerifier({ issuer: op.issuer, audience: op.clientId, groups_claim: 'groups', algorithms: ['RS256'] })],
  revocations: store
})
const exchange = new GrantExchange({
  grants: parts.grants,
  verifier,
  tokenTtl: 300,
  backends: ['qdrant', 'pg'],
  key: parts.key,
  // the policy stands in: analysts may read and search docs
  decide: (id, req) => id.groups.includes('analysts') && (req.actions ?? []).every(a => a === 'read' || a === 'search')
    ? { effect: 'allow', rule: 'analysts-read', reason: 'allowed by rule "analysts-read"' }
    : { effect: 'deny', reason: 'no rule allows this' }
})

// the gateway's admin routes this module provides: POST /v1/grants and GET /.well-known/jwks.json
const admin = http.createServer((req, res) => {
  const chunks: Buffer[] = []
  req.on('data', (c: Buffer) => chunks.push(c))
  req.on('end', () => {
    void (async () => {
      const out = req.url === '/v1/grants' && req.method === 'POST'
        ? await exchange.handleGrantRequest(Buffer.concat(chunks).toString(), req.headers)
        : req.url === '/.well-known/jwks.json' ? { status: 200, json: exchange.jwks() } : { status: 404, json: {} }
      res.writeHead(out.status, { 'content-type': 'application/json' }).end(JSON.stringify(out.json))
    })()
  })
})
await new Promise<void>(resolve => admin.listen(0, '127.0.0.1', resolve))
t.teardown(() => new Promise<void>(resolve => { admin.closeAllConnections(); admin.close(() => resolve()) }))
const gatewayUrl = `http://127.0.0.1:${(admin.address() as AddressInfo).port}`

t.test('device flow end to end: prompt, sign-in in the browser, slow_down honoured, grant stored', async t => {
  const home = join(parts.dir, 'home-device')
  op.loginAs = 'alice'
  op.slowDownNext = 1
  const polls = op.devicePolls
  let confirmed: Promise<unknown> = Promise.resolve()
  const prompts: unknown[] = []
  // the person is slow: they confirm only after the first poll was answered slow_down
  const afterFirstPoll = async (): Promise<void> => { while (op.devicePolls === polls) await new Promise(resolve => setTimeout(resolve, 50)) }
  const stored = await loginWithDeviceCode({
    issuer: op.issuer,
    clientId: op.clientId,
    gatewayUrl,
    home,
    request: { backend: 'qdrant', collections: ['docs'], actions: ['read', 'search'] },
    onPrompt: p => {
      prompts.push(p)
      confirmed = afterFirstPoll().then(async () => await op.browser.confirmDevice(p.verification_uri_complete as string))
    }
  })
  await confirmed
  t.equal(prompts.length, 1)
  t.match(prompts[0], { user_code: /\w/, verification_uri: `${op.issuer}/device` })
  t.equal(op.devicePolls - polls, 2, 'one slow_down, then the token')
  const [first, second] = op.pollTimes.slice(-2)
  t.ok(second - first >= 5000, 'after slow_down the client waits its interval plus 5 seconds (RFC 8628 §3.5)')
  t.match(stored, { gateway: gatewayUrl, subject: 'alice', issuer: op.issuer, scope: { backend: 'qdrant', collections: ['docs'], actions: ['read', 'search'] } })

  const again = readStoredGrant(home)
  t.same(again, stored, 'other commands find the grant')
  t.equal(statSync(credentialsPath(home)).mode & 0o777, 0o600)
  t.equal(statSync(home).mode & 0o777, 0o700)
  const id = await parts.grants.verify(stored.token)
  t.match(id, { subject: 'alice', groups: ['analysts'], source: 'grant', scope: { backend: 'qdrant', collections: ['docs'], actions: ['read', 'search'] } })
  t.equal(id.claims.idp, op.issuer)
  t.equal(id.claims.email, 'alice@example.com', 'IdP claims that policy rules may match are carried on')
})

t.test('authorization code + PKCE on a loopback redirect end to end', async t => {
  const home = join(parts.dir, 'home-pkce')
  op.loginAs = 'alice'
  let visited: Promise<{ status: number, url: string }> | undefined
  const stored = await loginWithPkce({
    issuer: op.issuer,
    clientId: op.clientId,
    gatewayUrl,
    home,
    onAuthorizationUrl: url => {
      const u = new URL(url)
      t.equal(u.searchParams.get('code_challenge_method'), 'S256')
      t.match(u.searchParams.get('redirect_uri'), /^http:\/\/127\.0\.0\.1:\d+\/callback$/)
      visited = op.browser.visit(url)
    }
  })
  const end = await visited
  t.match(end, { status: 200, url: /^http:\/\/127\.0\.0\.1:\d+\/callback\?code=/ })
  const id = await parts.grants.verify(stored.token)
  t.match(id, { subject: 'alice', groups: ['analysts'] })
  t.same(id.scope, {}, 'an unscoped sign-in: the policy decides each request')
  t.ok(id.expiresAt - Math.floor(Date.now() / 1000) <= 300)
  t.same(readStoredGrant(home)?.token, stored.token)
  t.equal(readStoredGrant(join(parts.dir, 'nowhere')), undefined)
})

t.test('the policy refuses the grant asked for: login fails with the rule, nothing is stored', async t => {
  const home = join(parts.dir, 'home-denied')
  op.loginAs = 'mallory'
  t.teardown(() => { op.loginAs = 'alice' })
  let visited: Promise<unknown> = Promise.resolve()
  await t.rejects(loginWithPkce({
    issuer: op.issuer,
    clientId: op.clientId,
    gatewayUrl,
    home,
    request: { backend: 'qdrant', actions: ['delete'] },
    onAuthorizationUrl: url => { visited = op.browser.visit(url) }
  }), { code: 'VG_ERR_DENIED', message: /no rule allows this/ })
  await visited
  t.equal(readStoredGrant(home), undefined)
})

t.test('PKCE is required by the IdP, and a redirect with the wrong state is not taken', async t => {
  // without a code_challenge the provider answers the redirect URI with invalid_request
  const u = new URL(`${op.issuer}/auth`)
  u.searchParams.set('client_id', op.clientId)
  u.searchParams.set('response_type', 'code')
  u.searchParams.set('scope', 'openid')
  u.searchParams.set('redirect_uri', 'http://127.0.0.1:1/callback')
  const r = await request(u.href)
  await r.body.dump()
  t.match(String(r.headers.location), /error=invalid_request.*requires\+PKCE/)

  const home = join(parts.dir, 'home-state')
  let visited: Promise<unknown> = Promise.resolve()
  const stray: number[] = []
  const stored = await loginWithPkce({
    issuer: op.issuer,
    clientId: op.clientId,
    gatewayUrl,
    home,
    onAuthorizationUrl: url => {
      const redirect = new URL(url).searchParams.get('redirect_uri') as string
      visited = (async () => {
        // a forged redirect (another state) is answered 400 and the listener keeps waiting
        const forged = await request(`${redirect}?code=stolen&state=forged`)
        stray.push(forged.statusCode)
        await forged.body.dump()
        await op.browser.visit(url)
      })()
    }
  })
  await visited
  t.same(stray, [400])
  t.ok(await parts.grants.verify(stored.token))
})
