/**
 * The relay over TLS on both sides, built as the gateway builds it (lib/listeners/tls.ts for the
 * listener with ALPN h2, lib/upstream/connect.ts for a verified TLS upstream with ALPN h2): grpc-js
 * calls through it, raw frames (CONTINUATION, 1-byte DATA) survive TLS record boundaries, large
 * responses flow; and every mismatch is a clean refusal that leaves the listener serving — plaintext
 * HTTP/2 to the TLS port, TLS to a plaintext port, a client without h2 in ALPN, a TLS connector aimed
 * at a plaintext upstream, a plaintext connector aimed at a TLS upstream.
 */
import t from 'tap'
import { execFileSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import net from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import tls from 'node:tls'
import * as grpc from '@grpc/grpc-js'
import { qdrantSchema } from '../../../decoders/qdrant/schema.js'
import { QdrantService } from '../../../decoders/qdrant/service.js'
import { frameMessage } from '../../../decoders/grpc/messages.js'
import { DEFAULT_LIMITS } from '../../../lib/config/load.js'
import type { BackendConfig } from '../../../lib/config/types.js'
import { Flags, FrameType } from '../../../lib/http2/constants.js'
import * as F from '../../../lib/http2/frames.js'
import { GrpcRelay } from '../../../lib/http2/relay.js'
import { listenerTls } from '../../../lib/listeners/tls.js'
import { upstreamConnector } from '../../../lib/upstream/connect.js'
import { startCannedUpstream } from '../../helpers/grpc-upstream.js'
import { RawClient, status } from '../../helpers/h2-raw.js'
import { testParts } from '../../helpers/parts.js'

const dir = mkdtempSync(join(tmpdir(), 'vecgate-relay-tls-'))
t.teardown(() => rmSync(dir, { recursive: true, force: true }))
function cert (name: string): { cert: string, key: string } {
  const key = join(dir, `${name}.key`); const crt = join(dir, `${name}.crt`)
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', key, '-out', crt, '-days', '1',
    '-subj', `/CN=${name}`, '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost'], { stdio: 'ignore' })
  return { cert: crt, key }
}
const gwCert = cert('relay')
const upCert = cert('upstream')
const gwCa = readFileSync(gwCert.cert)

const KEY = 'relay-tls-key'
const tlsUpstream = await startCannedUpstream({ apiKey: KEY, tls: { cert: readFileSync(upCert.cert), key: readFileSync(upCert.key) } })
t.teardown(() => tlsUpstream.close())
const plainUpstream = await startCannedUpstream({ apiKey: KEY })
t.teardown(() => plainUpstream.close())
const parts = await testParts()
t.teardown(() => parts.cleanup())
const token = await parts.token('tls-relay')

/** a listener as the gateway makes it: TLS (ALPN h2) when `tlsOn`, each connection a GrpcRelay */
async function listen (opts: { tlsOn: boolean, upstream: string, upstreamTls: boolean }): Promise<{ port: number, relays: GrpcRelay[] }> {
  const [host, port] = opts.upstream.split(':')
  const backend: BackendConfig = {
    name: 'qdrant',
    protocol: 'qdrant',
    listen: { host: '127.0.0.1', port: 0 },
    upstream: { host, port: Number(port) },
    credentials: { api_key: KEY },
    ...(opts.tlsOn ? { tls: { cert: gwCert.cert, key: gwCert.key } } : {}),
    ...(opts.upstreamTls ? { upstream_tls: { ca: upCert.cert } } : {})
  }
  const pipeline = parts.pipeline(backend)
  const connectUpstream = upstreamConnector(backend)
  const service = new QdrantService()
  const relays: GrpcRelay[] = []
  const sockets = new Set<net.Socket>()
  const onSocket = (socket: net.Socket, tlsOn: boolean): void => {
    sockets.add(socket)
    socket.on('close', () => sockets.delete(socket))
    socket.on('error', () => {})
    const session = pipeline.open({ address: `${socket.remoteAddress ?? '?'}:${socket.remotePort ?? 0}`, tls: tlsOn })
    relays.push(new GrpcRelay(socket, { service, backend, limits: DEFAULT_LIMITS, session, connectUpstream }))
  }
  const options = listenerTls(backend)
  const server = options !== undefined
    ? tls.createServer(options, (s) => onSocket(s, true))
    : net.createServer((s) => onSocket(s, false))
  server.on('tlsClientError', () => {})
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', () => resolve()))
  t.teardown(async () => {
    for (const s of sockets) s.destroy()
    await new Promise<void>(resolve => server.close(() => resolve()))
  })
  return { port: (server.address() as net.AddressInfo).port, relays }
}

