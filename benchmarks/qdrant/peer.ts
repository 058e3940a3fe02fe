// The Qdrant-protocol peer in its own process for the benchmarks, seeded with 1000 points whose
// top-10 Search answers are about 10 KB; prints { port, responseBytes } on its first line.
import { QdrantClient } from '@qdrant/js-client-grpc'
import { startQdrantServer } from '../../test/peers/qdrant-server.js'
import { qdrantSchema } from '../../decoders/qdrant/schema.js'

const KEY = process.argv[2] ?? 'bench-upstream-key'
const peer = await startQdrantServer({ apiKey: KEY })
peer.calls.push = () => 0 // flat memory over long runs
const client = new QdrantClient({ host: '127.0.0.1', port: peer.port, apiKey: KEY, https: false, checkCompatibility: false })
await client.api('collections').create({ collectionName: 'bench', vectorsConfig: { config: { case: 'params', value: { size: 8n, distance: 1 } } } })
const text = 'lorem ipsum dolor sit amet '.repeat(30)
const points = Array.from({ length: 1000 }, (_, i) => ({
  id: { pointIdOptions: { case: 'num' as const, value: BigInt(i + 1) } },
  vectors: { vectorsOptions: { case: 'vector' as const, value: { data: Array.from({ length: 8 }, (_, j) => Math.sin(i * 8 + j)) } } },
  payload: {
    email: { kind: { case: 'stringValue' as const, value: `user${i}@example.com` } },
    text: { kind: { case: 'stringValue' as const, value: text } },
    n: { kind: { case: 'integerValue' as const, value: BigInt(i) } }
  }
}))
await client.api('points').upsert({ collectionName: 'bench', wait: true, points })
const Search = qdrantSchema().root.lookupType('qdrant.SearchPoints')
void Search
const r = await client.api('points').search({ collectionName: 'bench', vector: [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8], limit: 10n, withPayload: { selectorOptions: { case: 'enable', value: true } } })
const Resp = qdrantSchema().root.lookupType('qdrant.SearchResponse')
const responseBytes = Resp.encode(Resp.fromObject({ result: r.result.map(p => ({ id: { num: Number(p.id?.pointIdOptions.value) }, score: p.score, payload: Object.fromEntries(Object.entries(p.payload).map(([k, v]) => [k, v.kind.case === 'stringValue' ? { string_value: v.kind.value } : { integer_value: Number(v.kind.value) }])) })) })).finish().length
process.stdout.write(JSON.stringify({ port: peer.port, responseBytes }) + '\n')
process.on('SIGTERM', () => { void peer.close().then(() => process.exit(0)) })
