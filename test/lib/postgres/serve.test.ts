/**
 * The PostgreSQL path against a real PostgreSQL 15 (SCRAM auth, a throwaway cluster) through pg,
 * postgres (porsager) and psql: tokens, policy refusals with the session still usable, prepared
 * statements, transactions, pipelining, COPY both ways, LISTEN/NOTIFY, cancel, masking, bad input.
 */
import { execFileSync } from 'node:child_process'
import { mkdtempSync, readFileSync } from 'node:fs'
import net from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import tls from 'node:tls'
import pg from 'pg'
import postgres from 'postgres'
import t from 'tap'
import { serialize } from '../../../decoders/postgres/writer.js'
import { DROP, type Masker } from '../../../decoders/types.js'
import { VecgateError } from '../../../lib/errors.js'
import { startPostgres } from '../../peers/postgres.js'
import { denySecret, psql, rawExchange, sqlStateIn, startGate } from './harness.js'

const peer = await startPostgres()
t.teardown(() => peer.close())
const gate = await startGate(peer)
t.teardown(() => gate.close())

const direct = new pg.Client({ host: peer.host, port: peer.port, user: peer.user, password: peer.password, database: peer.database })
await direct.connect()
t.teardown(() => direct.end())
await direct.query(`
  CREATE TABLE items (id bigint PRIMARY KEY, name text, email text);
  CREATE TABLE secret_notes (id int, body text);
  INSERT INTO items SELECT i, 'item ' || i, 'user' || i || '@example.com' FROM generate_series(1, 50) i;
  INSERT INTO secret_notes VALUES (1, 'classified');
`)

async function client (sub = 'alice', password?: string): Promise<pg.Client> {
  const c = new pg.Client({ host: '127.0.0.1', port: gate.port, user: sub, password: password ?? await gate.token(sub), database: 'postgres' })
  await c.connect()
  return c
}

t.test('pg: connect with a token, same results as direct, identity visible upstream', async t => {
  const c = await client()
  t.teardown(() => c.end())
  const q = 'SELECT id, name FROM items WHERE id <= $1 ORDER BY id'
  const via = await c.query(q, [5])
  const dir = await direct.query(q, [5])
  t.same(via.rows, dir.rows)
  const app = await c.query('SELECT application_name FROM pg_stat_activity WHERE pid = pg_backend_pid()')
  t.equal(app.rows[0].application_name, 'vecgate:alice')
  const seen = await direct.query("SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = 'vecgate:alice'")
  t.equal(seen.rows[0].n, 1, 'pg_stat_activity shows who is behind the connection')
  const multi = await c.query('SELECT 1 AS a; SELECT 2 AS b')
  t.same((multi as unknown as pg.QueryResult[]).map(r => r.rows), [[{ a: 1 }], [{ b: 2 }]])
})

t.test('pg: refusals keep the session usable', async t => {
  const c = await client()
  t.teardown(() => c.end())
  await t.rejects(c.query('SELECT * FROM secret_notes'), { code: '42501', message: /no-secrets/ })
  t.same((await c.query('SELECT 1 AS ok')).rows, [{ ok: 1 }], 'simple protocol after a refusal')
  await t.rejects(c.query('SELECT * FROM secret_notes WHERE id = $1', [1]), { code: '42501' })
  t.same((await c.query('SELECT $1::int AS ok', [2])).rows, [{ ok: 2 }], 'extended protocol after a refusal')
  await t.rejects(c.query('SELECT 1; SELECT * FROM secret_notes'), { code: '42501' }, 'one refused statement refuses the message')
  await t.rejects(c.query('SELEC 1'), { code: '08P01' }, 'unparseable SQL is refused')
  t.same((await c.query('SELECT count(*)::int AS n FROM items')).rows, [{ n: 50 }])
  const journal = gate.parts.journal.events.filter(e => e.kind === 'verdict' && e.verdict?.effect === 'deny')
  t.ok(journal.length >= 3, 'refusals are journaled')
})

