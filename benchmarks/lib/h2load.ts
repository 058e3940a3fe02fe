/**
 * h2load driving one unary gRPC method with a fixed request body, as a child process: the process
 * that runs the benchmark also serves the gateways under test, so it must not block while h2load runs.
 * Latencies come from h2load's per-request log (µs), throughput from its summary line.
 */
import { spawn } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { connect } from 'node:http2'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { frameMessage } from '../../decoders/grpc/messages.js'

export interface H2loadResult { rps: number, p50: number, p99: number, errors: number, requests: number }

export interface H2loadRun {
  port: number
  /** '/qdrant.Points/Search' */
  path: string
  /** a file holding one length-prefixed gRPC message (see grpcBodyFile) */
  body: string
  /** sent as `api-key` */
  key: string
  seconds: number
  /** connections, and streams per connection (at most that many in flight per connection) */
  c: number
  m: number
  /**
   * open loop: requests per second per connection, sent on schedule whether or not answers came back
   * (h2load --rps), up to m in flight per connection; closed loop when absent
   */
  rps?: number
}

/** One length-prefixed gRPC message in a temp file, for h2load -d. */
export function grpcBodyFile (message: Uint8Array, name = 'body.bin'): string {
  const file = join(mkdtempSync(join(tmpdir(), 'vg-bench-')), name)
  writeFileSync(file, frameMessage(message))
  return file
}

export async function h2load (run: H2loadRun): Promise<H2loadResult> {
  const dir = mkdtempSync(join(tmpdir(), 'vg-h2load-'))
  const log = join(dir, 'log.tsv')
  const child = spawn('h2load', [
    '-D', String(run.seconds), '-c', String(run.c), '-m', String(run.m), '-t', '1', '--log-file', log,
    ...(run.rps !== undefined ? ['--rps', String(run.rps)] : []),
    '-d', run.body, '-H', 'content-type: application/grpc', '-H', 'te: trailers', '-H', `api-key: ${run.key}`,
    `http://127.0.0.1:${run.port}${run.path}`
  ], { stdio: ['ignore', 'pipe', 'inherit'] })
  let out = ''
  child.stdout.on('data', (d: Buffer) => { out += d.toString() })
  await new Promise(resolve => child.on('exit', resolve))
  const rps = Number(/finished in [\d.]+\w*, ([\d.]+) req\/s/.exec(out)?.[1] ?? 0)
  const failed = Number(/(\d+) failed/.exec(out)?.[1] ?? 0) + Number(/(\d+) errored/.exec(out)?.[1] ?? 0)
  // log lines: start time, HTTP status, latency µs, stream id
  const lat = readFileSync(log, 'utf8').trim().split('\n').filter(l => l !== '').map(l => Number(l.split('\t')[2])).sort((a, b) => a - b)
  rmSync(dir, { recursive: true, force: true })
  return { rps, p50: lat[Math.floor(lat.length * 0.5)] ?? 0, p99: lat[Math.floor(lat.length * 0.99)] ?? 0, errors: failed, requests: lat.length }
}

export const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]

/**
 * One call of the method the runs will time, as h2load sends it (the body file, the same headers):
 * throws unless it is answered with grpc-status 0 and a message. h2load counts any HTTP 200 as an
 * answer, and a gRPC refusal is an HTTP 200 too, so a path that refuses every call (a gateway
 * failing closed) would otherwise time as a fast one.
 */
export async function checkCall (run: Pick<H2loadRun, 'port' | 'path' | 'body' | 'key'>): Promise<void> {
  const session = connect(`http://127.0.0.1:${run.port}`)
  try {
    const answer = await new Promise<{ status: string | undefined, message: string | undefined, bytes: number }>((resolve, reject) => {
      const req = session.request({ ':method': 'POST', ':path': run.path, 'content-type': 'application/grpc', te: 'trailers', 'api-key': run.key })
      let bytes = 0
      let status: string | undefined
      let message: string | undefined
      const note = (h: Record<string, unknown>): void => {
        if (h['grpc-status'] !== undefined) { status = String(h['grpc-status']); message = h['grpc-message'] as string | undefined }
      }
      req.on('response', note)
      req.on('trailers', note)
      req.on('data', (d: Buffer) => { bytes += d.length })
      req.on('end', () => resolve({ status, message, bytes }))
      req.on('error', reject)
      req.end(readFileSync(run.body))
    })
    if (answer.status !== '0' || answer.bytes <= 5) {
      throw new Error(`${run.path} on port ${run.port}: grpc-status ${String(answer.status)} (${answer.message ?? 'no message'}), ${answer.bytes} bytes: not a path to time`)
    }
  } finally {
    session.close()
  }
}
