/**
 * Client reads into a reused buffer (lib/postgres/read-buffer.ts adoptForReads): the accepted socket's
 * owner still sees it close, a server still closes once its clients are gone, and bytes that outlive
 * their read (a message held for approval, requests queued behind it, partial messages) are never
 * overwritten by the next read. Against a real PostgreSQL 15.
 */
import net from 'node:net'
import t from 'tap'
import { serialize } from '../../../decoders/postgres/writer.js'
import { loadClassifier } from '../../../decoders/postgres/classify.js'
import type { BackendConfig } from '../../../lib/config/types.js'
import { createLogger } from '../../../lib/log.js'
import { adoptForReads } from '../../../lib/postgres/read-buffer.js'
import { servePostgres } from '../../../lib/postgres/serve.js'
import { testParts } from '../../helpers/parts.js'
import { startPostgres } from '../../peers/postgres.js'
import { startGate } from './harness.js'

const peer = await startPostgres()
t.teardown(() => peer.close())

/** message type bytes of a response stream, in order */
function codes (b: Buffer): string[] {
  const out: string[] = []
  for (let i = 0; i + 5 <= b.length;) { out.push(String.fromCharCode(b[i])); i += 1 + b.readInt32BE(i + 1) }
  return out
}

async function waitFor (ok: () => boolean): Promise<void> {
  while (!ok()) await new Promise(resolve => setTimeout(resolve, 5))
}

async function startup (port: number, token: string): Promise<{ s: net.Socket, chunks: Buffer[] }> {
  const s = net.connect({ host: '127.0.0.1', port, noDelay: true })
  const chunks: Buffer[] = []
  s.on('data', (b: Buffer) => chunks.push(b))
  await new Promise(resolve => s.once('connect', resolve))
  s.write(serialize.startupMessage({ user: 'alice', database: 'postgres' }))
  await waitFor(() => Buffer.concat(chunks).length >= 9)
  s.write(serialize.password(token))
  await waitFor(() => Buffer.concat(chunks).includes(Buffer.from([0x5a, 0, 0, 0, 5, 0x49])))
  chunks.length = 0
  return { s, chunks }
}

t.test('the accepted socket still closes for its owner, and the server closes once clients leave', async t => {
  await loadClassifier()
  const parts = await testParts()
  t.teardown(() => parts.cleanup())
  const backend: BackendConfig = { name: 'pg', protocol: 'postgres', listen: { host: '127.0.0.1', port: 0 }, upstream: { host: peer.host, port: peer.port }, credentials: { user: peer.user, password: peer.password, database: peer.database } }
  const pipeline = parts.pipeline(backend)
  const closed: net.Socket[] = []
  const server = net.createServer(sock => {
    sock.once('close', () => closed.push(sock))
    servePostgres(sock, pipeline, { backend, limits: { pg_max_message: 1 << 20 }, log: createLogger({ level: 'silent' }) })
  })
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  const port = (server.address() as net.AddressInfo).port
  for (let round = 0; round < 3; round++) {
    const { s, chunks } = await startup(port, await parts.token('alice'))
    s.write(serialize.query(`SELECT ${round + 40} AS n`))
    await waitFor(() => codes(Buffer.concat(chunks)).includes('Z'))
    t.same(codes(Buffer.concat(chunks)), ['T', 'D', 'C', 'Z'])
    t.ok(Buffer.concat(chunks).includes(Buffer.from(String(round + 40))))
    s.end(serialize.terminate())
    await waitFor(() => closed.length === round + 1)
  }
  await new Promise<void>(resolve => server.close(() => resolve()))
  t.pass('server closed: every accepted connection was counted out')
})

t.test('adoptForReads leaves sockets it cannot move as they are', async t => {
  const server = net.createServer(() => {})
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => server.close())
  const s = net.connect({ host: '127.0.0.1', port: (server.address() as net.AddressInfo).port })
  await new Promise(resolve => s.once('connect', resolve))
  s.on('data', () => {})
  t.equal(adoptForReads(s), undefined, 'a socket with a data listener is not moved')
  s.destroy()
  t.equal(adoptForReads(s), undefined, 'nor a destroyed one')
})

t.test('bytes that outlive their read survive the next reads: a held message, requests queued behind it', async t => {
  const g = await startGate(peer, {
    decide: (_id, op) => op.method === 'DELETE' ? { effect: 'approve', rule: 'hold', reason: 'held' } : { effect: 'allow', reason: 'ok' },
    extra: {
      approvals: {
        async hold () {
          await new Promise(resolve => setTimeout(resolve, 150))
          return { approvalId: 'apr_ok' }
        }
      }
    }
  })
  t.teardown(() => g.close())
  const { s, chunks } = await startup(g.port, await g.token('alice'))
  // the held statement and a partial message in one read; the rest arrives in many reads during the hold
  const held = serialize.query('DELETE FROM pg_temp_nothing_here WHERE false')
  const tail = Buffer.concat(Array.from({ length: 40 }, (_v, i) => serialize.query(`SELECT ${1000 + i} AS n, '${'x'.repeat(i * 37)}' AS pad`)))
  s.write(Buffer.concat([held, tail.subarray(0, 7)]))
  for (let i = 7; i < tail.length; i += 13) {
    s.write(tail.subarray(i, Math.min(tail.length, i + 13)))
    await new Promise(resolve => setImmediate(resolve))
  }
  await waitFor(() => codes(Buffer.concat(chunks)).filter(c => c === 'Z').length === 41)
  const out = Buffer.concat(chunks)
  const got = codes(out)
  t.same(got.slice(0, 2), ['E', 'Z'], 'the held DELETE ran upstream and failed there (no such table), in its place')
  t.same(got.slice(2), Array.from({ length: 40 }, () => ['T', 'D', 'C', 'Z']).flat(), 'every queued query answered in order')
  for (let i = 0; i < 40; i++) t.ok(out.includes(Buffer.from(`${1000 + i}`)) && out.includes(Buffer.from('x'.repeat(i * 37))), `query ${i} intact`)
  s.end(serialize.terminate())
})
