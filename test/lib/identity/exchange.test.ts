import t from 'tap'
import type { Identity } from '../../../decoders/types.js'
import { VecgateError } from '../../../lib/errors.js'
import { GrantExchange, TOKEN_EXCHANGE, requestOf, scopeString, type ScopeRequest } from '../../../lib/identity/exchange.js'
import { OidcVerifier } from '../../../lib/identity/oidc.js'
import { RevocationStore } from '../../../lib/identity/revocations.js'
import { createVerifier } from '../../../lib/identity/verifier.js'
import { testParts } from '../../helpers/parts.js'
import { startKeyServer } from '../../peers/oidc.js'

const parts = await testParts()
t.teardown(() => parts.cleanup())
const ks = await startKeyServer()
t.teardown(() => ks.close())
const store = new RevocationStore({ path: ':memory:', pruneEvery: 0 })
t.teardown(() => store.close())
const verifier = createVerifier({ grants: parts.grants, oidc: [new OidcVerifier({ issuer: ks.issuer, audience: 'vecgate', groups_claim: 'groups', algorithms: ['RS256'] })], revocations: store })
const asked: Array<{ id: Identity, req: ScopeRequest }> = []
const make = (o: Partial<ConstructorParameters<typeof GrantExchange>[0]> = {}): GrantExchange => new GrantExchange({
  grants: parts.grants,
  verifier,
  tokenTtl: 300,
  backends: ['qdrant', 'pg'],
  key: parts.key,
  decide: (id, req) => {
    asked.push({ id, req })
    if ((req.actions ?? []).includes('delete')) return { effect: 'approve', rule: 'deletes', reason: 'deletes need approval' }
    return id.groups.includes('analysts') ? { effect: 'allow', rule: 'analysts', reason: 'ok' } : { effect: 'deny', rule: 'default', reason: 'no rule allows this' }
  },
  ...o
})
const idpToken = async (groups = ['analysts']): Promise<string> => await ks.sign({ sub: 'alice', aud: 'vecgate', groups, email: 'alice@example.com' })
const form = (f: Record<string, string>): string => new URLSearchParams(f).toString()
const formHeaders = { 'content-type': 'application/x-www-form-urlencoded' }

t.test('RFC 8693 form: the IdP token is exchanged for a grant scoped to the request, ttl capped', async t => {
  const ex = make()
  const r = await ex.handleGrantRequest(form({
    grant_type: TOKEN_EXCHANGE,
    subject_token: await idpToken(),
    subject_token_type: 'urn:ietf:params:oauth:token-type:id_token',
    scope: 'backend:qdrant collection:docs action:read action:search id:7 id:abc',
    ttl: '5h',
    reason: 'ticket 42'
  }), formHeaders)
  t.equal(r.status, 200)
  t.match(r.json, { issued_token_type: 'urn:ietf:params:oauth:token-type:jwt', token_type: 'Bearer', scope: 'backend:qdrant collection:docs action:read action:search id:7 id:abc' })
  t.ok((r.json.expires_in as number) <= 3600, 'capped by max_ttl')
  const id = await parts.grants.verify(r.json.access_token as string)
  t.same(id.scope, { backend: 'qdrant', collections: ['docs'], actions: ['read', 'search'], ids: [7, 'abc'] })
  t.equal(id.claims.reason, 'ticket 42')
  t.same(asked.at(-1)?.req, { backend: 'qdrant', collections: ['docs'], actions: ['read', 'search'], ids: [7, 'abc'], reason: 'ticket 42' }, 'the policy was asked about exactly this')
})

t.test('JSON body and Authorization: Bearer work too; two different tokens are ambiguous', async t => {
  const ex = make()
  const tok = await idpToken()
  const r = await ex.handleGrantRequest({ backend: 'pg', collections: ['public.items'], actions: 'read', uses: 1 }, { authorization: `Bearer ${tok}` })
  t.equal(r.status, 200)
  t.match(await parts.grants.verify(r.json.access_token as string), { scope: { backend: 'pg', collections: ['public.items'], actions: ['read'], uses: 1 } })
  const two = await ex.handleGrantRequest({ subject_token: await idpToken(['x']) }, { authorization: `Bearer ${tok}` })
  t.match(two, { status: 400, json: { error: 'invalid_request', error_description: /two different tokens/ } })
})

