/**
 * Interop of the relay with two HTTP/2 stacks that are not Node's: grpcio (C-core, what the official
 * Python clients use) through test/peers/grpc_raw.py with raw request bytes, and h2load (nghttp2) with
 * many streams per connection, including tiny flow-control windows so every response has to wait for
 * WINDOW_UPDATEs that the relay must pass on. The answers through the relay are compared byte for byte
 * with the answers of the upstream called directly.
 */
import t from 'tap'
import { spawn, spawnSync } from 'node:child_process'
import { once } from 'node:events'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { qdrantSchema } from '../../../decoders/qdrant/schema.js'
import { frameMessage } from '../../../decoders/grpc/messages.js'
import { startRelay } from '../../helpers/relay.js'
import { startCannedUpstream } from '../../helpers/grpc-upstream.js'
import { runPython } from '../../peers/python.js'

const KEY = 'interop-upstream-key'
const upstream = await startCannedUpstream({ apiKey: KEY })
t.teardown(() => upstream.close())
const relay = await startRelay({
  upstream: upstream.address,
  apiKey: KEY,
  // one collection is off limits, to see a refusal in each client's own terms
  decide: (_id, op) => op.collection === 'secret'
    ? { effect: 'deny', rule: 'no-secret', reason: 'collection secret is denied' }
    : { effect: 'allow', rule: 'test-allow', reason: 'allowed' }
})
t.teardown(() => relay.close())
const token = await relay.parts.token('interop')
const dir = mkdtempSync(join(tmpdir(), 'vecgate-interop-'))
t.teardown(() => rmSync(dir, { recursive: true, force: true }))

const { root } = qdrantSchema()
const enc = (type: string, o: object): string => Buffer.from(root.lookupType(type).encode(root.lookupType(type).fromObject(o)).finish()).toString('hex')
const countReq = (name: string): string => enc('qdrant.CountPoints', { collection_name: name, exact: true })
const searchReq = (name: string, limit: number): string => enc('qdrant.SearchPoints', { collection_name: name, vector: [0.1, 0.2, 0.3], limit })

interface PyCall { method: string, request: string, metadata?: Array<[string, string]>, timeout?: number, gzip?: boolean, repeat?: number }
interface PyResult { code: string, details: string, response: string | null, trailing: Array<[string, string]> }

async function grpcio (target: string, calls: PyCall[]): Promise<PyResult[][]> {
  const r = await runPython('grpc_raw.py', [], { input: JSON.stringify({ target, calls }), timeout: 120_000 })
  if (r.code !== 0) throw new Error(`grpc_raw.py exited ${String(r.code)}: ${r.stderr}`)
  return JSON.parse(r.stdout) as PyResult[][]
}

const viaRelay = (extra: Array<[string, string]> = []): Array<[string, string]> => [['api-key', token], ...extra]
const direct: Array<[string, string]> = [['api-key', KEY]]

t.test('grpcio: the same answers through the relay as direct, many in flight, gzip, large responses', async t => {
  const calls = (md: Array<[string, string]>): PyCall[] => [
    { method: '/qdrant.Points/Count', request: countReq('docs'), metadata: md, repeat: 50 },
    { method: '/qdrant.Points/Search', request: searchReq('docs', 10), metadata: md, gzip: true, repeat: 20 },
    { method: '/qdrant.Points/Search', request: searchReq('docs', 30000), metadata: md, repeat: 3 },
    { method: '/qdrant.Qdrant/HealthCheck', request: '', metadata: md }
  ]
  const before = upstream.calls.length
  const [got, want] = await Promise.all([grpcio(relay.address, calls(viaRelay())), grpcio(upstream.address, calls(direct))])
  t.equal(upstream.calls.length, before + 2 * 74, 'every call reached upstream once')
  const labels = ['50 concurrent Count', '20 gzip-compressed Search', '3 Search of 30000 points', 'HealthCheck']
  got.forEach((results, i) => {
    t.same(results.map(r => r.code), results.map(() => 'OK'), `${labels[i]}: all OK`)
    t.same(results.map(r => r.response), want[i].map(r => r.response), `${labels[i]}: the bytes direct gives`)
  })
  t.ok((got[2][0].response?.length ?? 0) / 2 > 300_000, `a ${Math.round((got[2][0].response?.length ?? 0) / 2048)} KB response`)
  t.notOk(upstream.calls.slice(before).some(c => c.metadata['api-key']?.toString() === token), 'the client token never reached upstream')
})

