/**
 * THREATS.md "Two credentials in one request → refuse ambiguity rather than pick one", on the Milvus
 * path end to end against milvus-lite: the Node SDK and pymilvus with the grant as token or as the
 * password of its subject work; another user name, or a grant in the user name, is UNAUTHENTICATED
 * without the name or any token in the client's error; duplicated `authorization`, or `api-key` or
 * `token` metadata beside it, sent raw, is UNAUTHENTICATED and nothing of that call reaches the server.
 */
import t from 'tap'
import type { MilvusClient } from '@zilliz/milvus2-sdk-node'
import * as F from '../../lib/http2/frames.js'
import { milvusSchema } from '../../decoders/milvus/schema.js'
import { frameMessage } from '../../decoders/grpc/messages.js'
import { startMilvus } from '../peers/milvus.js'
import { runPythonJSON } from '../peers/python.js'
import { startTestGateway } from '../helpers/gateway.js'
import { startH2Tap } from '../helpers/h2-tap.js'
import { RawClient, status, message } from '../helpers/h2-raw.js'
import { milvusClients, type MilvusAuth } from '../helpers/milvus-sdk.js'

const milvus = await startMilvus()
t.teardown(() => milvus.close())
const tap = await startH2Tap(milvus.address)
t.teardown(() => tap.close())
const gw = await startTestGateway({
  backends: [{ name: 'milvus', protocol: 'milvus', upstream: tap.address, credentials: { username: 'root', password: 'Milvus' } }],
  policy: { rules: [{ id: 'people', subjects: { users: ['alice', 'bob'] }, backends: ['milvus'], effect: 'allow' }] }
})
t.teardown(() => gw.stop())
const alice = await gw.token('alice')
const bob = await gw.token('bob')
const b64 = (s: string): string => Buffer.from(s).toString('base64')
/** what a client error must never carry: the user names tried, the grants, plain, base64 or in part */
const secrets = [alice, bob, b64(alice), b64(bob), alice.slice(-24), bob.slice(-24), alice.split('.')[1], bob.split('.')[1]]

const sdk = milvusClients()
const client = (auth: MilvusAuth): MilvusClient => sdk(gw.address('milvus'), auth)
const failure = async (p: Promise<unknown>): Promise<any> => await p.then(() => undefined, (e: unknown) => e)

t.test('Node SDK: the grant as token or as its subject\'s password; any other user name is refused', async t => {
  const good: Array<[string, MilvusAuth]> = [
    ['token', { token: alice }], ['alice with her grant', { username: 'alice', password: alice }], ['token of the form user:grant', { token: `bob:${bob}` }]
  ]
  for (const [what, opts] of good) {
    const c = client(opts)
    t.equal((await c.hasCollection({ collection_name: 'none' })).value, false, what)
    // closed, so that its background heartbeats are not taken for the refused calls' below
    await c.closeConnection()
  }
  // a heartbeat a closed client had already sent may still be on its way: let the tap fall quiet
  for (let seen = -1; seen !== tap.requests.length;) {
    seen = tap.requests.length
    await new Promise(resolve => setTimeout(resolve, 300))
  }
  const cases: Array<[string, MilvusAuth]> = [
    ['another subject\'s name with alice\'s grant', { username: 'bob', password: alice }],
    ['the backend\'s user name with a grant', { username: 'root', password: alice }],
    ['bob\'s grant as user name, alice\'s as password', { username: bob, password: alice }],
    ['alice\'s grant as user name and password', { username: alice, password: alice }],
    ['the two grants as a user:password token', { token: `${bob}:${alice}` }]
  ]
  for (const [what, opts] of cases) {
    const before = tap.requests.length
    const c = client(opts)
    const e = await failure(c.hasCollection({ collection_name: 'none' }))
    t.equal(e?.code, 16, `${what}: UNAUTHENTICATED`)
    const text = `${String(e?.message)} ${String(e?.details)}`
    t.notOk(secrets.some(s => text.includes(s)) || /\bbob\b|\broot\b/.test(text), `${what}: the error names no user and no token`)
    t.same(tap.requests.slice(before).map(h => h.find(([n]) => n === ":path")?.[1]), [], `${what}: nothing reached the server`)
  }
})

