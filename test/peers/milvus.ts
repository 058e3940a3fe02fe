/**
 * A real Milvus-protocol server for tests: milvus-lite (a Python implementation of the Milvus gRPC API,
 * installed into .venv/ by `node scripts/peers.mjs setup`), on 127.0.0.1 and a free port, with its own
 * data directory. It has no authentication: it ignores the `authorization` metadata.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { createServer, connect } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import * as grpc from '@grpc/grpc-js'
import { venvBin } from './python.js'

export interface MilvusPeer {
  port: number
  /** 'host:port' as the SDKs take it */
  address: string
  dataDir: string
  /** what the server printed so far (for failure messages) */
  output (): string
  close (): Promise<void>
}

/** a port nobody listens on right now (bind port 0, read it, let it go) */
export async function freePort (): Promise<number> {
  return await new Promise((resolve, reject) => {
    const s = createServer()
    s.once('error', reject)
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port
      s.close(() => resolve(port))
    })
  })
}

async function tcpOpen (port: number): Promise<boolean> {
  return await new Promise(resolve => {
    const sock = connect({ port, host: '127.0.0.1' })
    sock.once('connect', () => { sock.destroy(); resolve(true) })
    sock.once('error', () => resolve(false))
  })
}

/** one real unary call (GetVersion with an empty request) — the server answers only once its servicer is up */
async function answersGrpc (address: string): Promise<boolean> {
  const client = new grpc.Client(address, grpc.credentials.createInsecure())
  try {
    return await new Promise(resolve => {
      client.makeUnaryRequest('/milvus.proto.milvus.MilvusService/GetVersion',
        (b: Buffer) => b, (b: Buffer) => b, Buffer.alloc(0), { deadline: Date.now() + 3000 },
        (err) => resolve(err === null || err === undefined))
    })
  } finally {
    client.close()
  }
}

const sleep = async (ms: number): Promise<void> => await new Promise(resolve => setTimeout(resolve, ms))

export async function startMilvus (opts: { startTimeout?: number } = {}): Promise<MilvusPeer> {
  const bin = venvBin('milvus-lite')
  const dataDir = mkdtempSync(join(tmpdir(), 'vecgate-milvus-'))
  const port = await freePort()
  const address = `127.0.0.1:${port}`
  // its own process group, so close() also ends anything it started
  const child: ChildProcess = spawn(bin, ['server', '--data-dir', join(dataDir, 'db'), '--host', '127.0.0.1', '--port', String(port)], {
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, PYTHONUNBUFFERED: '1' }
  })
  let log = ''
  const keep = (b: Buffer): void => { if (log.length < 64 * 1024) log += b.toString('utf8') }
  child.stdout?.on('data', keep)
  child.stderr?.on('data', keep)
  let exited = false
  const exit = new Promise<void>(resolve => child.once('exit', () => { exited = true; resolve() }))
  child.once('error', (e) => { keep(Buffer.from(String(e))); exited = true })

  const close = async (): Promise<void> => {
    if (!exited && child.pid !== undefined) {
      try { process.kill(-child.pid, 'SIGTERM') } catch {}
      const t = setTimeout(() => { try { process.kill(-child.pid!, 'SIGKILL') } catch {} }, 5000)
      await exit
      clearTimeout(t)
    }
    rmSync(dataDir, { recursive: true, force: true })
  }

  const deadline = Date.now() + (opts.startTimeout ?? 60_000)
  for (;;) {
    if (exited) {
      await close()
      throw new Error(`milvus-lite exited before serving on ${address}: ${log.trim().split('\n').slice(-10).join('\n')}`)
    }
    if (await tcpOpen(port) && await answersGrpc(address)) break
    if (Date.now() > deadline) {
      await close()
      throw new Error(`milvus-lite did not answer gRPC on ${address}: ${log.trim().split('\n').slice(-10).join('\n')}`)
    }
    await sleep(100)
  }
  return { port, address, dataDir, output: () => log, close }
}
