/**
 * What every benchmark needs around the thing it measures: a plain TCP relay (the floor any proxy
 * pays), the machine and commit for the results header, and a peer process started and awaited.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process'
import net from 'node:net'
import { cpus, loadavg } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

/** A byte pipe, no parsing: what a proxy costs before it does anything. */
export async function tcpRelay (upstreamPort: number): Promise<{ port: number, close: () => void }> {
  const server = net.createServer((c) => {
    const u = net.connect({ port: upstreamPort, host: '127.0.0.1', noDelay: true })
    c.setNoDelay(true)
    c.pipe(u); u.pipe(c)
    c.on('error', () => u.destroy()); u.on('error', () => c.destroy())
  })
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', () => resolve()))
  return { port: (server.address() as net.AddressInfo).port, close: () => server.close() }
}

export function commit (): string {
  try { return execFileSync('git', ['rev-parse', '--short', 'HEAD'], { encoding: 'utf8' }).trim() } catch { return 'unknown' }
}

/** '2 cores (AMD EPYC …); 2026-11-23; commit abc1234; load 1.20' */
export function machine (): string {
  return `${cpus().length} cores (${cpus()[0].model.trim()}); ${new Date().toISOString().slice(0, 10)}; commit ${commit()}; load average ${loadavg()[0].toFixed(2)} at the start`
}

/**
 * A peer in its own process (so it does not share the event loop with the gateways under test):
 * TypeScript run through tsx, or JavaScript (`.js`) run as it is; it prints one JSON line when
 * ready. Killed when this process exits.
 */
export async function startPeerProcess<T> (file: string, args: string[] = [], nodeArgs: string[] = []): Promise<{ info: T, proc: ChildProcess, stop: () => Promise<void> }> {
  const loader = file.endsWith('.js') ? [] : ['--import', 'tsx']
  const proc = spawn(process.execPath, [...nodeArgs, ...loader, file, ...args], { stdio: ['ignore', 'pipe', 'inherit'] })
  process.on('exit', () => proc.kill('SIGKILL'))
  const info = await new Promise<T>((resolve, reject) => {
    let buf = ''
    proc.stdout!.on('data', (d: Buffer) => { buf += d.toString(); if (buf.includes('\n')) resolve(JSON.parse(buf.split('\n')[0]) as T) })
    proc.once('exit', (code) => reject(new Error(`the peer ${file} exited (${String(code)}) before it was ready`)))
  })
  // SIGTERM and wait: a process run with --cpu-prof writes its profile as it exits
  const stop = async (): Promise<void> => {
    if (proc.exitCode !== null) return
    const exited = new Promise(resolve => proc.once('exit', resolve))
    proc.kill('SIGTERM')
    await exited
  }
  return { info, proc, stop }
}

export interface UnderTest { pid: number, port: number, token: string | undefined, stop: () => Promise<void> }

/**
 * gateway-process.ts and what it imports, compiled by tsc (benchmarks/tsconfig.under-test.json) into
 * .bench-build once per benchmark run: the gateway and the TCP relay under test run as production
 * runs the gateway, as plain JavaScript. Under the TypeScript loader the same masking code measured
 * 15–20 % slower (benchmarks/micro/mask.ts).
 */
let compiled: Promise<string> | undefined
function underTestScript (): Promise<string> {
  compiled ??= new Promise((resolve, reject) => {
    const root = fileURLToPath(new URL('../..', import.meta.url))
    const tsc = spawn(process.execPath, [join(root, 'node_modules/typescript/bin/tsc'), '-p', join(root, 'benchmarks/tsconfig.under-test.json')], { stdio: 'inherit' })
    tsc.once('exit', code => code === 0
      ? resolve(join(root, '.bench-build/benchmarks/lib/gateway-process.js'))
      : reject(new Error(`tsc -p benchmarks/tsconfig.under-test.json exited ${String(code)}`)))
  })
  return compiled
}

/**
 * A gateway (config as the tests write it) or a TCP relay in a process of its own (gateway-process.ts,
 * compiled: `underTestScript`), so its CPU and memory are its own; `VECGATE_BENCH_PROF=dir` profiles
 * it with --cpu-prof.
 */
export async function startUnderTest (spec: { relay?: number, config?: Record<string, unknown>, nullJournal?: boolean, token?: string }, backend = 'qdrant'): Promise<UnderTest> {
  const prof = process.env.VECGATE_BENCH_PROF
  const nodeArgs = prof !== undefined && prof !== '' && spec.relay === undefined ? ['--cpu-prof', '--cpu-prof-dir', prof] : []
  const { info, stop } = await startPeerProcess<{ pid: number, ports: Record<string, number>, token?: string }>(
    await underTestScript(), [JSON.stringify(spec)], nodeArgs)
  return { pid: info.pid, port: info.ports[spec.relay !== undefined ? 'relay' : backend], token: info.token, stop }
}
