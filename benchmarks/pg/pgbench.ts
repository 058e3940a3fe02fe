/**
 * pgbench through vecgate beside the direct path, PgBouncer (session mode) and a plain Node TCP relay,
 * and a relay on bare TCP handles (benchmarks/pg/raw-relay.ts: the floor for any Node proxy here),
 * alternating in one run on the same machine, for the simple and the prepared protocol; then a
 * pgvector KNN query on PGlite through each of them. Writes benchmarks/pg/RESULTS.md and the
 * "PostgreSQL pgbench" section of benchmarks/RESULTS.md.
 *
 *   node --import tsx benchmarks/pg/pgbench.ts [--seconds 5] [--rounds 2] [--clients 16,64] [--modes simple,prepared]
 *     [--paths direct,bouncer,relay,raw,pass,full] [--knn yes|no] [--warmup 1]
 *
 * A run with fewer paths or without KNN (for iterating) prints its figures and leaves RESULTS.md as it is.
 *
 * Every proxy runs in a process of its own (benchmarks/lib/gateway-process.ts for vecgate and the Node
 * relay), so its CPU and memory are read from /proc: vecgate pass-through (allow-all policy, journal
 * off) and vecgate with a policy, a mask that rewrites a column of every row and the SQLite journal on.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process'
import { chownSync, existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import net from 'node:net'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { machine, startPeerProcess, startUnderTest, type UnderTest } from '../lib/env.js'
import { cpuSeconds, rssMiB } from '../lib/proc.js'
import { writeSection } from '../results.js'
import { knnScript, seedKnnTable } from './knn-table.js'
import { startPglite } from '../../test/peers/pglite.js'
import { PG_BIN, freePort, startPostgres } from '../../test/peers/postgres.js'

const { values } = parseArgs({
  options: {
    seconds: { type: 'string', default: '5' },
    rounds: { type: 'string', default: '2' },
    clients: { type: 'string', default: '16,64' },
    modes: { type: 'string', default: 'simple,prepared' },
    paths: { type: 'string', default: 'direct,bouncer,relay,raw,pass,full' },
    knn: { type: 'string', default: 'yes' },
    warmup: { type: 'string', default: '1' }
  }
})
const seconds = Number(values.seconds)
/**
 * Seconds each path runs the workload unmeasured before its rounds: a gateway in service is long past
 * V8's tier-up of its hot functions, a fresh process is not (at 1 client, KNN's first few thousand
 * queries run in the interpreter and baseline code).
 */
const warmup = Number(values.warmup)
/** KNN runs one client: its warm-up counts queries, enough for V8 to have optimized the relay's hot path */
const KNN_WARMUP_QUERIES = 5000
const rounds = Number(values.rounds)
const clientCounts = values.clients.split(',').filter(c => c !== '').map(Number)
const modes = values.modes.split(',') as Array<'simple' | 'prepared'>
const ALL_PATHS = ['direct', 'bouncer', 'relay', 'raw', 'pass', 'full']
const paths = values.paths.split(',')
const withKnn = values.knn !== 'no'
const complete = withKnn && ALL_PATHS.every(p => paths.includes(p))
const HERE = dirname(fileURLToPath(import.meta.url))

/** everything started here is stopped on the way out, also when a step fails */
const cleanups: Array<() => unknown> = []
process.on('exit', () => { for (const c of cleanups.reverse()) { try { void c() } catch {} } })
for (const sig of ['SIGINT', 'SIGTERM'] as const) process.on(sig, () => process.exit(1))
process.on('uncaughtException', (e) => { process.stderr.write(`${e.stack ?? String(e)}\n`); process.exit(1) })

const header = machine()
const pg = await startPostgres({ settings: { max_connections: '300', shared_buffers: '128MB' } })
cleanups.push(() => pg.closeSync())
const bouncer = await startPgbouncer(pg.port, pg.password)
cleanups.push(() => bouncer.stop())