const { root } = qdrantSchema()
const T = (n: string): any => root.lookupType(n)
function unary (port: number, tlsOn: boolean, method: string, req: object, reqType: string, resType: string): Promise<{ code: number, details?: string, res?: any }> {
  const creds = tlsOn ? grpc.credentials.createSsl(gwCa) : grpc.credentials.createInsecure()
  const client = new grpc.Client(`127.0.0.1:${port}`, creds)
  const md = new grpc.Metadata()
  md.set('api-key', token)
  return new Promise(resolve => {
    client.makeUnaryRequest(method, (o: object) => Buffer.from(T(reqType).encode(T(reqType).fromObject(o)).finish()),
      (b: Buffer) => T(resType).toObject(T(resType).decode(b), { longs: Number, defaults: false }), req, md, { deadline: Date.now() + 10_000 },
      (e, r) => { client.close(); resolve(e != null ? { code: e.code, details: e.details } : { code: 0, res: r }) })
  })
}
const count = (port: number, tlsOn: boolean): Promise<{ code: number, details?: string, res?: any }> =>
  unary(port, tlsOn, '/qdrant.Points/Count', { collection_name: 'docs', exact: true }, 'qdrant.CountPoints', 'qdrant.CountResponse')

const tlsBoth = await listen({ tlsOn: true, upstream: tlsUpstream.address, upstreamTls: true })
const plainBoth = await listen({ tlsOn: false, upstream: plainUpstream.address, upstreamTls: false })

t.test('grpc-js over TLS → relay (ALPN h2) → TLS upstream (verified, ALPN h2)', async t => {
  const before = tlsUpstream.calls.length
  const r = await count(tlsBoth.port, true)
  t.equal(r.code, 0, r.details)
  t.same(r.res, { result: { count: 20 }, time: 0.001 })
  t.equal(tlsUpstream.calls.length, before + 1)
  t.equal(tlsUpstream.calls.at(-1)?.metadata['api-key']?.toString(), KEY, 'the backend key, not the client token')
  const s = tls.connect({ host: '127.0.0.1', port: tlsBoth.port, ca: gwCa, ALPNProtocols: ['h2', 'http/1.1'] })
  await new Promise<void>((resolve, reject) => { s.once('secureConnect', () => resolve()); s.once('error', reject) })
  t.equal(s.alpnProtocol, 'h2', 'h2 chosen over http/1.1')
  s.destroy()
})

t.test('over TLS: 200 concurrent calls and a large response through flow control', async t => {
  const rs = await Promise.all(Array.from({ length: 200 }, async () => await count(tlsBoth.port, true)))
  t.equal(rs.filter(r => r.code === 0).length, 200, 'all 200 succeed')
  const big = await unary(tlsBoth.port, true, '/qdrant.Points/Search', { collection_name: 'docs', vector: [0.1, 0.2], limit: 20000 }, 'qdrant.SearchPoints', 'qdrant.SearchResponse')
  t.equal(big.code, 0, big.details)
  t.equal(big.res?.result?.length, 20000, 'a response of several hundred KB, larger than every initial window')
})

t.test('raw frames over TLS: CONTINUATION, 1-byte DATA frames, PING', async t => {
  const c = await RawClient.connect(tlsBoth.port, [], { tls: { ca: gwCa } })
  t.teardown(() => c.close())
  const block = c.encoder.encode(c.grpcHeaders('/qdrant.Points/Count', token))
  c.write(F.frame(FrameType.HEADERS, 0, 1, block.subarray(0, 7)), F.frame(FrameType.CONTINUATION, 0, 1, block.subarray(7, 9)), F.frame(FrameType.CONTINUATION, Flags.END_HEADERS, 1, block.subarray(9)))
  const body = frameMessage(T('qdrant.CountPoints').encode({ collection_name: 'tls-one-byte', exact: true }).finish())
  for (let i = 0; i < body.length; i++) c.write(F.frame(FrameType.DATA, i === body.length - 1 ? Flags.END_STREAM : 0, 1, body.subarray(i, i + 1)))
  t.equal(status(await c.finished(1)), '0')
  t.equal(tlsUpstream.calls.at(-1)?.request.collection_name, 'tls-one-byte')
  c.write(F.ping(Buffer.from('tls-ping'), false))
  await c.until(() => c.received(FrameType.PING).some(f => (f.flags & Flags.ACK) !== 0 && f.payload.toString() === 'tls-ping'))
  t.pass('PING answered over TLS')
})

