// Load generator in its own process: Milvus Search (top-10) with the official Node SDK, N calls at a
// concurrency; prints { calls, seconds, rps, p50, p99 } (µs) as JSON.
import { MilvusClient } from '@zilliz/milvus2-sdk-node'

const [address, token, callsArg, concArg] = process.argv.slice(2)
const calls = Number(callsArg)
const concurrency = Number(concArg)
const c = new MilvusClient({ address, token, timeout: 30_000 })
await c.connectPromise
const search = async (i: number): Promise<void> => {
  const r = await c.search({ collection_name: 'bench', data: [[Math.sin(i), Math.cos(i), 0.5, 0.1, 0.2, 0.3, 0.4, 0.5]], limit: 10, output_fields: ['id', 'title', 'email'] })
  if (r.status.error_code !== 'Success') throw new Error(r.status.reason)
}
for (let i = 0; i < 30; i++) await search(i)
const lat = new Float64Array(calls)
let next = 0
const t0 = process.hrtime.bigint()
await Promise.all(Array.from({ length: concurrency }, async () => {
  while (next < calls) {
    const i = next++
    const s = process.hrtime.bigint()
    await search(i)
    lat[i] = Number(process.hrtime.bigint() - s) / 1000
  }
}))
const seconds = Number(process.hrtime.bigint() - t0) / 1e9
lat.sort()
const q = (p: number): number => Math.round(lat[Math.min(calls - 1, Math.floor(calls * p))])
process.stdout.write(JSON.stringify({ calls, seconds, rps: Math.round(calls / seconds), p50: q(0.5), p99: q(0.99) }) + '\n')
await c.closeConnection()
process.exit(0)