t.test('pg: a refusal inside a transaction fails it as PostgreSQL would', async t => {
  const c = await client()
  t.teardown(() => c.end())
  await c.query('BEGIN')
  await c.query("INSERT INTO items VALUES (1001, 'tx', null)")
  await t.rejects(c.query('SELECT * FROM secret_notes'), { code: '42501' })
  await t.rejects(c.query('SELECT 1'), { code: '25P02' }, 'the upstream transaction is aborted too')
  await c.query('ROLLBACK')
  t.same((await direct.query('SELECT count(*)::int AS n FROM items WHERE id = 1001')).rows, [{ n: 0 }])
  await c.query('BEGIN')
  await c.query("INSERT INTO items VALUES (1002, 'tx', null)")
  await c.query('COMMIT')
  t.same((await direct.query('SELECT count(*)::int AS n FROM items WHERE id = 1002')).rows, [{ n: 1 }], 'commit goes through')
})

t.test('pg: named prepared statements, judged again at every execution', async t => {
  let allowSecret = true
  const g = await startGate(peer, { decide: (id, op) => allowSecret ? { effect: 'allow', reason: 'ok' } : denySecret(id, op) })
  t.teardown(() => g.close())
  const c = new pg.Client({ host: '127.0.0.1', port: g.port, user: 'alice', password: await g.token(), database: 'postgres' })
  await c.connect()
  t.teardown(() => c.end())
  const q = { name: 'read-secret', text: 'SELECT body FROM secret_notes WHERE id = $1', values: [1] }
  t.same((await c.query(q)).rows, [{ body: 'classified' }])
  allowSecret = false
  await t.rejects(c.query(q), { code: '42501' }, 'the same prepared statement is refused once the verdict changes')
  const named = { name: 'items-by-id', text: 'SELECT name FROM items WHERE id = $1', values: [3] }
  t.same((await c.query(named)).rows, [{ name: 'item 3' }])
  t.same((await c.query({ ...named, values: [4] })).rows, [{ name: 'item 4' }])
})

t.test('pg: LISTEN/NOTIFY and notices pass through', async t => {
  const c = await client()
  t.teardown(() => c.end())
  await c.query('LISTEN vg_channel')
  const got = new Promise<pg.Notification>(resolve => c.once('notification', resolve))
  await direct.query("NOTIFY vg_channel, 'hello'")
  t.match(await got, { channel: 'vg_channel', payload: 'hello' })
  const notice = new Promise<Error>(resolve => c.once('notice', resolve))
  await c.query("DO $$ BEGIN RAISE NOTICE 'careful'; END $$")
  t.match(await notice, { message: 'careful' }, 'NoticeResponse reaches the client')
})

t.test('pg: cancel reaches the right upstream backend', async t => {
  const c = await client()
  t.teardown(() => c.end())
  const cc = c as unknown as { processID: number, secretKey: number }
  const running = c.query('SELECT pg_sleep(30)')
  await new Promise(resolve => setTimeout(resolve, 300))
  const s = net.connect({ host: '127.0.0.1', port: gate.port })
  await new Promise(resolve => s.once('connect', resolve))
  s.end(serialize.cancelRequest(cc.processID, cc.secretKey))
  await t.rejects(running, { code: '57014' }, 'canceling statement due to user request')
  t.same((await c.query('SELECT 1 AS ok')).rows, [{ ok: 1 }])
  const other = await client('bob')
  t.teardown(() => other.end())
  const o = other as unknown as { processID: number, secretKey: number }
  t.not(o.processID, cc.processID, 'each connection gets its own key')
  const wrong = net.connect({ host: '127.0.0.1', port: gate.port })
  await new Promise(resolve => wrong.once('connect', resolve))
  const slow = other.query('SELECT pg_sleep(0.5) AS done')
  wrong.end(serialize.cancelRequest(o.processID, o.secretKey ^ 1))
  t.same((await slow).rows, [{ done: '' }], 'a wrong secret cancels nothing')
})