t.test('plaintext HTTP/2 to the TLS port: closed without an answer, nothing reaches upstream', async t => {
  const before = tlsUpstream.calls.length
  const c = await RawClient.connect(tlsBoth.port)
  t.teardown(() => c.close())
  c.write(F.headers(1, c.encoder.encode(c.grpcHeaders('/qdrant.Points/Count', token)), { endStream: true, maxFrameSize: 16384 }))
  await c.until(() => c.closed)
  t.equal(c.frames.length, 0, 'no HTTP/2 frame came back')
  t.equal(tlsUpstream.calls.length, before)
  const g = await count(tlsBoth.port, false)
  t.equal(g.code, grpc.status.UNAVAILABLE, 'grpc-js without TLS: UNAVAILABLE')
  t.equal((await count(tlsBoth.port, true)).code, 0, 'the TLS listener keeps serving')
})

t.test('TLS to the plaintext port: the ClientHello is refused and the connection closed', async t => {
  const before = plainUpstream.calls.length
  const s = tls.connect({ host: '127.0.0.1', port: plainBoth.port, ca: gwCa, ALPNProtocols: ['h2'] })
  const outcome = await new Promise<string>(resolve => {
    s.once('secureConnect', () => resolve('handshake completed'))
    s.once('error', (e) => resolve(`error: ${e.message}`))
    s.once('close', () => resolve('closed'))
  })
  s.destroy()
  t.not(outcome, 'handshake completed', outcome)
  const g = await count(plainBoth.port, true)
  t.equal(g.code, grpc.status.UNAVAILABLE, 'grpc-js with TLS to the plaintext port: UNAVAILABLE')
  t.equal(plainUpstream.calls.length, before, 'nothing reached upstream')
  t.equal((await count(plainBoth.port, false)).code, 0, 'the plaintext listener keeps serving')
})

t.test('a TLS client that does not offer h2 in ALPN gets no HTTP/2 session', async t => {
  const s = tls.connect({ host: '127.0.0.1', port: tlsBoth.port, ca: gwCa, ALPNProtocols: ['http/1.1'] })
  const outcome = await new Promise<string>(resolve => {
    s.once('secureConnect', () => resolve(`alpn ${String(s.alpnProtocol)}`))
    s.once('error', (e) => resolve(`error: ${(e as NodeJS.ErrnoException).code ?? e.message}`))
  })
  s.destroy()
  // Node's TLS server refuses the handshake when no protocol overlaps (no_application_protocol alert)
  t.notMatch(outcome, /alpn h2/, outcome)
  t.equal((await count(tlsBoth.port, true)).code, 0, 'still serving')
})

t.test('upstream TLS mismatches fail closed: UNAVAILABLE, never a downgrade, never a hang', async t => {
  const tlsToPlain = await listen({ tlsOn: true, upstream: plainUpstream.address, upstreamTls: true })
  const before = plainUpstream.calls.length
  const a = await count(tlsToPlain.port, true)
  t.equal(a.code, grpc.status.UNAVAILABLE, `TLS connector to a plaintext upstream: ${a.details ?? ''}`)
  t.equal(plainUpstream.calls.length, before, 'the plaintext upstream answered nothing')
  const plainToTls = await listen({ tlsOn: true, upstream: tlsUpstream.address, upstreamTls: false })
  const before2 = tlsUpstream.calls.length
  const b = await count(plainToTls.port, true)
  t.equal(b.code, grpc.status.UNAVAILABLE, `plaintext connector to a TLS upstream: ${b.details ?? ''}`)
  t.equal(tlsUpstream.calls.length, before2)
  t.equal((await count(tlsBoth.port, true)).code, 0, 'the good listener is unaffected')
})
