// A Qdrant-protocol upstream for the memory benchmark, in its own process: /qdrant.Points/Search
// answers `limit` points of ~4 KB each (a text and an address in the payload), encoded once per limit
// and then served as bytes, so the peer itself stays cheap. Prints { port } on its first line.
import * as grpc from '@grpc/grpc-js'
import { qdrantSchema } from '../../decoders/qdrant/schema.js'

const root = qdrantSchema().root
const Req = root.lookupType('qdrant.SearchPoints')
const Resp = root.lookupType('qdrant.SearchResponse')
const KEY = process.argv[2] ?? 'memory-upstream-key'
const TEXT = 'lorem ipsum dolor sit amet, consectetur adipiscing elit; '.repeat(70)

const cache = new Map<number, Buffer>()
function answer (limit: number): Buffer {
  let b = cache.get(limit)
  if (b === undefined) {
    const result = Array.from({ length: limit }, (_, i) => ({
      id: { num: i + 1 },
      score: 1 - i / (limit + 1),
      version: 1,
      payload: {
        email: { string_value: `user${i}@example.com` },
        text: { string_value: TEXT },
        n: { integer_value: i }
      }
    }))
    b = Buffer.from(Resp.encode(Resp.fromObject({ result, time: 0.001 })).finish())
    cache.clear() // one size at a time
    cache.set(limit, b)
  }
  return b
}

const same = (b: Buffer): Buffer => b
const server = new grpc.Server({ 'grpc.max_send_message_length': -1, 'grpc.max_receive_message_length': -1 })
server.addService({
  Search: { path: '/qdrant.Points/Search', requestStream: false, responseStream: false, requestSerialize: same, requestDeserialize: same, responseSerialize: same, responseDeserialize: same }
}, {
  Search: (call: grpc.ServerUnaryCall<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>) => {
    if (call.metadata.get('api-key')[0] !== KEY) { cb({ code: grpc.status.UNAUTHENTICATED, details: 'Invalid api-key' }); return }
    const req = Req.decode(call.request) as unknown as { limit: number | { toNumber: () => number } }
    cb(null, answer(typeof req.limit === 'number' ? req.limit : req.limit.toNumber()))
  }
})
const port = await new Promise<number>((resolve, reject) => server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) => e != null ? reject(e) : resolve(p)))
process.stdout.write(JSON.stringify({ port, pointBytes: answer(1).length }) + '\n')
process.on('SIGTERM', () => { server.forceShutdown(); process.exit(0) })
