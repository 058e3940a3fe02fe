/**
 * TLS on both sides of the gRPC path: clients speak TLS with ALPN h2 to vecgate, vecgate speaks TLS
 * with ALPN h2 to the upstream and verifies its certificate. A plaintext client on the TLS port and an
 * upstream whose certificate does not verify are refused cleanly (fail closed), and nothing leaks.
 */
import t from 'tap'
import { execFileSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import tls from 'node:tls'
import * as grpc from '@grpc/grpc-js'
import * as loader from '@grpc/proto-loader'
import { qdrantSchema } from '../../decoders/qdrant/schema.js'
import { startCannedUpstream } from '../helpers/grpc-upstream.js'
import { startTestGateway } from '../helpers/gateway.js'
import { RawClient } from '../helpers/h2-raw.js'

const dir = mkdtempSync(join(tmpdir(), 'vecgate-tls-'))
t.teardown(() => rmSync(dir, { recursive: true, force: true }))
function cert (name: string): { cert: string, key: string } {
  const key = join(dir, `${name}.key`); const crt = join(dir, `${name}.crt`)
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', key, '-out', crt, '-days', '1',
    '-subj', `/CN=${name}`, '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost'], { stdio: 'ignore' })
  return { cert: crt, key }
}
const gwCert = cert('gateway')
const upCert = cert('upstream')
const otherCert = cert('other')

const KEY = 'tls-upstream-key'
const upstream = await startCannedUpstream({ apiKey: KEY, tls: { cert: readFileSync(upCert.cert), key: readFileSync(upCert.key) } })
t.teardown(() => upstream.close())

const backend = (name: string, ca: string) => ({
  name, protocol: 'qdrant', upstream: upstream.address, credentials: { api_key: KEY },
  tls: { cert: gwCert.cert, key: gwCert.key },
  upstream_tls: { ca }
})
const gw = await startTestGateway({
  backends: [backend('good', upCert.cert), backend('wrong-ca', otherCert.cert)],
  policy: { rules: [{ id: 'all', subjects: { users: ['tls-user'] }, effect: 'allow' }] }
})
t.teardown(() => gw.stop())
const token = await gw.token('tls-user')

const def = loader.loadFileDescriptorSetFromBuffer(qdrantSchema().descriptorSet, { keepCase: true, longs: Number, defaults: false })
const pkg = grpc.loadPackageDefinition(def) as any
function count (port: number): Promise<{ code: number, result?: unknown }> {
  const c = new pkg.qdrant.Points(`127.0.0.1:${port}`, grpc.credentials.createSsl(readFileSync(gwCert.cert)))
  const md = new grpc.Metadata()
  md.set('api-key', token)
  return new Promise(resolve => c.Count({ collection_name: 'docs', exact: true }, md, { deadline: Date.now() + 10_000 }, (e: grpc.ServiceError | null, r: unknown) => {
    c.close()
    resolve(e !== null ? { code: e.code } : { code: 0, result: r })
  }))
}

t.test('TLS with ALPN h2 on both sides', async t => {
  const r = await count(gw.port('good'))
  t.equal(r.code, 0)
  t.match(r.result, { result: { count: 20 } })
  t.equal(upstream.calls.at(-1)?.metadata['api-key']?.toString(), KEY, 'the upstream got the backend key over TLS')
  const s = tls.connect({ host: '127.0.0.1', port: gw.port('good'), ca: readFileSync(gwCert.cert), ALPNProtocols: ['h2'] })
  await new Promise<void>((resolve, reject) => { s.once('secureConnect', () => resolve()); s.once('error', reject) })
  t.equal(s.alpnProtocol, 'h2', 'the listener negotiates h2')
  s.destroy()
})

t.test('an upstream whose certificate does not verify: UNAVAILABLE, never a plaintext fallback', async t => {
  const before = upstream.calls.length
  const r = await count(gw.port('wrong-ca'))
  t.equal(r.code, grpc.status.UNAVAILABLE)
  t.equal(upstream.calls.length, before)
})

t.test('plaintext HTTP/2 on the TLS port is closed without an answer; the listener keeps serving', async t => {
  const c = await RawClient.connect(gw.port('good'))
  await c.until(() => c.closed, 10_000)
  t.ok(c.closed, 'closed')
  t.equal(c.frames.length, 0, 'no HTTP/2 frames to a client that did not do TLS')
  t.equal((await count(gw.port('good'))).code, 0, 'still serving')
})
