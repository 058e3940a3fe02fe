import { createSecretKey } from 'node:crypto'
import { decodeProtectedHeader, jwtVerify } from 'jose'
import t from 'tap'
import type { GrantScope, Identity } from '../../../decoders/types.js'
import { QdrantJwtMinter, mintQdrantJwt, qdrantAccessFor } from '../../../lib/identity/qdrant-jwt.js'

const apiKey = 'qdrant-api-key-for-tests'
const exp = Math.floor(Date.now() / 1000) + 120
const identity = (scope?: GrantScope, tokenId = 'j1'): Identity => ({
  subject: 'alice', groups: [], source: 'grant', issuer: 'vecgate', tokenId, expiresAt: exp, claims: {}, ...(scope !== undefined ? { scope } : {})
})

t.test('access derived from the grant scope (Qdrant JWT RBAC claims)', async t => {
  t.same(qdrantAccessFor({ collections: ['docs', 'faq'], actions: ['read', 'search'] }), [{ collection: 'docs', access: 'r' }, { collection: 'faq', access: 'r' }])
  t.same(qdrantAccessFor({ collections: ['docs'], actions: ['read', 'write'] }), [{ collection: 'docs', access: 'rw' }])
  t.same(qdrantAccessFor({ collections: ['docs'] }), [{ collection: 'docs', access: 'rw' }], 'no actions named: read-write on the collections only')
  t.same(qdrantAccessFor({ collections: ['docs'], actions: ['admin'] }), [{ collection: 'docs', access: 'rw' }], 'never global manage for a collection-scoped grant')
  t.equal(qdrantAccessFor({ actions: ['search'] }), 'r', 'read-only everywhere')
  t.equal(qdrantAccessFor({ actions: ['delete'] }), 'm')
  t.equal(qdrantAccessFor(undefined), 'm', 'an unscoped identity: the gateway policy is the only limit')
})

t.test('the token Qdrant verifies: HS256 with the API key, exp = grant expiry, the access claim', async t => {
  const token = await mintQdrantJwt(apiKey, identity({ backend: 'qdrant', collections: ['docs'], actions: ['read'] }))
  t.equal(decodeProtectedHeader(token).alg, 'HS256')
  const { payload } = await jwtVerify(token, createSecretKey(Buffer.from(apiKey)), { algorithms: ['HS256'] })
  t.equal(payload.exp, exp)
  t.equal(payload.sub, 'alice')
  t.same(payload.access, [{ collection: 'docs', access: 'r' }])
  await t.rejects(jwtVerify(token, createSecretKey(Buffer.from('another key')), { algorithms: ['HS256'] }))
})

t.test('one token per grant while it lives', async t => {
  const m = new QdrantJwtMinter(apiKey)
  const a = await m.tokenFor(identity({ collections: ['docs'], actions: ['read'] }))
  t.equal(await m.tokenFor(identity({ collections: ['docs'], actions: ['read'] })), a)
  t.not(await m.tokenFor(identity({ collections: ['faq'] }, 'j2')), a)
  t.throws(() => new QdrantJwtMinter(''))
})