const pgBackend = { name: 'pg', protocol: 'postgres', upstream: `127.0.0.1:${pg.port}`, credentials: { user: 'postgres', password: pg.password, database: 'postgres' } }
const allow = { rules: [{ id: 'bench', subjects: { users: ['postgres'] }, effect: 'allow' }] }
/** pgbench -S reads `abalance`: the mask rewrites it in every row (redacted numbers go out as NULL) */
const masked = {
  policy: { rules: [{ id: 'bench', subjects: { users: ['postgres'] }, backends: ['pg'], effect: 'allow', mask: 'balances' }] },
  masking: { profiles: { balances: { fields: ['abalance'], detectors: [], action: 'redact', vectors: 'keep' } } }
}
/** each path's process started only when the run measures it */
const stops: Array<() => Promise<void>> = []
async function started (spec: Parameters<typeof startUnderTest>[0], key: string, backend?: string): Promise<UnderTest | undefined> {
  if (!paths.includes(key)) return undefined
  const u = await startUnderTest(spec, backend)
  cleanups.push(() => { try { process.kill(u.pid, 'SIGKILL') } catch {} })
  stops.push(u.stop)
  return u
}
const relay = await started({ relay: pg.port }, 'relay')
const raw = paths.includes('raw') ? await startPeerProcess<{ pid: number, ports: { relay: number } }>(join(HERE, 'raw-relay.ts'), [String(pg.port)]) : undefined
if (raw !== undefined) stops.push(raw.stop)
const pass = await started({ config: { backends: [pgBackend], policy: allow }, nullJournal: true, token: 'postgres' }, 'pass', 'pg')
const full = await started({ config: { backends: [pgBackend], ...masked }, token: 'postgres' }, 'full', 'pg')

const pgbench = join(PG_BIN, 'pgbench')
execFileSync(pgbench, ['-i', '-q', '-s', '10', '-h', '127.0.0.1', '-p', String(pg.port), '-U', 'postgres', 'postgres'], { env: { ...process.env, PGPASSWORD: pg.password }, stdio: 'ignore' })

interface Target { name: string, port: number, password: string, pid?: () => number }
const allTargets: Array<Target & { key: string }> = [
  { key: 'direct', name: 'direct', port: pg.port, password: pg.password },
  { key: 'bouncer', name: 'PgBouncer (session)', port: bouncer.port, password: pg.password, pid: bouncer.pid },
  { key: 'relay', name: 'Node TCP relay', port: relay?.port ?? 0, password: pg.password, pid: () => relay!.pid },
  { key: 'raw', name: 'raw-handle relay', port: raw?.info.ports.relay ?? 0, password: pg.password, pid: () => raw!.info.pid },
  { key: 'pass', name: 'vecgate pass-through', port: pass?.port ?? 0, password: pass?.token ?? '', pid: () => pass!.pid },
  { key: 'full', name: 'vecgate policy+mask+journal', port: full?.port ?? 0, password: full?.token ?? '', pid: () => full!.pid }
]
const targets: Target[] = allTargets.filter(t => paths.includes(t.key))

interface Run { tps: number, cpuUs?: number, kernelUs?: number, rss?: number, p50: number, p99: number }

/**
 * System CPU seconds of a process, all threads (/proc/PID/stat field 15, proc(5)): the kernel's share
 * of the proxy's CPU, mostly loopback TCP on every read and write.
 */
function systemSeconds (pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
  return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[12]) / TICKS
}
const TICKS = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100

