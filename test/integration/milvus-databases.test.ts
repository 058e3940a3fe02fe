/**
 * THREATS.md "Aliases and databases": a `db_name` that points at a denied collection is resolved to the
 * real target before the policy decides. Milvus collections live in databases and two databases may
 * each have a `docs`: the policy and grants name another database's collection `database.collection`,
 * an unqualified name in an allow rule or a grant is the `default` database's, in a deny rule any
 * database's (lib/policy/glob.ts). Through the official Node SDK against milvus-lite, with the database
 * chosen both ways a client can: the request's `db_name` field and the connection's `dbname` metadata.
 */
import t from 'tap'
import { DataType, MilvusClient } from '@zilliz/milvus2-sdk-node'
import { startMilvus } from '../peers/milvus.js'
import { startTestGateway } from '../helpers/gateway.js'

const milvus = await startMilvus()
t.teardown(() => milvus.close())
const gw = await startTestGateway({
  backends: [{ name: 'milvus', protocol: 'milvus', upstream: milvus.address, credentials: { username: 'root', password: 'Milvus' } }],
  policy: {
    rules: [
      { id: 'analysts-docs', subjects: { groups: ['analysts'] }, collections: ['docs'], actions: ['read', 'search'], effect: 'allow' },
      { id: 'hr-staff', subjects: { groups: ['hr'] }, collections: ['hr.*'], actions: ['read', 'search'], effect: 'allow' },
      { id: 'no-salaries', collections: ['salaries'], effect: 'deny' }
    ]
  }
})
t.teardown(() => gw.stop())
const clients: MilvusClient[] = []
t.teardown(async () => { for (const c of clients) await c.closeConnection().catch(() => {}) })
const client = (address: string, opts: { token?: string, username?: string, password?: string, database?: string }): MilvusClient => {
  const c = new MilvusClient({ address, ...opts, timeout: 20_000 })
  c.connectPromise.catch(() => {})
  clients.push(c)
  return c
}

const direct = client(milvus.address, { username: 'root', password: 'Milvus' })
await direct.createDatabase({ db_name: 'hr' })
/** `docs` in both databases, with a marker saying which; `salaries` only in hr */
for (const [db, name, marker] of [['default', 'docs', 1], ['hr', 'docs', 2], ['hr', 'salaries', 3]] as const) {
  await direct.createCollection({ db_name: db, collection_name: name, fields: [{ name: 'id', data_type: DataType.Int64, is_primary_key: true }, { name: 'vec', data_type: DataType.FloatVector, dim: 2 }] })
  await direct.insert({ db_name: db, collection_name: name, data: [{ id: marker, vec: [1, 0] }] })
  await direct.createIndex({ db_name: db, collection_name: name, field_name: 'vec', index_type: 'FLAT', metric_type: 'L2' })
  await direct.loadCollection({ db_name: db, collection_name: name })
}

type Answer = { ids: number[] } | { refused: string }
async function query (c: MilvusClient, collection: string, db?: string): Promise<Answer> {
  try {
    const r = await c.query({ ...(db !== undefined ? { db_name: db } : {}), collection_name: collection, filter: 'id >= 0', output_fields: ['id'] })
    if (r.status?.code !== 0 && r.status?.error_code !== 'Success') return { refused: r.status?.reason ?? JSON.stringify(r.status) }
    return { ids: r.data.map(row => Number(row.id)) }
  } catch (e) {
    return { refused: (e as Error).message }
  }
}
const refused = (t: Tap.Test, a: Answer, what: string, says?: RegExp): void => {
  t.ok('refused' in a, `${what}: refused (${JSON.stringify(a)})`)
  if (says !== undefined && 'refused' in a) t.match(a.refused, says, 'the refusal names the database\'s collection')
}

t.test('allowing `docs` is the default database\'s docs, not another database\'s', async t => {
  const token = await gw.token('ann', { groups: ['analysts'] })
  const plain = client(gw.address('milvus'), { token })
  t.same(await query(plain, 'docs'), { ids: [1] }, 'default.docs is served')
  refused(t, await query(plain, 'docs', 'hr'), 'hr.docs by the request\'s db_name', /on hr\.docs/)
  const inHr = client(gw.address('milvus'), { token, database: 'hr' })
  refused(t, await query(inHr, 'docs'), 'hr.docs by the connection\'s dbname metadata')
  t.same(await query(inHr, 'docs', 'default'), { ids: [1] }, 'the request field wins over the metadata, and is decided on')
})

t.test('`hr.*` allows the hr database only; a deny without a database applies in every database', async t => {
  const hr = client(gw.address('milvus'), { token: await gw.token('hal', { groups: ['hr'] }) })
  t.same(await query(hr, 'docs', 'hr'), { ids: [2] }, 'hr.docs is served')
  refused(t, await query(hr, 'docs'), 'default.docs is not in hr.*')
  refused(t, await query(hr, 'salaries', 'hr'), 'hr.salaries: denied by a rule naming `salaries`')
})

t.test('grants: `docs` is the default database\'s, `hr.docs` the hr database\'s', async t => {
  const onlyDefault = client(gw.address('milvus'), { token: await gw.token('ann', { groups: ['analysts', 'hr'], collections: ['docs'] }) })
  t.same(await query(onlyDefault, 'docs'), { ids: [1] })
  refused(t, await query(onlyDefault, 'docs', 'hr'), 'a grant for docs does not reach hr.docs')
  const onlyHr = client(gw.address('milvus'), { token: await gw.token('ann', { groups: ['analysts', 'hr'], collections: ['hr.docs'] }) })
  t.same(await query(onlyHr, 'docs', 'hr'), { ids: [2] })
  refused(t, await query(onlyHr, 'docs'), 'a grant for hr.docs does not reach default.docs')
})
