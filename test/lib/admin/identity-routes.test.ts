/**
 * The identity routes of the admin API on a whole gateway: POST /v1/grants (form and JSON, RFC 8693
 * answers and errors), a request the policy sends for approval (202, polled, approved or denied by a
 * second person, one approval giving one grant), POST /v1/tokens/revoke (own tokens, others' only with
 * the admin action), POST /v1/saml/acs when SAML is not configured, and the journal's admin sessions.
 */
import t from 'tap'
import { decodeJwt } from 'jose'
import { request } from 'undici'
import { startTestGateway } from '../../helpers/gateway.js'
import { startKeyServer } from '../../peers/oidc.js'
import { JournalReader } from '../../../lib/journal/reader.js'
import { GRANT_REQUEST_METHOD, grantPolicy } from '../../../lib/admin/identity-routes.js'
import type { Identity } from '../../../decoders/types.js'

const idp = await startKeyServer()
t.teardown(() => idp.close())

const gw = await startTestGateway({
  identity: { token_ttl: '5m', max_ttl: '15m', oidc: [{ issuer: idp.issuer, audience: 'vecgate' }] },
  backends: [
    { name: 'pg', protocol: 'postgres', upstream: '127.0.0.1:9', credentials: { user: 'u', password: 'p', database: 'd' } },
    { name: 'qdrant', protocol: 'qdrant', upstream: '127.0.0.1:9', credentials: { api_key: 'k' } }
  ],
  policy: {
    rules: [
      { id: 'no-secret', subjects: { groups: ['analysts'] }, collections: ['secret'], effect: 'deny' },
      { id: 'analysts-read', subjects: { groups: ['analysts'] }, collections: ['docs', 'public.items'], actions: ['read', 'search'], effect: 'allow' },
      { id: 'deletes-need-approval', subjects: { groups: ['analysts'] }, collections: ['docs'], actions: ['delete'], effect: 'approve', approvers: { groups: ['security'], count: 1 } },
      { id: 'security-admin', subjects: { groups: ['security'] }, actions: ['admin'], effect: 'allow' },
      { id: 'docs-admin', subjects: { groups: ['docs-admins'] }, collections: ['docs'], actions: ['admin'], effect: 'allow' }
    ]
  }
})
t.teardown(() => gw.stop())

const idpToken = async (sub: string, groups: string[], extra: Record<string, unknown> = {}): Promise<string> =>
  await idp.sign({ sub, aud: 'vecgate', groups, email: `${sub}@example.com`, ...extra })

async function call (method: 'GET' | 'POST', path: string, opts: { token?: string, json?: unknown, form?: Record<string, string> } = {}): Promise<{ status: number, json: any }> {
  const headers: Record<string, string> = {}
  let body: string | undefined
  if (opts.token !== undefined) headers.authorization = `Bearer ${opts.token}`
  if (opts.form !== undefined) { headers['content-type'] = 'application/x-www-form-urlencoded'; body = new URLSearchParams(opts.form).toString() }
  if (opts.json !== undefined) { headers['content-type'] = 'application/json'; body = JSON.stringify(opts.json) }
  const res = await request(new URL(path, gw.adminUrl), { method, headers, body })
  return { status: res.statusCode, json: await res.body.json() }
}

t.test('an IdP token is exchanged for a scoped grant (RFC 8693 form)', async t => {
  const alice = await idpToken('alice', ['analysts'])
  const r = await call('POST', '/v1/grants', {
    form: {
      grant_type: 'urn:ietf:params:oauth:grant-type:token-exchange',
      subject_token: alice,
      subject_token_type: 'urn:ietf:params:oauth:token-type:jwt',
      scope: 'backend:qdrant collection:docs action:read action:search',
      ttl: '2m',
      reason: 'triage INC-1'
    }
  })
  t.equal(r.status, 200, JSON.stringify(r.json))
  t.match(r.json, { token_type: 'Bearer', issued_token_type: 'urn:ietf:params:oauth:token-type:jwt', subject: 'alice', scope: 'backend:qdrant collection:docs action:read action:search' })
  t.ok(r.json.expires_in > 100 && r.json.expires_in <= 120, 'ttl as asked')
  const id = await gw.gw.parts.verifier.verify(r.json.access_token)
  t.match(id, { subject: 'alice', groups: ['analysts'], source: 'grant', scope: { backend: 'qdrant', collections: ['docs'], actions: ['read', 'search'] } })
  t.match(id.claims, { idp: idp.issuer, email: 'alice@example.com', reason: 'triage INC-1' })
})