/** pgbench -n: no vacuum; latencies from its per-transaction log (a sample of 1 in 10) */
async function runPgbench (t: Target, args: string[]): Promise<Run> {
  const pid = t.pid?.()
  const cpu0 = pid !== undefined ? cpuSeconds(pid) : 0
  const sys0 = pid !== undefined ? systemSeconds(pid) : 0
  const logs = mkdtempSync(join(tmpdir(), 'vg-pgbench-log-'))
  const child = spawn(pgbench, [...args, '-n', '-j', '2', '--log', '--sampling-rate', '0.1', '--log-prefix', join(logs, 'tx'),
    '-h', '127.0.0.1', '-p', String(t.port), '-U', 'postgres', 'postgres'], {
    cwd: logs, env: { ...process.env, PGPASSWORD: t.password }, stdio: ['ignore', 'pipe', 'pipe']
  })
  let out = ''
  child.stdout.on('data', (b: Buffer) => { out += b.toString() })
  child.stderr.on('data', (b: Buffer) => { out += b.toString() })
  await new Promise(resolve => child.once('close', resolve))
  const m = /tps = ([\d.]+) \(without initial connection time\)/.exec(out)
  if (m === null) throw new Error(`pgbench via ${t.name} failed: ${out}`)
  const failed = /number of failed transactions: (\d+)/.exec(out)
  if (failed !== null && failed[1] !== '0') throw new Error(`pgbench via ${t.name}: ${failed[1]} failed transactions`)
  const tx = Number(/number of transactions actually processed: (\d+)/.exec(out)?.[1] ?? 0)
  // log lines: client_id transaction_no time(µs) script_no time_epoch time_us
  const lat: number[] = []
  for (const f of readdirSync(logs)) {
    for (const line of readFileSync(join(logs, f), 'utf8').split('\n')) {
      const v = Number(line.split(' ')[2])
      if (Number.isFinite(v) && line !== '') lat.push(v)
    }
  }
  rmSync(logs, { recursive: true, force: true })
  lat.sort((a, b) => a - b)
  const pct = (p: number): number => lat.length === 0 ? NaN : lat[Math.min(lat.length - 1, Math.floor(p * lat.length))] / 1000
  return {
    tps: Number(m[1]),
    cpuUs: pid !== undefined ? (cpuSeconds(pid) - cpu0) / tx * 1e6 : undefined,
    kernelUs: pid !== undefined ? (systemSeconds(pid) - sys0) / tx * 1e6 : undefined,
    rss: pid !== undefined ? rssMiB(pid) : undefined,
    p50: pct(0.5),
    p99: pct(0.99)
  }
}

const median = (xs: number[]): number => { const s = [...xs].sort((a, b) => a - b); const h = s.length >> 1; return s.length % 2 === 1 ? s[h] : (s[h - 1] + s[h]) / 2 }
const results = new Map<string, Run[]>()
for (const c of clientCounts) {
  for (const mode of modes) {
    // a warm-up that got nothing done (64 connections still being made when it ended) only warms less
    if (warmup > 0) for (const t of targets) await runPgbench(t, ['-S', '-M', mode, '-c', String(c), '-T', String(warmup)]).catch(() => {})
    for (let r = 0; r < rounds; r++) {
      for (const t of targets) {
        const run = await runPgbench(t, ['-S', '-M', mode, '-c', String(c), '-T', String(seconds)])
        const k = `${c}|${mode}|${t.name}`
        results.set(k, [...(results.get(k) ?? []), run])
        process.stderr.write(`c=${c} ${mode} round ${r + 1} ${t.name}: ${run.tps.toFixed(0)} tps${run.cpuUs !== undefined ? `, ${run.cpuUs.toFixed(1)} µs CPU/tx (${run.kernelUs!.toFixed(1)} kernel)` : ''}, p50 ${run.p50.toFixed(2)} ms\n`)
      }
    }
  }
}

