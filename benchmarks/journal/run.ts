/**
 * Journal benchmark (issue: session journal). Two figures:
 *  1. writer throughput: realistic events (request, verdict, a 10-point masked result, the final
 *     response) straight into the JournalWriter, events per second;
 *  2. the cost on the request path: unary Search through the gateway with the journal on and with it
 *     off (a sink that records nothing), same upstream, same run, latency p50/p99 at concurrency 1
 *     and throughput at concurrency 16. Upstream and load generator run in their own processes.
 * Writes the "Journal" section of benchmarks/RESULTS.md.
 *   node --import tsx benchmarks/journal/run.ts [rounds, default 3]
 */
import { spawn, execFileSync } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir, cpus, loadavg } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { generateKeyPairSync } from 'node:crypto'
import { JournalWriter } from '../../lib/journal/writer.js'
import { nullJournal } from '../../lib/journal/types.js'
import { createLogger } from '../../lib/log.js'
import { startTestGateway } from '../../test/helpers/gateway.js'
import { writeSection } from '../results.js'

const ROUNDS = Number(process.argv[2] ?? 3)
const here = (f: string): string => fileURLToPath(new URL(f, import.meta.url))
const dir = mkdtempSync(join(tmpdir(), 'vecgate-bench-journal-'))
const children: Array<ReturnType<typeof spawn>> = []
process.on('exit', () => { for (const c of children) c.kill('SIGKILL'); rmSync(dir, { recursive: true, force: true }) })

async function writerThroughput (): Promise<number> {
  const { privateKey } = generateKeyPairSync('ed25519')
  const w = new JournalWriter({ path: join(dir, 'throughput.db'), onFull: 'hold', queue: 100_000, storeVectors: false, signingKey: privateKey, keyId: 'k', log: createLogger({ level: 'silent' }) })
  const identity = { subject: 'alice', groups: ['analysts'], source: 'grant' as const, issuer: 'vecgate', tokenId: 'j', expiresAt: 2e9, claims: {} }
  const op = { backend: 'qdrant', protocol: 'qdrant' as const, method: 'qdrant.Points/Search', action: 'search' as const, collection: 'docs', bulk: false, limit: 10, summary: { vector: '<vector dim=128>', limit: 10 } }
  const points = Array.from({ length: 10 }, (_, i) => ({ id: i, score: 0.9 - i / 100, payload: { title: `doc ${i}`, email: '[redacted]' } }))
  const result = { toJSON: () => points }
  const ids = points.map(p => p.id)
  const sessions = 200
  const callsPer = 250
  // the worker thread is up before the clock starts
  w.start({ id: 'warm-up', backend: 'qdrant', protocol: 'qdrant', client: '127.0.0.1:1', tls: false, at: Date.now() })
  await w.flush()
  const t0 = process.hrtime.bigint()
  let events = 0
  for (let s = 0; s < sessions; s++) {
    const id = `s${s}`
    w.start({ id, backend: 'qdrant', protocol: 'qdrant', client: '127.0.0.1:1', tls: false, at: Date.now() })
    w.event({ session: id, at: Date.now(), kind: 'auth', identity })
    events += 1
    for (let c = 1; c <= callsPer; c++) {
      const at = Date.now()
      w.event({ session: id, at, kind: 'request', call: c, op })
      w.event({ session: id, at, kind: 'verdict', call: c, verdict: { effect: 'allow', rule: 'r', reason: 'allowed', mask: 'pii' } })
      w.event({ session: id, at, kind: 'response', call: c, collection: 'docs', ids, data: { result } })
      w.event({ session: id, at, kind: 'response', call: c, data: { ok: true, status: '0', records: 10, vectors: 0, final: true, ms: 0.2, bytes: 900 } })
      events += 4
    }
    w.end(id, Date.now(), 'client closed')
    if (s % 10 === 9) await w.flush()
  }
  await w.flush()
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9
  await w.close()
  return Math.round(events / seconds)
}

async function startChild (script: string, args: string[] = []): Promise<{ out: Promise<string>, first: Promise<string>, proc: ReturnType<typeof spawn> }> {
  const proc = spawn(process.execPath, ['--import', 'tsx', here(script), ...args], { stdio: ['ignore', 'pipe', 'inherit'] })
  children.push(proc)
  let buf = ''
  let resolveFirst: (s: string) => void
  const first = new Promise<string>(resolve => { resolveFirst = resolve })
  proc.stdout!.on('data', (d: Buffer) => { buf += d.toString(); if (buf.includes('\n')) resolveFirst(buf.split('\n')[0]) })
  const out = new Promise<string>(resolve => proc.on('exit', () => resolve(buf)))
  return { out, first, proc }
}

interface Load { calls: number, seconds: number, rps: number, p50: number, p99: number, cpu: number }
/** `cpu`: this process's CPU time (the gateways, all threads; only the one under load is busy) per call, µs */
async function load (address: string, key: string, calls: number, concurrency: number): Promise<Load> {
  const cpu0 = process.cpuUsage()
  const c = await startChild('./load.ts', [address, key, String(calls), String(concurrency)])
  const out = JSON.parse((await c.out).trim()) as Omit<Load, 'cpu'>
  const cpu = process.cpuUsage(cpu0)
  return { ...out, cpu: Math.round((cpu.user + cpu.system) / (calls + 200)) }
}

