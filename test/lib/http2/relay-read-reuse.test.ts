/**
 * On plain TCP the relay's reads land in one buffer the connection reuses (lib/net/wire.ts): whatever
 * the relay keeps of a read past it — a frame waiting for flow control or for a decision, a large frame
 * written as it is, a partial frame — must not be overwritten by the next read. Many requests in one
 * read, frames split across reads at every kind of boundary, responses small and large, and a client
 * whose window holds responses back while other reads come and go: every byte must arrive as it left.
 */
import t, { type Test } from 'tap'
import net from 'node:net'
import * as grpc from '@grpc/grpc-js'
import { QdrantService } from '../../../decoders/qdrant/service.js'
import { DEFAULT_LIMITS } from '../../../lib/config/load.js'
import type { BackendConfig } from '../../../lib/config/types.js'
import { GrpcRelay } from '../../../lib/http2/relay.js'
import { nullJournal } from '../../../lib/journal/types.js'
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
/** the same relay without a journal: nothing reads the messages, so more of a read is passed on as views of it */
let bare: { port: number, close: () => Promise<void> }

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
  bare = await startBare(port)
})

t.teardown(async () => {
  await bare.close()
  await relay.close()
  server.forceShutdown()
})

async function startBare (upstreamPort: number): Promise<{ port: number, close: () => Promise<void> }> {
  const backend: BackendConfig = { name: 'qdrant', protocol: 'qdrant', listen: { host: '127.0.0.1', port: 0 }, upstream: { host: '127.0.0.1', port: upstreamPort }, credentials: { api_key: KEY } }
  const pipeline = relay.parts.pipeline(backend, { extra: { journal: nullJournal } })
  const service = new QdrantService()
  const sockets = new Set<net.Socket>()
  const server = net.createServer((socket) => {
    sockets.add(socket)
    socket.on('close', () => sockets.delete(socket))
    const session = pipeline.open({ address: 'test', tls: false })
    void new GrpcRelay(socket, { service, backend, limits: DEFAULT_LIMITS, session, connectUpstream: () => net.connect(upstreamPort, '127.0.0.1') })
  })
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', () => resolve()))
  return {
    port: (server.address() as net.AddressInfo).port,
    close: async () => {
      for (const s of sockets) s.destroy()
      await new Promise<void>(resolve => server.close(() => resolve()))
    }
  }
}

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
async function wide (port: number): Promise<RawClient> {
  const c = await RawClient.connect(port, [[SettingsId.INITIAL_WINDOW_SIZE, 1 << 24]])
  c.write(F.windowUpdate(0, (1 << 30) - 65535))
  // the client answers the server's SETTINGS by itself: that ACK must not land inside a sliced frame
  await c.until(() => c.received(0x4).length > 0)
  return c
}

const done = (c: RawClient, ids: number[]) => () => ids.every(id => c.streams.get(id)?.ended === true || c.streams.get(id)?.reset !== undefined)

for (const label of ['journaled', 'bare']) {
  const portOf = (): number => label === 'bare' ? bare.port : relay.port
  t.test(`${label}: many requests in one write: every request and every answer intact`, async t => {
    const c = await wide(portOf())
    t.teardown(() => c.close())
    const { bytes, ids, names } = calls(c, 1, 60, `one_${label}`)
    c.write(bytes)
    await c.until(done(c, ids), 30_000)
    check(t, c, ids, names)
    for (const n of names) t.ok(seen.includes(n), `upstream got ${n}`)
    if (label === 'journaled') {
      // the journal reads the answers it was handed later (as the disk journal does, in its next batch):
      // they must still be the bytes that came, not what later reads put in their place
      const events = relay.parts.journal.events
      const byCall = new Map<number, string>()
      for (const e of events) if (e.kind === 'request' && e.op?.collection?.startsWith(`one_${label}`) === true) byCall.set(e.call!, e.op.collection)
      let intact = 0
      for (const e of events) {
        const name = byCall.get(e.call!)
        const view = (e.data as { result?: { encode: () => Buffer } } | undefined)?.result
        if (e.kind !== 'response' || name === undefined || view === undefined) continue
        if (JSON.stringify(Resp.toObject(Resp.decode(view.encode()))) === JSON.stringify(Resp.toObject(Resp.decode(answer(name))))) intact++
        else t.fail(`the journal's answer of ${name} changed`)
      }
      t.equal(intact, names.length, 'the journal still reads every answer as it came')
    }
  })

  t.test(`${label}: the same bytes in slices that cut frames anywhere, each slice its own read`, async t => {
    const c = await wide(portOf())
    t.teardown(() => c.close())
    const { bytes, ids, names } = calls(c, 1, 40, `sliced_${label}`)
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

  t.test(`${label}: answers held back by a small window while other reads come and go`, async t => {
    // a 700-byte window per stream: most answers wait in the relay's queues across many reads
    const c = await RawClient.connect(portOf(), [[SettingsId.INITIAL_WINDOW_SIZE, 700]])
    t.teardown(() => c.close())
    await c.until(() => c.received(0x4).length > 0)
    const { bytes, ids, names } = calls(c, 1, 30, `held_${label}`)
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
}
