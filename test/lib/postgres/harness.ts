/**
 * vecgate's PostgreSQL path in front of a real upstream, for integration tests: a pipeline from
 * test/helpers/parts.ts (in-memory journal, policy given as a function) and a listener on 127.0.0.1:0.
 */
import { spawn } from 'node:child_process'
import net from 'node:net'
import type tls from 'node:tls'
import { loadClassifier } from '../../../decoders/postgres/classify.js'
import type { Identity, Masker, Operation, Verdict } from '../../../decoders/types.js'
import type { BackendConfig } from '../../../lib/config/types.js'
import { createLogger } from '../../../lib/log.js'
import type { PipelineParts } from '../../../lib/pipeline.js'
import { listenPostgres } from '../../../lib/postgres/serve.js'
import { testParts, type TestParts } from '../../helpers/parts.js'

export interface Upstream { host: string, port: number, user: string, password: string, database: string }

export interface Gate {
  port: number
  parts: TestParts
  backend: BackendConfig
  token (sub?: string): Promise<string>
  close (): Promise<void>
}

/** denies tables named `secret*` to everyone, allows the rest */
export const denySecret = (_id: Identity, op: Operation): Verdict =>
  [op.collection, ...(op.collections ?? [])].some(c => c !== undefined && c.replace(/^public\./, '').startsWith('secret'))
    ? { effect: 'deny', rule: 'no-secrets', reason: 'denied by rule "no-secrets"' }
    : { effect: 'allow', rule: 'allow-rest', reason: 'allowed by rule "allow-rest"' }

export async function startGate (up: Upstream, opts: {
  decide?: (id: Identity, op: Operation) => Verdict
  masks?: Map<string, Masker>
  tls?: tls.SecureContext
  maxMessage?: number
  extra?: Partial<PipelineParts>
} = {}): Promise<Gate> {
  await loadClassifier()
  const parts = await testParts()
  const backend: BackendConfig = {
    name: 'pg',
    protocol: 'postgres',
    listen: { host: '127.0.0.1', port: 0 },
    upstream: { host: up.host, port: up.port },
    credentials: { user: up.user, password: up.password, database: up.database }
  }
  const pipeline = parts.pipeline(backend, { decide: opts.decide ?? denySecret, masks: opts.masks, extra: opts.extra })
  const server = await listenPostgres(pipeline, {
    backend,
    limits: { pg_max_message: opts.maxMessage ?? 1 << 20 },
    tls: opts.tls,
    log: createLogger({ level: process.env.VECGATE_LOG_LEVEL ?? 'silent' })
  })
  return {
    port: server.port,
    parts,
    backend,
    token: async (sub = 'alice') => await parts.token(sub),
    async close () {
      await new Promise<void>(resolve => { server.close(() => resolve()); (server as net.Server & { closeAllConnections?: () => void }).closeAllConnections?.() })
      parts.cleanup()
    }
  }
}

/** Runs psql against the gate; never rejects, the caller asserts on the exit code and output. */
export async function psql (port: number, user: string, password: string, args: string[], input?: string): Promise<{ code: number | null, stdout: string, stderr: string }> {
  const child = spawn('psql', ['-X', '-q', '-v', 'ON_ERROR_STOP=1', '-h', '127.0.0.1', '-p', String(port), '-U', user, '-d', 'postgres', ...args], {
    env: { ...process.env, PGPASSWORD: password, PGSSLMODE: 'prefer', PGCONNECT_TIMEOUT: '10' },
    stdio: ['pipe', 'pipe', 'pipe']
  })
  let stdout = ''
  let stderr = ''
  child.stdout.on('data', (b: Buffer) => { stdout += b.toString() })
  child.stderr.on('data', (b: Buffer) => { stderr += b.toString() })
  child.stdin.end(input ?? '')
  const code = await new Promise<number | null>((resolve, reject) => { child.once('error', reject); child.once('close', resolve) })
  return { code, stdout, stderr }
}

/** Sends raw bytes and collects whatever comes back until the server closes (or `ms` passes). */
export async function rawExchange (port: number, bytes: Buffer[], ms = 3000): Promise<{ data: Buffer, closed: boolean }> {
  const s = net.connect({ host: '127.0.0.1', port })
  const chunks: Buffer[] = []
  s.on('data', (b: Buffer) => chunks.push(b))
  await new Promise<void>((resolve, reject) => { s.once('connect', resolve); s.once('error', reject) })
  for (const b of bytes) s.write(b)
  const closed = await new Promise<boolean>(resolve => {
    const timer = setTimeout(() => resolve(false), ms)
    s.once('close', () => { clearTimeout(timer); resolve(true) })
    s.once('error', () => {})
  })
  s.destroy()
  return { data: Buffer.concat(chunks), closed }
}

/** The SQLSTATE of the first ErrorResponse in `data`, if any. */
export function sqlStateIn (data: Buffer): string | undefined {
  let pos = 0
  while (pos + 5 <= data.length) {
    const code = data[pos]
    const len = data.readInt32BE(pos + 1)
    if (code === 0x45) {
      let p = pos + 5
      while (p < pos + 1 + len && data[p] !== 0) {
        const f = data[p]
        const z = data.indexOf(0, p + 1)
        if (f === 0x43) return data.toString('utf8', p + 1, z)
        p = z + 1
      }
    }
    if (len < 4) return undefined
    pos += 1 + len
  }
  return undefined
}
