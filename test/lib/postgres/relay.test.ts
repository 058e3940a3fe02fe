/**
 * The response direction against a scripted upstream that dribbles its answers one byte (or a few
 * bytes) per write: messages split at every offset must come out whole, masked where a mask applies
 * and byte-identical where none does, with the relay's reused read buffer never corrupting a kept tail.
 */
import net from 'node:net'
import pg from 'pg'
import t from 'tap'
import { MessageReader } from '../../../decoders/postgres/reader.js'
import { MessageWriter, serialize } from '../../../decoders/postgres/writer.js'
import { encodeDataRow } from '../../../decoders/postgres/result-view.js'
import type { Masker } from '../../../decoders/types.js'
import { startGate } from './harness.js'

function rowDescription (names: string[]): Buffer {
  const w = new MessageWriter().int16(names.length)
  for (const n of names) w.cstring(n).int32(0).int16(0).int32(25).int16(-1).int32(-1).int16(0)
  return w.finish(0x54)
}

/** A fake PostgreSQL: trusts everyone, answers every Query with the same rows, `chunk` bytes per write. */
async function scriptedUpstream (rows: number, chunk: () => number, big = 0): Promise<net.Server & { port: number }> {
  const server = net.createServer(s => {
    s.setNoDelay(true)
    const r = new MessageReader(1 << 20, true)
    const queue: Buffer[] = []
    let writing = false
    const send = (b: Buffer): void => { queue.push(b); if (!writing) void drain() }
    const drain = async (): Promise<void> => {
      writing = true
      while (queue.length > 0) {
        const b = queue.shift()!
        for (let i = 0; i < b.length;) {
          const n = Math.max(1, chunk())
          s.write(b.subarray(i, i + n))
          i += n
          await new Promise(resolve => setImmediate(resolve))
        }
      }
      writing = false
    }
    s.on('data', (c: Buffer) => {
      r.push(c)
      while (r.next()) {
        if (r.startup) {
          r.startup = false
          send(Buffer.concat([serialize.authenticationOk(), serialize.parameterStatus('server_version', '15.0'),
            serialize.backendKeyData(7, 8), serialize.readyForQuery(0x49)]))
          continue
        }
        if (r.code === 0x51) {
          const out: Buffer[] = [rowDescription(['id', 'email', 'note'])]
          for (let i = 0; i < rows; i++) out.push(encodeDataRow([Buffer.from(String(i)), Buffer.from(`user${i}@example.com`), Buffer.from(i === 1 && big > 0 ? 'y'.repeat(big) : 'x'.repeat(i % 50))]))
          out.push(new MessageWriter().cstring(`SELECT ${rows}`).finish(0x43), serialize.readyForQuery(0x49))
          send(Buffer.concat(out))
        }
        if (r.code === 0x58) s.end()
      }
    })
    s.on('error', () => {})
  })
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  return Object.assign(server, { port: (server.address() as net.AddressInfo).port })
}

const pii: Masker = {
  name: 'pii',
  vectors: 'keep',
  touches: (p) => p === 'email',
  scalar: (_p, v) => typeof v === 'string' ? v.replace(/^[^@]+/, '***') : v,
  document: () => false,
  vector: (v) => v
}

for (const [label, chunk] of [['one byte per write', () => 1], ['random small writes', () => 1 + Math.floor(Math.random() * 40)]] as const) {
  t.test(`responses split: ${label}`, async t => {
    const up = await scriptedUpstream(60, chunk)
    t.teardown(() => up.close())
    for (const masked of [false, true]) {
      const gate = await startGate({ host: '127.0.0.1', port: up.port, user: 'app', password: 'x', database: 'postgres' }, {
        decide: () => ({ effect: 'allow', reason: 'ok', ...(masked ? { mask: 'pii' } : {}) }),
        masks: new Map([['pii', pii]])
      })
      const c = new pg.Client({ host: '127.0.0.1', port: gate.port, user: 'alice', password: await gate.token(), database: 'postgres' })
      await c.connect()
      for (let q = 0; q < 3; q++) {
        const res = await c.query('SELECT id, email, note FROM people')
        t.equal(res.rows.length, 60)
        const bad = res.rows.filter((r, i) => r.id !== String(i) || r.note !== 'x'.repeat(i % 50) ||
          r.email !== (masked ? '***@example.com' : `user${i}@example.com`))
        t.same(bad, [], `${masked ? 'masked' : 'untouched'} rows intact, round ${q + 1}`)
      }
      await c.end()
      const seen = gate.parts.journal.events.filter(e => e.kind === 'response' && e.ids !== undefined).flatMap(e => e.ids!)
      t.equal(seen.length, 180, 'every returned id journaled once')
      await gate.close()
    }
  })
}

