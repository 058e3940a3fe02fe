/**
 * On plain TCP the relay's reads land in one buffer the connection reuses (lib/net/wire.ts): whatever
 * the relay keeps of a read past it — a frame waiting for flow control or for a decision, a large frame
 * written as it is, a partial frame — must not be overwritten by the next read. Many requests in one
 * read, frames split across reads at every kind of boundary, responses small and large, and a client
 * whose window holds responses back while other reads come and go: every byte must arrive as it left.
 */
import t, { type Test } from 'tap'
import * as grpc from '@grpc/grpc-js'
import { qdrantSchema } from '../../../decoders/qdrant/schema.js'
import { frameMessage } from '../../../decoders/grpc/messages.js'
import * as F from '../../../lib/http2/frames.js'
import { SettingsId } from '../../../lib/http2/constants.js'
import { startRelay, type TestRelay } from '../../helpers/relay.js'
import { RawClient, status } from '../../helpers/h2-raw.js'

const KEY = 'reuse-upstream-key'
const root = qdrantSchema().root
const Req = root.lookupType('qdrant.SearchPoints')
const Resp = root.lookupType('qdrant.SearchResponse')
const same = (b: Buffer): Buffer => b

/** the answer to a request naming `name`: its size (a few bytes to ~40 KB) and its bytes follow from the name */
function answer (name: string): Buffer {
  const n = Number(name.split('-')[1])
  const points = [1, 3, 40, 150, 7, 90][n % 6]
  const result = Array.from({ length: points }, (_, i) => ({ id: { num: n * 1000 + i }, score: 1, payload: { text: { string_value: `${name}:${i}:`.repeat(8) } } }))
  return Buffer.from(Resp.encode(Resp.fromObject({ result })).finish())
}
const request = (name: string): Buffer => frameMessage(Req.encode({ collection_name: name, vector: Array.from({ length: 1 + (Number(name.split('-')[1]) % 5) * 40 }, (_, i) => i / 7), limit: 5 }).finish())

const seen: string[] = []
let server: grpc.Server
let relay: TestRelay
let token: string

t.before(async () => {
  server = new grpc.Server({ 'grpc.max_send_message_length': -1, 'grpc.max_receive_message_length': -1 })
  server.addService({
    Search: { path: '/qdrant.Points/Search', requestStream: false, responseStream: false, requestSerialize: same, requestDeserialize: same, responseSerialize: same, responseDeserialize: same }
  }, {
    Search: (call: grpc.ServerUnaryCall<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>) => {
      const name = (Req.decode(call.request) as unknown as { collection_name: string }).collection_name
      seen.push(name)
      // a request that changed on the way gets an answer that does not match what the client expects
      if (!call.request.equals(request(name).subarray(5))) { cb(null, Buffer.from('request corrupted')); return }
      cb(null, answer(name))
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

function calls (c: RawClient, first: number, count: number, tag: string): { bytes: Buffer, ids: number[], names: string[] } {
  const parts: Buffer[] = []
  const ids: number[] = []
  const names: string[] = []
  for (let i = 0; i < count; i++) {
    const id = first + 2 * i
    const name = `${tag}-${i}-${'x'.repeat(i % 13)}`
    ids.push(id)
    names.push(name)
    parts.push(F.headers(id, c.encoder.encode(c.grpcHeaders('/qdrant.Points/Search', token)), { endStream: false, maxFrameSize: 16384 }))
    // the message in one DATA frame or in several
    const body = request(name)
    if (i % 3 === 0) parts.push(F.data(id, body, true, 16384))
    else parts.push(F.frame(0x0, 0, id, body.subarray(0, 7)), F.frame(0x0, 0, id, body.subarray(7, body.length - 3)), F.frame(0x0, 1, id, body.subarray(body.length - 3)))
  }
  return { bytes: Buffer.concat(parts), ids, names }
}

function check (t: Test, c: RawClient, ids: number[], names: string[]): void {
  let whole = 0
  for (let i = 0; i < ids.length; i++) {
    const s = c.streams.get(ids[i])!
    const want = answer(names[i])
    if (status(s) === '0' && s.data.length === want.length + 5 && s.data.subarray(5).equals(want)) whole++
    else t.fail(`stream ${ids[i]} (${names[i]}): status ${status(s)}, ${s.data.length} bytes, want ${want.length + 5}`)
  }
  t.equal(whole, ids.length, `all ${ids.length} answers arrived byte for byte`)
}

/** a client whose windows never hold an answer back */
async function wide (): Promise<RawClient> {
  const c = await RawClient.connect(relay.port, [[SettingsId.INITIAL_WINDOW_SIZE, 1 << 24]])
  c.write(F.windowUpdate(0, (1 << 30) - 65535))
  // the client answers the server's SETTINGS by itself: that ACK must not land inside a sliced frame
  await c.until(() => c.received(0x4).length > 0)
  return c
}

const done = (c: RawClient, ids: number[]) => () => ids.every(id => c.streams.get(id)?.ended === true || c.streams.get(id)?.reset !== undefined)

t.test('many requests in one write: every request and every answer intact', async t => {
  const c = await wide()
  t.teardown(() => c.close())
  const { bytes, ids, names } = calls(c, 1, 60, 'one')
  c.write(bytes)
  await c.until(done(c, ids), 30_000)
  check(t, c, ids, names)
  for (const n of names) t.ok(seen.includes(n), `upstream got ${n}`)
})

t.test('the same bytes in slices that cut frames anywhere, each slice its own read', async t => {
  const c = await wide()
  t.teardown(() => c.close())
  const { bytes, ids, names } = calls(c, 1, 40, 'sliced')
  // slice sizes cut through frame headers, HEADERS blocks, gRPC prefixes and payloads
  const sizes = [1, 2, 5, 9, 10, 17, 31, 64, 100, 257, 1000, 3]
  for (let at = 0, k = 0; at < bytes.length; k++) {
    const n = sizes[k % sizes.length]
    c.socket.write(bytes.subarray(at, at + n))
    at += n
    // let the relay read each slice alone
    await new Promise(resolve => setTimeout(resolve, k % 4 === 0 ? 2 : 0))
  }
  await c.until(done(c, ids), 30_000)
  check(t, c, ids, names)
})

t.test('answers held back by a small window while other reads come and go', async t => {
  // a 700-byte window per stream: most answers wait in the relay's queues across many reads
  const c = await RawClient.connect(relay.port, [[SettingsId.INITIAL_WINDOW_SIZE, 700]])
  t.teardown(() => c.close())
  await c.until(() => c.received(0x4).length > 0)
  const { bytes, ids, names } = calls(c, 1, 30, 'held')
  c.write(bytes)
  // more traffic on the connection: every PING is a read of its own that reuses the buffer
  for (let round = 0; round < 400 && !done(c, ids)(); round++) {
    c.write(F.ping(Buffer.from(`ping${String(round % 10000).padStart(4, '0')}`), false))
    const grants = ids.map(id => F.windowUpdate(id, 500))
    c.write(...grants, F.windowUpdate(0, 30 * 500))
    await new Promise(resolve => setTimeout(resolve, 5))
  }
  await c.until(done(c, ids), 30_000)
  check(t, c, ids, names)
})
