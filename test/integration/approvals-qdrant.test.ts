/**
 * Human approval of a risky Qdrant call through the official JS client: a delete by filter is held in
 * protocol, shown to approvers, approved by a second identity through the admin API and completes in
 * the same call, the approver seeing its blast radius (Count with the same filter); a denied one is refused; one whose client deadline passes is refused with the approval
 * id, and the same request retried after approval passes exactly once; the requester cannot approve
 * their own request, nor can someone outside the approver group.
 */
import t from 'tap'
import { QdrantClient } from '@qdrant/js-client-grpc'
import { request } from 'undici'
import * as grpc from '@grpc/grpc-js'
import * as loader from '@grpc/proto-loader'
import { qdrantSchema } from '../../decoders/qdrant/schema.js'
import { startQdrantServer } from '../peers/qdrant-server.js'
import { startTestGateway } from '../helpers/gateway.js'

const KEY = 'approvals-key'
const peer = await startQdrantServer({ apiKey: KEY })
t.teardown(() => peer.close())
const gw = await startTestGateway({
  backends: [{ name: 'qdrant', protocol: 'qdrant', upstream: peer.address, credentials: { api_key: KEY } }],
  policy: {
    approval_hold: '20s',
    rules: [
      { id: 'engineers', subjects: { groups: ['engineers'] }, effect: 'allow' },
      { id: 'bulk-delete-needs-approval', subjects: { groups: ['engineers'] }, actions: ['delete'], when: { bulk: true }, effect: 'approve', approvers: { groups: ['security'], count: 1 } }
    ]
  }
})
t.teardown(() => gw.stop())
const port = gw.port('qdrant')
const client = (apiKey: string): QdrantClient => new QdrantClient({ host: '127.0.0.1', port, apiKey, https: false, checkCompatibility: false, timeout: 30_000 })
const eve = await gw.token('eve', { groups: ['engineers'] })
const sam = await gw.token('sam', { groups: ['security'] })
const mallory = await gw.token('mallory', { groups: ['engineers'] })
const engineer = client(eve)
const s = (v: string) => ({ kind: { case: 'stringValue' as const, value: v } })
const byGroup = (g: string) => ({ pointsSelectorOneOf: { case: 'filter' as const, value: { must: [{ conditionOneOf: { case: 'field' as const, value: { key: 'group', match: { matchValue: { case: 'keyword' as const, value: g } } } } }] } } })

async function admin (method: 'GET' | 'POST', path: string, token: string, body?: unknown): Promise<{ status: number, json: any }> {
  const r = await request(gw.adminUrl + path, { method, headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: body !== undefined ? JSON.stringify(body) : undefined })
  return { status: r.statusCode, json: await r.body.json() }
}
async function pending (): Promise<any> {
  for (let i = 0; i < 200; i++) {
    const list = (await admin('GET', '/v1/approvals?status=pending', sam)).json.approvals as any[]
    if (list.length > 0) return list[0]
    await new Promise(resolve => setTimeout(resolve, 50))
  }
  throw new Error('no pending approval appeared')
}
const count = async (): Promise<number> => Number((await engineer.api('points').count({ collectionName: 'docs', exact: true })).result?.count)

await engineer.api('collections').create({ collectionName: 'docs', vectorsConfig: { config: { case: 'params', value: { size: 2n, distance: 1 } } } })
await engineer.api('points').upsert({
  collectionName: 'docs',
  wait: true,
  points: Array.from({ length: 12 }, (_, i) => ({ id: { pointIdOptions: { case: 'num' as const, value: BigInt(i + 1) } }, vectors: { vectorsOptions: { case: 'vector' as const, value: { data: [1, i] } } }, payload: { group: s(['a', 'b', 'c'][i % 3]) } }))
})

