/**
 * Qdrant Upsert of 1000-point batches (128-dimension vectors and a small payload, ~0.6 MB per
 * request, so every call crosses many DATA frames and the flow-control windows) driven by h2load, in
 * one run: direct to the upstream, through a plain TCP relay, through vecgate with only pass-through
 * (allow, no journal), and through vecgate with policy and the journal on (a write ends only after
 * its events are committed). The upstream (the test peer) runs in its own process. Writes the
 * "Qdrant Upsert" section of benchmarks/RESULTS.md.
 *
 *   node --import tsx benchmarks/qdrant/upsert.ts [--seconds 8] [--rounds 2] [--levels 1x1,4x4] [--only pass] [--dry-run]
 *   VECGATE_BENCH_PROF=/tmp/prof …   also writes a --cpu-prof profile of each gateway process
 */
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { QdrantClient } from '@qdrant/js-client-grpc'
import { qdrantSchema } from '../../decoders/qdrant/schema.js'
import { machine, startPeerProcess, startUnderTest, type UnderTest } from '../lib/env.js'
import { cpuSeconds, peakRssMiB, rssMiB } from '../lib/proc.js'
import { checkCall, grpcBodyFile, h2load, median } from '../lib/h2load.js'
import { writeSection } from '../results.js'

const { values } = parseArgs({
  options: {
    seconds: { type: 'string', default: '8' },
    rounds: { type: 'string', default: '2' },
    /** closed-loop concurrencies: connections × streams */
    levels: { type: 'string', default: '1x1,4x4' },
    /** only the targets whose name contains one of these (direct always runs: ratios need it) */
    only: { type: 'string', default: '' },
    /** print the table without writing RESULTS.md (profiling, trials) */
    'dry-run': { type: 'boolean', default: false }
  }
})
const seconds = Number(values.seconds)
const rounds = Number(values.rounds)
const KEY = 'bench-upstream-key'
const DIM = 128
const BATCH = 1000
const header = machine()

const { info, proc: peerProc } = await startPeerProcess<{ port: number }>(fileURLToPath(new URL('./peer.ts', import.meta.url)), [KEY])
const upstream = `127.0.0.1:${info.port}`
const direct = new QdrantClient({ host: '127.0.0.1', port: info.port, apiKey: KEY, https: false, checkCompatibility: false })
await direct.api('collections').create({ collectionName: 'upsert', vectorsConfig: { config: { case: 'params', value: { size: BigInt(DIM), distance: 1 } } } })

const backends = [{ name: 'qdrant', protocol: 'qdrant', upstream, credentials: { api_key: KEY } }]
const allow = { rules: [{ id: 'bench', subjects: { users: ['bench'] }, effect: 'allow' }] }
// each in a process of its own: its CPU time per call and its memory are read from /proc
const full = await startUnderTest({ config: { backends, policy: allow }, token: 'bench' })
const pass = await startUnderTest({ config: { backends, policy: allow }, nullJournal: true, token: 'bench' })
const relay = await startUnderTest({ relay: info.port })

// the same ids every time: each call overwrites the batch, so the peer's memory stays flat
const Upsert = qdrantSchema().root.lookupType('qdrant.UpsertPoints')
const message = Upsert.encode(Upsert.fromObject({
  collection_name: 'upsert',
  wait: true,
  points: Array.from({ length: BATCH }, (_, i) => ({
    id: { num: i + 1 },
    vectors: { vector: { data: Array.from({ length: DIM }, (_, j) => Math.sin(i * DIM + j)) } },
    payload: { source: { string_value: `doc-${i % 50}` }, chunk: { integer_value: i } }
  }))
})).finish()
const body = grpcBodyFile(message, 'upsert.bin')

// what a full protobufjs decode of one such request costs here (the decoder's classification reads
// every point's id; decoding the vectors along with them is most of the gateway's added work)
for (let i = 0; i < 10; i++) Upsert.decode(message)
const t0 = process.hrtime.bigint()
for (let i = 0; i < 20; i++) Upsert.decode(message)
const decodeMs = Number(process.hrtime.bigint() - t0) / 20 / 1e6

