/**
 * THREATS.md "Aliases and databases": a Milvus alias that points at a denied collection is resolved to
 * the real target before the policy decides, whatever the client asked first (the Node SDK, and a
 * query sent as the first call of a connection, before any DescribeCollection the gateway could learn from).
 */
import t from 'tap'
import { DataType, MilvusClient } from '@zilliz/milvus2-sdk-node'
import { startMilvus } from '../peers/milvus.js'
import { startTestGateway } from '../helpers/gateway.js'

const milvus = await startMilvus()
t.teardown(() => milvus.close())
const gw = await startTestGateway({
  backends: [{ name: 'milvus', protocol: 'milvus', upstream: milvus.address, credentials: { username: 'root', password: 'Milvus' } }],
  policy: { rules: [{ id: 'readers', actions: ['read', 'search'], effect: 'allow' }, { id: 'no-secret', collections: ['secret'], effect: 'deny' }] }
})
t.teardown(() => gw.stop())
const clients: MilvusClient[] = []
t.teardown(async () => { for (const c of clients) await c.closeConnection().catch(() => {}) })
const client = (address: string, opts: { token?: string, username?: string, password?: string }): MilvusClient => {
  const c = new MilvusClient({ address, ...opts, timeout: 20_000 })
  c.connectPromise.catch(() => {})
  clients.push(c)
  return c
}
const direct = client(milvus.address, { username: 'root', password: 'Milvus' })
await direct.createCollection({ collection_name: 'secret', fields: [{ name: 'id', data_type: DataType.Int64, is_primary_key: true }, { name: 'vec', data_type: DataType.FloatVector, dim: 2 }] })
await direct.insert({ collection_name: 'secret', data: [{ id: 1, vec: [1, 0] }] })
await direct.createIndex({ collection_name: 'secret', field_name: 'vec', index_type: 'FLAT', metric_type: 'L2' })
await direct.loadCollection({ collection_name: 'secret' })
await direct.createAlias({ collection_name: 'secret', alias: 'innocent' })

t.test('a query through an alias of a denied collection is refused like the collection itself', async t => {
  const via = client(gw.address('milvus'), { token: await gw.token('alice') })
  const byName = await via.query({ collection_name: 'secret', filter: 'id >= 0', output_fields: ['id'] }).catch((e: Error) => e)
  t.ok(byName instanceof Error || byName.status?.code !== 0, 'by name: refused')
  const byAlias = await via.query({ collection_name: 'innocent', filter: 'id >= 0', output_fields: ['id'] }).catch((e: Error) => e)
  t.ok(byAlias instanceof Error || byAlias.status?.code !== 0, `by alias: refused (got ${JSON.stringify((byAlias as any)?.data ?? (byAlias as Error).message)})`)
})
