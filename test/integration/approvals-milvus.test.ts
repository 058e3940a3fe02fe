/**
 * Human approval of a risky Milvus call through the official Node SDK against milvus-lite: a delete by
 * expression is held, the approver sees what it would touch (count(*) with the same expression, asked
 * upstream), and it completes in the same call once a second identity approves; a denial refuses it. One
 * whose client deadline passes (the SDK's per-call `timeout` is a grpc-js deadline: it sends grpc-timeout)
 * is refused with DEADLINE_EXCEEDED and the approval id, deletes nothing, and the same delete retried after
 * approval passes exactly once (a second retry is held under a new approval); the requester cannot approve
 * their own request even when in the approver group, nor can someone outside it.
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
const mallory = await gw.token('mallory', { groups: ['engineers'] })
const ivy = await gw.token('ivy', { groups: ['engineers', 'security'] })
const c = new MilvusClient({ address: gw.address('milvus'), token: eve, timeout: 60_000 })
t.teardown(async () => { await c.closeConnection().catch(() => {}) })
await c.connectPromise

async function admin (method: 'GET' | 'POST', path: string, token: string): Promise<{ status: number, json: any }> {
  const r = await request(gw.adminUrl + path, { method, headers: { authorization: `Bearer ${token}` } })
  return { status: r.statusCode, json: await r.body.json() }
}
async function pending (not?: string): Promise<any> {
  for (let i = 0; i < 300; i++) {
    const list = ((await admin('GET', '/v1/approvals?status=pending', sam)).json.approvals as any[]).filter(a => a.id !== not)
    if (list.length > 0) return list[0]
    await new Promise(resolve => setTimeout(resolve, 50))
  }
  throw new Error('no pending approval appeared')
}
const left = async (filter = 'id >= 0'): Promise<number> => (await c.query({ collection_name: 'docs', filter, output_fields: ['id'] })).data.length

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

t.test('the client deadline passes: refused with the approval id; approved later, the retry passes exactly once', async t => {
  await c.insert({ collection_name: 'docs', data: Array.from({ length: 5 }, (_, i) => ({ id: 20 + i, vec: [2, i], grp: 'tmp' })) })
  t.equal(await left('grp == "tmp"'), 5)
  // the SDK's per-call timeout is a grpc-js call deadline: grpc-timeout reaches the gateway, which answers
  // before the client's own timer with DEADLINE_EXCEEDED and the approval id
  const err = await c.delete({ collection_name: 'docs', filter: 'grp == "tmp"', timeout: 3000 }).then(() => 'passed', (e: { code: number, details: string }) => e) as { code: number, details: string }
  t.equal(err.code, 4, 'DEADLINE_EXCEEDED')
  t.match(err.details, /approval apr_[a-z2-7]{10} .*retry once it is approved/, 'the refusal carries the approval id to the client')
  const id = /apr_[a-z2-7]{10}/.exec(String(err.details))?.[0] ?? 'apr_none'
  const a = (await admin('GET', `/v1/approvals/${id}`, sam)).json
  t.match(a, { status: 'pending', blastRadius: 5, requester: { subject: 'eve' } }, 'the approval stays pending after the deadline, with its blast radius')
  t.equal(await left('grp == "tmp"'), 5, 'nothing deleted after the deadline passed')
  t.equal((await admin('POST', `/v1/approvals/${id}/approve`, sam)).status, 200)
  t.equal(await left('grp == "tmp"'), 5, 'approving alone deletes nothing')
  const r = await c.delete({ collection_name: 'docs', filter: 'grp == "tmp"' })
  t.equal(Number(r.delete_cnt), 5, 'the same delete retried after approval passes')
  t.equal(await left('grp == "tmp"'), 0)
  t.equal((await admin('GET', `/v1/approvals/${id}`, sam)).json.status, 'used')

  await c.insert({ collection_name: 'docs', data: [{ id: 30, vec: [3, 0], grp: 'tmp' }] })
  const again = c.delete({ collection_name: 'docs', filter: 'grp == "tmp"' }).then(() => 'passed', (e: { code: number }) => e)
  const next = await pending(id)
  t.not(next.id, id, 'a second retry is held under a new approval: the first passed exactly once')
  t.equal(next.blastRadius, 1)
  t.equal((await admin('POST', `/v1/approvals/${next.id as string}/deny`, sam)).status, 200)
  t.match(await again, { code: 7 })
  t.equal(await left('grp == "tmp"'), 1, 'the second retry deleted nothing')
})

t.test('the requester cannot approve their own request even as an approver, nor can someone outside the approver group', async t => {
  const ivys = new MilvusClient({ address: gw.address('milvus'), token: ivy, timeout: 60_000 })
  t.teardown(async () => { await ivys.closeConnection().catch(() => {}) })
  await ivys.connectPromise
  const del = ivys.delete({ collection_name: 'docs', filter: 'grp == "tmp"' })
  const a = await pending()
  t.match(a, { requester: { subject: 'ivy' }, status: 'pending', blastRadius: 1 })
  const self = await admin('POST', `/v1/approvals/${a.id as string}/approve`, ivy)
  t.equal(self.status, 403, 'ivy is in the approver group but asked: not her own request')
  t.match(self.json, { message: /own request/ })
  const outsider = await admin('POST', `/v1/approvals/${a.id as string}/approve`, mallory)
  t.equal(outsider.status, 403, 'mallory is not in the approver group')
  t.equal((await admin('POST', `/v1/approvals/${a.id as string}/deny`, mallory)).status, 403, 'nor can she deny')
  t.equal((await admin('GET', `/v1/approvals/${a.id as string}`, sam)).json.status, 'pending', 'still pending after the refused votes')
  t.equal(await left('grp == "tmp"'), 1, 'nothing deleted')
  t.equal((await admin('POST', `/v1/approvals/${a.id as string}/approve`, sam)).status, 200)
  const r = await del
  t.equal(Number(r.delete_cnt), 1, 'approved by an eligible approver, it completes in the same call')
  t.equal(await left('grp == "tmp"'), 0)
})