const targets: Array<{ name: string, port: number, key: string, proc?: UnderTest }> = [
  { name: 'direct', port: info.port, key: KEY },
  { name: 'tcp relay', port: relay.port, key: KEY, proc: relay },
  { name: 'vecgate pass-through', port: pass.port, key: pass.token!, proc: pass },
  { name: 'vecgate policy+journal', port: full.port, key: full.token!, proc: full }
].filter(t => t.name === 'direct' || values.only === '' || values.only.split(',').some(o => t.name.includes(o)))
const levels = values.levels.split(',').map(l => { const [c, m] = l.split('x').map(Number); return { c, m } })
interface Row { rps: number[], p50: number[], p99: number[], cpuMs: number[], errors: number }
const results = new Map<string, Row>()
// every path answers the call (a refusal would time as a fast answer), then is warmed up (JIT, the method tables built on the first call, connections' first SETTINGS), unrecorded
for (const t of targets) await checkCall({ port: t.port, path: '/qdrant.Points/Upsert', body, key: t.key })
for (const t of targets) await h2load({ port: t.port, path: '/qdrant.Points/Upsert', body, key: t.key, seconds: 1, c: 1, m: 1 })
for (const { c, m } of levels) {
  for (let r = 0; r < rounds; r++) {
    for (const t of targets) {
      // CPU of the process serving the path: the relay or gateway, or the upstream peer for direct
      const pid = t.proc?.pid ?? peerProc.pid!
      const cpu0 = cpuSeconds(pid)
      const res = await h2load({ port: t.port, path: '/qdrant.Points/Upsert', body, key: t.key, seconds, c, m })
      const cpu = cpuSeconds(pid) - cpu0
      const k = `${t.name} @ c=${c * m}`
      const row = results.get(k) ?? { rps: [], p50: [], p99: [], cpuMs: [], errors: 0 }
      row.rps.push(res.rps); row.p50.push(res.p50); row.p99.push(res.p99); row.errors += res.errors
      row.cpuMs.push(res.requests > 0 ? cpu / res.requests * 1e3 : 0)
      results.set(k, row)
    }
  }
}

const lines = [
  `Qdrant Upsert, ${BATCH} points of ${DIM} dimensions per call (${(message.length / 1024).toFixed(0)} KiB requests, wait=true), h2load ${seconds}s per run, ${rounds} round(s) alternating; ${header}`,
  '',
  '| path | calls/s | points/s | vs direct | p50 µs | p99 µs | added p50 µs | CPU ms/call | errors |',
  '|---|---|---|---|---|---|---|---|---|'
]
for (const { c, m } of levels) {
  const d = results.get(`direct @ c=${c * m}`)!
  for (const t of targets) {
    const k = `${t.name} @ c=${c * m}`
    const row = results.get(k)!
    lines.push(`| ${k} | ${median(row.rps).toFixed(1)} | ${(median(row.rps) * BATCH).toFixed(0)} | ${(median(row.rps) / median(d.rps)).toFixed(2)}× | ${median(row.p50).toFixed(0)} | ${median(row.p99).toFixed(0)} | ${(median(row.p50) - median(d.p50)).toFixed(0)} | ${median(row.cpuMs).toFixed(2)} | ${row.errors} |`)
  }
}
lines.push('', `Memory after the runs (RSS now / peak): ${targets.filter(t => t.proc !== undefined).map(t => `${t.name} ${rssMiB(t.proc!.pid).toFixed(0)} / ${peakRssMiB(t.proc!.pid).toFixed(0)} MiB`).join('; ')}. "CPU ms/call": user+sys CPU of the process serving the path (/proc/PID/stat) over the calls answered; the upstream peer's for direct.`)
lines.push('', `A full protobufjs decode of one request takes ${decodeMs.toFixed(1)} ms in this process; vecgate does not pay it: its Upsert classification reads only the 1000 point ids off the wire and skips vectors and payloads.`)
lines.push('', '`node --import tsx benchmarks/qdrant/upsert.ts` (h2load over h2c with a fixed gRPC request body; medians of the rounds). The upstream is the test peer (grpc-js decoding the whole batch into objects), which is most of the time per call; the gateway, the upstream and h2load share the 2 cores.')
const table = lines.join('\n')
process.stdout.write(table + '\n')
if (!values['dry-run']) writeSection('Qdrant Upsert', table)

await full.stop(); await pass.stop(); await relay.stop()
process.exit(0)
