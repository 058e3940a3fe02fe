/**
 * Issue 6 acceptance for Qdrant, through the official JS client: a bulk delete (by filter) is held in
 * protocol for a person's approval (CONTRACT.md `effect: approve`), a second identity approves it over
 * the admin API (`POST /v1/approvals/ID/approve`), and the same call completes with what the direct
 * connection returns; the upstream sees no Delete before the approval. A denial ends the held call
 * with PERMISSION_DENIED naming the approval; a client deadline ends it with DEADLINE_EXCEEDED and the
 * approval stays pending, so the retry after approval passes exactly once.
 */
import t from 'tap'
import { QdrantClient } from '@qdrant/js-client-grpc'
import { startQdrantServer } from '../peers/qdrant-server.js'
import { startTestGateway } from '../helpers/gateway.js'

const KEY = 'upstream-approval-key'
const peer = await startQdrantServer({ apiKey: KEY })
t.teardown(() => peer.close())
const gw = await startTestGateway({
  backends: [{ name: 'qdrant', protocol: 'qdrant', upstream: peer.address, credentials: { api_key: KEY } }],
  policy: {
    approval_hold: '60s',
    rules: [
      { id: 'writers', subjects: { groups: ['writers'] }, backends: ['qdrant'], effect: 'allow' },
      { id: 'bulk-delete-needs-approval', actions: ['delete'], when: { bulk: true }, effect: 'approve', approvers: { groups: ['security'], count: 1 } }
    ]
  }
})
t.teardown(() => gw.stop())

const alice = await gw.token('alice', { groups: ['writers'] })
const bob = await gw.token('bob', { groups: ['security'] })
const carol = await gw.token('carol', { groups: ['writers'] })

const client = (apiKey: string, port: number): QdrantClient =>
  new QdrantClient({ host: '127.0.0.1', port, apiKey, https: false, checkCompatibility: false, timeout: 30_000 })
const viaGateway = client(alice, gw.port('qdrant'))
const direct = client(KEY, peer.port)

const pid = (n: number) => ({ pointIdOptions: { case: 'num' as const, value: BigInt(n) } })
const group = (g: string) => ({ must: [{ conditionOneOf: { case: 'field' as const, value: { key: 'group', match: { matchValue: { case: 'keyword' as const, value: g } } } } }] })
const byFilter = (g: string) => ({ pointsSelectorOneOf: { case: 'filter' as const, value: group(g) } })

function strip<T> (x: T): T {
  return JSON.parse(JSON.stringify(x, (k, v) => k === 'time' || k === '$typeName' ? undefined : typeof v === 'bigint' ? v.toString() : v))
}

async function admin (method: 'GET' | 'POST', path: string, token: string, body?: unknown): Promise<{ status: number, json: any }> {
  const res = await fetch(gw.adminUrl + path, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
    body: body !== undefined ? JSON.stringify(body) : undefined
  })
  return { status: res.status, json: await res.json() }
}

/** the pending approval for this collection, once the held call has created it */
async function pendingFor (collection: string): Promise<any> {
  for (;;) {
    const { json } = await admin('GET', '/v1/approvals?status=pending', bob)
    const a = (json.approvals as any[]).find(x => x.op.collection === collection)
    if (a !== undefined) return a
    await new Promise(resolve => setTimeout(resolve, 20))
  }
}

async function seed (c: QdrantClient, name: string): Promise<void> {
  await c.api('collections').create({ collectionName: name, vectorsConfig: { config: { case: 'params', value: { size: 2n, distance: 3 /* Dot */ } } } })
  await c.api('points').upsert({
    collectionName: name,
    wait: true,
    points: Array.from({ length: 12 }, (_, i) => ({
      id: pid(i + 1),
      vectors: { vectorsOptions: { case: 'vector' as const, value: { data: [i + 1, 1] } } },
      payload: { group: { kind: { case: 'stringValue' as const, value: ['a', 'b', 'c'][i % 3] } } }
    }))
  })
}

/** Delete calls the upstream received (this file deletes no collection, so all are point deletes) */
const deletesUpstream = (): number => peer.calls.filter(c => c.method === 'Delete').length

