import t from 'tap'
import type { Operation } from '../../decoders/types.js'
import { testParts } from '../helpers/parts.js'

const parts = await testParts()
t.teardown(() => parts.cleanup())
const backend = { name: 'q', protocol: 'qdrant' as const, listen: { host: '127.0.0.1', port: 0 }, upstream: { host: '127.0.0.1', port: 1 }, credentials: {} }
const op = (o: Partial<Operation> = {}): Operation => ({ backend: 'q', protocol: 'qdrant', method: 'qdrant.Points/Search', action: 'search', collection: 'docs', bulk: false, summary: {}, ...o })

t.test('authenticate caches per connection; admit decides and journals', async t => {
  const p = parts.pipeline(backend, { decide: (id, o) => o.collection === 'docs' ? { effect: 'allow', rule: 'r', reason: 'ok' } : { effect: 'deny', rule: 'no', reason: `denied by rule "no"` } })
  const s = p.open({ address: '127.0.0.1:1', tls: false })
  const token = await parts.token('alice')
  const id = await s.authenticate(token)
  t.equal(id.subject, 'alice')
  t.equal(await s.authenticate(token), id, 'the same token is verified once per connection')
  const call = await s.admit(id, op())
  t.equal(call.verdict.effect, 'allow')
  await t.rejects(s.admit(id, op({ collection: 'other' })), { code: 'VG_ERR_DENIED', message: /denied by rule "no"/ })
  s.end('done')
  const kinds = parts.journal.events.filter(e => e.session === s.id).map(e => e.kind)
  t.same(kinds, ['auth', 'request', 'verdict', 'request', 'verdict', 'error'])
})

t.test('grant scope bounds a request whatever the policy says', async t => {
  const p = parts.pipeline(backend)
  const s = p.open({ address: 'x', tls: false })
  const id = await s.authenticate(await parts.token('bob', { collections: ['docs'], actions: ['read', 'search'], backend: 'q' }))
  await s.admit(id, op())
  await t.rejects(s.admit(id, op({ collection: 'secret' })), { code: 'VG_ERR_DENIED', message: /collection secret is outside the grant/ })
  await t.rejects(s.admit(id, op({ action: 'delete' })), { code: 'VG_ERR_DENIED', message: /action delete/ })
  await t.rejects(s.admit(id, op({ backend: 'other' })), { code: 'VG_ERR_DENIED', message: /backend other/ })
  const idScoped = await s.authenticate(await parts.token('carol', { ids: [1234], collections: ['docs'] }))
  await s.admit(idScoped, op({ method: 'qdrant.Points/Get', action: 'read', ids: [1234] }))
  await t.rejects(s.admit(idScoped, op({ action: 'read', ids: [1234, 5] })), { message: /id 5/ })
  await t.rejects(s.admit(idScoped, op({ action: 'search' })), { message: /not limited to the granted ids/ })
})

t.test('no token, bad token, and a token that expires mid-session', async t => {
  const s = parts.pipeline(backend).open({ address: 'x', tls: false })
  await t.rejects(s.authenticate(undefined), { code: 'VG_ERR_UNAUTHENTICATED', message: /no token/ })
  await t.rejects(s.authenticate('junk'), { code: 'VG_ERR_UNAUTHENTICATED' })
  const id = await s.authenticate(await parts.token('dave'))
  await t.rejects(s.admit({ ...id, expiresAt: Math.floor(Date.now() / 1000) - 1 }, op()), { code: 'VG_ERR_UNAUTHENTICATED', message: /expired during the session/ })
})

t.test('approve without an approvals service refuses with approval required', async t => {
  const s = parts.pipeline(backend, { decide: () => ({ effect: 'approve', rule: 'bulk', reason: 'bulk deletes need approval', approvers: { count: 1 } }) }).open({ address: 'x', tls: false })
  const id = await s.authenticate(await parts.token('erin'))
  await t.rejects(s.admit(id, op({ action: 'delete', bulk: true })), { code: 'VG_ERR_APPROVAL_REQUIRED' })
})
