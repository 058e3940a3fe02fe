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