t.test('JSON body with the token as Bearer; ttl capped by max_ttl; unscoped asks the policy nothing', async t => {
  const alice = await idpToken('alice', ['analysts'])
  const r = await call('POST', '/v1/grants', { token: alice, json: { backend: 'pg', collections: ['public.items'], actions: ['read'], ttl: '2h' } })
  t.equal(r.status, 200, JSON.stringify(r.json))
  t.ok(r.json.expires_in <= 15 * 60, 'capped at 15 minutes')
  const unscoped = await call('POST', '/v1/grants', { token: await idpToken('mallory', []), json: {} })
  t.equal(unscoped.status, 200, 'an unscoped grant adds nothing: each request is still decided')
  t.same(unscoped.json.grant, {})
})

t.test('refusals are RFC 6749 §5.2 errors with vecgate codes', async t => {
  const alice = await idpToken('alice', ['analysts'])
  const secret = await call('POST', '/v1/grants', { token: alice, json: { backend: 'qdrant', collections: ['secret'], actions: ['read'] } })
  t.equal(secret.status, 403)
  t.match(secret.json, { error: 'access_denied', code: 'VG_ERR_DENIED', rule: 'no-secret' })
  const write = await call('POST', '/v1/grants', { token: alice, json: { backend: 'qdrant', collections: ['docs'], actions: ['read', 'write'] } })
  t.equal(write.status, 403, 'every action asked for must be possible')
  t.match(write.json, { error: 'access_denied', code: 'VG_ERR_DENIED' })
  const stranger = await call('POST', '/v1/grants', { token: await idpToken('mallory', []), json: { backend: 'qdrant', collections: ['docs'], actions: ['read'] } })
  t.equal(stranger.status, 403)
  const noBackend = await call('POST', '/v1/grants', { token: alice, json: { backend: 'nope', actions: ['read'] } })
  t.equal(noBackend.status, 400)
  t.match(noBackend.json, { error: 'invalid_request', code: 'VG_ERR_USAGE' })
  const badAction = await call('POST', '/v1/grants', { token: alice, json: { backend: 'qdrant', actions: ['drop'] } })
  t.equal(badAction.status, 400)
  const noToken = await call('POST', '/v1/grants', { json: { backend: 'qdrant' } })
  t.equal(noToken.status, 400)
  t.match(noToken.json, { error: 'invalid_request' })
  const forged = await call('POST', '/v1/grants', { token: alice.slice(0, -4) + 'AAAA', json: {} })
  t.equal(forged.status, 401)
  t.match(forged.json, { error: 'invalid_grant', code: 'VG_ERR_UNAUTHENTICATED' })
  const expired = await call('POST', '/v1/grants', { token: await idpToken('alice', ['analysts'], { exp: Math.floor(Date.now() / 1000) - 120 }), json: {} })
  t.equal(expired.status, 401)
  t.match(expired.json.error_description, /expired/)
  const wrongType = await call('POST', '/v1/grants', { form: { grant_type: 'password', subject_token: alice } })
  t.match(wrongType, { status: 400, json: { error: 'unsupported_grant_type' } })
})

