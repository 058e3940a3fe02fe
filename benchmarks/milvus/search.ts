/**
 * Milvus Search (top-10 with three output fields) against a real Milvus server (milvus-lite), in one
 * run: direct, through a plain TCP relay, through vecgate pass-through (no journal), and through
 * vecgate with policy + masking + journal. The load generator (the official Node SDK) runs in its own
 * process. Writes the "Milvus Search" section of benchmarks/RESULTS.md.
 *
 *   node --import tsx benchmarks/milvus/search.ts [--calls 1500] [--rounds 2]
 */
import { spawn, execFileSync } from 'node:child_process'
import { cpus } from 'node:os'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { DataType, MilvusClient } from '@zilliz/milvus2-sdk-node'
import { startMilvus } from '../../test/peers/milvus.js'
import { startUnderTest, type UnderTest } from '../lib/env.js'
import { cpuSeconds, peakRssMiB, rssMiB } from '../lib/proc.js'
import { writeSection } from '../results.js'

const { values } = parseArgs({ options: { calls: { type: 'string', default: '1500' }, rounds: { type: 'string', default: '2' }, 'dry-run': { type: 'boolean', default: false } } })
const calls = Number(values.calls)
const rounds = Number(values.rounds)

const milvus = await startMilvus()
process.on('exit', () => { void milvus.close() })
const seed = new MilvusClient({ address: milvus.address, username: 'root', password: 'Milvus' })
await seed.connectPromise
await seed.createCollection({
  collection_name: 'bench',
  fields: [
    { name: 'id', data_type: DataType.Int64, is_primary_key: true },
    { name: 'vec', data_type: DataType.FloatVector, dim: 8 },
    { name: 'title', data_type: DataType.VarChar, max_length: 512 },
    { name: 'email', data_type: DataType.VarChar, max_length: 128 }
  ]
})
await seed.insert({ collection_name: 'bench', data: Array.from({ length: 2000 }, (_, i) => ({ id: i, vec: Array.from({ length: 8 }, (_, j) => Math.sin(i * 8 + j)), title: `document ${i} `.repeat(20), email: `user${i}@example.com` })) })
await seed.createIndex({ collection_name: 'bench', field_name: 'vec', index_type: 'FLAT', metric_type: 'L2' })
await seed.loadCollection({ collection_name: 'bench' })
await seed.closeConnection()

const backend = { name: 'milvus', protocol: 'milvus', upstream: milvus.address, credentials: { username: 'root', password: 'Milvus' } }
// each in a process of its own: its CPU time per call and its memory are read from /proc
const pass = await startUnderTest({ config: { backends: [backend], policy: { rules: [{ id: 'bench', subjects: { users: ['bench'] }, effect: 'allow' }] } }, nullJournal: true, token: 'bench' }, 'milvus')
const full = await startUnderTest({
  config: {
    backends: [backend],
    policy: { rules: [{ id: 'bench', subjects: { users: ['bench'] }, effect: 'allow', mask: 'pii' }] },
    masking: { profiles: { pii: { fields: ['email'], action: 'redact', vectors: 'keep' } } }
  },
  token: 'bench'
}, 'milvus')
const relay = await startUnderTest({ relay: Number(milvus.address.split(':').pop()) })

interface Load { rps: number, p50: number, p99: number }
async function load (address: string, token: string, concurrency: number): Promise<Load> {
  const child = spawn(process.execPath, ['--import', 'tsx', fileURLToPath(new URL('./load.ts', import.meta.url)), address, token, String(calls), String(concurrency)], { stdio: ['ignore', 'pipe', 'inherit'] })
  let out = ''
  child.stdout.on('data', (d: Buffer) => { out += d.toString() })
  await new Promise(resolve => child.on('exit', resolve))
  return JSON.parse(out.trim()) as Load
}

const targets: Array<{ name: string, address: string, token: string, proc?: UnderTest }> = [
  { name: 'direct', address: milvus.address, token: 'root:Milvus' },
  { name: 'tcp relay', address: `127.0.0.1:${relay.port}`, token: 'root:Milvus', proc: relay },
  { name: 'vecgate pass-through', address: `127.0.0.1:${pass.port}`, token: pass.token!, proc: pass },
  { name: 'vecgate policy+mask+journal', address: `127.0.0.1:${full.port}`, token: full.token!, proc: full }
]
const results = new Map<string, Load[]>()
/** CPU µs per call of the relay or gateway process (user+sys over the calls answered) */
const cpuUs = new Map<string, number[]>()
for (let r = 0; r < rounds; r++) {
  for (const c of [1, 16]) {
    for (const t of targets) {
      const k = `${t.name} @ c=${c}`
      const cpu0 = t.proc !== undefined ? cpuSeconds(t.proc.pid) : 0
      results.set(k, [...(results.get(k) ?? []), await load(t.address, t.token, c)])
      if (t.proc !== undefined) cpuUs.set(k, [...(cpuUs.get(k) ?? []), (cpuSeconds(t.proc.pid) - cpu0) / calls * 1e6])
    }
  }
}
const med = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]
const commit = (() => { try { return execFileSync('git', ['rev-parse', '--short', 'HEAD'], { encoding: 'utf8' }).trim() } catch { return '?' } })()
const lines = [
  `Milvus Search top-10 with 3 output fields against milvus-lite, ${calls} calls per run, ${rounds} rounds; Node SDK load generator in its own process; ${cpus().length} cores; ${new Date().toISOString().slice(0, 10)}; commit ${commit}`,
  '',
  '| path | calls/s | vs direct | p50 µs | p99 µs | added p50 µs | CPU µs/call |',
  '|---|---|---|---|---|---|---|'
]
for (const c of [1, 16]) {
  const d = results.get(`direct @ c=${c}`)!
  for (const t of targets) {
    const r = results.get(`${t.name} @ c=${c}`)!
    const rps = med(r.map(x => x.rps)); const p50 = med(r.map(x => x.p50)); const p99 = med(r.map(x => x.p99))
    lines.push(`| ${t.name} @ c=${c} | ${rps} | ${(rps / med(d.map(x => x.rps))).toFixed(2)}× | ${p50} | ${p99} | ${p50 - med(d.map(x => x.p50))} | ${t.proc !== undefined ? med(cpuUs.get(`${t.name} @ c=${c}`)!).toFixed(0) : '–'} |`)
  }
}
lines.push('', `Memory after the runs (RSS now / peak): ${targets.filter(t => t.proc !== undefined).map(t => `${t.name} ${rssMiB(t.proc!.pid).toFixed(0)} / ${peakRssMiB(t.proc!.pid).toFixed(0)} MiB`).join('; ')}. "CPU µs/call": user+sys CPU of the relay or gateway process (/proc/PID/stat) over the calls made.`)
lines.push('', '`node --import tsx benchmarks/milvus/search.ts` — medians of the rounds. milvus-lite (Python) is the upstream; it shares the 2 cores with vecgate and the load generator.')
const table = lines.join('\n')
process.stdout.write(table + '\n')
if (!values['dry-run']) writeSection('Milvus Search', table)
await pass.stop(); await full.stop(); await relay.stop(); await milvus.close()
process.exit(0)