t.test('authentication', async t => {
  await t.rejects(client('alice', 'not-a-token'), { code: '28P01' }, 'wrong token')
  const bobToken = await gate.token('bob')
  await t.rejects(client('alice', bobToken), { code: '28P01', message: /does not match/ }, 'user name must be the token subject')
  const tok = await gate.token('alice')
  const c = new pg.Client({ host: '127.0.0.1', port: gate.port, user: tok, password: tok, database: 'postgres' })
  await t.rejects(c.connect(), { code: '28P01' }, 'token in the user name too is refused')
  const wrongDb = new pg.Client({ host: '127.0.0.1', port: gate.port, user: 'alice', password: tok, database: 'template1' })
  await t.rejects(wrongDb.connect(), { code: '42501' }, 'another database than the backend serves')
  const repl = await rawExchange(gate.port, [serialize.startupMessage({ user: 'alice', replication: 'true' })])
  t.equal(sqlStateIn(repl.data), '42501', 'replication connections refused')
  const opts = await rawExchange(gate.port, [serialize.startupMessage({ user: 'alice', options: '-c role=postgres' })])
  t.equal(sqlStateIn(opts.data), '42501', 'startup options refused')
})

t.test('postgres (porsager): prepared statements, transactions, refusals', async t => {
  const sql = postgres({ host: '127.0.0.1', port: gate.port, user: 'alice', password: await gate.token(), database: 'postgres', max: 1, onnotice: () => {} })
  t.teardown(() => sql.end({ timeout: 1 }))
  const rows = await sql`SELECT id, name FROM items WHERE id IN (${1}, ${2}) ORDER BY id`
  t.same(rows.map(r => ({ ...r })), [{ id: '1', name: 'item 1' }, { id: '2', name: 'item 2' }])
  const again = await sql`SELECT id, name FROM items WHERE id IN (${3}, ${4}) ORDER BY id`
  t.equal(again.length, 2, 'the cached prepared statement runs again')
  await sql.begin(async tx => {
    await tx`INSERT INTO items VALUES (2001, 'porsager', null)`
    await tx`UPDATE items SET name = 'changed' WHERE id = 2001`
  })
  t.same((await direct.query('SELECT name FROM items WHERE id = 2001')).rows, [{ name: 'changed' }])
  await t.rejects(sql`SELECT * FROM secret_notes`, { code: '42501' })
  t.equal((await sql`SELECT 1 AS ok`)[0].ok, 1, 'usable after a refusal')
  const binary = await sql`SELECT ${Buffer.from('abc')}::bytea AS b`
  t.same(binary[0].b, Buffer.from('abc'))
})

t.test('pipelined extended batches: a refused message is skipped until Sync, the upstream stays in step', async t => {
  const tok = await gate.token('alice')
  const msgs = [
    serialize.startupMessage({ user: 'alice', database: 'postgres' }),
    serialize.password(tok)
  ]
  const s = net.connect({ host: '127.0.0.1', port: gate.port })
  const chunks: Buffer[] = []
  s.on('data', (b: Buffer) => chunks.push(b))
  await new Promise(resolve => s.once('connect', resolve))
  s.write(msgs[0])
  await waitFor(() => Buffer.concat(chunks).includes(Buffer.from([0x52, 0, 0, 0, 8, 0, 0, 0, 3])))
  s.write(msgs[1])
  await waitFor(() => Buffer.concat(chunks).includes(Buffer.from([0x5a, 0, 0, 0, 5, 0x49])))
  chunks.length = 0
  s.write(Buffer.concat([
    serialize.parse('', "INSERT INTO items VALUES (3001, 'pipelined', null)"), serialize.bind('', ''), serialize.execute(''),
    serialize.parse('', 'SELECT * FROM secret_notes'), serialize.bind('', ''), serialize.execute(''),
    serialize.parse('', 'SELECT 1'), serialize.sync(),
    serialize.parse('', 'SELECT 42'), serialize.bind('', ''), serialize.execute(''), serialize.sync()
  ]))
  await waitFor(() => count(Buffer.concat(chunks), 0x5a) >= 2)
  const out = Buffer.concat(chunks)
  t.same(codes(out), ['1', '2', 'C', '1', '2', 'E', 'Z', '1', '2', 'D', 'C', 'Z'], 'responses in order, the refusal in place of the Execute, nothing after it until Sync')
  t.equal(sqlStateIn(out), '42501')
  t.same((await direct.query('SELECT count(*)::int AS n FROM items WHERE id = 3001')).rows, [{ n: 0 }],
    'the implicit transaction of the refused batch was rolled back, as PostgreSQL does on an error')
  s.end(serialize.terminate())
})

