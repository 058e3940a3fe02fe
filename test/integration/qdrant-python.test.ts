/**
 * Qdrant through vecgate with the official Python client (qdrant-client over grpcio, a different
 * HTTP/2 stack from the JS client): the same collection life gives the same answers through the
 * gateway as direct; an analyst's deletes are refused PERMISSION_DENIED; a bad token UNAUTHENTICATED;
 * the upstream sees only the backend's key. Every call is in the journal, and who-saw finds the points.
 */
import t from 'tap'
import { startQdrantServer } from '../peers/qdrant-server.js'
import { runPythonJSON } from '../peers/python.js'
import { startTestGateway } from '../helpers/gateway.js'
import { JournalReader } from '../../lib/journal/reader.js'

const UPSTREAM_KEY = 'upstream-python-key'
const peer = await startQdrantServer({ apiKey: UPSTREAM_KEY })
t.teardown(() => peer.close())
const gw = await startTestGateway({
  backends: [{ name: 'qdrant', protocol: 'qdrant', upstream: peer.address, credentials: { api_key: UPSTREAM_KEY } }],
  policy: {
    rules: [
      { id: 'admins', subjects: { groups: ['admins'] }, backends: ['qdrant'], effect: 'allow' },
      { id: 'analysts-read', subjects: { groups: ['analysts'] }, actions: ['read', 'search'], effect: 'allow' }
    ]
  }
})
t.teardown(() => gw.stop())
const port = String(gw.port('qdrant'))
const peerPort = peer.address.split(':')[1]

type Steps = Record<string, unknown>
const drive = async (p: string, collection: string, key: string, steps = 'all'): Promise<Steps> =>
  await runPythonJSON<Steps>('qdrant_grpcio.py', ['127.0.0.1', p, collection, '--key', key, '--steps', steps], { timeout: 120_000 } as any)

t.test('the whole collection life through grpcio equals direct', async t => {
  const direct = await drive(peerPort, 'py_docs', UPSTREAM_KEY)
  const via = await drive(port, 'py_docs', await gw.token('root', { groups: ['admins'] }))
  for (const step of Object.keys(direct)) t.notOk((direct[step] as any)?.error, `direct ${step} worked`)
  t.same(via, direct, 'every step, same answer')
  t.equal(via.count, 10)
  t.equal(via.count_after, 4)
  t.equal((via.search as unknown[]).length, 3)
})

t.test('analyst: search allowed, deletes and creates refused with PERMISSION_DENIED', async t => {
  const admin = await gw.token('root', { groups: ['admins'] })
  await drive(port, 'py_ro', admin, 'create,upsert')
  const analyst = await gw.token('alice', { groups: ['analysts'] })
  const r = await drive(port, 'py_ro', analyst, 'search,count,delete_ids,drop,create')
  t.equal((r.search as unknown[]).length, 3)
  t.equal(r.count, 10)
  t.match(r.delete_ids, { error: { code: 'PERMISSION_DENIED', details: /no rule allows|denied/ } })
  t.match(r.drop, { error: { code: 'PERMISSION_DENIED' } })
  t.match(r.create, { error: { code: 'PERMISSION_DENIED' } })
})

t.test('bad and missing tokens: UNAUTHENTICATED; upstream never sees a client token', async t => {
  const r = await drive(port, 'py_ro', 'not-a-token', 'count')
  t.match(r.count, { error: { code: 'UNAUTHENTICATED' } })
  const up = await drive(port, 'py_ro', UPSTREAM_KEY, 'count')
  t.match(up.count, { error: { code: 'UNAUTHENTICATED' } }, 'the upstream key itself is not a vecgate token')
  t.ok(peer.calls.length > 10)
  t.ok(peer.calls.every(c => c.metadata['api-key'] === UPSTREAM_KEY), 'only the backend key upstream')
})

t.test('the journal has every call in order and who-saw finds the returned points', async t => {
  await gw.gw.parts.journal.flush()
  const r = new JournalReader(gw.config.journal.path)
  t.teardown(() => r.close())
  const sessions = r.sessions({ backend: 'qdrant', limit: 100 })
  const alice = sessions.filter(s => s.subject === 'alice')
  t.ok(alice.length >= 1)
  const events = alice.flatMap(s => r.events(s.id))
  t.ok(events.some(e => e.kind === 'request' && e.body.op.method === 'qdrant.Points/Query'), 'the search is journaled')
  t.ok(events.some(e => e.kind === 'error' && e.body.data.code === 'VG_ERR_DENIED'), 'the refused delete is journaled')
  const returned = events.find(e => e.kind === 'response' && e.body.ids !== undefined)
  t.same(returned?.body.ids.length, 3, 'the search result\'s three point ids are recorded')
  for (const id of returned?.body.ids ?? []) {
    t.ok(r.whoSaw('qdrant', 'py_ro', String(id)).some(x => x.session.subject === 'alice'), `who-saw: alice received point ${String(id)}`)
  }
  t.same(r.whoSaw('qdrant', 'py_ro', '999'), [], 'a point nobody received')
  for (const s of alice) {
    const calls = new Map<number, string[]>()
    for (const e of r.events(s.id)) if (e.call !== null) calls.set(e.call, [...(calls.get(e.call) ?? []), e.kind])
    for (const [n, kinds] of calls) t.same(kinds.slice(0, 2), ['request', 'verdict'], `call ${n} in order`)
  }
})