t.test('held, approved by a second identity, completes in the same call', async t => {
  const del = engineer.api('points').delete({ collectionName: 'docs', wait: true, points: byGroup('a') })
  const a = await pending()
  t.match(a, { requester: { subject: 'eve' }, status: 'pending', rule: 'bulk-delete-needs-approval' })
  t.equal(a.blastRadius, 4, 'the approver sees what it would touch: Count with the same filter, upstream')
  t.equal(await count(), 12, 'nothing deleted while held')
  const self = await admin('POST', `/v1/approvals/${a.id as string}/approve`, eve)
  t.equal(self.status, 403, 'the requester cannot approve their own request')
  const outsider = await admin('POST', `/v1/approvals/${a.id as string}/approve`, mallory)
  t.equal(outsider.status, 403, 'not in the approver group')
  const ok = await admin('POST', `/v1/approvals/${a.id as string}/approve`, sam, { reason: 'ticket OPS-7' })
  t.equal(ok.status, 200)
  const r = await del
  t.equal(r.result?.status, 2, 'the delete completed in the same call')
  t.equal(await count(), 8)
})

t.test('a denied approval refuses the call with PERMISSION_DENIED', async t => {
  const del = engineer.api('points').delete({ collectionName: 'docs', wait: true, points: byGroup('b') }).then(() => 'passed', (e: { code: number, rawMessage: string }) => e)
  const a = await pending()
  t.equal((await admin('POST', `/v1/approvals/${a.id as string}/deny`, sam, { reason: 'not today' })).status, 200)
  t.match(await del, { code: 7 })
  t.equal(await count(), 8)
})

t.test('the client deadline passes: refused with the approval id; approved later, the retry passes once', async t => {
  // the JS client's timeout is its own timer (it sends no grpc-timeout): it gives up, CANCELLED
  const short = new QdrantClient({ host: '127.0.0.1', port, apiKey: eve, https: false, checkCompatibility: false, timeout: 800 })
  const gaveUp = await short.api('points').delete({ collectionName: 'docs', wait: true, points: byGroup('c') }).then(() => undefined, (e: { code: number }) => e)
  t.equal(gaveUp?.code, 1, 'the JS client cancelled on its own timer')
  // a client that sends its deadline (grpc-js, grpc-timeout) gets the refusal with the approval id in time
  const def = loader.loadFileDescriptorSetFromBuffer(qdrantSchema().descriptorSet, { keepCase: true, longs: Number, defaults: false, oneofs: true })
  const pkg = grpc.loadPackageDefinition(def) as any
  const g = new pkg.qdrant.Points(`127.0.0.1:${port}`, grpc.credentials.createInsecure())
  const md = new grpc.Metadata()
  md.set('api-key', eve)
  const selector = { filter: { must: [{ field: { key: 'group', match: { keyword: 'c' } } }] } }
  const err = await new Promise<grpc.ServiceError | null>(resolve => g.Delete({ collection_name: 'docs', wait: true, points: selector }, md, { deadline: Date.now() + 800 }, (e: grpc.ServiceError | null) => resolve(e)))
  g.close()
  t.equal(err?.code, grpc.status.DEADLINE_EXCEEDED, 'DEADLINE_EXCEEDED from the gateway, before the client gave up')
  t.match(err?.details, /approval apr_\w+ .*retry once it is approved/, 'the message carries the approval id')
  const a = (await admin('GET', '/v1/approvals', sam)).json.approvals.find((x: any) => x.status === 'pending')
  t.ok(a, 'the approval stays pending after the client gave up')
  t.equal((await admin('POST', `/v1/approvals/${a.id as string}/approve`, sam)).status, 200)
  const r = await engineer.api('points').delete({ collectionName: 'docs', wait: true, points: byGroup('c') })
  t.equal(r.result?.status, 2, 'the same request retried after approval passes')
  t.equal(await count(), 4)
  await engineer.api('points').upsert({ collectionName: 'docs', wait: true, points: [{ id: { pointIdOptions: { case: 'num' as const, value: 99n } }, vectors: { vectorsOptions: { case: 'vector' as const, value: { data: [1, 1] } } }, payload: { group: s('c') } }] })
  const again = engineer.api('points').delete({ collectionName: 'docs', wait: true, points: byGroup('c') }).then(() => 'passed', (e: { code: number }) => e)
  const next = await pending()
  t.not(next.id, a.id, 'a second retry needs a new approval: the first passed exactly once')
  await admin('POST', `/v1/approvals/${next.id as string}/deny`, sam)
  t.match(await again, { code: 7 })
})
