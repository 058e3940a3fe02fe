/**
 * Milvus through vecgate with pymilvus (grpcio) against milvus-lite: the whole collection life gives
 * the same answers as direct; an analyst's create is refused as permission denied; a bad token is
 * refused before anything reaches the server; the server only sees the backend's credentials.
 */
import t from 'tap'
import { startMilvus } from '../peers/milvus.js'
import { runPythonJSON } from '../peers/python.js'
import { startTestGateway } from '../helpers/gateway.js'
import { startH2Tap } from '../helpers/h2-tap.js'

const milvus = await startMilvus()
t.teardown(() => milvus.close())
const tap = await startH2Tap(milvus.address)
t.teardown(() => tap.close())
const gw = await startTestGateway({
  backends: [{ name: 'milvus', protocol: 'milvus', upstream: tap.address, credentials: { username: 'root', password: 'Milvus' } }],
  policy: {
    rules: [
      { id: 'admins', subjects: { groups: ['admins'] }, backends: ['milvus'], effect: 'allow' },
      { id: 'analysts-read', subjects: { groups: ['analysts'] }, actions: ['read', 'search'], effect: 'allow' }
    ]
  }
})
t.teardown(() => gw.stop())
type Out = Record<string, any>
const drive = async (address: string, collection: string, token: string): Promise<Out> => await runPythonJSON<Out>('milvus_client.py', [address, collection, '--token', token])

t.test('the whole collection life through vecgate equals direct', async t => {
  const direct = await drive(milvus.address, 'py_direct', 'root:Milvus')
  t.notOk(direct.error, 'direct worked')
  const via = await drive(gw.address('milvus'), 'py_gw', await gw.token('root-user', { groups: ['admins'] }))
  t.notOk(via.error, JSON.stringify(via.error))
  t.same(via, direct)
  t.same(via.steps, ['create', 'insert', 'index', 'load', 'search', 'query', 'delete-ids', 'delete-expr', 'drop'])
})

t.test('an analyst cannot create a collection; a bad token gets nowhere', async t => {
  const before = tap.requests.length
  const analyst = await drive(gw.address('milvus'), 'py_denied', await gw.token('alice', { groups: ['analysts'] }))
  t.same(analyst.steps, [], 'stopped at the first step')
  t.match(analyst.error, { code: 'PERMISSION_DENIED', message: /no rule allows .*CreateCollection/ })
  const bad = await drive(gw.address('milvus'), 'py_bad', 'not-a-token')
  t.same(bad.steps, [])
  // pymilvus reports a refused Connect as its own connection error (code 2, "illegal connection params")
  t.match(bad.error, { message: /UNAUTHENTICATED|illegal connection params/ }, `refused: ${JSON.stringify(bad.error)}`)
  t.notOk(tap.requests.slice(before).some(h => JSON.stringify(h).includes('CreateCollection')), 'no CreateCollection reached the server')
  const expected = Buffer.from('root:Milvus').toString('base64')
  t.ok(tap.requests.every(h => h.filter(([n]) => n === 'authorization').every(([, v]) => v === expected)), 'only the backend credentials upstream')
})
