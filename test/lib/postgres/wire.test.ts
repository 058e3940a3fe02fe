/**
 * The relay's connections driven through their TCP handles (lib/postgres/wire.ts): the accepted
 * socket's owner still sees it close, a server still closes once its clients are gone, bytes that
 * outlive their read (a message held for approval, requests queued behind it, partial messages) are
 * never overwritten by the next read, and a write the kernel does not take at once stops the reader
 * until it drains. Against a real PostgreSQL 15, and on bare sockets.
 */
import net from 'node:net'
import t from 'tap'
import { serialize } from '../../../decoders/postgres/writer.js'
import { loadClassifier } from '../../../decoders/postgres/classify.js'
import type { BackendConfig } from '../../../lib/config/types.js'
import { createLogger } from '../../../lib/log.js'
import { servePostgres } from '../../../lib/postgres/serve.js'
import { wireOf, type Wire } from '../../../lib/postgres/wire.js'
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

/** a connected pair of plain TCP sockets: [the accepted one, the connecting one] */
async function pair (t: typeof import("tap").default): Promise<[net.Socket, net.Socket]> {
  const accepted = new Promise<net.Socket>(resolve => {
    const server = net.createServer({ pauseOnConnect: true }, resolve)
    server.listen(0, '127.0.0.1', () => {
      const c = net.connect({ host: '127.0.0.1', port: (server.address() as net.AddressInfo).port })
      t.teardown(() => { c.destroy(); server.close() })
      connected = c
    })
  })
  let connected: net.Socket | undefined
  const a = await accepted
  t.teardown(() => a.destroy())
  await waitFor(() => connected !== undefined && !connected.connecting)
  return [a, connected!]
}

t.test('wireOf keeps the net.Socket where the handle cannot move', async t => {
  const [a, c] = await pair(t)
  c.on('data', () => {})
  t.notOk(isTcpWire(wireOf(c)), 'a socket with a data listener keeps its listener\'s socket')
  a.destroy()
  await waitFor(() => a.destroyed)
  t.notOk(isTcpWire(wireOf(a)), 'a destroyed socket too')
})

const isTcpWire = (w: Wire): boolean => w.constructor.name === 'TcpWire'

t.test('a TCP wire: retained reads survive, a write the kernel cannot take is queued until it drains, an end closes the owner', async t => {
  const [a, c] = await pair(t)
  const owner = a
  let ownerClosed = false
  owner.once('close', () => { ownerClosed = true })
  const w = wireOf(a)
  t.ok(isTcpWire(w), 'a plain TCP socket moves to its handle')
  const kept: Buffer[] = []
  const all: Buffer[] = []
  w.onData = chunk => {
    all.push(Buffer.from(chunk))
    kept.push(chunk)
    w.retain()
  }
  for (let i = 0; i < 50; i++) {
    c.write(Buffer.alloc(1000, i))
    await new Promise(resolve => setImmediate(resolve))
  }
  await waitFor(() => all.reduce((n, b) => n + b.length, 0) === 50_000)
  t.same(Buffer.concat(kept), Buffer.concat(all), 'every retained read still holds its bytes')

  // the peer stops reading: writes pile up in libuv, write() says so, onDrain follows once it reads again
  c.pause()
  let drained = 0
  w.onDrain = () => { drained++ }
  const block = Buffer.alloc(1 << 20, 7)
  let full = false
  let sent = 0
  for (let i = 0; i < 64 && !full; i++) { full = !w.write(block); sent += block.length }
  t.ok(full, 'a write the kernel cannot take returns false')
  t.ok(w.queued > 0, 'and its bytes are queued')
  let got = 0
  c.on('data', (b: Buffer) => { got += b.length })
  c.resume()
  await waitFor(() => drained > 0)
  t.equal(w.queued, 0, 'onDrain once all is taken')
  await waitFor(() => got === sent)
  t.pass('every byte arrives, in order of writing')

  let closed = false
  w.onClose = () => { closed = true }
  c.end()
  await waitFor(() => closed)
  t.ok(w.destroyed, 'the peer\'s end closes the wire')
  await waitFor(() => ownerClosed)
  t.pass('and the socket it came from')
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
