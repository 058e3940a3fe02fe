/**
 * One proxy under pgbench -S for a while, for a profiler to look at: starts PostgreSQL, the proxy in a
 * process of its own (with the node flags given) and prints its pid, then runs pgbench and prints its
 * TPS and the proxy's CPU per transaction. Attach `perf record -p PID` meanwhile, or pass --cpu-prof.
 *
 *   node --import tsx benchmarks/pg/profile.ts [--path pass|relay|raw] [--clients 16] [--mode simple]
 *     [--seconds 10] [--node-args=--perf-basic-prof] [--delay 0] [--knn yes]
 */
import { execFileSync, spawn } from 'node:child_process'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { cpuSeconds } from '../lib/proc.js'
import { knnScript, seedKnnTable } from './knn-table.js'
import { startPglite } from '../../test/peers/pglite.js'
import { PG_BIN, startPostgres } from '../../test/peers/postgres.js'

const { values } = parseArgs({
  options: {
    path: { type: 'string', default: 'pass' },
    clients: { type: 'string', default: '16' },
    mode: { type: 'string', default: 'simple' },
    seconds: { type: 'string', default: '10' },
    'node-args': { type: 'string', default: '' },
    delay: { type: 'string', default: '0' },
    /** the pgvector KNN query of pgbench.ts on PGlite instead of pgbench -S on PostgreSQL */
    knn: { type: 'string', default: 'no' },
    /** print the proxy's other stdout lines (V8 traces) */
    trace: { type: 'string', default: 'no' }
  }
})
const HERE = dirname(fileURLToPath(import.meta.url))
const knn = values.knn === 'yes'
const pg = knn ? await knnPeer() : await startPostgres({ settings: { max_connections: '300', shared_buffers: '128MB' } })
process.on('exit', () => pg.closeSync())
const nodeArgs = values['node-args'] === '' ? [] : values['node-args'].split(' ')
const pgBackend = { name: 'pg', protocol: 'postgres', upstream: `127.0.0.1:${pg.port}`, credentials: { user: 'postgres', password: pg.password, database: 'postgres' } }
const allow = { rules: [{ id: 'bench', subjects: { users: ['postgres'] }, effect: 'allow' }] }
let port: number
let password = pg.password
let pid: number
let stop: () => Promise<void>
if (values.path === 'raw') {
  const p = await startPeerProcess<{ pid: number, ports: { relay: number } }>(join(HERE, 'raw-relay.ts'), [String(pg.port)], nodeArgs)
  port = p.info.ports.relay; pid = p.info.pid; stop = p.stop
} else {
  const spec = values.path === 'relay' ? { relay: pg.port } : { config: { backends: [pgBackend], policy: allow }, nullJournal: true, token: 'postgres' }
  const p = await startPeerProcess<{ pid: number, ports: Record<string, number>, token?: string }>(join(HERE, '../lib/gateway-process.ts'), [JSON.stringify(spec)], nodeArgs)
  port = values.path === 'relay' ? p.info.ports.relay : p.info.ports.pg; pid = p.info.pid; stop = p.stop
  if (p.info.token !== undefined) password = p.info.token
}
/** the proxy's process; its stdout may carry V8 traces (--trace-deopt): the ready line is the one starting `{"pid"` */
async function startPeerProcess<T> (file: string, args: string[], nodeArgs: string[]): Promise<{ info: T, stop: () => Promise<void> }> {
  const proc = spawn(process.execPath, [...nodeArgs, '--import', 'tsx', file, ...args], { stdio: ['ignore', 'pipe', 'inherit'] })
  process.on('exit', () => proc.kill('SIGKILL'))
  const info = await new Promise<T>((resolve, reject) => {
    let buf = ''
    proc.stdout.on('data', (d: Buffer) => {
      buf += d.toString()
      const lines = buf.split('\n')
      buf = lines.pop()!
      for (const l of lines) {
        if (l.startsWith('{"pid"')) resolve(JSON.parse(l) as T)
        else if (values.trace === 'yes') process.stdout.write(`[proxy] ${l}\n`)
      }
    })
    proc.once('exit', (code) => reject(new Error(`${file} exited (${String(code)}) before it was ready`)))
  })
  const stop = async (): Promise<void> => {
    if (proc.exitCode !== null) return
    const exited = new Promise(resolve => proc.once('exit', resolve))
    proc.kill('SIGTERM')
    await exited
  }
  return { info, stop }
}
const pgbench = join(PG_BIN, 'pgbench')
const env = { ...process.env, PGPASSWORD: password }
if (!knn) execFileSync(pgbench, ['-i', '-q', '-s', '10', '-h', '127.0.0.1', '-p', String(pg.port), '-U', 'postgres', 'postgres'], { env: { ...process.env, PGPASSWORD: pg.password }, stdio: 'ignore' })
const args = [...(knn ? ['-f', knnScript()] : ['-S']), '-n', '-j', '2', '-M', values.mode, '-c', values.clients, '-h', '127.0.0.1', '-p', String(port), '-U', 'postgres', 'postgres']
// warm-up, then the measured run
execFileSync(pgbench, [...args, '-T', '2'], { env, stdio: 'ignore' })
process.stdout.write(`PID ${pid}\n`)
await new Promise(resolve => setTimeout(resolve, Number(values.delay) * 1000))
const cpu0 = cpuSeconds(pid)
const out = await new Promise<string>(resolve => {
  const c = spawn(pgbench, [...args, '-T', values.seconds], { env })
  let s = ''
  c.stdout.on('data', (b: Buffer) => { s += b.toString() })
  c.on('close', () => resolve(s))
})
const tps = Number(/tps = ([\d.]+)/.exec(out)?.[1])
const tx = Number(/actually processed: (\d+)/.exec(out)?.[1])
process.stdout.write(`${values.path}: ${tps.toFixed(0)} tps, ${((cpuSeconds(pid) - cpu0) / tx * 1e6).toFixed(1)} µs CPU/tx\n`)
await stop()
process.exit(0)

/** PGlite with pgvector and pgbench.ts's KNN table, looking like the PostgreSQL peer to the code above */
async function knnPeer (): Promise<{ port: number, password: string, closeSync: () => void }> {
  const lite = await startPglite()
  seedKnnTable(lite.port)
  return { port: lite.port, password: 'any', closeSync: () => lite.kill() }
}
