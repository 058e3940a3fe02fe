/**
 * Masking through the official gRPC clients: Qdrant (JS client over connect-node, which gzips) and
 * Milvus (Node SDK) against their real or faithful servers. Configured fields and detected values come
 * back masked, vectors dropped or rounded per profile, everything else exactly as direct; the journal
 * keeps what the client received, never the raw values.
 */
import t from 'tap'
import { QdrantClient } from '@qdrant/js-client-grpc'
import { DataType, MilvusClient } from '@zilliz/milvus2-sdk-node'
import { startQdrantServer } from '../peers/qdrant-server.js'
import { startMilvus } from '../peers/milvus.js'
import { startTestGateway } from '../helpers/gateway.js'
import { JournalReader } from '../../lib/journal/reader.js'

const masking = {
  profiles: {
    pii: { fields: ['email', 'customer.phone'], detectors: ['email', 'credit_card'], action: 'redact', vectors: 'drop' },
    rounded: { fields: ['email'], detectors: [], action: 'hash', vectors: 'round', round_bits: 4 }
  }
}
const rules = [
  { id: 'admins', subjects: { groups: ['admins'] }, effect: 'allow' },
  { id: 'analysts', subjects: { groups: ['analysts'] }, actions: ['read', 'search'], effect: 'allow', mask: 'pii' },
  { id: 'scientists', subjects: { groups: ['scientists'] }, actions: ['read', 'search'], effect: 'allow', mask: 'rounded' }
]

t.test('Qdrant: payload fields, detected values and vectors masked; the rest as direct', async t => {
  const KEY = 'mask-qdrant-key'
  const peer = await startQdrantServer({ apiKey: KEY })
  t.teardown(() => peer.close())
  const gw = await startTestGateway({ backends: [{ name: 'qdrant', protocol: 'qdrant', upstream: peer.address, credentials: { api_key: KEY } }], policy: { rules }, masking })
  t.teardown(() => gw.stop())
  const port = gw.port('qdrant')
  const mk = (apiKey: string, p = port): QdrantClient => new QdrantClient({ host: '127.0.0.1', port: p, apiKey, https: false, checkCompatibility: false })
  const admin = mk(await gw.token('root', { groups: ['admins'] }))
  const analyst = mk(await gw.token('alice', { groups: ['analysts'] }))
  const scientist = mk(await gw.token('sam', { groups: ['scientists'] }))
  const direct = mk(KEY, Number(peer.address.split(':')[1]))
  const s = (v: string) => ({ kind: { case: 'stringValue' as const, value: v } })
  await admin.api('collections').create({ collectionName: 'people', vectorsConfig: { config: { case: 'params', value: { size: 4n, distance: 1 } } } })
  await admin.api('points').upsert({
    collectionName: 'people',
    wait: true,
    points: Array.from({ length: 30 }, (_, i) => ({
      id: { pointIdOptions: { case: 'num' as const, value: BigInt(i + 1) } },
      vectors: { vectorsOptions: { case: 'vector' as const, value: { data: [0.123456 + i, 0.5, 0.25, 1] } } },
      payload: {
        name: s(`person ${i + 1}`),
        email: s(`p${i + 1}@example.com`),
        note: s(`card 4111 1111 1111 1111 and mail x${i}@corp.example`),
        customer: { kind: { case: 'structValue' as const, value: { fields: { phone: s('+1 555 0100'), city: s('Oslo') } } } },
        long: s('lorem ipsum '.repeat(200))
      }
    }))
  })
  const req = { collectionName: 'people', vector: [1, 0.5, 0.25, 1], limit: 20n, withPayload: { selectorOptions: { case: 'enable' as const, value: true } }, withVectors: { selectorOptions: { case: 'enable' as const, value: true } } }
  const want = await direct.api('points').search(req)
  const got = await analyst.api('points').search(req)
  t.equal(got.result.length, 20)
  for (let i = 0; i < got.result.length; i++) {
    const g = got.result[i]; const w = want.result[i]
    t.equal(g.id?.pointIdOptions.value, w.id?.pointIdOptions.value, 'same points in the same order')
    t.equal(g.score, w.score)
    const p = g.payload
    t.notMatch(JSON.stringify(p, (_k, v) => typeof v === 'bigint' ? String(v) : v), /@example\.com|4111 1111|@corp\.example|555 0100/, 'no personal value survives')
    t.same(p.name, w.payload.name, 'unmasked fields exactly as direct')
    t.same(p.long, w.payload.long)
    t.same((p.customer.kind.value as any).fields.city, (w.payload.customer.kind.value as any).fields.city, 'a sibling of a masked nested field is kept')
    t.equal(g.vectors, undefined, 'vectors dropped')
  }
  const rounded = await scientist.api('points').search(req)
  const v = (rounded.result[0].vectors?.vectorsOptions.value as any)
  const dv = (want.result[0].vectors?.vectorsOptions.value as any)
  const data: number[] = v.data.length > 0 ? v.data : v.vector?.value?.data
  const ddata: number[] = dv.data.length > 0 ? dv.data : dv.vector?.value?.data
  t.equal(data.length, 4)
  t.not(data[0], ddata[0], 'rounded')
  t.ok(Math.abs(data[0] - ddata[0]) / Math.abs(ddata[0]) < 0.07, 'to a few bits of mantissa, close to the original')
  const e1 = (rounded.result[0].payload.email.kind.value as string)
  t.notMatch(e1, /@/, 'hashed')
  const again = await scientist.api('points').search(req)
  t.equal(again.result[0].payload.email.kind.value, e1, 'the same value hashes the same (joins still work)')

  await gw.gw.parts.journal.flush()
  const r = new JournalReader(gw.config.journal.path)
  t.teardown(() => r.close())
  const all = r.sessions({ user: 'alice' }).flatMap(x => r.events(x.id)).map(e => JSON.stringify(e.body)).join('\n')
  t.match(all, /person 1/, 'the journal has what alice received')
  t.notMatch(all, /p1@example\.com|4111 1111 1111 1111/, 'never the raw values')
})

