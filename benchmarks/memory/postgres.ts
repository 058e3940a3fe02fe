/**
 * A ~1 GB Postgres result streamed through vecgate with a masking profile on, against a real
 * PostgreSQL 15; the gateway runs in its own process and its RSS is sampled (/proc/PID/status).
 * The client reads with the simple query protocol and keeps nothing: it walks the messages, counts
 * DataRows and bytes, and checks that no address in the `email` column reached it. A second run reads
 * slowly (a client slower than the database), which is where a relay without backpressure would
 * collect the difference in memory.
 */
import net from 'node:net'
import type { PostgresPeer } from '../../test/peers/postgres.js'
import { startUnderTest, type UnderTest } from '../lib/env.js'
import { mib, sampleRss, type RssSample } from './sampler.js'

export interface PgRead { rows: number, bytes: number, leaked: number, ms: number }

/**
 * One query over a raw connection: StartupMessage, the token as a cleartext password (what vecgate
 * asks for), Query; then every message is walked and dropped (PostgreSQL docs 55.2.2, 55.7).
 * `mbps` > 0 throttles reading to about that many MB/s by pausing the socket.
 */
export async function rawQuery (port: number, password: string, sql: string, mbps = 0): Promise<PgRead> {
  const sock = net.connect({ port, host: '127.0.0.1' })
  const started = Date.now()
  const startup = (): Buffer => {
    const params = Buffer.from('user\0bench\0database\0postgres\0\0')
    const b = Buffer.alloc(8 + params.length)
    b.writeInt32BE(b.length, 0); b.writeInt32BE(196608, 4); params.copy(b, 8)
    return b
  }
  const msg = (code: string, body: Buffer): Buffer => {
    const b = Buffer.alloc(5 + body.length)
    b.write(code, 0, 'latin1'); b.writeInt32BE(4 + body.length, 1); body.copy(b, 5)
    return b
  }
  sock.write(startup())
  return await new Promise<PgRead>((resolve, reject) => {
    let tail: Buffer = Buffer.alloc(0)
    let rows = 0; let bytes = 0; let leaked = 0; let sent = false; let failure = ''
    let emailCol = -1
    let windowBytes = 0; let windowStart = Date.now()
    sock.on('error', reject)
    sock.on('data', (chunk: Buffer) => {
      bytes += chunk.length
      let buf = tail.length > 0 ? Buffer.concat([tail, chunk]) : chunk
      let pos = 0
      while (buf.length - pos >= 5) {
        const len = buf.readInt32BE(pos + 1)
        if (buf.length - pos < 1 + len) break
        const code = buf[pos]
        const body = pos + 5
        const end = pos + 1 + len
        if (code === 0x44) { // DataRow
          rows++
          if (emailCol >= 0 && rows % 997 === 0 && rowCell(buf, body, emailCol).includes('@example.com')) leaked++
        } else if (code === 0x54) { // RowDescription
          emailCol = columnIndex(buf, body, 'email')
        } else if (code === 0x52) { // Authentication
          if (buf.readInt32BE(body) === 3) sock.write(msg('p', Buffer.from(password + '\0')))
        } else if (code === 0x45) { // ErrorResponse
          failure = buf.toString('utf8', body, end).replace(/\0/g, ' ')
        } else if (code === 0x5a) { // ReadyForQuery
          if (!sent) { sent = true; sock.write(msg('Q', Buffer.from(sql + '\0'))) } else {
            sock.end(msg('X', Buffer.alloc(0)))
            if (failure !== '') reject(new Error(failure))
            else resolve({ rows, bytes, leaked, ms: Date.now() - started })
            return
          }
        }
        pos = end
      }
      tail = pos === buf.length ? Buffer.alloc(0) : Buffer.from(buf.subarray(pos))
      buf = tail
      if (mbps > 0) {
        windowBytes += chunk.length
        const due = windowBytes / (mbps * 1e3) - (Date.now() - windowStart)
        if (due > 5) {
          sock.pause()
          setTimeout(() => { windowBytes = 0; windowStart = Date.now(); sock.resume() }, due)
        }
      }
    })
    sock.on('close', () => { if (!sent || failure !== '') reject(new Error(failure !== '' ? failure : 'connection closed before the query ran')) })
  })
}

