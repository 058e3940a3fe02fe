/**
 * The HTTP/2 frame relay under protocol stress, with grpc-js as the client (a third HTTP/2 stack beside
 * connect-node and grpcio): many streams with refusals in between, deadlines, cancel, upstream loss,
 * oversize and compressed messages, and input that is not HTTP/2 at all.
 */
import t from 'tap'
import * as grpc from '@grpc/grpc-js'
import net from 'node:net'
import { once } from 'node:events'
import { qdrantSchema } from '../../../decoders/qdrant/schema.js'
import { startCannedUpstream, type CannedUpstream } from '../../helpers/grpc-upstream.js'
import { startRelay, type TestRelay } from '../../helpers/relay.js'

const KEY = 'upstream-key'
const { root } = qdrantSchema()
const T = (n: string) => root.lookupType(n)
const codec = (type: string) => ({
  serialize: (o: object) => Buffer.from(T(type).encode(T(type).fromObject(o)).finish()),
  deserialize: (b: Buffer) => T(type).toObject(T(type).decode(b), { longs: Number, enums: String, defaults: false }) as any
})

function unary (client: grpc.Client, method: string, req: object, md: grpc.Metadata, opts: grpc.CallOptions = {}): Promise<any> {
  const [svc, name] = method.split('/')
  const m = root.lookupService(svc).methods[name]
  const reqC = codec(m.requestType)
  const resC = codec(m.responseType)
  return new Promise((resolve, reject) => {
    client.makeUnaryRequest(`/${method}`, reqC.serialize, resC.deserialize, req, md, opts, (err, res) => err != null ? reject(err) : resolve(res))
  })
}

const mdFor = (token: string): grpc.Metadata => { const m = new grpc.Metadata(); m.set('api-key', token); return m }

let peer: CannedUpstream
let relay: TestRelay
let token: string

t.before(async () => {
  peer = await startCannedUpstream({ apiKey: KEY })
  relay = await startRelay({
    upstream: peer.address,
    apiKey: KEY,
    decide: (_id, op) => op.collection === 'denied'
      ? { effect: 'deny', rule: 'no-denied', reason: 'denied by rule "no-denied"' }
      : { effect: 'allow', rule: 'all', reason: 'ok' },
    limits: { max_message: 64 * 1024 }
  })
  token = await relay.parts.token('tester')
})
t.teardown(async () => { await relay?.close(); await peer?.close() })

t.test('1000 concurrent streams on one connection, a third refused, then no stall', async t => {
  const c = new grpc.Client(relay.address, grpc.credentials.createInsecure(), { 'grpc.max_concurrent_streams': 1000 } as any)
  const calls = Array.from({ length: 1000 }, (_, i) => {
    const collection = i % 3 === 0 ? 'denied' : 'docs'
    return unary(c, 'qdrant.Points/Search', { collection_name: collection, vector: [1, 1, 2, 3], limit: 3 }, mdFor(token)).then(
      (r) => ({ ok: true, n: r.result.length }),
      (e: grpc.ServiceError) => ({ ok: false, code: e.code })
    )
  })
  const results = await Promise.all(calls)
  t.equal(results.filter(r => r.ok).length, 666)
  t.ok(results.filter(r => !r.ok).every(r => (r as any).code === grpc.status.PERMISSION_DENIED), 'refused ones are PERMISSION_DENIED')
  t.ok(results.filter(r => r.ok).every(r => (r as any).n === 3), 'allowed ones got their results')
  const after = await unary(c, 'qdrant.Points/Count', { collection_name: 'docs', exact: true }, mdFor(token))
  t.equal(after.result.count, 20, 'the connection still works afterwards')
  c.close()
})

