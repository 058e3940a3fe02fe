/**
 * Unary Qdrant Search (top-10, ~10 KB responses) driven by h2load, in one run: direct to the upstream,
 * through a plain TCP relay, through vecgate with only pass-through (allow, no mask, no journal), and
 * through vecgate with policy + masking + journal on. Closed loop at concurrency 1 and 64, then open
 * loop at fixed rates (the same for every path: fractions of what direct reached at 64). The upstream
 * (the test peer), the relay and each gateway run in processes of their own, so each one's CPU time
 * per request and memory are read from /proc. Writes the "Qdrant Search" section of
 * benchmarks/RESULTS.md.
 *
 *   node --import tsx benchmarks/qdrant/search.ts [--seconds 5] [--rounds 2] [--rates 0.4,0.75] [--levels 1x1,4x16] [--only pass] [--dry-run]
 *   VECGATE_BENCH_PROF=/tmp/prof …   also writes a --cpu-prof profile of each gateway process
 */
import { parseArgs } from 'node:util'
import { fileURLToPath } from 'node:url'
import { qdrantSchema } from '../../decoders/qdrant/schema.js'
import { machine, startPeerProcess, startUnderTest, type UnderTest } from '../lib/env.js'
import { checkCall, grpcBodyFile, h2load, median as med, type H2loadResult } from '../lib/h2load.js'
import { cpuSeconds, mainThreadCpuSeconds, peakRssMiB, rssMiB } from '../lib/proc.js'
import { writeSection } from '../results.js'

const { values } = parseArgs({
  options: {
    seconds: { type: 'string', default: '5' },
    rounds: { type: 'string', default: '2' },
    rates: { type: 'string', default: '0.4,0.75' },
    /** closed-loop concurrencies: connections × streams */
    levels: { type: 'string', default: '1x1,4x16' },
    /** only the targets whose name contains one of these (direct always runs: ratios need it) */
    only: { type: 'string', default: '' },
    /** print the table without writing RESULTS.md (profiling, trials) */
    'dry-run': { type: 'boolean', default: false }
  }
})
const seconds = Number(values.seconds)
const rounds = Number(values.rounds)
const rateFractions = values.rates === '' ? [] : values.rates.split(',').map(Number)
const levels = values.levels.split(',').map(l => { const [c, m] = l.split('x').map(Number); return { c, m } })
const KEY = 'bench-upstream-key'

const header = machine()
const { info: peerInfo, pid: peerPid } = await (async () => {
  const p = await startPeerProcess<{ port: number, responseBytes: number }>(fileURLToPath(new URL('./peer.ts', import.meta.url)), [KEY])
  return { info: p.info, pid: p.proc.pid! }
})()
const peerPort = peerInfo.port
const backends = [{ name: 'qdrant', protocol: 'qdrant', upstream: `127.0.0.1:${peerPort}`, credentials: { api_key: KEY } }]

const full = await startUnderTest({
  config: {
    backends,
    policy: { rules: [{ id: 'bench', subjects: { users: ['bench'] }, effect: 'allow', mask: 'pii' }] },
    masking: { profiles: { pii: { fields: ['email'], detectors: [], action: 'redact', vectors: 'keep' } } }
  },
  token: 'bench'
})
const pass = await startUnderTest({ config: { backends, policy: { rules: [{ id: 'bench', subjects: { users: ['bench'] }, effect: 'allow' }] } }, nullJournal: true, token: 'bench' })
const relay = await startUnderTest({ relay: peerPort })

const Search = qdrantSchema().root.lookupType('qdrant.SearchPoints')
const req = Search.encode({ collection_name: 'bench', vector: [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8], limit: 10, with_payload: { enable: true } }).finish()
const body = grpcBodyFile(req, 'search.bin')

interface Target { name: string, port: number, key: string, proc?: UnderTest }
const targets: Target[] = [
  { name: 'direct', port: peerPort, key: KEY },
  { name: 'tcp relay', port: relay.port, key: KEY, proc: relay },
  { name: 'vecgate pass-through', port: pass.port, key: pass.token!, proc: pass },
  { name: 'vecgate policy+mask+journal', port: full.port, key: full.token!, proc: full }
].filter(t => t.name === 'direct' || values.only === '' || values.only.split(',').some(o => t.name.includes(o)))
interface Row { rps: number[], p50: number[], p99: number[], cpuUs: number[], mainUs: number[], errors: number, requests: number }
const results = new Map<string, Row>()