function columnIndex (buf: Buffer, body: number, name: string): number {
  const n = buf.readInt16BE(body)
  let p = body + 2
  for (let i = 0; i < n; i++) {
    const z = buf.indexOf(0, p)
    if (buf.toString('utf8', p, z) === name) return i
    p = z + 1 + 18
  }
  return -1
}

function rowCell (buf: Buffer, body: number, col: number): string {
  let p = body + 2
  for (let i = 0; i < col; i++) { const l = buf.readInt32BE(p); p += 4 + Math.max(l, 0) }
  const l = buf.readInt32BE(p)
  return l < 0 ? '' : buf.toString('utf8', p + 4, p + 4 + l)
}

const profile = { fields: ['email'], detectors: ['email', 'phone', 'credit_card'], action: 'redact', vectors: 'drop' }

export async function gatewayFor (pg: PostgresPeer, opts: { mask: boolean, journal: boolean }): Promise<UnderTest> {
  return await startUnderTest({
    config: {
      backends: [{ name: 'pg', protocol: 'postgres', upstream: `127.0.0.1:${pg.port}`, credentials: { user: 'postgres', password: pg.password, database: 'postgres' } }],
      policy: { rules: [{ id: 'bench', subjects: { users: ['bench'] }, effect: 'allow', ...(opts.mask ? { mask: 'pii' } : {}) }] },
      masking: { profiles: { pii: profile } }
    },
    nullJournal: !opts.journal,
    token: 'bench'
  }, 'pg')
}

/** 1000-byte bodies: `rows` rows make about rows × 1.04 KB of DataRows */
export const bigSelect = (rows: number): string =>
  `SELECT i, repeat('x', 1000) || i::text AS body, 'user' || i || '@example.com' AS email FROM generate_series(1, ${rows}) i`

export interface PgMemoryRow { name: string, read: PgRead, rss: RssSample }

export async function postgresMemory (pg: PostgresPeer, opts: { rows: number, slowRows: number, slowMbps: number, log: (s: string) => void }): Promise<PgMemoryRow[]> {
  const out: PgMemoryRow[] = []
  const scenarios: Array<{ name: string, mask: boolean, journal: boolean, rows: number, mbps: number }> = [
    { name: 'masked, client reads at full speed', mask: true, journal: false, rows: opts.rows, mbps: 0 },
    { name: `masked, client reads at ~${opts.slowMbps} MB/s`, mask: true, journal: false, rows: opts.slowRows, mbps: opts.slowMbps },
    { name: 'pass-through (no mask), full speed', mask: false, journal: false, rows: opts.rows, mbps: 0 },
    { name: 'masked, journal on (SQLite), full speed', mask: true, journal: true, rows: opts.rows, mbps: 0 }
  ]
  for (const s of scenarios) {
    const gw = await gatewayFor(pg, s)
    try {
      // warm: one small query so the baseline includes a connection's steady state
      await rawQuery(gw.port, gw.token!, bigSelect(1000))
      const { rss, result } = await sampleRss(gw.pid, async () => await rawQuery(gw.port, gw.token!, bigSelect(s.rows), s.mbps))
      if (s.mask && result.leaked > 0) throw new Error(`${result.leaked} unmasked addresses reached the client`)
      if (result.rows !== s.rows) throw new Error(`${s.name}: ${result.rows} rows, expected ${s.rows}`)
      opts.log(`postgres ${s.name}: ${(result.bytes / 1e9).toFixed(2)} GB in ${(result.ms / 1000).toFixed(1)} s; RSS ${mib(rss.baseline)} → peak ${mib(rss.peak)} (VmHWM ${mib(rss.hwm)})`)
      out.push({ name: s.name, read: result, rss })
    } finally {
      await gw.stop()
    }
  }
  return out
}