// pgvector KNN on PGlite: one backend behind pglite-socket, so one client
const knnRuns = new Map<string, Run[]>()
let liteTargets: Target[] = []
if (withKnn) await runKnn()
async function runKnn (): Promise<void> {
  const lite = await startPglite()
  cleanups.push(() => lite.kill())
  const liteBackend = { name: 'pgvector', protocol: 'postgres', upstream: `127.0.0.1:${lite.port}`, credentials: { user: 'postgres', password: 'any', database: 'postgres' } }
  const litePass = await startUnderTest({ config: { backends: [liteBackend], policy: allow }, nullJournal: true, token: 'postgres' }, 'pgvector')
  const liteFull = await startUnderTest({ config: { backends: [liteBackend], policy: allow }, token: 'postgres' }, 'pgvector')
  for (const u of [litePass, liteFull]) {
    cleanups.push(() => { try { process.kill(u.pid, 'SIGKILL') } catch {} })
    stops.push(u.stop)
  }
  seedKnnTable(lite.port)
  const knn = knnScript()
  // the other proxies too, to tell what any process on the path costs a single client
  const liteBouncer = paths.includes('bouncer') ? await startPgbouncer(lite.port, 'any') : undefined
  if (liteBouncer !== undefined) cleanups.push(() => liteBouncer.stop())
  const liteRelay = await started({ relay: lite.port }, 'relay')
  const liteRaw = paths.includes('raw') ? await startPeerProcess<{ pid: number, ports: { relay: number } }>(join(HERE, 'raw-relay.ts'), [String(lite.port)]) : undefined
  if (liteRaw !== undefined) stops.push(liteRaw.stop)
  liteTargets = [
    { name: 'direct', port: lite.port, password: 'any' },
    ...(liteBouncer !== undefined ? [{ name: 'PgBouncer (session)', port: liteBouncer.port, password: 'any', pid: liteBouncer.pid }] : []),
    ...(liteRelay !== undefined ? [{ name: 'Node TCP relay', port: liteRelay.port, password: 'any', pid: () => liteRelay.pid }] : []),
    ...(liteRaw !== undefined ? [{ name: 'raw-handle relay', port: liteRaw.info.ports.relay, password: 'any', pid: () => liteRaw.info.pid }] : []),
    { name: 'vecgate pass-through', port: litePass.port, password: litePass.token!, pid: () => litePass.pid },
    { name: 'vecgate policy+journal', port: liteFull.port, password: liteFull.token!, pid: () => liteFull.pid }
  ]
  // one client is about 1000 queries a second: the relay's functions are optimized only after several thousand
  if (warmup > 0) for (const t of liteTargets) await runPgbench(t, ['-f', knn, '-c', '1', '-t', String(KNN_WARMUP_QUERIES)])
  for (let r = 0; r < rounds; r++) {
    for (const t of liteTargets) {
      const run = await runPgbench(t, ['-f', knn, '-c', '1', '-T', String(seconds)])
      knnRuns.set(t.name, [...(knnRuns.get(t.name) ?? []), run])
      process.stderr.write(`knn round ${r + 1} ${t.name}: ${run.tps.toFixed(1)} tps\n`)
    }
  }
}

const fmt = (v: number | undefined, d = 1): string => v === undefined || !Number.isFinite(v) ? '–' : v.toFixed(d)
function table (list: Target[], runsOf: (t: Target) => Run[], withBouncer: boolean): string[] {
  const tpsOf = (name: string): number => { const t = list.find(x => x.name === name); return t === undefined ? NaN : median(runsOf(t).map(x => x.tps)) }
  const direct = tpsOf('direct')
  const b = withBouncer ? tpsOf('PgBouncer (session)') : undefined
  const out = [
    `| path | TPS | vs direct |${withBouncer ? ' vs PgBouncer |' : ''} proxy CPU µs/tx | of which kernel | proxy RSS MiB | p50 ms | p99 ms |`,
    `|---|---:|---:|${withBouncer ? '---:|' : ''}---:|---:|---:|---:|---:|`
  ]
  for (const t of list) {
    const rs = runsOf(t)
    const tps = median(rs.map(x => x.tps))
    const cpu = t.pid !== undefined ? median(rs.map(x => x.cpuUs!)) : undefined
    const kernel = t.pid !== undefined ? median(rs.map(x => x.kernelUs!)) : undefined
    const rss = t.pid !== undefined ? Math.max(...rs.map(x => x.rss!)) : undefined
    out.push(`| ${t.name} | ${fmt(tps, tps < 2000 ? 1 : 0)} | ${(tps / direct).toFixed(2)}× |${b !== undefined ? ` ${(tps / b).toFixed(2)}× |` : ''} ${fmt(cpu)} | ${fmt(kernel)} | ${fmt(rss, 0)} | ${fmt(median(rs.map(x => x.p50)), 2)} | ${fmt(median(rs.map(x => x.p99)), 2)} |`)
  }
  return out
}