t.test('Milvus: VarChar and JSON fields masked, vectors dropped; the rest as direct', async t => {
  const milvus = await startMilvus()
  t.teardown(() => milvus.close())
  const gw = await startTestGateway({ backends: [{ name: 'milvus', protocol: 'milvus', upstream: milvus.address, credentials: { username: 'root', password: 'Milvus' } }], policy: { rules }, masking })
  t.teardown(() => gw.stop())
  const clients: MilvusClient[] = []
  t.teardown(async () => { for (const c of clients) await c.closeConnection().catch(() => {}) })
  const mk = (address: string, token: string): MilvusClient => { const c = new MilvusClient({ address, token, timeout: 20_000 }); c.connectPromise.catch(() => {}); clients.push(c); return c }
  const direct = mk(milvus.address, 'root:Milvus')
  const analyst = mk(gw.address('milvus'), await gw.token('alice', { groups: ['analysts'] }))
  await direct.createCollection({
    collection_name: 'people',
    enable_dynamic_field: true,
    fields: [
      { name: 'id', data_type: DataType.Int64, is_primary_key: true },
      { name: 'vec', data_type: DataType.FloatVector, dim: 4 },
      { name: 'email', data_type: DataType.VarChar, max_length: 128 },
      { name: 'name', data_type: DataType.VarChar, max_length: 128 },
      { name: 'customer', data_type: DataType.JSON }
    ]
  })
  await direct.insert({ collection_name: 'people', data: Array.from({ length: 8 }, (_, i) => ({ id: i, vec: [i, 1, 0, 0], email: `p${i}@example.com`, name: `person ${i}`, customer: { phone: '+1 555 0100', city: 'Oslo' }, note: `mail me at n${i}@corp.example` })) })
  await direct.createIndex({ collection_name: 'people', field_name: 'vec', index_type: 'FLAT', metric_type: 'L2' })
  await direct.loadCollection({ collection_name: 'people' })
  const req = { collection_name: 'people', data: [[2, 1, 0, 0]], limit: 5, output_fields: ['id', 'email', 'name', 'customer', 'note', 'vec'] }
  const want = await direct.search(req)
  const got = await analyst.search(req)
  t.equal(got.status.error_code, 'Success', got.status.reason)
  t.same(got.results.map(r => r.id), want.results.map(r => r.id), 'same rows in the same order')
  for (let i = 0; i < got.results.length; i++) {
    const g = got.results[i] as Record<string, any>; const w = want.results[i] as Record<string, any>
    t.notMatch(JSON.stringify(g), /@example\.com|@corp\.example|555 0100/, 'no personal value survives')
    t.equal(g.name, w.name, 'unmasked column as direct')
    t.equal(g.customer?.city, 'Oslo', 'a sibling key of a masked JSON path is kept')
    t.notOk(Array.isArray(g.vec) && g.vec.length > 0 && g.vec.some((x: number) => x !== 0), 'vectors dropped')
  }
  const q = await analyst.query({ collection_name: 'people', filter: 'id in [1, 2]', output_fields: ['id', 'email', 'name'] })
  t.equal(q.data.length, 2)
  t.notMatch(JSON.stringify(q.data), /@example\.com/, 'query results masked too')
})