t.test('finished streams are forgotten: a long-lived connection holds only the calls in flight', async t => {
  const before = relay.relays.length
  const c = new grpc.Client(relay.address, grpc.credentials.createInsecure())
  for (let round = 0; round < 5; round++) {
    await Promise.all(Array.from({ length: 40 }, (_, i) => unary(c, 'qdrant.Points/Search', { collection_name: i % 4 === 0 ? 'denied' : 'docs', vector: [1, 1, 2, 3], limit: 3 }, mdFor(token)).catch(() => undefined)))
  }
  const r = relay.relays[before]
  t.ok(r !== undefined, 'the connection has its relay')
  t.equal(r.activeStreams, 0, 'no stream is kept after its trailers went out')
  c.close()
})

t.test('gzip messages both ways', async t => {
  const c = new grpc.Client(relay.address, grpc.credentials.createInsecure(), { 'grpc.default_compression_algorithm': 2 } as any)
  const r = await unary(c, 'qdrant.Points/Upsert', {
    collection_name: 'docs',
    points: Array.from({ length: 300 }, (_, i) => ({ id: { num: i + 1 }, vectors: { vector: { data: [i, 1, 2, 3] } }, payload: { note: { string_value: 'lorem ipsum '.repeat(5) } } }))
  }, mdFor(token))
  t.equal(r.result.status, 'Completed')
  t.equal(peer.calls.at(-1)!.request.points.length, 300, 'upstream got the whole compressed message')
  c.close()
})

t.test('deadline expiry while upstream is slow', async t => {
  peer.delay.set('Search', 800)
  const c = new grpc.Client(relay.address, grpc.credentials.createInsecure())
  await t.rejects(unary(c, 'qdrant.Points/Search', { collection_name: 'docs', vector: [1, 1, 1, 1], limit: 1 }, mdFor(token), { deadline: Date.now() + 150 }),
    { code: grpc.status.DEADLINE_EXCEEDED })
  peer.delay.delete('Search')
  const ok = await unary(c, 'qdrant.Points/Search', { collection_name: 'docs', vector: [1, 1, 1, 1], limit: 1 }, mdFor(token))
  t.equal(ok.result.length, 1, 'next call fine')
  c.close()
})

t.test('client cancel reaches upstream', async t => {
  peer.delay.set('Search', 2000)
  const c = new grpc.Client(relay.address, grpc.credentials.createInsecure())
  const before = peer.cancelled
  const m = root.lookupService('qdrant.Points').methods.Search
  const call = c.makeUnaryRequest('/qdrant.Points/Search', codec(m.requestType).serialize, codec(m.responseType).deserialize,
    { collection_name: 'docs', vector: [1, 1, 1, 1], limit: 1 }, mdFor(token), () => {})
  await new Promise(resolve => setTimeout(resolve, 200))
  call.cancel()
  const until = Date.now() + 3000
  while (peer.cancelled === before && Date.now() < until) await new Promise(resolve => setTimeout(resolve, 20))
  t.equal(peer.cancelled, before + 1, 'upstream saw the cancellation')
  peer.delay.delete('Search')
  c.close()
})

t.test('a message over the limit is RESOURCE_EXHAUSTED; the connection goes on', async t => {
  const c = new grpc.Client(relay.address, grpc.credentials.createInsecure())
  await t.rejects(unary(c, 'qdrant.Points/Search', { collection_name: 'docs', vector: new Array(20000).fill(0.5), limit: 1 }, mdFor(token)),
    { code: grpc.status.RESOURCE_EXHAUSTED })
  const ok = await unary(c, 'qdrant.Points/Count', { collection_name: 'docs' }, mdFor(token))
  t.equal(ok.result.count, 20)
  c.close()
})

t.test('unknown methods are refused as denied, never UNIMPLEMENTED', async t => {
  const c = new grpc.Client(relay.address, grpc.credentials.createInsecure())
  await t.rejects(new Promise((resolve, reject) => c.makeUnaryRequest('/qdrant.Points/Teleport', (x: Buffer) => x, (x: Buffer) => x, Buffer.alloc(0), mdFor(token), (e, r) => e != null ? reject(e) : resolve(r))),
    { code: grpc.status.PERMISSION_DENIED, details: /not known to vecgate/ })
  c.close()
})

