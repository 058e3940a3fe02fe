/**
 * Unary Qdrant Search (top-10, ~10 KB responses) driven by h2load, in one run:
 * direct to the upstream, through a plain TCP relay, through vecgate with only pass-through (allow, no
 * mask, no journal), and through vecgate with policy + masking + journal on. The upstream (the test
 * peer) runs in its own process; the gateways share this one. Writes the "Qdrant Search" section
 * of benchmarks/RESULTS.md.
 *
 *   node --import tsx benchmarks/qdrant/search.ts [--seconds 8] [--rounds 2]
 */
import { execFileSync, spawn } from 'node:child_process'
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import net from 'node:net'
import { cpus, tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { fileURLToPath } from 'node:url'
import { qdrantSchema } from '../../decoders/qdrant/schema.js'
import { frameMessage } from '../../decoders/grpc/messages.js'
import { nullJournal } from '../../lib/journal/types.js'
import { startTestGateway } from '../../test/helpers/gateway.js'
import { writeSection } from '../results.js'

const { values } = parseArgs({ options: { seconds: { type: 'string', default: '8' }, rounds: { type: 'string', default: '2' } } })
const seconds = Number(values.seconds)
const rounds = Number(values.rounds)
const KEY = 'bench-upstream-key'

const peerProc = spawn(process.execPath, ['--import', 'tsx', fileURLToPath(new URL('./peer.ts', import.meta.url)), KEY], { stdio: ['ignore', 'pipe', 'inherit'] })
process.on('exit', () => peerProc.kill('SIGKILL'))
const peerInfo = await new Promise<{ port: number, responseBytes: number }>((resolve, reject) => {
  let buf = ''
  peerProc.stdout!.on('data', (d: Buffer) => { buf += d.toString(); if (buf.includes('\n')) resolve(JSON.parse(buf.split('\n')[0])) })
  peerProc.once('exit', (code) => reject(new Error(`the Qdrant peer exited (${String(code)})`)))
})
const peerPort = peerInfo.port
const respSize = peerInfo.responseBytes
const peer = { address: `127.0.0.1:${peerPort}` }

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
      const res = await h2load(t.port, t.key, conc.c, conc.m)
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
lines.push('', '`node --import tsx benchmarks/qdrant/search.ts` (h2load over h2c with a fixed gRPC request body; medians of the rounds). "added p50" is the latency vecgate adds over direct. The gateway and the upstream share the 2 cores with h2load.')
const table = lines.join('\n')
process.stdout.write(table + '\n')
writeSection('Qdrant Search', table)

await full.stop(); await pass.stop(); relay.server.close()
process.exit(0)

// ----------------------------------------------------------------------------------------------

/** h2load as a child process: this process must keep serving the gateways meanwhile */
async function h2load (port: number, key: string, c: number, m: number): Promise<{ rps: number, p50: number, p99: number, errors: number }> {
  const dir = mkdtempSync(join(tmpdir(), 'vg-h2load-'))
  const log = join(dir, 'log.tsv')
  const child = spawn('h2load', [
    '-D', String(seconds), '-c', String(c), '-m', String(m), '-t', '1', '--log-file', log,
    '-d', body, '-H', 'content-type: application/grpc', '-H', 'te: trailers', '-H', `api-key: ${key}`,
    `http://127.0.0.1:${port}/qdrant.Points/Search`
  ], { stdio: ['ignore', 'pipe', 'inherit'] })
  let out = ''
  child.stdout.on('data', (d: Buffer) => { out += d.toString() })
  await new Promise(resolve => child.on('exit', resolve))
  const rps = Number(/finished in [\d.]+\w*, ([\d.]+) req\/s/.exec(out)?.[1] ?? 0)
  const failed = Number(/(\d+) failed/.exec(out)?.[1] ?? 0) + Number(/(\d+) errored/.exec(out)?.[1] ?? 0)
  const lat = readFileSync(log, 'utf8').trim().split('\n').map(l => Number(l.split('\t')[2])).sort((a, b) => a - b)
  return { rps, p50: lat[Math.floor(lat.length * 0.5)], p99: lat[Math.floor(lat.length * 0.99)], errors: failed }
}

async function tcpRelay (upstreamPort: number): Promise<{ port: number, server: net.Server }> {
  const server = net.createServer((c) => {
    const u = net.connect({ port: upstreamPort, host: '127.0.0.1', noDelay: true })
    c.setNoDelay(true)
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
