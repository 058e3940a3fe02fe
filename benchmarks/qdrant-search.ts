/**
 * Unary Qdrant Search (top-10, ~10 KB responses) driven by h2load, in one run:
 * direct to the upstream, through a plain TCP relay, through vecgate with only pass-through (allow, no
 * mask, no journal), and through vecgate with policy + masking + journal on. Prints a Markdown table
 * and writes it to benchmarks/results/qdrant-search.md.
 *
 *   npx tsx benchmarks/qdrant-search.ts [--seconds 8] [--rounds 2]
 */
import { execFileSync, spawn } from 'node:child_process'
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import net from 'node:net'
import { cpus, tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { qdrantSchema } from '../decoders/qdrant/schema.js'
import { frameMessage } from '../decoders/grpc/messages.js'
import { nullJournal } from '../lib/journal/types.js'
import { startQdrantServer } from '../test/peers/qdrant-server.js'
import { startTestGateway } from '../test/helpers/gateway.js'
import { QdrantClient } from '@qdrant/js-client-grpc'

const { values } = parseArgs({ options: { seconds: { type: 'string', default: '8' }, rounds: { type: 'string', default: '2' } } })
const seconds = Number(values.seconds)
const rounds = Number(values.rounds)
const KEY = 'bench-upstream-key'

const peer = await startQdrantServer({ apiKey: KEY })
const peerPort = Number(peer.address.split(':')[1])
await seed(peerPort)

const rules = [{ id: 'bench', subjects: { users: ['bench'] }, effect: 'allow', mask: 'pii' }]
const passRules = [{ id: 'bench', subjects: { users: ['bench'] }, effect: 'allow' }]
const full = await startTestGateway({
  backends: [{ name: 'qdrant', protocol: 'qdrant', upstream: peer.address, credentials: { api_key: KEY } }],
  policy: { rules },
  masking: { profiles: { pii: { fields: ['email'], detectors: [], action: 'redact', vectors: 'keep' } } }
})
const pass = await startTestGateway({
  backends: [{ name: 'qdrant', protocol: 'qdrant', upstream: peer.address, credentials: { api_key: KEY } }],
  policy: { rules: passRules }
}, { parts: { journal: nullJournal } })
const relay = await tcpRelay(peerPort)

const body = join(mkdtempSync(join(tmpdir(), 'vg-bench-')), 'search.bin')
const Search = qdrantSchema().root.lookupType('qdrant.SearchPoints')
const req = Search.encode({ collection_name: 'bench', vector: [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8], limit: 10, with_payload: { enable: true } }).finish()
writeFileSync(body, frameMessage(req))
const tokenFull = await full.token('bench')
const tokenPass = await pass.token('bench')

interface Row { name: string, rps: number[], p50: number[], p99: number[], errors: number }
const targets = [
  { name: 'direct', port: peerPort, key: KEY },
  { name: 'tcp relay', port: relay.port, key: KEY },
  { name: 'vecgate pass-through', port: pass.port('qdrant'), key: tokenPass },
  { name: 'vecgate policy+mask+journal', port: full.port('qdrant'), key: tokenFull }
]
const results = new Map<string, Row>()
for (const conc of [{ c: 1, m: 1 }, { c: 4, m: 16 }]) {
  for (let r = 0; r < rounds; r++) {
    for (const t of targets) {
      const res = h2load(t.port, t.key, conc.c, conc.m)
      const k = `${t.name} @ c=${conc.c * conc.m}`
      const row = results.get(k) ?? { name: k, rps: [], p50: [], p99: [], errors: 0 }
      row.rps.push(res.rps); row.p50.push(res.p50); row.p99.push(res.p99); row.errors += res.errors
      results.set(k, row)
    }
  }
}

const med = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]
const lines = [
  `Qdrant unary Search, top-10, ${respSize} B responses, h2load ${seconds}s per run, ${rounds} rounds alternating; ${cpus().length} cores (${cpus()[0].model}); ${new Date().toISOString().slice(0, 10)}; commit ${commit()}`,
  '',
  '| path | req/s | vs direct | p50 µs | p99 µs | added p50 µs | errors |',
  '|---|---|---|---|---|---|---|'
]
for (const conc of ['c=1', 'c=64']) {
  const direct = results.get(`direct @ ${conc}`)!
  for (const t of targets) {
    const row = results.get(`${t.name} @ ${conc}`)!
    lines.push(`| ${row.name} | ${med(row.rps).toFixed(0)} | ${(med(row.rps) / med(direct.rps)).toFixed(2)}× | ${med(row.p50).toFixed(0)} | ${med(row.p99).toFixed(0)} | ${(med(row.p50) - med(direct.p50)).toFixed(0)} | ${row.errors} |`)
  }
}
const table = lines.join('\n')
process.stdout.write(table + '\n')
mkdirSync(new URL('./results/', import.meta.url), { recursive: true })
writeFileSync(new URL('./results/qdrant-search.md', import.meta.url), table + '\n')

await full.stop(); await pass.stop(); relay.server.close(); await peer.close()
process.exit(0)

// ----------------------------------------------------------------------------------------------

var respSize = 0 // eslint-disable-line no-var

function h2load (port: number, key: string, c: number, m: number): { rps: number, p50: number, p99: number, errors: number } {
  const dir = mkdtempSync(join(tmpdir(), 'vg-h2load-'))
  const log = join(dir, 'log.tsv')
  const out = execFileSync('h2load', [
    '-D', String(seconds), '-c', String(c), '-m', String(m), '-t', '1', '--log-file', log,
    '-d', body, '-H', 'content-type: application/grpc', '-H', 'te: trailers', '-H', `api-key: ${key}`,
    `http://127.0.0.1:${port}/qdrant.Points/Search`
  ], { encoding: 'utf8' })
  const rps = Number(/finished in [\d.]+\w*, ([\d.]+) req\/s/.exec(out)?.[1] ?? 0)
  const failed = Number(/(\d+) failed/.exec(out)?.[1] ?? 0)
  const lat = readFileSync(log, 'utf8').trim().split('\n').map(l => Number(l.split('\t')[2])).sort((a, b) => a - b)
  return { rps, p50: lat[Math.floor(lat.length * 0.5)], p99: lat[Math.floor(lat.length * 0.99)], errors: failed }
}

async function seed (port: number): Promise<void> {
  const client = new QdrantClient({ host: '127.0.0.1', port, apiKey: KEY, checkCompatibility: false })
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
  const Resp = qdrantSchema().root.lookupType('qdrant.SearchResponse')
  const r = await client.api('points').search({ collectionName: 'bench', vector: [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8], limit: 10n, withPayload: { selectorOptions: { case: 'enable', value: true } } })
  respSize = r.result.reduce((n, p) => n + JSON.stringify(p, (_k, v) => typeof v === 'bigint' ? String(v) : v).length, 0)
  void Resp
}

async function tcpRelay (upstreamPort: number): Promise<{ port: number, server: net.Server }> {
  const server = net.createServer((c) => {
    const u = net.connect(upstreamPort, '127.0.0.1')
    c.pipe(u); u.pipe(c)
    c.on('error', () => u.destroy()); u.on('error', () => c.destroy())
  })
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', () => resolve()))
  return { port: (server.address() as net.AddressInfo).port, server }
}

function commit (): string {
  try { return execFileSync('git', ['rev-parse', '--short', 'HEAD'], { encoding: 'utf8' }).trim() } catch { return 'unknown' }
}

void spawn
