/**
 * THREATS.md "Slow clients": a client that opens its HTTP/2 windows wide, asks for far more than it
 * will ever read and then stops reading its socket must not make the gateway buffer without bound.
 * Flow control does not help here (the windows allow everything), so the TCP back-pressure must: the
 * relay stops reading upstream while the client's socket is full. Once the client reads again every
 * call completes whole.
 */
import t from 'tap'
import * as grpc from '@grpc/grpc-js'
import * as F from '../../../lib/http2/frames.js'
import { qdrantSchema } from '../../../decoders/qdrant/schema.js'
import { frameMessage } from '../../../decoders/grpc/messages.js'
import { startRelay } from '../../helpers/relay.js'
import { RawClient, status } from '../../helpers/h2-raw.js'

const KEY = 'unread-upstream-key'
const root = qdrantSchema().root
const Req = root.lookupType('qdrant.SearchPoints')
const Resp = root.lookupType('qdrant.SearchResponse')
const same = (b: Buffer): Buffer => b
const TEXT = 'lorem ipsum dolor sit amet '.repeat(150)
const POINTS = 250
const answer = Buffer.from(Resp.encode(Resp.fromObject({
  result: Array.from({ length: POINTS }, (_, i) => ({ id: { num: i + 1 }, score: 1, payload: { text: { string_value: TEXT } } }))
})).finish())
const CALLS = 32
const ASKED = CALLS * answer.length
// what the gateway may hold for this client: a small part of what was asked
const BOUND = ASKED / 4

const server = new grpc.Server({ 'grpc.max_send_message_length': -1, 'grpc.max_receive_message_length': -1 })
server.addService({
  Search: { path: '/qdrant.Points/Search', requestStream: false, responseStream: false, requestSerialize: same, requestDeserialize: same, responseSerialize: same, responseDeserialize: same }
}, { Search: (_call: grpc.ServerUnaryCall<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>) => cb(null, answer) })
const port = await new Promise<number>((resolve, reject) => server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) => e != null ? reject(e) : resolve(p)))
t.teardown(() => server.forceShutdown())
const relay = await startRelay({ upstream: `127.0.0.1:${port}`, apiKey: KEY })
t.teardown(() => relay.close())
const token = await relay.parts.token('alice')

interface RelayInside { client: import('node:net').Socket, upstream: import('node:net').Socket }

t.test('a client that stops reading: the relay stops reading upstream; memory stays bounded; then all complete', async t => {
  // windows as wide as HTTP/2 allows, so only TCP back-pressure can hold the answers (RFC 9113 §6.9.1)
  const c = await RawClient.connect(relay.port, [[0x4, 2 ** 31 - 1], [0x5, (1 << 24) - 1]])
  t.teardown(() => c.close())
  c.write(F.windowUpdate(0, 2 ** 31 - 1 - 65535))
  await c.until(() => c.received(0x4).length > 0)
  c.socket.pause()
  const req = frameMessage(Req.encode({ collection_name: 'docs', vector: [0.1], limit: POINTS }).finish())
  for (let i = 0; i < CALLS; i++) {
    const id = 1 + 2 * i
    c.write(F.headers(id, c.encoder.encode(c.grpcHeaders('/qdrant.Points/Search', token)), { endStream: false, maxFrameSize: 16384 }), F.data(id, req, true, 16384))
  }
  const inside = relay.relays.at(-1) as unknown as RelayInside
  // wait for what decides the test: either the relay pauses its upstream, or it has buffered past the bound
  while (!inside.upstream.isPaused() && inside.client.writableLength <= BOUND) await new Promise(resolve => setTimeout(resolve, 20))
  t.ok(inside.upstream.isPaused(), 'the relay stopped reading upstream')
  t.ok(inside.client.writableLength <= BOUND, `buffered for the client: ${inside.client.writableLength} bytes of ${ASKED} asked (bound ${BOUND})`)

  c.socket.resume()
  const ids = Array.from({ length: CALLS }, (_, i) => 1 + 2 * i)
  // a generous wait for ~30 MB through the test's own (simple, copying) frame reader; the test is about completion
  await c.until(() => ids.every(id => c.streams.get(id)?.ended === true || c.streams.get(id)?.reset !== undefined), 120_000)
  for (let i = 0; i < CALLS; i++) {
    const s = c.streams.get(1 + 2 * i)!
    t.equal(status(s), '0')
    t.equal(s.data.length, answer.length + 5, `call ${i + 1} arrived whole`)
  }
})