t.test('grpcio: refusals in gRPC terms — denied, unknown method, no token, deadline with cancel upstream', async t => {
  upstream.delay.set('Search', 5000)
  t.teardown(() => upstream.delay.delete('Search'))
  const before = upstream.calls.length
  const cancelledBefore = upstream.cancelled
  const [denied, unknown, noToken, deadline] = await grpcio(relay.address, [
    { method: '/qdrant.Points/Count', request: countReq('secret'), metadata: viaRelay() },
    { method: '/qdrant.Points/NoSuchMethod', request: '', metadata: viaRelay() },
    { method: '/qdrant.Points/Count', request: countReq('docs') },
    { method: '/qdrant.Points/Search', request: searchReq('docs', 5), metadata: viaRelay(), timeout: 0.5 }
  ])
  t.match(denied[0], { code: 'PERMISSION_DENIED', details: /denied/ }, 'policy denial')
  t.match(unknown[0], { code: 'PERMISSION_DENIED', details: /not known to vecgate/ }, 'unknown method: denied, never UNIMPLEMENTED')
  t.match(noToken[0], { code: 'UNAUTHENTICATED' }, 'no token')
  t.match(deadline[0], { code: 'DEADLINE_EXCEEDED' }, 'deadline')
  t.equal(upstream.calls.length, before + 1, 'only the delayed Search reached upstream')
  // the RST_STREAM travels on after the client gave up: wait for it (bounded), then check
  for (let i = 0; i < 100 && upstream.cancelled === cancelledBefore; i++) await new Promise(resolve => setTimeout(resolve, 50))
  t.equal(upstream.cancelled, cancelledBefore + 1, "the client's cancel reached upstream")
})

const h2loadThere = spawnSync('h2load', ['--version']).status === 0

async function h2load (args: string[], path: string, body: Buffer): Promise<string> {
  const file = join(dir, `body-${Math.random().toString(36).slice(2)}.bin`)
  writeFileSync(file, body)
  // not spawnSync: the relay and upstream live in this process and must keep answering
  const h = spawn('h2load', [...args, '-d', file, '-H', 'content-type: application/grpc', '-H', 'te: trailers', '-H', `api-key: ${token}`, `http://${relay.address}${path}`], { stdio: ['ignore', 'pipe', 'pipe'] })
  let out = ''
  h.stdout.on('data', (d: Buffer) => { out += d.toString() })
  h.stderr.on('data', (d: Buffer) => { out += d.toString() })
  await once(h, 'exit')
  return out
}

t.test('h2load: N requests on several connections with many streams each, all succeed', async t => {
  if (!h2loadThere) { t.fail('h2load is missing: run `node scripts/peers.mjs setup` (installs nghttp2-client)'); return }
  const before = upstream.calls.length
  const body = frameMessage(Buffer.from(countReq('docs'), 'hex'))
  const out = await h2load(['-n', '3000', '-c', '3', '-m', '32', '-T', '30'], '/qdrant.Points/Count', body)
  t.match(out, /3000 succeeded, 0 failed, 0 errored/, out.split('\n').find(l => l.includes('requests:')))
  t.match(out, /status codes: 3000 2xx/)
  t.equal(upstream.calls.length, before + 3000, 'upstream answered all 3000')
})

t.test('h2load with 1 KB windows: large responses wait for WINDOW_UPDATE, none stalls', async t => {
  if (!h2loadThere) { t.fail('h2load is missing: run `node scripts/peers.mjs setup` (installs nghttp2-client)'); return }
  const before = upstream.calls.length
  const body = frameMessage(Buffer.from(searchReq('docs', 500), 'hex')) // about 7 KB per response
  // -w/-W: stream and connection windows of 2^10 bytes
  const out = await h2load(['-n', '300', '-c', '2', '-m', '10', '-w', '10', '-W', '10', '-T', '60'], '/qdrant.Points/Search', body)
  t.match(out, /300 succeeded, 0 failed, 0 errored/, out.split('\n').find(l => l.includes('requests:')))
  t.equal(upstream.calls.length, before + 300)
  const traffic = /traffic: [^\n]*\((\d+)\) total/.exec(out)
  t.ok(Number(traffic?.[1]) > 300 * 5000, `${traffic?.[1] ?? '?'} bytes received by h2load`)
})

t.test('h2load refused: a request the policy denies is answered by the relay, never by upstream', async t => {
  if (!h2loadThere) { t.fail('h2load is missing: run `node scripts/peers.mjs setup` (installs nghttp2-client)'); return }
  const before = upstream.calls.length
  const body = frameMessage(Buffer.from(countReq('secret'), 'hex'))
  const out = await h2load(['-n', '500', '-c', '1', '-m', '50'], '/qdrant.Points/Count', body)
  // trailers-only refusals are HTTP 200 with grpc-status 7: h2load counts them as succeeded
  t.match(out, /500 succeeded, 0 failed, 0 errored/, out.split('\n').find(l => l.includes('requests:')))
  t.equal(upstream.calls.length, before, 'upstream saw none of the 500')
})