const writerRate = await writerThroughput()
console.log(`writer: ${writerRate} events/s`)

const up = await startChild('./upstream.ts')
const upstream = `127.0.0.1:${(await up.first).trim()}`
const config = (name: string, durable?: string) => ({
  ...(durable !== undefined ? { journal: { durable } } : {}),
  backends: [{ name, protocol: 'qdrant', upstream, credentials: { api_key: 'bench-key' } }],
  policy: { rules: [{ id: 'analysts', subjects: { groups: ['analysts'] }, actions: ['read', 'search'], effect: 'allow' }] }
})
const on = await startTestGateway(config('on'))
const off = await startTestGateway(config('off'), { parts: { journal: nullJournal } })
const all = await startTestGateway(config('all', 'all'))
const tokenAll = await all.token('alice', { groups: ['analysts'], ttl: 3600 })
const tokenOn = await on.token('alice', { groups: ['analysts'], ttl: 3600 })
const tokenOff = await off.token('alice', { groups: ['analysts'], ttl: 3600 })

const rounds: Record<string, { c1: Load[], c16: Load[] }> = { direct: { c1: [], c16: [] }, off: { c1: [], c16: [] }, on: { c1: [], c16: [] }, all: { c1: [], c16: [] } }
for (let round = 0; round < ROUNDS; round++) {
  for (const [name, address, key] of [['direct', upstream, 'bench-key'], ['off', off.address('off'), tokenOff], ['on', on.address('on'), tokenOn], ['all', all.address('all'), tokenAll]] as const) {
    rounds[name].c1.push(await load(address, key, 3000, 1))
    rounds[name].c16.push(await load(address, key, 20000, 16))
  }
}
const best = (xs: Load[], k: 'rps' | 'p50' | 'p99' | 'cpu'): number => k === 'rps' ? Math.max(...xs.map(x => x.rps)) : Math.min(...xs.map(x => x[k]))
const row = (name: string): string => {
  const r = rounds[name]
  return name === 'direct'
    ? `| ${name} | ${best(r.c1, 'p50')} | ${best(r.c1, 'p99')} | ${best(r.c16, 'rps')} | ${best(r.c16, 'p99')} | – | – |`
    : `| ${name} | ${best(r.c1, 'p50')} | ${best(r.c1, 'p99')} | ${best(r.c16, 'rps')} | ${best(r.c16, 'p99')} | ${best(r.c1, 'cpu')} | ${best(r.c16, 'cpu')} |`
}
const ratio = (a: number, b: number): string => (a / b).toFixed(2)
const p99on = best(rounds.on.c1, 'p99')
const p99off = best(rounds.off.c1, 'p99')
const commit = (() => { try { return execFileSync('git', ['rev-parse', '--short', 'HEAD'], { encoding: 'utf8' }).trim() } catch { return '?' } })()
const text = [
  `Run ${new Date().toISOString().slice(0, 16)}Z, commit ${commit}, ${cpus().length} × ${cpus()[0]?.model ?? '?'}, load average ${loadavg()[0].toFixed(2)} at the start.`,
  `\`node --import tsx benchmarks/journal/run.ts${ROUNDS !== 3 ? ` ${ROUNDS}` : ''}\` — best of ${ROUNDS} rounds each.`,
  '',
  `- Journal writer: **${writerRate.toLocaleString('en-US')} events/s** (request, verdict, a 10-point masked result with its ids, the final response; 200 sessions, hash chain and seal included; serialized on the calling thread, hashed and written by the journal's worker thread; target ≥ 50,000).`,
  `- Journal on (default \`journal.durable: changes\`) vs off through the gateway, unary Search top-10, concurrency 1: p99 **${ratio(p99on, p99off)}×** (target ≤ 1.1×), p50 ${ratio(best(rounds.on.c1, 'p50'), best(rounds.off.c1, 'p50'))}×; throughput at concurrency 16: **${ratio(best(rounds.on.c16, 'rps'), best(rounds.off.c16, 'rps'))}×** of journal off.`,
  `- With \`journal.durable: all\` (every call, reads included, ends only after its events are committed): p50 ${ratio(best(rounds.all.c1, 'p50'), best(rounds.off.c1, 'p50'))}×, p99 ${ratio(best(rounds.all.c1, 'p99'), p99off)}× at concurrency 1; throughput at 16: ${ratio(best(rounds.all.c16, 'rps'), best(rounds.off.c16, 'rps'))}×.`,
  '',
  '| path | c=1 p50 µs | c=1 p99 µs | c=16 calls/s | c=16 p99 µs | gateway CPU µs/call c=1 | c=16 |',
  '|---|---|---|---|---|---|---|',
  row('direct'),
  row('off'),
  row('on'),
  row('all'),
  '',
  'The gateway, the upstream and the load generator share the 2 cores; "direct" is the load generator against the upstream without vecgate. "gateway CPU" is the gateway process\'s CPU time (both of its threads with the journal on) per call. The journal serializes events on the gateway\'s thread and hashes and writes them in its worker thread; events nobody waits for are handed over every 10 ms. Writes, deletes and admin calls always end only after their events are committed (group commit); \`durable: all\` extends that to reads and searches.'
].join('\n')
console.log(text)
writeSection('Journal', text)
await on.stop()
await off.stop()
await all.stop()
process.exit(0)
