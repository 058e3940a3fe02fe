/**
 * pgvector for real: PGlite (PostgreSQL in WASM) with the pgvector extension behind pglite-socket's
 * server script (PEERS.md "PostgreSQL and pgvector"). One backend for all connections, any password.
 */
import { spawn } from 'node:child_process'
import { createRequire } from 'node:module'
import net from 'node:net'
import { dirname, join } from 'node:path'
import { freePort } from './postgres.js'

export interface PglitePeer { host: string, port: number, close (): Promise<void>, kill (): void }

export async function startPglite (): Promise<PglitePeer> {
  const require = createRequire(import.meta.url)
  let script: string
  try {
    // the packages export no package.json; the server script sits beside the entry point
    script = join(dirname(require.resolve('@electric-sql/pglite-socket')), 'scripts/server.js')
    require.resolve('@electric-sql/pglite-pgvector')
  } catch {
    throw new Error('@electric-sql/pglite-socket and @electric-sql/pglite-pgvector are needed: npm install')
  }
  const port = await freePort()
  const child = spawn(process.execPath, [script, '--db=memory://', `--port=${port}`, '--host=127.0.0.1',
    '--extensions=@electric-sql/pglite-pgvector:vector', '--max-connections=8'], { stdio: ['ignore', 'pipe', 'pipe'] })
  let output = ''
  child.stdout.on('data', (b: Buffer) => { output += b.toString() })
  child.stderr.on('data', (b: Buffer) => { output += b.toString() })
  const exited = new Promise<void>(resolve => child.once('exit', () => resolve()))
  const deadline = Date.now() + 60_000
  for (;;) {
    if (child.exitCode !== null) throw new Error(`pglite-socket exited: ${output}`)
    if (await canConnect(port)) break
    if (Date.now() > deadline) { child.kill(); throw new Error(`pglite-socket did not start: ${output}`) }
    await new Promise(resolve => setTimeout(resolve, 200))
  }
  return {
    host: '127.0.0.1',
    port,
    async close () {
      if (child.exitCode === null) { child.kill('SIGTERM'); await exited }
    },
    kill () { if (child.exitCode === null) child.kill('SIGKILL') }
  }
}

function canConnect (port: number): Promise<boolean> {
  return new Promise(resolve => {
    const s = net.connect({ host: '127.0.0.1', port })
    s.once('connect', () => { s.destroy(); resolve(true) })
    s.once('error', () => resolve(false))
  })
}
