/**
 * A throwaway PostgreSQL 15 cluster for integration tests (PEERS.md "PostgreSQL and pgvector"):
 * initdb with SCRAM-SHA-256 as the `postgres` OS user, listening only on 127.0.0.1 with its socket
 * directory inside the data directory.
 */
import { execFileSync, spawnSync } from 'node:child_process'
import { createHash, randomBytes } from 'node:crypto'
import { chmodSync, chownSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import net from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

export const PG_BIN = process.env.VECGATE_PG_BIN ?? '/usr/lib/postgresql/15/bin'

export interface PostgresPeer {
  host: string
  port: number
  user: string
  password: string
  database: string
  dir: string
  /** synchronous stop, for process 'exit' handlers */
  closeSync (): void
  /** PEM of the server certificate when started with `ssl` */
  cert?: string
  close (): Promise<void>
}

export async function freePort (): Promise<number> {
  const s = net.createServer()
  await new Promise<void>(resolve => s.listen(0, '127.0.0.1', resolve))
  const port = (s.address() as net.AddressInfo).port
  await new Promise<void>(resolve => s.close(() => resolve()))
  return port
}

function ownerIds (): { uid: number, gid: number } {
  const uid = Number(execFileSync('id', ['-u', 'postgres']).toString().trim())
  const gid = Number(execFileSync('id', ['-g', 'postgres']).toString().trim())
  return { uid, gid }
}

export async function startPostgres (opts: {
  settings?: Record<string, string>
  /** serve TLS with a fresh self-signed certificate (its PEM is `cert` on the result) */
  ssl?: boolean
  /** password method in pg_hba.conf: scram-sha-256 (default), md5 (passwords stored as MD5), password */
  auth?: 'scram-sha-256' | 'md5' | 'password'
} = {}): Promise<PostgresPeer> {
  if (!existsSync(join(PG_BIN, 'initdb'))) {
    throw new Error(`PostgreSQL 15 is not installed (no ${PG_BIN}/initdb): run \`node scripts/peers.mjs setup\` or \`apt-get install -y postgresql-15\` as root`)
  }
  const asPostgres = process.getuid?.() === 0
  const dir = mkdtempSync(join(tmpdir(), 'vecgate-pg-'))
  const data = join(dir, 'data')
  const password = randomBytes(12).toString('hex')
  const pwfile = join(dir, 'pw')
  writeFileSync(pwfile, password + '\n')
  chmodSync(dir, 0o700)
  if (asPostgres) {
    const { uid, gid } = ownerIds()
    chownSync(dir, uid, gid)
    chownSync(pwfile, uid, gid)
  }
  const run = (cmd: string, args: string[]): void => {
    const r = asPostgres
      ? spawnSync('runuser', ['-u', 'postgres', '--', join(PG_BIN, cmd), ...args], { encoding: 'utf8' })
      : spawnSync(join(PG_BIN, cmd), args, { encoding: 'utf8' })
    if (r.status !== 0) throw new Error(`${cmd} failed: ${r.stderr || r.stdout}`)
  }
  const auth = opts.auth ?? 'scram-sha-256'
  const extra: Record<string, string> = {}
  run('initdb', ['-D', data, '-U', 'postgres', `--pwfile=${pwfile}`, `--auth=${auth}`, '-E', 'UTF8', '--locale=C.UTF-8'])
  let cert: string | undefined
  if (opts.ssl === true) {
    const r = spawnSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', join(data, 'server.key'), '-out', join(data, 'server.crt'),
      '-days', '1', '-subj', '/CN=localhost', '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost'], { encoding: 'utf8' })
    if (r.status !== 0) throw new Error(`openssl failed: ${r.stderr}`)
    chmodSync(join(data, 'server.key'), 0o600)
    if (asPostgres) {
      const { uid, gid } = ownerIds()
      chownSync(join(data, 'server.key'), uid, gid)
      chownSync(join(data, 'server.crt'), uid, gid)
    }
    cert = readFileSync(join(data, 'server.crt'), 'utf8')
    Object.assign(extra, { ssl: 'on', ssl_cert_file: 'server.crt', ssl_key_file: 'server.key' })
  }
  const port = await freePort()
  const settings = Object.entries({ fsync: 'off', ...extra, ...opts.settings }).map(([k, v]) => `-c ${k}=${v}`).join(' ')
  run('pg_ctl', ['-D', data, '-l', join(dir, 'log'), '-o', `-p ${port} -k ${data} -c listen_addresses=127.0.0.1 ${settings}`, '-w', 'start'])
  if (auth === 'md5') {
    // initdb stored the password as SCRAM (which the md5 method still accepts); store it as MD5 so
    // that the server really asks for MD5 (PostgreSQL docs 21.5 "Password Authentication")
    const hash = 'md5' + createHash('md5').update(password + 'postgres').digest('hex')
    const r = spawnSync('psql', ['-X', '-q', '-h', '127.0.0.1', '-p', String(port), '-U', 'postgres', '-d', 'postgres', '-c', `ALTER USER postgres PASSWORD '${hash}'`],
      { env: { ...process.env, PGPASSWORD: password }, encoding: 'utf8' })
    if (r.status !== 0) throw new Error(`could not store an MD5 password: ${r.stderr}`)
  }
  let closed = false
  const closeSync = (): void => {
    if (closed) return
    closed = true
    try { run('pg_ctl', ['-D', data, '-m', 'immediate', '-w', 'stop']) } catch { /* already gone */ }
    rmSync(dir, { recursive: true, force: true })
  }
  return {
    host: '127.0.0.1',
    port,
    user: 'postgres',
    password,
    database: 'postgres',
    dir,
    cert,
    async close () { closeSync() },
    closeSync
  }
}