t.test('tokens: none and bad are UNAUTHENTICATED; upstream errors pass through trailers-only', async t => {
  const c = new grpc.Client(relay.address, grpc.credentials.createInsecure())
  await t.rejects(unary(c, 'qdrant.Points/Count', { collection_name: 'docs' }, new grpc.Metadata()), { code: grpc.status.UNAUTHENTICATED })
  await t.rejects(unary(c, 'qdrant.Points/Count', { collection_name: 'docs' }, mdFor('bogus')), { code: grpc.status.UNAUTHENTICATED })
  const err = await unary(c, 'qdrant.Points/Count', { collection_name: 'missing' }, mdFor(token)).catch(e => e)
  t.ok(err.code !== undefined && err.code !== grpc.status.OK, `upstream's own error arrives (${err.code}: ${err.details})`)
  c.close()
})

t.test('bad input on the port: HTTP/1.1, TLS hello, garbage, a lying length prefix', async t => {
  const send = async (bytes: Buffer): Promise<Buffer> => {
    const s = net.connect(relay.port, '127.0.0.1')
    const chunks: Buffer[] = []
    s.on('data', (b: Buffer) => chunks.push(b))
    s.on('error', () => {})
    s.write(bytes)
    await once(s, 'close')
    return Buffer.concat(chunks)
  }
  const http1 = await send(Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n'))
  t.match(http1.toString(), /^HTTP\/1\.1 505/, 'HTTP/1.1 gets a plain answer')
  const tlsHello = Buffer.from('16030100a5010000a10303' + '00'.repeat(64), 'hex')
  t.equal((await send(tlsHello)).length, 0, 'TLS hello: closed without a word')
  t.equal((await send(Buffer.from('\x00\x01garbage garbage garbage garbage'))).length, 0, 'garbage: closed')
  // still serving
  const c = new grpc.Client(relay.address, grpc.credentials.createInsecure())
  t.equal((await unary(c, 'qdrant.Points/Count', { collection_name: 'docs' }, mdFor(token))).result.count, 20, 'others unaffected')
  c.close()
})

t.test('upstream killed mid-call: UNAVAILABLE, the gateway stays up', async t => {
  // a TCP hop we can cut the way a crashed server or a dropped link does: no frames, the socket just ends
  const p2 = await startCannedUpstream({ apiKey: KEY })
  const cut = new Set<net.Socket>()
  const hop = net.createServer((down) => {
    const up = net.connect(p2.port, '127.0.0.1')
    cut.add(down); cut.add(up)
    down.pipe(up); up.pipe(down)
    down.on('error', () => {}); up.on('error', () => {})
  })
  await new Promise<void>(resolve => hop.listen(0, '127.0.0.1', () => resolve()))
  const r2 = await startRelay({ upstream: `127.0.0.1:${(hop.address() as net.AddressInfo).port}`, apiKey: KEY })
  const tok = await r2.parts.token('x')
  const c = new grpc.Client(r2.address, grpc.credentials.createInsecure())
  t.equal((await unary(c, 'qdrant.Points/Count', { collection_name: 'c' }, mdFor(tok))).result.count, 20)
  p2.delay.set('Count', 2000)
  const pending = unary(c, 'qdrant.Points/Count', { collection_name: 'c' }, mdFor(tok))
  await new Promise(resolve => setTimeout(resolve, 200))
  for (const s of cut) s.resetAndDestroy()
  await t.rejects(pending, { code: grpc.status.UNAVAILABLE })
  c.close()
  // the gateway is fine: the other relay still serves
  const c2 = new grpc.Client(relay.address, grpc.credentials.createInsecure())
  t.equal((await unary(c2, 'qdrant.Points/Count', { collection_name: 'docs' }, mdFor(token))).result.count, 20)
  c2.close()
  await r2.close(); hop.close(); await p2.close()
})

t.test('the upstream saw only the backend key', async t => {
  t.ok(peer.calls.length > 600, `${peer.calls.length} calls`)
  t.ok(peer.calls.every(c => c.metadata['api-key'] === KEY))
})