/** one h2load run against one target; CPU per request of the process serving it (the peer's for direct) */
async function run (t: Target, label: string, load: { c: number, m: number, rps?: number }): Promise<H2loadResult> {
  const pid = t.proc?.pid ?? peerPid
  const cpu0 = cpuSeconds(pid)
  const main0 = mainThreadCpuSeconds(pid)
  const res = await h2load({ port: t.port, path: '/qdrant.Points/Search', body, key: t.key, seconds, ...load })
  const cpu = cpuSeconds(pid) - cpu0
  const main = mainThreadCpuSeconds(pid) - main0
  const k = `${t.name} @ ${label}`
  const row = results.get(k) ?? { rps: [], p50: [], p99: [], cpuUs: [], mainUs: [], errors: 0, requests: 0 }
  row.rps.push(res.rps); row.p50.push(res.p50); row.p99.push(res.p99); row.errors += res.errors; row.requests += res.requests
  row.cpuUs.push(res.requests > 0 ? cpu / res.requests * 1e6 : 0)
  row.mainUs.push(res.requests > 0 ? main / res.requests * 1e6 : 0)
  results.set(k, row)
  return res
}

// every path answers the call (a refusal would time as a fast answer), then is warmed up (JIT, connections' first SETTINGS), unrecorded
for (const t of targets) await checkCall({ port: t.port, path: '/qdrant.Points/Search', body, key: t.key })
for (const t of targets) await h2load({ port: t.port, path: '/qdrant.Points/Search', body, key: t.key, seconds: 1, c: 1, m: 4 })

const labels: string[] = []
for (const conc of levels) {
  const label = `c=${conc.c * conc.m}`
  labels.push(label)
  for (let r = 0; r < rounds; r++) for (const t of targets) await run(t, label, conc)
}
// open loop: 4 connections, each sending at a fixed rate, at most 64 in flight each, so the schedule, not the answers, sets the pace until the path saturates (then "req/s" falls below the rate)
const directMax = med(results.get(`direct @ ${labels[labels.length - 1]}`)!.rps)
for (const f of rateFractions) {
  const perConn = Math.max(1, Math.round(directMax * f / 4))
  const label = `${perConn * 4}/s open`
  labels.push(label)
  for (let r = 0; r < rounds; r++) for (const t of targets) await run(t, label, { c: 4, m: 64, rps: perConn })
}

const lines = [
  `Qdrant unary Search, top-10, ${peerInfo.responseBytes} B responses, h2load ${seconds}s per run, ${rounds} rounds alternating; ${header}`,
  '',
  '| path | req/s | vs direct | p50 µs | p99 µs | added p50 µs | added p99 µs | CPU µs/req | of it event loop | errors |',
  '|---|---|---|---|---|---|---|---|---|---|'
]
for (const label of labels) {
  const direct = results.get(`direct @ ${label}`)!
  for (const t of targets) {
    const row = results.get(`${t.name} @ ${label}`)!
    lines.push(`| ${t.name} @ ${label} | ${med(row.rps).toFixed(0)} | ${(med(row.rps) / med(direct.rps)).toFixed(2)}× | ${med(row.p50).toFixed(0)} | ${med(row.p99).toFixed(0)} | ${(med(row.p50) - med(direct.p50)).toFixed(0)} | ${(med(row.p99) - med(direct.p99)).toFixed(0)} | ${med(row.cpuUs).toFixed(0)} | ${med(row.mainUs).toFixed(0)} | ${row.errors} |`)
  }
}
lines.push('', `Memory after the runs (RSS now / peak): ${targets.filter(t => t.proc !== undefined).map(t => `${t.name} ${rssMiB(t.proc!.pid).toFixed(0)} / ${peakRssMiB(t.proc!.pid).toFixed(0)} MiB`).join('; ')}; upstream peer ${rssMiB(peerPid).toFixed(0)} MiB.`)
lines.push('', '`node --import tsx benchmarks/qdrant/search.ts` (h2load over h2c with a fixed gRPC request body; medians of the rounds). "added" is the latency over direct in the same run. "CPU µs/req" is the user+sys CPU of the process serving the path (/proc/PID/stat, all threads) over the requests answered: the relay or gateway process, or the upstream peer for direct; "of it event loop" is its main thread alone (/proc/PID/task/PID/stat), i.e. without the journal worker thread. Open loop: h2load --rps on 4 connections (at most 64 in flight each; a path that cannot keep up shows req/s below the rate), rates fixed from what direct reached at c=64. The gateway and the relay run as plain JavaScript compiled by tsc (benchmarks/lib/env.ts), as production runs the gateway; each path first answers one call with grpc-status 0. The gateway, the upstream and h2load share the 2 cores.')
const table = lines.join('\n')
process.stdout.write(table + '\n')
if (!values['dry-run']) writeSection('Qdrant Search', table)

await full.stop(); await pass.stop(); await relay.stop()
process.exit(0)