const lines = [
  `Machine: ${header}. PostgreSQL 15 (fsync off), Node ${process.version}.`,
  `Medians of ${rounds} alternating rounds of ${seconds} s each (\`pgbench -S -n -j 2\`, scale 10), after ${warmup > 0 ? `${warmup} s (KNN: ${KNN_WARMUP_QUERIES} queries)` : 'no time'} of the same workload on every path unmeasured; ratios against direct and PgBouncer in the same run.`,
  'Proxy CPU µs/tx: user + system CPU of the proxy process (/proc, all threads) over the transactions of the round; on 2 cores shared by',
  'pgbench, PostgreSQL and the proxy this is what decides the TPS. Of which kernel: its system CPU (/proc field stime; tick-sampled, so',
  'a rough split). RSS: the proxy process after the round. Latencies: pgbench\'s',
  'per-transaction log (1 in 10 sampled). vecgate pass-through: allow-all policy, journal off, every statement still classified and',
  'decided. vecgate policy+mask+journal: an allow rule with a mask that rewrites `abalance` in every row, SQLite journal on.',
  ''
]
for (const c of clientCounts) {
  for (const mode of modes) {
    lines.push(`### pgbench -S, ${c} clients, ${mode} protocol`, '', ...table(targets, t => results.get(`${c}|${mode}|${t.name}`)!, true), '')
  }
}
if (withKnn) {
  lines.push('### pgvector KNN (PGlite + pgvector, 1 client)', '',
    '`SELECT id FROM items ORDER BY embedding <-> (SELECT embedding FROM items WHERE id = :q) LIMIT 10` over 2000 16-dimensional vectors, simple protocol.', '',
    ...table(liteTargets, t => knnRuns.get(t.name)!, false), '')
}
lines.push('### Reading these figures', '',
  '- Every proxy pays two reads and two writes on loopback TCP per `-S` transaction; with `perf` that kernel time (the writes waking',
  '  the peer, context switches) is most of each proxy\'s CPU, ≈ 17–22 µs/tx for all of them; PgBouncer spends ≈ 2 µs/tx in user space.',
  '- raw-handle relay (benchmarks/pg/raw-relay.ts): a relay on bare libuv handles doing nothing else (reads into one reused buffer',
  '  per connection, writes straight to the handle, no net.Socket streams). The floor for any Node proxy here: ≈ 2–7 µs/tx above',
  '  PgBouncer, within noise of it at 16 clients, behind it at 64. The Node relay (`pipe()`) spends ≈ 7–11 µs/tx more than it.',
  '- vecgate drives both connections the same way (lib/postgres/wire.ts; TLS keeps net.Socket): a write the kernel does not take',
  '  at once stays with libuv and the relay stops reading the other side until it drains. What it spends above the raw relay is',
  '  its own work per statement: framing, the Query fast path (a text of the connection\'s last shape is matched as bytes, not',
  '  decoded and shaped), the catalog check, admission in lib/pipeline.ts (expiry, a revocation lookup in SQLite, scope, policy,',
  '  metrics, journal event objects, three clock reads) and the response walk; ≈ 2–3 µs/tx in `benchmarks/pg/relay-micro.ts`,',
  '  ≈ 7–20 µs/tx in the process (colder caches between wakeups, more preemption of a busier process on 2 shared cores).',
  '- Syscalls per `-S` transaction (strace -c -f, 16 clients) are the same for vecgate and PgBouncer: 2 reads, 2 writes, ≈ 0.2 epoll',
  '  waits.',
  '- KNN with 1 client is latency: every proxy adds two wakeups per query; PgBouncer and the raw relay stay within noise of',
  '  direct, vecgate adds its per-statement work on a cold cache each time (≈ 30 µs CPU per query above the raw relay) and, every',
  '  1.5 s, a catalog read on a connection of its own that PGlite (one backend) runs between the client\'s queries.',
  '- Writing once per event-loop turn (setImmediate, as the HTTP/2 relay does) instead of once per read was tried: each deferred',
  '  write kept its read buffer, so every read allocated a new one, and TPS fell to a fifth; not pursued.',
  '- Two gateway processes instead of one (clients split between them) did not pay on this 2-core machine: at 16 clients they needed',
  '  more CPU per transaction (fewer requests per wakeup) and reached fewer TPS.',
  '- The machine is shared: runs of the same path vary by ±20 % between rounds; compare paths within one run.',
  '')