t.test('requests split at every byte: the relay reassembles them and answers in order', async t => {
  const tok = await gate.token('alice')
  const s = net.connect({ host: '127.0.0.1', port: gate.port, noDelay: true })
  const chunks: Buffer[] = []
  s.on('data', (b: Buffer) => chunks.push(b))
  await new Promise(resolve => s.once('connect', resolve))
  const dribble = async (b: Buffer): Promise<void> => {
    for (let i = 0; i < b.length; i++) {
      s.write(b.subarray(i, i + 1))
      await new Promise(resolve => setImmediate(resolve))
    }
  }
  await dribble(serialize.startupMessage({ user: 'alice', database: 'postgres' }))
  await waitFor(() => Buffer.concat(chunks).length >= 9)
  await dribble(serialize.password(tok))
  await waitFor(() => Buffer.concat(chunks).includes(Buffer.from([0x5a, 0, 0, 0, 5, 0x49])))
  chunks.length = 0
  await dribble(Buffer.concat([
    serialize.query("SELECT name FROM items WHERE id = 9; SELECT 'two'"),
    serialize.parse('s9', 'SELECT name FROM items WHERE id = $1'), serialize.bind('', 's9', ['10']), serialize.execute(''), serialize.sync(),
    serialize.query('SELECT body FROM secret_notes'),
    serialize.bind('', 's9', ['11']), serialize.execute(''), serialize.sync()
  ]))
  await waitFor(() => count(Buffer.concat(chunks), 0x5a) >= 4)
  const out = Buffer.concat(chunks)
  t.same(codes(out), ['T', 'D', 'C', 'T', 'D', 'C', 'Z', '1', '2', 'D', 'C', 'Z', 'E', 'Z', '2', 'D', 'C', 'Z'])
  t.ok(out.includes(Buffer.from('item 9')) && out.includes(Buffer.from('item 10')) && out.includes(Buffer.from('item 11')))
  s.end(serialize.terminate())
})

t.test('psql: queries, COPY both ways, refusal with the statement text', async t => {
  const tok = await gate.token('carol')
  const r = await psql(gate.port, 'carol', tok, ['-At', '-c', 'SELECT name FROM items WHERE id = 7'])
  t.equal(r.code, 0, r.stderr)
  t.equal(r.stdout.trim(), 'item 7')
  const copyIn = await psql(gate.port, 'carol', tok, ['-c', 'COPY items (id, name) FROM STDIN'], '4001\tcopied\n4002\tcopied too\n')
  t.equal(copyIn.code, 0, copyIn.stderr)
  t.same((await direct.query("SELECT count(*)::int AS n FROM items WHERE name LIKE 'copied%'")).rows, [{ n: 2 }])
  const copyOut = await psql(gate.port, 'carol', tok, ['-c', 'COPY (SELECT id, name FROM items WHERE id IN (4001, 4002) ORDER BY id) TO STDOUT'])
  t.equal(copyOut.stdout, '4001\tcopied\n4002\tcopied too\n')
  const denied = await psql(gate.port, 'carol', tok, ['-c', 'SELECT * FROM secret_notes'])
  t.equal(denied.code, 1)
  t.match(denied.stderr, /no-secrets/)
  const bad = await psql(gate.port, 'carol', 'wrong', ['-c', 'SELECT 1'])
  t.equal(bad.code, 2)
  t.match(bad.stderr, /token/)
})

