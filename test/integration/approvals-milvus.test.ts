/**
 * Human approval of a risky Milvus call through the official Node SDK against milvus-lite: a delete by
 * expression is held, the approver sees what it would touch (count(*) with the same expression, asked
 * upstream), and it completes in the same call once a second identity approves; a denial refuses it.
 */
import t from 'tap'
import { DataType, MilvusClient } from '@zilliz/milvus2-sdk-node'
import { request } from 'undici'
import { startMilvus } from '../peers/milvus.js'
import { startTestGateway } from '../helpers/gateway.js'

const milvus = await startMilvus()
t.teardown(() => milvus.close())
const gw = await startTestGateway({
  backends: [{ name: 'milvus', protocol: 'milvus', upstream: milvus.address, credentials: { username: 'root', password: 'Milvus' } }],
  policy: {
    approval_hold: '30s',
    rules: [
      { id: 'engineers', subjects: { groups: ['engineers'] }, effect: 'allow' },
      { id: 'bulk-delete-needs-approval', subjects: { groups: ['engineers'] }, actions: ['delete'], when: { bulk: true }, effect: 'approve', approvers: { groups: ['security'], count: 1 } }
    ]
  }
})
t.teardown(() => gw.stop())
const eve = await gw.token('eve', { groups: ['engineers'] })
const sam = await gw.token('sam', { groups: ['security'] })
const c = new MilvusClient({ address: gw.address('milvus'), token: eve, timeout: 60_000 })
t.teardown(async () => { await c.closeConnection().catch(() => {}) })
await c.connectPromise

async function admin (method: 'GET' | 'POST', path: string, token: string): Promise<{ status: number, json: any }> {
  const r = await request(gw.adminUrl + path, { method, headers: { authorization: `Bearer ${token}` } })
  return { status: r.statusCode, json: await r.body.json() }
}
async function pending (): Promise<any> {
  for (let i = 0; i < 300; i++) {
    const list = (await admin('GET', '/v1/approvals?status=pending', sam)).json.approvals as any[]
    if (list.length > 0) return list[0]
    await new Promise(resolve => setTimeout(resolve, 50))
  }
  throw new Error('no pending approval appeared')
}
const left = async (): Promise<number> => (await c.query({ collection_name: 'docs', filter: 'id >= 0', output_fields: ['id'] })).data.length

await c.createCollection({ collection_name: 'docs', fields: [{ name: 'id', data_type: DataType.Int64, is_primary_key: true }, { name: 'vec', data_type: DataType.FloatVector, dim: 2 }, { name: 'grp', data_type: DataType.VarChar, max_length: 8 }] })
await c.insert({ collection_name: 'docs', data: Array.from({ length: 10 }, (_, i) => ({ id: i, vec: [1, i], grp: i < 6 ? 'old' : 'new' })) })
await c.createIndex({ collection_name: 'docs', field_name: 'vec', index_type: 'FLAT', metric_type: 'L2' })
await c.loadCollection({ collection_name: 'docs' })

t.test('held with its blast radius, approved by a second identity, completes in the same call', async t => {
  const del = c.delete({ collection_name: 'docs', filter: 'grp == "old"' })
  const a = await pending()
  t.match(a, { requester: { subject: 'eve' }, rule: 'bulk-delete-needs-approval' })
  t.equal(a.blastRadius, 6, 'count(*) with the same expression, upstream')
  t.equal(await left(), 10, 'nothing deleted while held')
  t.equal((await admin('POST', `/v1/approvals/${a.id as string}/approve`, eve)).status, 403, 'not by the requester')
  t.equal((await admin('POST', `/v1/approvals/${a.id as string}/approve`, sam)).status, 200)
  const r = await del
  t.equal(Number(r.delete_cnt), 6)
  t.equal(await left(), 4)
})

t.test('a denied approval refuses the delete', async t => {
  const del = c.delete({ collection_name: 'docs', filter: 'id >= 0' }).then(() => 'passed', (e: { code: number }) => e)
  const a = await pending()
  t.equal(a.blastRadius, 4)
  t.equal((await admin('POST', `/v1/approvals/${a.id as string}/deny`, sam)).status, 200)
  t.match(await del, { code: 7 })
  t.equal(await left(), 4)
})