t.test('a bulk delete waits for approval by another identity and completes in the same call', async t => {
  await seed(direct, 'held_direct')
  await seed(viaGateway, 'held_gw')

  // deleting named ids is not bulk: no hold
  const [i1, i2] = [await direct.api('points').delete({ collectionName: 'held_direct', wait: true, points: { pointsSelectorOneOf: { case: 'points', value: { ids: [pid(12)] } } } }),
    await viaGateway.api('points').delete({ collectionName: 'held_gw', wait: true, points: { pointsSelectorOneOf: { case: 'points', value: { ids: [pid(12)] } } } })]
  t.same(strip(i2), strip(i1), 'delete by ids passes without a hold')

  const expected = strip(await direct.api('points').delete({ collectionName: 'held_direct', wait: true, points: byFilter('a') }))
  const deletesBefore = deletesUpstream()
  let settled = false
  const held = viaGateway.api('points').delete({ collectionName: 'held_gw', wait: true, points: byFilter('a') }).finally(() => { settled = true })

  const approval = await pendingFor('held_gw')
  t.match(approval, { id: /^apr_[a-z2-7]{10}$/, status: 'pending', requester: { subject: 'alice' }, rule: 'bulk-delete-needs-approval', op: { backend: 'qdrant', action: 'delete', collection: 'held_gw', bulk: true } })
  t.equal(approval.blastRadius, 4, 'blast radius: the points the filter matches')
  t.notOk(settled, 'the call is still held')
  t.equal(deletesUpstream(), deletesBefore, 'no Delete reached the upstream before the approval')

  const self = await admin('POST', `/v1/approvals/${String(approval.id)}/approve`, alice)
  t.equal(self.status, 403, 'the requester cannot approve their own request')
  const peerWriter = await admin('POST', `/v1/approvals/${String(approval.id)}/approve`, carol)
  t.equal(peerWriter.status, 403, 'nor can someone outside the approver group')
  const ok = await admin('POST', `/v1/approvals/${String(approval.id)}/approve`, bob, { reason: 'cleanup ticket 42' })
  t.equal(ok.status, 200, 'bob approves')
  t.match(ok.json, { id: approval.id, status: /approved|used/ })

  t.same(strip(await held), expected, 'the held call completes with what direct returns')
  const [c1, c2] = [await direct.api('points').count({ collectionName: 'held_direct', exact: true }), await viaGateway.api('points').count({ collectionName: 'held_gw', exact: true })]
  t.same(strip(c2), strip(c1), 'the same points are left')
  t.equal(strip(c2).result?.count, '7')
  t.equal((await admin('GET', `/v1/approvals/${String(approval.id)}`, bob)).json.status, 'used', 'the approval is used up')
})

t.test('a denied bulk delete ends with PERMISSION_DENIED naming the approval', async t => {
  const deletesBefore = deletesUpstream()
  const held = viaGateway.api('points').delete({ collectionName: 'held_gw', wait: true, points: byFilter('b') })
  held.catch(() => {})
  const approval = await pendingFor('held_gw')
  const no = await admin('POST', `/v1/approvals/${String(approval.id)}/deny`, bob, { reason: 'not during the audit' })
  t.equal(no.status, 200)
  await t.rejects(held, { code: 7, rawMessage: new RegExp(String(approval.id)) })
  t.equal(deletesUpstream(), deletesBefore, 'nothing deleted upstream')
  t.equal(strip(await viaGateway.api('points').count({ collectionName: 'held_gw', exact: true })).result?.count, '7')
})

t.test('a client deadline while held: DEADLINE_EXCEEDED, the approval stays pending, the retry passes once', async t => {
  // a per-call timeoutMs goes out as grpc-timeout (the client-wide `timeout` only aborts locally: CANCELED)
  const impatient = async (): Promise<unknown> => await viaGateway.api('points').delete({ collectionName: 'held_gw', wait: true, points: byFilter('c') }, { timeoutMs: 300 })
  await t.rejects(impatient(), { code: 4 }, 'DEADLINE_EXCEEDED')
  const approval = await pendingFor('held_gw')
  t.equal(approval.status, 'pending', 'still pending after the client gave up')
  t.equal((await admin('POST', `/v1/approvals/${String(approval.id)}/approve`, bob)).status, 200)

  const done = await viaGateway.api('points').delete({ collectionName: 'held_gw', wait: true, points: byFilter('c') })
  t.equal(done.result?.status, 2, 'the retry with the same request passes on the approval (Completed)')
  t.equal(strip(await viaGateway.api('points').count({ collectionName: 'held_gw', exact: true })).result?.count, '4', 'group c gone')

  // used up: the next identical request is held again, and gives up at its own deadline
  await t.rejects(impatient(), { code: 4 }, 'a second retry needs a new approval')
  const again = await pendingFor('held_gw')
  t.not(again.id, approval.id, 'a new approval')
})