t.test('masking rewrites the columns a mask touches', async t => {
  const pii: Masker = {
    name: 'pii',
    vectors: 'keep',
    touches: (p) => p === 'email',
    scalar: (p, v) => p === 'email' ? (typeof v === 'string' ? v.replace(/^[^@]+/, '***') : DROP) : v,
    document: () => false,
    vector: (v) => v
  }
  const g = await startGate(peer, { decide: () => ({ effect: 'allow', reason: 'ok', mask: 'pii' }), masks: new Map([['pii', pii]]) })
  t.teardown(() => g.close())
  const c = new pg.Client({ host: '127.0.0.1', port: g.port, user: 'alice', password: await g.token(), database: 'postgres' })
  await c.connect()
  t.teardown(() => c.end())
  t.same((await c.query('SELECT id, email FROM items WHERE id = 1')).rows, [{ id: '1', email: '***@example.com' }], 'simple protocol')
  t.same((await c.query('SELECT id, email FROM items WHERE id = $1', [2])).rows, [{ id: '2', email: '***@example.com' }], 'extended protocol')
  const sql = postgres({ host: '127.0.0.1', port: g.port, user: 'alice', password: await g.token(), database: 'postgres', max: 1 })
  t.teardown(() => sql.end({ timeout: 1 }))
  t.same([...await sql`SELECT email FROM items WHERE id = ${3}`].map(r => ({ ...r })), [{ email: '***@example.com' }], 'statement described before bind')
  await c.query('BEGIN')
  await c.query('DECLARE cur CURSOR FOR SELECT id, email FROM items WHERE id = 4')
  t.same((await c.query('FETCH ALL FROM cur')).rows, [{ id: '4', email: '***@example.com' }], 'FETCH from a cursor is judged and masked as its query')
  await c.query('COMMIT')
  await t.rejects(c.query('COPY items TO STDOUT'), { code: '42501', message: /SELECT instead/ }, 'COPY TO cannot be masked: refused')
  t.same((await c.query('SELECT 1 AS ok')).rows, [{ ok: 1 }])
  const responses = g.parts.journal.events.filter(e => e.kind === 'response' && e.ids !== undefined && e.ids.length > 0)
  t.ok(responses.some(e => e.ids!.includes(1)), 'the journal records which ids were returned')
})

t.test('masking follows each result\'s own columns and mask when the same shapes repeat', async t => {
  const stars = (p: string): Masker => ({
    name: p,
    vectors: 'keep',
    touches: (q) => q === p,
    scalar: (q, v) => q === p ? '***' : v,
    document: () => false,
    vector: (v) => v
  })
  // the relay reuses the last RowDescription's columns and the last mask plan: a result with other
  // columns, the same columns in another order, or another mask must never be masked with the old plan
  const g = await startGate(peer, {
    decide: (_id, op) => ({ effect: 'allow', reason: 'ok', mask: String(op.summary.sql).includes('DESC') ? 'name' : 'email' }),
    masks: new Map([['email', stars('email')], ['name', stars('name')]])
  })
  t.teardown(() => g.close())
  const c = new pg.Client({ host: '127.0.0.1', port: g.port, user: 'alice', password: await g.token(), database: 'postgres' })
  await c.connect()
  t.teardown(() => c.end())
  for (let round = 0; round < 3; round++) {
    for (const extended of [false, true]) {
      const run = async (sql: string, id: number): Promise<unknown[]> => (extended ? await c.query(sql.replace('ID', '$1'), [id]) : await c.query(sql.replace('ID', String(id)))).rows
      const how = `${extended ? 'extended' : 'simple'}, round ${round + 1}`
      t.same(await run('SELECT id, email, name FROM items WHERE id = ID ORDER BY id', 1), [{ id: '1', email: '***', name: 'item 1' }], `email masked (${how})`)
      t.same(await run('SELECT email, id, name FROM items WHERE id = ID ORDER BY id', 2), [{ email: '***', id: '2', name: 'item 2' }], `columns reordered (${how})`)
      t.same(await run('SELECT id, email, name FROM items WHERE id = ID ORDER BY id DESC', 1), [{ id: '1', email: 'user1@example.com', name: '***' }], `same columns, other mask (${how})`)
      t.same(await run('SELECT id, email, name FROM items WHERE id = ID ORDER BY id', 3), [{ id: '3', email: '***', name: 'item 3' }], `back to the first (${how})`)
    }
  }
})