const body = lines.join('\n')
if (complete) {
  writeFileSync(join(HERE, 'RESULTS.md'), `# PostgreSQL path: pgbench through vecgate\n\n\`node --import tsx benchmarks/pg/pgbench.ts\`\n\n${body.replace(/^### /gm, '## ')}`)
  writeSection('PostgreSQL pgbench', body)
}
process.stdout.write(body + '\n')

await Promise.all(stops.map(async stop => await stop()))
process.exit(0)

async function startPgbouncer (upstreamPort: number, password: string): Promise<{ port: number, pid: () => number, stop: () => void }> {
  const dir = mkdtempSync(join(tmpdir(), 'vg-bouncer-'))
  const port = await freePort()
  writeFileSync(join(dir, 'userlist.txt'), `"postgres" "${password}"\n`)
  writeFileSync(join(dir, 'pgbouncer.ini'), [
    '[databases]', `postgres = host=127.0.0.1 port=${upstreamPort} dbname=postgres`, '',
    '[pgbouncer]', 'listen_addr = 127.0.0.1', `listen_port = ${port}`, `unix_socket_dir = ${dir}`,
    'auth_type = plain', `auth_file = ${join(dir, 'userlist.txt')}`, 'pool_mode = session',
    'max_client_conn = 500', 'default_pool_size = 100', `logfile = ${join(dir, 'log')}`, `pidfile = ${join(dir, 'pid')}`, ''
  ].join('\n'))
  const asRoot = process.getuid?.() === 0
  if (asRoot) {
    const uid = Number(execFileSync('id', ['-u', 'postgres']).toString())
    const gid = Number(execFileSync('id', ['-g', 'postgres']).toString())
    for (const f of ['', 'userlist.txt', 'pgbouncer.ini']) chownSync(join(dir, f), uid, gid)
  }
  const child: ChildProcess = asRoot
    ? spawn('runuser', ['-u', 'postgres', '--', 'pgbouncer', join(dir, 'pgbouncer.ini')], { stdio: 'ignore' })
    : spawn('pgbouncer', [join(dir, 'pgbouncer.ini')], { stdio: 'ignore' })
  for (let i = 0; i < 100; i++) {
    const ok = await new Promise<boolean>(resolve => {
      const s = net.connect({ host: '127.0.0.1', port }).once('connect', () => { s.destroy(); resolve(true) }).once('error', () => resolve(false))
    })
    if (ok && existsSync(join(dir, 'pid'))) break
    if (i === 99) throw new Error(`pgbouncer did not start (apt-get install -y pgbouncer): ${existsSync(join(dir, 'log')) ? readFileSync(join(dir, 'log'), 'utf8') : ''}`)
    await new Promise(resolve => setTimeout(resolve, 100))
  }
  const pid = (): number => Number(readFileSync(join(dir, 'pid'), 'utf8').trim())
  return {
    port,
    pid,
    stop () {
      try { process.kill(pid(), 'SIGTERM') } catch { child.kill() }
    }
  }
}
