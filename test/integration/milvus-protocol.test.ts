/**
 * The core's protocol checks on the Milvus path, against milvus-lite: a request in 1-byte DATA frames,
 * a lying length prefix, an oversized message (RESOURCE_EXHAUSTED), an unknown method (refused as
 * denied, never UNIMPLEMENTED), garbage on the port, and an upstream that is not there (UNAVAILABLE,
 * the gateway stays up). Deadlines and cancels are the relay's own and tested with grpc-js in
 * test/lib/http2/relay.test.ts.
 */
import t from 'tap'
import net from 'node:net'
import * as F from '../../lib/http2/frames.js'
import { Flags, FrameType } from '../../lib/http2/constants.js'
import { milvusSchema } from '../../decoders/milvus/schema.js'
import { frameMessage } from '../../decoders/grpc/messages.js'
import { startMilvus } from '../peers/milvus.js'
import { startTestGateway } from '../helpers/gateway.js'
import { RawClient, status, message } from '../helpers/h2-raw.js'

const milvus = await startMilvus()
t.teardown(() => milvus.close())
const rules = [{ id: 'all', subjects: { users: ['proto'] }, effect: 'allow' }]
const gw = await startTestGateway({
  backends: [
    { name: 'milvus', protocol: 'milvus', upstream: milvus.address, credentials: { username: 'root', password: 'Milvus' } },
    // a second backend whose upstream will go away
    { name: 'doomed', protocol: 'milvus', upstream: '127.0.0.1:9', credentials: {} }
  ],
  policy: { rules },
  limits: { max_message: 64 * 1024 }
})
t.teardown(() => gw.stop())
const token = Buffer.from(await gw.token('proto')).toString('base64')
const root = milvusSchema().root
const Has = root.lookupType('milvus.proto.milvus.HasCollectionRequest')
const hasBody = (name: string): Buffer => frameMessage(Has.encode({ collection_name: name }).finish())
const PATH = '/milvus.proto.milvus.MilvusService/HasCollection'
const headers = (c: RawClient, path = PATH, extra: Array<[string, string]> = []): Buffer =>
  c.encoder.encode([[':method', 'POST'], [':scheme', 'http'], [':path', path], [':authority', 'milvus'], ['content-type', 'application/grpc'], ['te', 'trailers'], ['authorization', token], ...extra])

async function client (port = gw.port('milvus')): Promise<RawClient> {
  const c = await RawClient.connect(port)
  t.teardown(() => c.close())
  return c
}

t.test('a request in 1-byte DATA frames is answered by the server', async t => {
  const c = await client()
  c.write(F.headers(1, headers(c), { endStream: false, maxFrameSize: 16384 }))
  const body = hasBody('nothing_here')
  for (let i = 0; i < body.length; i++) c.write(F.frame(FrameType.DATA, i === body.length - 1 ? Flags.END_STREAM : 0, 1, body.subarray(i, i + 1)))
  const s = await c.finished(1)
  t.equal(status(s), '0')
  const Bool = root.lookupType('milvus.proto.milvus.BoolResponse')
  const reply = Bool.decode(s.data.subarray(5)) as unknown as { value: boolean }
  t.equal(reply.value, false, 'the server answered HasCollection')
})

t.test('lying length prefix: INTERNAL; oversize: RESOURCE_EXHAUSTED; unknown method: PERMISSION_DENIED', async t => {
  const c = await client()
  c.write(F.headers(1, headers(c), { endStream: false, maxFrameSize: 16384 }), F.data(1, Buffer.from([0, 0, 0, 0, 50, 1, 2]), true, 16384))
  t.equal(status(await c.finished(1)), '13')
  const big = frameMessage(Has.encode({ collection_name: 'x'.repeat(70 * 1024) }).finish())
  c.write(F.headers(3, headers(c), { endStream: false, maxFrameSize: 16384 }), F.data(3, big, true, 16384))
  t.equal(status(await c.finished(3)), '8')
  c.write(F.headers(5, headers(c, '/milvus.proto.milvus.MilvusService/NoSuchMethod'), { endStream: false, maxFrameSize: 16384 }), F.data(5, hasBody('a'), true, 16384))
  const u = await c.finished(5)
  t.equal(status(u), '7', 'denied, never UNIMPLEMENTED (12)')
  t.match(message(u), /not known to vecgate/)
  c.write(F.headers(7, headers(c), { endStream: false, maxFrameSize: 16384 }), F.data(7, hasBody('still_serving'), true, 16384))
  t.equal(status(await c.finished(7)), '0', 'the connection still serves')
})

t.test('garbage on the port: closed, the listener keeps serving', async t => {
  const s = net.connect(gw.port('milvus'), '127.0.0.1')
  s.on('error', () => {})
  s.write(Buffer.from('\x00\x01\x02 definitely not HTTP/2 \xff\xfe'))
  await new Promise(resolve => s.on('close', resolve))
  const c = await client()
  c.write(F.headers(1, headers(c), { endStream: false, maxFrameSize: 16384 }), F.data(1, hasBody('after_garbage'), true, 16384))
  t.equal(status(await c.finished(1)), '0')
})

t.test('an upstream that is not there: UNAVAILABLE; the gateway stays up', async t => {
  const c = await client(gw.port('doomed'))
  c.write(F.headers(1, headers(c), { endStream: false, maxFrameSize: 16384 }), F.data(1, hasBody('x'), true, 16384))
  t.equal(status(await c.finished(1)), '14')
  const d = await client()
  d.write(F.headers(1, headers(d), { endStream: false, maxFrameSize: 16384 }), F.data(1, hasBody('fine'), true, 16384))
  t.equal(status(await d.finished(1)), '0', 'the other backend is unaffected')
})
