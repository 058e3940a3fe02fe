/**
 * `vecgate start` as a process, the way it is run for real: health and Prometheus metrics on the admin
 * port, h2load (nghttp2's load generator, a fourth HTTP/2 stack) through the gRPC listener, and SIGTERM
 * draining an in-flight call before the process exits 0.
 */
import t from 'tap'
import { spawn, spawnSync } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { once } from 'node:events'
import { fileURLToPath } from 'node:url'
import { request } from 'undici'
import * as grpc from '@grpc/grpc-js'
import * as loader from '@grpc/proto-loader'
import { qdrantSchema } from '../../decoders/qdrant/schema.js'
import { frameMessage } from '../../decoders/grpc/messages.js'
import { startCannedUpstream } from '../helpers/grpc-upstream.js'
import { loadConfig } from '../../lib/config/load.js'
import { loadOrCreateSigningKey } from '../../lib/identity/keys.js'
import { Grants } from '../../lib/identity/grants.js'

const h2loadThere = spawnSync('h2load', ['--version']).status === 0
if (!h2loadThere) t.fail('h2load is missing: run `node scripts/peers.mjs setup` (installs nghttp2-client)')

const KEY = 'process-upstream-key'
const upstream = await startCannedUpstream({ apiKey: KEY })
t.teardown(() => upstream.close())
const dir = mkdtempSync(join(tmpdir(), 'vecgate-proc-'))
t.teardown(() => rmSync(dir, { recursive: true, force: true }))
const configPath = join(dir, 'vecgate.yaml')
writeFileSync(configPath, [
  'admin:',
  '  listen: 127.0.0.1:0',
  'identity:',
  `  signing_key: ${join(dir, 'signing.jwk')}`,
  'journal:',
  `  path: ${join(dir, 'journal.db')}`,
  'backends:',
  '  - name: qdrant',
  '    protocol: qdrant',
  '    listen: 127.0.0.1:0',
  `    upstream: ${upstream.address}`,
  '    credentials: { api_key: "${UPSTREAM_KEY}" }',
  'policy:',
  '  rules:',
  '    - { id: ops, subjects: { groups: [ops] }, effect: allow }'
].join('\n') + '\n')

const bin = fileURLToPath(new URL('../../dist/bin/vecgate.js', import.meta.url))
const proc = spawn(process.execPath, [bin, 'start', '--config', configPath, '--json'], { env: { ...process.env, UPSTREAM_KEY: KEY }, stdio: ['ignore', 'pipe', 'pipe'] })
t.teardown(() => { if (proc.exitCode === null) proc.kill('SIGKILL') })
let stdout = ''
let stderr = ''
proc.stdout.on('data', (d: Buffer) => { stdout += d.toString() })
proc.stderr.on('data', (d: Buffer) => { stderr += d.toString() })
while (!stdout.includes('\n')) {
  if (proc.exitCode !== null) throw new Error(`vecgate start exited ${proc.exitCode}: ${stderr}`)
  await new Promise(resolve => setTimeout(resolve, 20))
}
const started = JSON.parse(stdout.split('\n')[0]) as { listening: Array<{ address: string }>, admin: string }
const port = Number(started.listening[0].address.split(':').pop())
process.env.UPSTREAM_KEY = KEY
const config = loadConfig(configPath)
const grants = new Grants(await loadOrCreateSigningKey(config.identity.signing_key), config.identity.audience, config.identity.max_ttl)
const token = (await grants.issue({ subject: 'ops-bot', groups: ['ops'], ttl: 600 })).token

t.test('health and metrics on the admin port', async t => {
  const health = await request(`${started.admin}/healthz`)
  t.equal(health.statusCode, 200)
  t.match(await health.body.json(), { status: 'ok', backends: [{ name: 'qdrant', protocol: 'qdrant' }] })
  const jwks = await (await request(`${started.admin}/.well-known/jwks.json`)).body.json() as { keys: unknown[] }
  t.equal(jwks.keys.length, 1)
})

t.test('h2load through the gateway: every call succeeds', async t => {
  const body = join(dir, 'count.bin')
  writeFileSync(body, frameMessage(qdrantSchema().root.lookupType('qdrant.CountPoints').encode({ collection_name: 'docs', exact: true }).finish()))
  // not spawnSync: the upstream lives in this process and must keep answering
  const h = spawn('h2load', ['-n', '2000', '-c', '4', '-m', '16', '-T', '20', '-d', body, '-H', 'content-type: application/grpc', '-H', 'te: trailers', '-H', `api-key: ${token}`, `http://127.0.0.1:${port}/qdrant.Points/Count`], { stdio: ['ignore', 'pipe', 'inherit'] })
  const r = { stdout: '' }
  h.stdout.on('data', (d: Buffer) => { r.stdout += d.toString() })
  await once(h, 'exit')
  t.match(r.stdout, /2000 succeeded, 0 failed, 0 errored/, r.stdout.split('\n').find(l => l.includes('requests:')))
  t.match(r.stdout, /status codes: 2000 2xx/)
  const metrics = await (await request(`${started.admin}/metrics`)).body.text()
  t.match(metrics, /vecgate_requests_total\{[^}]*effect="allow"[^}]*\} (\d+)/)
  const n = Number(/vecgate_requests_total\{[^}]*effect="allow"[^}]*\} (\d+)/.exec(metrics)?.[1])
  t.ok(n >= 2000, `${n} requests counted`)
  t.match(metrics, /vecgate_request_duration_seconds_bucket/)
})

t.test('SIGTERM drains: the call in flight completes, then the process exits 0', async t => {
  upstream.delay.set('Count', 700)
  const def = loader.loadFileDescriptorSetFromBuffer(qdrantSchema().descriptorSet, { keepCase: true, longs: Number, defaults: false })
  const pkg = grpc.loadPackageDefinition(def) as any
  const c = new pkg.qdrant.Points(`127.0.0.1:${port}`, grpc.credentials.createInsecure())
  const md = new grpc.Metadata()
  md.set('api-key', token)
  const inFlight = new Promise<{ code: number, result?: unknown }>(resolve => c.Count({ collection_name: 'docs' }, md, (e: grpc.ServiceError | null, r: unknown) => resolve(e !== null ? { code: e.code } : { code: 0, result: r })))
  await new Promise(resolve => setTimeout(resolve, 200))
  proc.kill('SIGTERM')
  const r = await inFlight
  t.equal(r.code, 0, 'the in-flight call completed')
  t.match(r.result, { result: { count: 20 } })
  const [code] = await once(proc, 'exit') as [number]
  t.equal(code, 0, 'exit 0')
  c.close()
  upstream.delay.delete('Count')
})