t.test('TLS to the client when configured; N otherwise', async t => {
  const dir = mkdtempSync(join(tmpdir(), 'vg-tls-'))
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem'), '-days', '1', '-subj', '/CN=localhost'], { stdio: 'ignore' })
  const ctx = tls.createSecureContext({ cert: readFileSync(join(dir, 'cert.pem')), key: readFileSync(join(dir, 'key.pem')) })
  const g = await startGate(peer, { tls: ctx })
  t.teardown(() => g.close())
  const c = new pg.Client({ host: '127.0.0.1', port: g.port, user: 'alice', password: await g.token(), database: 'postgres', ssl: { rejectUnauthorized: false } })
  await c.connect()
  t.teardown(() => c.end())
  t.same((await c.query('SELECT 1 AS ok')).rows, [{ ok: 1 }])
  const tlsJournal = g.parts.journal.sessions.some(s => s.tls)
  t.ok(tlsJournal, 'the session is journaled as TLS')
  const plain = new pg.Client({ host: '127.0.0.1', port: gate.port, user: 'alice', password: await gate.token(), database: 'postgres', ssl: { rejectUnauthorized: false } })
  await t.rejects(plain.connect(), /does not support SSL/, 'SSL to a non-TLS listener: answered N, the client decides')
  const psqlPrefer = await psql(gate.port, 'alice', await gate.token(), ['-At', '-c', 'SELECT 1'])
  t.equal(psqlPrefer.stdout.trim(), '1', 'sslmode=prefer falls back after N')
  const early = await rawExchange(g.port, [Buffer.concat([serialize.sslRequest(), serialize.startupMessage({ user: 'alice' })])])
  t.ok(early.closed, 'plaintext sent right after SSLRequest is refused (CVE-2021-23214)')
})

t.test('approval holds: requests wait in order, then run or are refused with the approval id', async t => {
  const released: string[] = []
  const g = await startGate(peer, {
    decide: (_id, op) => op.action === 'delete' ? { effect: 'approve', rule: 'deletes-need-approval', reason: 'deletes need approval' } : { effect: 'allow', reason: 'ok' },
    extra: {
      approvals: {
        async hold (req) {
          await new Promise(resolve => setTimeout(resolve, 200))
          const where = String(req.op.summary.sql)
          t.notMatch(where, /5001|9999/, 'approvers see the statement without its values')
          if (released.length > 0) throw new VecgateError('VG_ERR_APPROVAL_REQUIRED', 'approval denied by bob', { approvalId: 'apr_123' })
          released.push(where)
          return { approvalId: 'apr_ok' }
        }
      }
    }
  })
  t.teardown(() => g.close())
  const c = new pg.Client({ host: '127.0.0.1', port: g.port, user: 'alice', password: await g.token(), database: 'postgres' })
  await c.connect()
  t.teardown(() => c.end())
  await direct.query("INSERT INTO items VALUES (5001, 'held', null), (9999, 'kept', null)")
  // pg queues these; the second is only sent after the first finished, so order is the client's
  const [del, after] = await Promise.all([c.query('DELETE FROM items WHERE id = 5001'), c.query('SELECT count(*)::int AS n FROM items WHERE id = 5001')])
  t.equal(del.rowCount, 1)
  t.same(after.rows, [{ n: 0 }])
  t.equal(released.length, 1)
  const refused = await c.query('DELETE FROM items WHERE id = 9999').catch((e: { code: string, hint: string }) => e)
  t.match(refused, { code: '42501', hint: /apr_123/ }, 'HINT carries the approval id')
  t.same((await direct.query('SELECT count(*)::int AS n FROM items WHERE id = 9999')).rows, [{ n: 1 }])
})