t.test('a request the policy sends for approval: 202, polled, approved by security, one grant', async t => {
  const alice = await idpToken('alice', ['analysts'])
  const bob = await idpToken('bob', ['security'])
  const asked = { backend: 'qdrant', collections: ['docs'], actions: ['delete'], ids: [7], ttl: '5m', reason: 'GDPR erasure #88' }
  const first = await call('POST', '/v1/grants', { token: alice, json: asked })
  t.equal(first.status, 202, JSON.stringify(first.json))
  const id: string = first.json.approval_id
  t.match(first.json, { status: 'pending', error: 'authorization_pending', approval_id: /^apr_/, poll: `/v1/grants/requests/${id}`, interval: 2 })
  const again = await call('POST', '/v1/grants', { token: alice, json: asked })
  t.equal(again.json.approval_id, id, 'the same request asked again finds the same approval')

  t.match(await call('GET', `/v1/grants/requests/${id}`, { token: alice }), { status: 202, json: { status: 'pending' } })
  t.match(await call('GET', `/v1/grants/requests/${id}`, { token: await idpToken('mallory', ['analysts']) }), { status: 404 }, 'only the requester sees it')
  t.match(await call('GET', `/v1/grants/requests/${id}`), { status: 401 })

  const shown = await call('GET', `/v1/approvals/${id}`, { token: bob })
  t.equal(shown.status, 200)
  t.match(shown.json, { status: 'pending', rule: 'deletes-need-approval', reason: 'GDPR erasure #88', requester: { subject: 'alice' }, op: { method: GRANT_REQUEST_METHOD, action: 'delete', summary: { grant: { backend: 'qdrant', collections: ['docs'], actions: ['delete'], ids: [7], ttl: 300 } } } })
  t.equal((await call('POST', `/v1/approvals/${id}/approve`, { token: alice })).status, 403, 'not by the requester')
  t.equal((await call('POST', `/v1/approvals/${id}/approve`, { token: bob, json: { reason: 'ticket OPS-9' } })).status, 200)

  const granted = await call('GET', `/v1/grants/requests/${id}`, { token: alice })
  t.equal(granted.status, 200, JSON.stringify(granted.json))
  const claims = decodeJwt(granted.json.access_token)
  t.match(claims, { sub: 'alice', approval: id, reason: 'GDPR erasure #88', vg: { backend: 'qdrant', collections: ['docs'], actions: ['delete'], ids: [7] } })
  t.ok((claims.exp as number) - (claims.iat as number) <= 300)
  const used = await call('GET', `/v1/grants/requests/${id}`, { token: alice })
  t.match(used, { status: 409, json: { approval_id: id } }, 'one approval gives one grant')
})

t.test('a denied request is answered 403 with who denied it and why', async t => {
  const alice = await idpToken('alice', ['analysts'])
  const bob = await idpToken('bob', ['security'])
  const first = await call('POST', '/v1/grants', { token: alice, json: { backend: 'pg', collections: ['docs'], actions: ['delete'], reason: 'cleanup' } })
  t.equal(first.status, 202)
  const id: string = first.json.approval_id
  t.equal((await call('POST', `/v1/approvals/${id}/deny`, { token: bob, json: { reason: 'use the retention job' } })).status, 200)
  const r = await call('GET', `/v1/grants/requests/${id}`, { token: alice })
  t.equal(r.status, 403)
  t.match(r.json, { error: 'access_denied', code: 'VG_ERR_DENIED', approval_id: id, error_description: /denied by bob: use the retention job/ })
  const retry = await call('POST', '/v1/grants', { token: alice, json: { backend: 'pg', collections: ['docs'], actions: ['delete'], reason: 'cleanup' } })
  t.match(retry, { status: 403, json: { code: 'VG_ERR_DENIED' } }, 'the denial stands for the same request')
})

t.test('revocation: your own grants, others\' only with the admin action', async t => {
  const aliceGrant = await gw.token('alice', { groups: ['analysts'], backend: 'qdrant', actions: ['read'] })
  const aliceJti = decodeJwt(aliceGrant).jti as string
  const other = await gw.token('alice', { groups: ['analysts'], backend: 'qdrant' })
  const carolGrant = await gw.token('carol', { groups: ['analysts'] })

  t.match(await call('POST', '/v1/tokens/revoke', { json: { token: aliceJti } }), { status: 401 }, 'signed in only')
  const noArg = await call('POST', '/v1/tokens/revoke', { token: aliceGrant, json: {} })
  t.match(noArg, { status: 400, json: { error: 'VG_ERR_USAGE' } })
  const notAJti = await call('POST', '/v1/tokens/revoke', { token: aliceGrant, json: { token: 'bad jti!' } })
  t.equal(notAJti.status, 400)
  const carol = await call('POST', '/v1/tokens/revoke', { token: aliceGrant, json: { token: carolGrant } })
  t.equal(carol.status, 403, 'alice cannot revoke carol\'s grant')
  t.match(carol.json.message, /only their own/)

  const own = await call('POST', '/v1/tokens/revoke', { token: other, json: { token: aliceGrant } })
  t.equal(own.status, 200, JSON.stringify(own.json))
  t.match(own.json, { revoked: aliceJti, subject: 'alice' })
  await t.rejects(gw.gw.parts.verifier.verify(aliceGrant), { code: 'VG_ERR_UNAUTHENTICATED', message: /revoked/ })
  t.equal((await call('POST', '/v1/tokens/revoke', { token: aliceGrant, json: { token: other } })).status, 401, 'a revoked grant no longer signs anything in')

  const bob = await idpToken('bob', ['security'])
  const byAdmin = await call('POST', '/v1/tokens/revoke', { token: bob, json: { token: decodeJwt(carolGrant).jti as string } })
  t.equal(byAdmin.status, 200, 'security has the admin action on every backend')
  await t.rejects(gw.gw.parts.verifier.verify(carolGrant), { code: 'VG_ERR_UNAUTHENTICATED' })
  const scopedBob = await gw.token('bob', { groups: ['security'], actions: ['read'] })
  const narrow = await call('POST', '/v1/tokens/revoke', { token: scopedBob, json: { token: other } })
  t.equal(narrow.status, 403, 'a read-only grant does not carry the admin action')
  const dave = await idpToken('dave', ['docs-admins'])
  const docsGrant = await gw.token('carol', { groups: ['analysts'], collections: ['docs'] })
  t.equal((await call('POST', '/v1/tokens/revoke', { token: dave, json: { token: docsGrant } })).status, 200, 'admin of docs revokes a grant for docs')
  t.equal((await call('POST', '/v1/tokens/revoke', { token: dave, json: { token: other } })).status, 403, 'but not an unscoped one')
})