t.test('refusals in OAuth terms with vecgate codes beside', async t => {
  const ex = make()
  const tok = await idpToken()
  const cases: Array<[string, unknown, number, Record<string, unknown>]> = [
    ['wrong grant_type', { grant_type: 'password', subject_token: tok }, 400, { error: 'unsupported_grant_type' }],
    ['no token', {}, 400, { error: 'invalid_request' }],
    ['odd token type', { subject_token: tok, subject_token_type: 'urn:ietf:params:oauth:token-type:saml2' }, 400, { error: 'invalid_request' }],
    ['bad token', { subject_token: 'junk' }, 401, { error: 'invalid_grant', code: 'VG_ERR_UNAUTHENTICATED' }],
    ['unknown backend', { subject_token: tok, backend: 'mongo' }, 400, { error: 'invalid_request', code: 'VG_ERR_USAGE' }],
    ['unknown action', { subject_token: tok, backend: 'pg', actions: ['drop'] }, 400, { error: 'invalid_request' }],
    ['two backends', { subject_token: tok, scope: 'backend:pg backend:qdrant' }, 400, { error: 'invalid_request' }],
    ['bad scope token', { subject_token: tok, scope: 'everything' }, 400, { error: 'invalid_request' }],
    ['policy denies', { subject_token: await idpToken(['sales']), backend: 'pg', actions: ['read'] }, 403, { error: 'access_denied', code: 'VG_ERR_DENIED', rule: 'default' }],
    ['approval needed, none configured', { subject_token: tok, backend: 'pg', actions: ['delete'] }, 403, { error: 'authorization_pending', code: 'VG_ERR_APPROVAL_REQUIRED', rule: 'deletes' }]
  ]
  for (const [name, body, status, json] of cases) {
    const r = await ex.handleGrantRequest(body, {})
    t.equal(r.status, status, name)
    t.match(r.json, json, name)
  }
})

t.test('approval: the request waits for the approver, then the grant carries the approval id', async t => {
  let held: { id: Identity, req: ScopeRequest } | undefined
  const ex = make({ approve: async (id, req) => { held = { id, req }; return { approvalId: 'apr_1' } } })
  const g = await ex.exchangeForGrant(await idpToken(), { backend: 'pg', actions: ['delete'], reason: 'cleanup' })
  t.equal(held?.req.reason, 'cleanup')
  t.equal((await parts.grants.verify(g.token)).claims.approval, 'apr_1')
  const refusing = make({ approve: async () => { throw new VecgateError('VG_ERR_DENIED', 'denied by carol', { approvalId: 'apr_2' }) } })
  const r = await refusing.handleGrantRequest({ subject_token: await idpToken(), backend: 'pg', actions: 'delete' }, {})
  t.match(r, { status: 403, json: { code: 'VG_ERR_DENIED', approval_id: 'apr_2' } })
})

t.test('a grant can only be exchanged for a narrower one that does not outlive it', async t => {
  const ex = make()
  const parent = await parts.grants.issue({ subject: 'alice', groups: ['analysts'], backend: 'pg', collections: ['a', 'b'], actions: ['read', 'search'], ttl: 120 })
  const child = await ex.exchangeForGrant(parent.token, { collections: ['a'], actions: ['read'], ttl: 3600 })
  t.same(child.scope, { backend: 'pg', collections: ['a'], actions: ['read'] }, 'backend inherited, the rest narrowed')
  t.ok(child.expiresAt <= parent.expiresAt)
  await t.rejects(ex.exchangeForGrant(parent.token, { collections: ['c'] }), { code: 'VG_ERR_DENIED', message: /collection c/ })
  await t.rejects(ex.exchangeForGrant(parent.token, { actions: ['write'] }), { code: 'VG_ERR_DENIED', message: /action write/ })
  await t.rejects(ex.exchangeForGrant(parent.token, { backend: 'qdrant' }), { code: 'VG_ERR_DENIED', message: /backend qdrant/ })
  const once = await parts.grants.issue({ subject: 'alice', ttl: 120, uses: 1 })
  await t.rejects(ex.exchangeForGrant(once.token, {}), { code: 'VG_ERR_DENIED', message: /use-limited/ })
  store.revoke(parent.jti, parent.expiresAt)
  await t.rejects(ex.exchangeForGrant(parent.token, {}), { code: 'VG_ERR_UNAUTHENTICATED', message: /revoked/ })
})

t.test('an unscoped request is not put to the policy: the grant can do nothing the IdP token could not', async t => {
  const before = asked.length
  const g = await make().exchangeForGrant(await idpToken(['nobody']), {})
  t.equal(asked.length, before)
  t.same(g.scope, {})
  t.same(make().jwks(), { keys: [parts.key.publicJwk] })
})

t.test('scope strings round-trip', async t => {
  const s = { backend: 'pg', collections: ['public.items'], actions: ['read' as const], ids: [1, 'x'], uses: 2 }
  t.same(requestOf({ scope: scopeString(s) }), s)
  t.same(requestOf({ resource: 'urn:vecgate:backend:qdrant', collection: ['a', 'b'], action: 'read,search', ids: '1,2' }),
    { backend: 'qdrant', collections: ['a', 'b'], actions: ['read', 'search'], ids: [1, 2] })
})