t.test('bad input: clean refusals, no crash, other clients unaffected', async t => {
  const bystander = await client('dave')
  t.teardown(() => bystander.end())
  const garbage = await rawExchange(gate.port, [Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n')])
  t.ok(garbage.closed, 'garbage: closed')
  t.equal(sqlStateIn(garbage.data), '08P01')
  const huge = Buffer.alloc(8); huge.writeInt32BE(1 << 20, 0); huge.writeInt32BE(196608, 4)
  const over = await rawExchange(gate.port, [huge])
  t.equal(sqlStateIn(over.data), '08P01', 'startup packet over the size limit')
  const v2 = Buffer.alloc(8); v2.writeInt32BE(8, 0); v2.writeInt32BE(2 << 16, 4)
  const old = await rawExchange(gate.port, [v2])
  t.equal(sqlStateIn(old.data), '08P01', 'protocol version 2')
  t.match(old.data.toString(), /3\.0/)
  const gss = await rawExchange(gate.port, [Buffer.from([0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x30])], 500)
  t.equal(gss.data.toString(), 'N', 'GSSENCRequest: N')
  const tok = await gate.token('erin')
  const lying = Buffer.from([0x51, 0x7f, 0, 0, 0])
  const lie = await rawExchange(gate.port, [serialize.startupMessage({ user: 'erin' }), serialize.password(tok), lying])
  t.ok(lie.closed)
  t.equal(sqlStateIn(lie.data.subarray(lie.data.indexOf(Buffer.from([0x5a, 0, 0, 0, 5])) + 6)), '08P01', 'a message length that lies')
  const unknown = await rawExchange(gate.port, [serialize.startupMessage({ user: 'erin' }), serialize.password(tok), Buffer.from([0x7a, 0, 0, 0, 4])])
  t.ok(unknown.closed, 'an unknown message type')
  const fast = await rawExchange(gate.port, [serialize.startupMessage({ user: 'erin' }), serialize.password(tok), Buffer.from([0x46, 0, 0, 0, 12, 0, 0, 0, 1, 0, 0, 0, 0])], 800)
  t.equal(sqlStateIn(fast.data.subarray(fast.data.indexOf(Buffer.from([0x5a, 0, 0, 0, 5])) + 6)), '42501', 'fast-path function calls refused')
  t.same((await bystander.query('SELECT 1 AS ok')).rows, [{ ok: 1 }], 'the bystander never noticed')
})

function codes (b: Buffer): string[] {
  const out: string[] = []
  let pos = 0
  while (pos + 5 <= b.length) { out.push(String.fromCharCode(b[pos])); pos += 1 + b.readInt32BE(pos + 1) }
  return out
}
function count (b: Buffer, code: number): number { return codes(b).filter(c => c.charCodeAt(0) === code).length }
async function waitFor (cond: () => boolean): Promise<void> {
  for (let i = 0; i < 500 && !cond(); i++) await new Promise(resolve => setTimeout(resolve, 10))
  if (!cond()) throw new Error('timed out waiting for the gateway')
}