t.test('SAML is refused clearly when not configured', async t => {
  const r = await call('POST', '/v1/saml/acs', { form: { SAMLResponse: 'PHg+' } })
  t.equal(r.status, 404)
  t.match(r.json.message, /SAML is not configured/)
})

t.test('every exchange and revocation is an admin session in the journal', async t => {
  await gw.gw.parts.journal.flush()
  const r = new JournalReader(gw.config.journal.path)
  t.teardown(() => r.close())
  const sessions = r.sessions({ user: 'alice', limit: 1000 }).filter(s => s.protocol === 'admin')
  t.ok(sessions.length >= 8, `alice's admin sessions: ${sessions.length}`)
  const all = sessions.flatMap(s => r.events(s.id).map(e => ({ ...e, backend: s.backend, reason: s.end_reason })))
  const granted = all.find(e => e.kind === 'response' && e.body.data?.grant?.scope?.ids !== undefined)
  t.ok(granted, 'the approved grant is recorded')
  t.equal(granted?.backend, 'qdrant', 'filed under the backend the grant is for')
  t.match(granted?.body.data.grant, { subject: 'alice', jti: /\w/ })
  t.ok(all.some(e => e.kind === 'verdict' && e.body.verdict?.rule === 'no-secret'), 'the verdict is recorded')
  t.ok(all.some(e => e.kind === 'error' && e.body.data?.code === 'VG_ERR_DENIED'), 'refusals are recorded')
  t.ok(all.some(e => e.kind === 'error' && e.body.data?.code === 'VG_ERR_APPROVAL_REQUIRED' && /^apr_/.test(e.body.data.approvalId)), 'pending requests are recorded with their approval')
  t.ok(all.some(e => e.kind === 'response' && typeof e.body.data?.revoked === 'string'), 'revocations are recorded')
  const unauth = r.sessions({ limit: 1000 }).filter(s => s.protocol === 'admin' && s.subject === null)
  t.ok(unauth.some(s => r.events(s.id).some(e => e.kind === 'error' && e.body.data?.code === 'VG_ERR_UNAUTHENTICATED')), 'a refused token is recorded too')
})

t.test('grantPolicy: explicit asks must all pass, open dimensions need one way through', async t => {
  const decide = grantPolicy(gw.gw)
  const alice: Identity = { subject: 'alice', groups: ['analysts'], source: 'oidc', issuer: idp.issuer, expiresAt: Infinity, claims: {} }
  t.equal(decide(alice, { backend: 'qdrant', collections: ['docs'], actions: ['read'] }).effect, 'allow')
  t.equal(decide(alice, { backend: 'qdrant', collections: ['docs'] }).effect, 'allow', 'some action is allowed')
  t.equal(decide(alice, { collections: ['docs'], actions: ['search'] }).effect, 'allow', 'on some backend')
  t.equal(decide(alice, { backend: 'qdrant', collections: ['docs'], actions: ['read', 'delete'] }).effect, 'approve', 'the strictest of what was asked')
  t.match(decide(alice, { backend: 'qdrant', collections: ['docs', 'secret'], actions: ['read'] }), { effect: 'deny', rule: 'no-secret' })
  t.equal(decide(alice, { backend: 'qdrant', collections: ['other'] }).effect, 'deny', 'nothing allowed on it')
})