t.test('pymilvus: user:grant of the subject works, another name does not', async t => {
  type Out = Record<string, any>
  const drive = async (collection: string, token: string): Promise<Out> => await runPythonJSON<Out>('milvus_client.py', [gw.address('milvus'), collection, '--token', token])
  const good = await drive('py_two_cred', `alice:${alice}`)
  t.notOk(good.error, JSON.stringify(good.error))
  t.same(good.steps, ['create', 'insert', 'index', 'load', 'search', 'query', 'delete-ids', 'delete-expr', 'drop'])
  for (const [what, token] of [['another name', `bob:${alice}`], ['a grant as user name', `${bob}:${alice}`]]) {
    const bad = await drive('py_two_cred_bad', token)
    t.same(bad.steps, [], `${what}: refused before any step`)
    // pymilvus reports a refused Connect as its own connection error (code 2, "illegal connection params")
    t.match(bad.error, { message: /UNAUTHENTICATED|illegal connection params/ }, `${what}: ${JSON.stringify(bad.error)}`)
    t.notOk(secrets.some(s => JSON.stringify(bad).includes(s)), `${what}: the error carries no token`)
  }
})

t.test('raw: duplicated authorization, api-key or token beside it are refused and never forwarded', async t => {
  const c = await RawClient.connect(gw.port('milvus'))
  t.teardown(() => c.close())
  const Has = milvusSchema().root.lookupType('milvus.proto.milvus.HasCollectionRequest')
  const body = frameMessage(Has.encode({ collection_name: 'none' }).finish())
  const call = async (id: number, credentials: Array<[string, string]>): Promise<{ status?: string, message?: string }> => {
    const block = c.encoder.encode([[':method', 'POST'], [':scheme', 'http'], [':path', '/milvus.proto.milvus.MilvusService/HasCollection'],
      [':authority', 'milvus'], ['content-type', 'application/grpc'], ['te', 'trailers'], ...credentials])
    c.write(F.headers(id, block, { endStream: false, maxFrameSize: 16384 }), F.data(id, body, true, 16384))
    const s = await c.finished(id)
    return { status: status(s), message: message(s) }
  }
  t.equal((await call(1, [['authorization', b64(alice)]])).status, '0', 'one authorization: served')
  const cases: Array<[string, Array<[string, string]>]> = [
    ['two authorization values', [['authorization', b64(alice)], ['authorization', b64(bob)]]],
    ['the same authorization twice', [['authorization', b64(alice)], ['authorization', b64(alice)]]],
    ['authorization and a Qdrant-style api-key', [['authorization', b64(alice)], ['api-key', bob]]],
    ['api-key before authorization', [['api-key', bob], ['authorization', b64(alice)]]],
    ['authorization and token metadata', [['authorization', b64(alice)], ['token', b64(bob)]]],
    ['a grant in the user name', [['authorization', b64(`${bob}:${alice}`)]]],
    ['api-key alone', [['api-key', alice]]]
  ]
  let id = 3
  for (const [what, creds] of cases) {
    const before = tap.requests.length
    const r = await call(id, creds)
    id += 2
    t.equal(r.status, '16', `${what}: UNAUTHENTICATED`)
    t.notOk(secrets.some(s => String(r.message).includes(s)), `${what}: the message carries no token`)
    t.equal(tap.requests.length, before, `${what}: nothing reached the server`)
  }
  t.equal((await call(id, [['authorization', b64(`:${bob}`)]])).status, '0', 'the connection still serves (an empty user name is no second credential)')
  const upstream = JSON.stringify(tap.requests)
  t.notOk(secrets.some(s => upstream.includes(s)) || upstream.includes('"api-key"') || upstream.includes('"token"'), 'no client credential ever went upstream')
})
