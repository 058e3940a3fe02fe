/**
 * Responses many times larger than the stream windows: the relay reads them as messages (the journal
 * and masking see whole messages) while the client's window holds them back. When the client opens
 * its window again, the credit the relay owes upstream must follow; it once stayed owed and such
 * calls stalled forever (a 4 MB Search answer never completed).
 */
import t from 'tap'
import * as grpc from '@grpc/grpc-js'
import { qdrantSchema } from '../../../decoders/qdrant/schema.js'
import { startRelay, type TestRelay } from '../../helpers/relay.js'
import { RawClient, status } from '../../helpers/h2-raw.js'
import * as F from '../../../lib/http2/frames.js'
import { FrameType, SettingsId } from '../../../lib/http2/constants.js'
import { frameMessage } from '../../../decoders/grpc/messages.js'
import type { Masker } from '../../../decoders/types.js'

const KEY = 'upstream-key'
const root = qdrantSchema().root
const Req = root.lookupType('qdrant.SearchPoints')
const Resp = root.lookupType('qdrant.SearchResponse')
const same = (b: Buffer): Buffer => b
const TEXT = 'lorem ipsum dolor sit amet '.repeat(150)

function answer (points: number): Buffer {
  const result = Array.from({ length: points }, (_, i) => ({ id: { num: i + 1 }, score: 1, payload: { text: { string_value: TEXT }, n: { integer_value: i } } }))
  return Buffer.from(Resp.encode(Resp.fromObject({ result })).finish())
}

let server: grpc.Server
let relay: TestRelay
let token: string
let upstreamPort: number

t.before(async () => {
  server = new grpc.Server({ 'grpc.max_send_message_length': -1, 'grpc.max_receive_message_length': -1 })
  server.addService({
    Search: { path: '/qdrant.Points/Search', requestStream: false, responseStream: false, requestSerialize: same, requestDeserialize: same, responseSerialize: same, responseDeserialize: same }
  }, {
    Search: (call: grpc.ServerUnaryCall<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>) => {
      const req = Req.decode(call.request) as unknown as { limit: { toNumber: () => number } | number }
      cb(null, answer(typeof req.limit === 'number' ? req.limit : req.limit.toNumber()))
    }
  })
  const port = await new Promise<number>((resolve, reject) => server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) => e != null ? reject(e) : resolve(p)))
  upstreamPort = port
  relay = await startRelay({ upstream: `127.0.0.1:${port}`, apiKey: KEY })
  token = await relay.parts.token('alice')
})

t.teardown(async () => {
  await relay.close()
  server.forceShutdown()
})

t.test('4 MB and 16 MB answers complete, one after another and side by side on one connection', async t => {
  const client = new grpc.Client(relay.address, grpc.credentials.createInsecure(), { 'grpc.max_receive_message_length': -1 })
  t.teardown(() => client.close())
  const md = new grpc.Metadata()
  md.set('api-key', token)
  const call = async (points: number): Promise<Buffer> => await new Promise((resolve, reject) => {
    const req = Buffer.from(Req.encode({ collection_name: 'docs', vector: [0.1], limit: points }).finish())
    client.makeUnaryRequest('/qdrant.Points/Search', same, same, req, md, (e, r) => e != null ? reject(e) : resolve(r!))
  })
  for (const points of [1000, 4000]) {
    const got = await call(points)
    t.equal(got.length, answer(points).length, `${points} points arrive whole`)
  }
  const together = await Promise.all([call(1000), call(1000), call(1000)])
  t.same(together.map(b => b.length), [1, 2, 3].map(() => answer(1000).length))
})

t.test('a masked answer is re-framed to fit any window, down to less than its 5-byte prefix', async t => {
  // a mask that changes every point: the relay sends a rebuilt message (its prefix, then its body)
  const upper: Masker = {
    name: 'upper',
    vectors: 'keep',
    touches: (p) => p === 'text',
    scalar: (_p, v) => typeof v === 'string' ? v.toUpperCase() : v,
    document: (doc) => { if (typeof doc.text === 'string') { doc.text = doc.text.toUpperCase(); return true } return false },
    vector: (v) => v
  }
  const masked = await startRelay({ upstream: `127.0.0.1:${upstreamPort}`, apiKey: KEY, decide: () => ({ effect: 'allow', reason: 'ok', mask: 'upper' }), masks: new Map([['upper', upper]]) })
  t.teardown(() => masked.close())
  const tok = await masked.parts.token('alice')
  // stream windows of 3 bytes: every DATA frame toward the client is at most what was granted
  const c = await RawClient.connect(masked.port, [[SettingsId.INITIAL_WINDOW_SIZE, 3]])
  t.teardown(() => c.close())
  const req = frameMessage(Req.encode({ collection_name: 'docs', vector: [0.1], limit: 3 }).finish())
  c.write(F.headers(1, c.encoder.encode(c.grpcHeaders('/qdrant.Points/Search', tok)), { endStream: false, maxFrameSize: 16384 }), F.data(1, req, true, 16384))
  let granted = 3
  for (let i = 0; i < 100_000 && c.streams.get(1)?.ended !== true; i++) {
    await c.until(() => received(c) >= granted || c.streams.get(1)?.ended === true)
    const step = 1 + (i % 7)
    granted += step
    c.write(F.windowUpdate(1, step))
  }
  const s = await c.finished(1)
  t.equal(status(s), '0')
  const sizes = c.received(FrameType.DATA).filter(f => f.streamId === 1).map(f => f.length)
  t.ok(sizes.every(n => n <= 7), 'no DATA frame larger than the window granted')
  t.ok(sizes.some(n => n > 0 && n < 5), 'the prefix itself was split')
  t.equal(s.data.readUInt32BE(1), s.data.length - 5, 'one whole message')
  const got = Resp.decode(s.data.subarray(5)) as unknown as { result: Array<{ payload: Record<string, { string_value: string }> }> }
  t.equal(got.result.length, 3)
  t.ok(got.result.every(p => p.payload.text.string_value === TEXT.toUpperCase()), 'every point masked')
})

function received (c: RawClient): number {
  return c.received(FrameType.DATA).filter(f => f.streamId === 1).reduce((n, f) => n + f.length, 0)
}
