// Load generator in its own process: unary qdrant.Points/Search top-10 over one HTTP/2 connection with
// grpc-js, N calls at a given concurrency; prints JSON { calls, seconds, rps, p50, p99 } (µs).
import * as grpc from '@grpc/grpc-js'
import * as loader from '@grpc/proto-loader'
import { qdrantSchema } from '../../decoders/qdrant/schema.js'

const [address, apiKey, callsArg, concArg] = process.argv.slice(2)
const calls = Number(callsArg)
const concurrency = Number(concArg)
const def = loader.loadFileDescriptorSetFromBuffer(qdrantSchema().descriptorSet, { keepCase: true, longs: Number, enums: String, defaults: false, oneofs: true })
const pkg = grpc.loadPackageDefinition(def) as any
const client = new pkg.qdrant.Points(address, grpc.credentials.createInsecure())
const md = new grpc.Metadata()
md.set('api-key', apiKey)
const req = { collection_name: 'docs', vector: Array.from({ length: 128 }, (_, i) => i / 128), limit: 10, with_payload: { enable: true } }
const search = async (): Promise<void> => await new Promise((resolve, reject) => client.Search(req, md, (e: Error | null) => e !== null ? reject(e) : resolve()))

for (let i = 0; i < 200; i++) await search() // warm up
const lat = new Float64Array(calls)
let next = 0
const t0 = process.hrtime.bigint()
await Promise.all(Array.from({ length: concurrency }, async () => {
  while (next < calls) {
    const i = next++
    const s = process.hrtime.bigint()
    await search()
    lat[i] = Number(process.hrtime.bigint() - s) / 1000
  }
}))
const seconds = Number(process.hrtime.bigint() - t0) / 1e9
lat.sort()
const q = (p: number): number => Math.round(lat[Math.min(calls - 1, Math.floor(calls * p))])
process.stdout.write(JSON.stringify({ calls, seconds, rps: Math.round(calls / seconds), p50: q(0.5), p99: q(0.99) }) + '\n')
client.close()