t.test('a row bigger than the stream threshold passes through without being held whole', async t => {
  const big = 3 * 1024 * 1024
  const up = await scriptedUpstream(4, () => 64 * 1024, big)
  t.teardown(() => up.close())
  for (const masked of [false, true]) {
    const gate = await startGate({ host: '127.0.0.1', port: up.port, user: 'app', password: 'x', database: 'postgres' }, {
      decide: () => ({ effect: 'allow', reason: 'ok', ...(masked ? { mask: 'pii' } : {}) }),
      masks: new Map([['pii', pii]])
    })
    const c = new pg.Client({ host: '127.0.0.1', port: gate.port, user: 'alice', password: await gate.token(), database: 'postgres' })
    await c.connect()
    const res = await c.query('SELECT id, email, note FROM people')
    t.same(res.rows.map(r => r.note.length), [0, big, 2, 3])
    t.equal(res.rows[1].email, masked ? '***@example.com' : 'user1@example.com', masked ? 'masked rows are still held and masked' : 'streamed row intact')
    const records = gate.parts.journal.events.filter(e => e.kind === 'response' && e.data?.final === true).map(e => e.data?.records)
    t.same(records, [4], 'the streamed row still counts')
    await c.end()
    await gate.close()
  }
})

t.test('a connection repeating a shape: every text still decided on its own statements and literals', async t => {
  const up = await scriptedUpstream(1, () => 1 << 16)
  t.teardown(() => up.close())
  const ops: Array<{ method: string, collection?: string, limit?: number }> = []
  const gate = await startGate({ host: '127.0.0.1', port: up.port, user: 'app', password: 'x', database: 'postgres' }, {
    decide: (_id, op) => {
      ops.push({ method: op.method, collection: op.collection, limit: op.limit })
      return op.collection === 'secret' || (op.limit ?? 0) > 100 ? { effect: 'deny', rule: 'r', reason: 'denied' } : { effect: 'allow', reason: 'ok' }
    }
  })
  t.teardown(() => gate.close())
  const c = new pg.Client({ host: '127.0.0.1', port: gate.port, user: 'alice', password: await gate.token(), database: 'postgres' })
  await c.connect()
  t.teardown(() => c.end())
  await c.query('SELECT id FROM people WHERE id = 1 LIMIT 5')
  await c.query('SELECT id FROM people WHERE id = 2 LIMIT 7')
  await t.rejects(c.query('SELECT id FROM people WHERE id = 3 LIMIT 500'), /denied/, 'the same shape with a LIMIT over the rule\'s: its own literal decides')
  await t.rejects(c.query('SELECT id FROM people WHERE id = 4 LIMIT 5; SELECT * FROM secret'), /denied/, 'the shape with more text after it: another statement, decided')
  await c.query("SELECT id FROM people WHERE id = 'x' LIMIT 5")
  t.same(ops, [
    { method: 'SELECT', collection: 'people', limit: 5 },
    { method: 'SELECT', collection: 'people', limit: 7 },
    { method: 'SELECT', collection: 'people', limit: 500 },
    { method: 'SELECT', collection: 'people', limit: 5 },
    { method: 'SELECT', collection: 'secret', limit: undefined },
    { method: 'SELECT', collection: 'people', limit: 5 }
  ], 'one decision per statement, each with its own limit')
})
