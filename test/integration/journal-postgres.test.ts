/**
 * The journal through a real client and server: pg (node-postgres) and psql through vecgate to
 * pgvector on PGlite. Every request, verdict and masked response is recorded in order; replay,
 * sessions list, who-saw and verify work from the CLI, locally and through the admin API; an edited
 * byte is named by verify; a SIGKILLed gateway loses no event of a response the client received, or
 * (reads under journal.durable: changes) its recovery names the time from which such events may be missing.
 */
import t from 'tap'
import pg from 'pg'
import { spawn } from 'node:child_process'
import { readFileSync, writeFileSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { Writable } from 'node:stream'
import { once } from 'node:events'
import { startPglite } from '../peers/pglite.js'
import { startTestGateway } from '../helpers/gateway.js'
import { JournalReader } from '../../lib/journal/reader.js'
import { journalCommands } from '../../lib/cli/journal.js'
import type { Command } from '../../lib/cli/commands.js'
import type { Config } from '../../lib/config/types.js'
import { psql } from '../lib/postgres/harness.js'

const lite = await startPglite()
t.teardown(() => lite.close())
const up = { host: lite.host, port: lite.port, user: 'postgres', password: 'any', database: 'postgres' }
const direct = new pg.Client(up)
await direct.connect()
t.teardown(() => direct.end())
await direct.query('CREATE EXTENSION IF NOT EXISTS vector')
await direct.query(`CREATE TABLE people (id bigint PRIMARY KEY, name text, email text, embedding vector(3));
  INSERT INTO people VALUES (1, 'Ada', 'ada@example.com', '[1,0,0]'), (2, 'Bob', 'bob@example.com', '[0,1,0]'), (3, 'Cy', 'cy@example.com', '[0,0,1]')`)

const policy = {
  rules: [
    { id: 'analysts-read', subjects: { groups: ['analysts'] }, backends: ['pg'], actions: ['read', 'search'], effect: 'allow', mask: 'pii' },
    { id: 'no-writes', subjects: { groups: ['analysts'] }, actions: ['write', 'delete', 'admin'], effect: 'deny' }
  ]
}
const masking = { profiles: { pii: { fields: ['email'], action: 'redact', vectors: 'drop' } } }

async function run (cmd: string, config: Config, values: Record<string, unknown>, positionals: string[] = []): Promise<{ code: number, out: string }> {
  const c = journalCommands.find(x => x.name === cmd) as Command
  let out = ''
  const sink = new Writable({ write (chunk, _e, cb) { out += String(chunk); cb() } })
  const code = await c.run({ values, positionals, config: () => config, configPath: config.file, out: sink, err: sink })
  return { code, out }
}

t.test('sessions through pg and psql are journaled in order, masked, replayable, searchable and verifiable', async t => {
  const gw = await startTestGateway({
    backends: [{ name: 'pg', protocol: 'postgres', upstream: `${lite.host}:${lite.port}`, credentials: { user: 'postgres', password: 'any', database: 'postgres' } }],
    policy,
    masking
  })
  t.teardown(() => gw.stop())
  const token = await gw.token('alice', { groups: ['analysts'] })
  const c = new pg.Client({ host: '127.0.0.1', port: gw.port('pg'), user: 'alice', password: token, database: 'postgres' })
  await c.connect()
  const knn = await c.query("SELECT id, name, email, embedding FROM people ORDER BY embedding <-> '[1,0.1,0]' LIMIT 2")
  t.same(knn.rows.map(r => [r.id, r.name]), [['1', 'Ada'], ['2', 'Bob']])
  t.notOk(knn.rows.some(r => String(r.email).includes('@')), 'emails masked for the client')
  await t.rejects(c.query('DELETE FROM people'), { code: '42501' })
  const one = await c.query('SELECT id, email FROM people WHERE id = $1', [3])
  t.equal(one.rows[0].id, '3')
  await c.end()
  const viaPsql = await psql(gw.port('pg'), 'alice', token, ['-At', '-c', 'SELECT id, name FROM people WHERE id = 2'])
  t.equal(viaPsql.stdout.trim(), '2|Bob', viaPsql.stderr)
  await gw.gw.parts.journal.flush()

  const r = new JournalReader(gw.config.journal.path)
  t.teardown(() => r.close())
  const sessions = r.sessions({ backend: 'pg' })
  t.equal(sessions.length, 2, 'two connections, two sessions')
  t.ok(sessions.every(s => s.subject === 'alice'))
  const pgSession = [...sessions].sort((a, b) => b.events - a.events)[0]
  const events = r.events(pgSession.id)
  const calls = new Map<number, string[]>()
  for (const e of events) if (e.call !== null) calls.set(e.call, [...(calls.get(e.call) ?? []), e.kind])
  for (const [n, kinds] of calls) {
    t.equal(kinds[0], 'request', `call ${n} starts with its request`)
    t.equal(kinds[1], 'verdict', `call ${n} then its verdict`)
    t.ok(kinds.slice(2).every(k => k === 'response' || k === 'error'), `call ${n} then responses or its refusal: ${kinds.join(',')}`)
  }
  const knnCall = events.find(e => e.kind === 'request' && e.body.op.action === 'search')!
  const result = events.find(e => e.kind === 'response' && e.call === knnCall.call && e.body.data?.result !== undefined)!
  t.match(JSON.stringify(result.body.data.result), /Ada/, 'what the client received')
  t.notMatch(JSON.stringify(result.body.data.result), /ada@example\.com/, 'never the raw email')
  const refused = events.find(e => e.kind === 'error')!
  t.match(refused.body.data, { code: 'VG_ERR_DENIED' })
  t.same(r.whoSaw('pg', 'people', '3').map(x => x.session.id), [pgSession.id], 'who-saw finds the row')
  t.equal(r.whoSaw('pg', 'people', '2').length, 2, 'row 2 went to both sessions')

  // the CLI, reading the file
  const list = await run('sessions list', gw.config, { user: 'alice' })
  t.equal(list.code, 0)
  t.match(list.out, pgSession.id)
  const replay = await run('replay', gw.config, {}, [pgSession.id.slice(0, 12)])
  t.match(replay.out, /identity alice groups analysts/)
  t.match(replay.out, /request\s+\[alice\] search people/)
  t.match(replay.out, /verdict\s+ALLOW by analysts-read, mask pii/)
  t.match(replay.out, /DENY by no-writes/)
  t.match(replay.out, /VG_ERR_DENIED/)
  const detail = await run('replay', gw.config, { event: String(result.n) }, [pgSession.id])
  t.match(detail.out, /Ada/)
  const ndjson = await run('replay', gw.config, { json: true }, [pgSession.id])
  const lines = ndjson.out.trim().split('\n').map(l => JSON.parse(l))
  t.equal(lines.length, events.length + 1, 'NDJSON: the session, then one line per event')
  const who = await run('journal who-saw', gw.config, { backend: 'pg', collection: 'people', id: '3' })
  t.match(who.out, pgSession.id)

  // the CLI through the admin API: an auditor sees everyone, alice only herself, bob nothing of alice
  const auditor = await gw.token('carol', { groups: ['auditors'] })
  const bob = await gw.token('bob', { groups: ['analysts'] })
  const asAuditor = await run('sessions list', gw.config, { token: auditor, admin: gw.adminUrl, json: true })
  t.equal(asAuditor.out.trim().split('\n').length, 2)
  const asBob = await run('sessions list', gw.config, { token: bob, admin: gw.adminUrl })
  t.equal(asBob.out.trim(), 'no sessions')
  await t.rejects(run('replay', gw.config, { token: bob, admin: gw.adminUrl }, [pgSession.id]), /no session/)
  const asAlice = await run('replay', gw.config, { token, admin: gw.adminUrl }, [pgSession.id])
  t.match(asAlice.out, /ALLOW by analysts-read/)
  await t.rejects(run('journal who-saw', gw.config, { token: bob, admin: gw.adminUrl, backend: 'pg', collection: 'people', id: '3' }), /auditors/)

  // verify passes while running; after a stop, one edited byte is named
  t.equal((await run('journal verify', gw.config, {})).code, 0)
  await gw.gw.stop()
  const ok = await run('journal verify', gw.config, {})
  t.equal(ok.code, 0, ok.out)
  t.match(ok.out, /journal verified/)
  const file = readFileSync(gw.config.journal.path)
  const at = file.indexOf(Buffer.from('"reason":"denied by'))
  t.ok(at > 0, 'the verdict text is in the file')
  file[at + 12] ^= 0x20
  writeFileSync(gw.config.journal.path, file)
  const bad = await run('journal verify', gw.config, {})
  t.equal(bad.code, 1)
  t.match(bad.out, new RegExp(`TAMPERED  session ${pgSession.id} event #\\d+: event #\\d+ \\(verdict`))
})

const killCases = [
  { name: 'reads with journal.durable: all', durable: 'all', groups: ['analysts'], sql: (id: number, k: number) => `SELECT id, email FROM people WHERE id = ${id} AND ${k} = ${k}` },
  { name: 'reads with the default durability (changes)', durable: undefined, groups: ['analysts'], sql: (id: number, k: number) => `SELECT id, email FROM people WHERE id = ${id} AND ${k} = ${k}` },
  { name: 'writes with the default durability', durable: undefined, groups: ['writers'], sql: (id: number, k: number) => `INSERT INTO kill_log VALUES (${id}, ${k})` }
]
await direct.query('CREATE TABLE kill_log (client int, k int)')

// reads under `changes` are answered before their events are committed: a kill may lose those, and
// recovery must say from when; every other response the client received is journaled
const mayTrail = (kc: typeof killCases[number]): boolean => kc.durable !== 'all' && kc.groups.includes('analysts')

for (const kc of killCases) t.test(`a SIGKILLed gateway loses no event of a response the client received, or says from when it may have: ${kc.name}`, async t => {
  const dir = mkdtempSync(join(tmpdir(), 'vecgate-kill-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const configPath = join(dir, 'vecgate.yaml')
  writeFileSync(configPath, JSON.stringify({
    admin: { listen: '127.0.0.1:0' },
    identity: { signing_key: join(dir, 'signing.jwk') },
    journal: { path: join(dir, 'journal.db'), ...(kc.durable !== undefined ? { durable: kc.durable } : {}) },
    backends: [{ name: 'pg', protocol: 'postgres', listen: '127.0.0.1:0', upstream: `${lite.host}:${lite.port}`, credentials: { user: 'postgres', password: 'any', database: 'postgres' } }],
    policy: { rules: [...policy.rules, { id: 'writers', subjects: { groups: ['writers'] }, backends: ['pg'], actions: ['write'], effect: 'allow' }] },
    masking
  }))
  const bin = fileURLToPath(new URL('../../dist/bin/vecgate.js', import.meta.url))
  const gwProc = spawn(process.execPath, [bin, 'start', '--config', configPath, '--json'], { stdio: ['ignore', 'pipe', 'pipe'] })
  t.teardown(() => { if (gwProc.exitCode === null) gwProc.kill('SIGKILL') })
  let started = ''
  gwProc.stdout.on('data', (d: Buffer) => { started += d.toString() })
  while (!started.includes('\n')) {
    const [code] = await Promise.race([once(gwProc, 'exit'), new Promise(resolve => setTimeout(() => resolve([undefined]), 50))]) as [number | undefined]
    if (code !== undefined) t.fail(`vecgate start exited: ${code}`)
  }
  const info = JSON.parse(started.split('\n')[0]) as { listening: Array<{ address: string }> }
  const port = Number(info.listening[0].address.split(':').pop())
  const { loadConfig } = await import('../../lib/config/load.js')
  const config = loadConfig(configPath)
  const { loadOrCreateSigningKey } = await import('../../lib/identity/keys.js')
  const { Grants } = await import('../../lib/identity/grants.js')
  const grants = new Grants(await loadOrCreateSigningKey(config.identity.signing_key), config.identity.audience, config.identity.max_ttl)
  const token = (await grants.issue({ subject: 'alice', groups: kc.groups, ttl: 300 })).token

  // four clients querying as fast as they can; the gateway is killed while they run
  const answered: Array<{ client: number, id: number, at: number }> = []
  let stop = false
  const clients = await Promise.all([0, 1, 2, 3].map(async i => {
    const c = new pg.Client({ host: '127.0.0.1', port, user: 'alice', password: token, database: 'postgres' })
    await c.connect()
    c.on('error', () => {})
    return c
  }))
  const ports = clients.map(c => (c as any).connection.stream.localPort as number)
  const loops = clients.map(async (c, i) => {
    for (let k = 0; !stop; k++) {
      const id = 1 + (k % 3)
      try {
        await c.query(kc.sql(i === 0 ? id : i, k))
        // taken after the response arrived: a response queued in the journal later than this cannot be
        answered.push({ client: i, id: k, at: Date.now() })
      } catch { return }
    }
  })
  // killed once the clients' sessions have reached the disk (so each has a session to say its loss
  // in; sessions started after the last commit are covered by the journal-level loss event) and 200
  // more answers arrived
  for (;;) {
    const r = new JournalReader(config.journal.path)
    const onDisk = r.sessions({ backend: 'pg' }).length
    r.close()
    if (onDisk === clients.length) break
    await new Promise(resolve => setTimeout(resolve, 5))
  }
  const seen = answered.length
  while (answered.length < seen + 200) await new Promise(resolve => setTimeout(resolve, 5))
  gwProc.kill('SIGKILL')
  await once(gwProc, 'exit')
  stop = true
  await Promise.all(loops)
  // the next start closes what the killed one left open
  const { JournalWriter } = await import('../../lib/journal/writer.js')
  const { createLogger } = await import('../../lib/log.js')
  const key = await loadOrCreateSigningKey(config.identity.signing_key)
  await new JournalWriter({ path: config.journal.path, onFull: 'hold', queue: 1000, storeVectors: false, signingKey: key.privateKey, keyId: key.kid, log: createLogger({ level: 'silent' }) }).close()
  const reader = new JournalReader(config.journal.path)
  t.teardown(() => reader.close())
  const verified = reader.verify(new Map([[key.kid, key.publicKey]]))
  t.same(verified.problems, [], 'the journal verifies after the kill')
  // each client is one session, found by its address; its calls that ended are journaled with their end
  t.ok(answered.length >= 200, `${answered.length} responses reached the clients`)
  // the journal as a whole says from when the killed gateway's events may be missing
  const whole = reader.sessions({ limit: 1000 }).filter(x => x.id.startsWith('gw-') && x.loss).flatMap(x => reader.events(x.id)).filter(e => e.kind === 'loss' && e.body.data?.scope === 'journal')
  t.equal(whole.length, 1, 'one journal-level loss event')
  const from = whole[0]?.body.data.missing_from as number
  t.type(from, 'number', 'it names the time from which events may be missing')
  let trailing = 0
  for (let i = 0; i < clients.length; i++) {
    const s = reader.sessions({ backend: 'pg' }).find(x => x.client.endsWith(`:${ports[i]}`))
    t.ok(s, `client ${i} has a session`)
    if (s === undefined) continue
    const events = reader.events(s.id)
    const ended = events.filter(e => e.kind === 'response' && e.body.data?.final === true && e.body.data?.ok === true).length
    const asked = events.filter(e => e.kind === 'request').length
    const got = answered.filter(a => a.client === i)
    t.equal(s.end_reason, 'gateway stopped abruptly', 'closed by recovery')
    t.ok(s.loss, 'listed with a loss')
    const loss = events.at(-1)!
    t.match(loss, { kind: 'loss', body: { data: { missing_from: from } } }, 'its loss event says from when events may be missing')
    // one connection's calls run one after another and are journaled in order: the calls journaled
    // with their end are the first `ended` answers this client received; any answer after them must
    // have reached the client from the loss event's time on
    const missing = got.slice(ended)
    trailing += missing.length
    t.same(missing.filter(a => a.at < from), [], `client ${i}: ${got.length} answers received, ${ended} calls journaled with their end (${asked} requests); the ${missing.length} not journaled all arrived from ${from} on`)
    if (!mayTrail(kc)) t.ok(ended >= got.length, `client ${i}: every answer received is journaled`)
  }
  t.comment(`${trailing} answered reads fell in the window the loss events name`)
  const list = await run('sessions list', config, { local: true, backend: 'pg' })
  t.match(list.out, /LOSS/, 'sessions list shows the loss')
  const s0 = reader.sessions({ backend: 'pg' })[0]
  const replay = await run('replay', config, { local: true }, [s0.id])
  t.match(replay.out, /LOSS: .*events from .* on may be missing/, 'replay says from when events may be missing')
  for (const c of clients) await c.end().catch(() => {})
})

t.test('a result of thousands of rows, masked and not: every row reaches the client, and the journal holds what the client received', async t => {
  // rows of every size: the small ones are masked into (and journaled from) the shared slab,
  // those over 2 KiB into buffers of their own or kept as the read gave them
  await direct.query(`CREATE TABLE bulk AS SELECT g AS id, 'user' || g || '@example.com' AS email, repeat('n', (g * 37) % 2600) AS note
    FROM generate_series(1, 3000) g`)
  t.teardown(() => direct.query('DROP TABLE bulk'))
  const gw = await startTestGateway({
    backends: [{ name: 'pg', protocol: 'postgres', upstream: `${lite.host}:${lite.port}`, credentials: { user: 'postgres', password: 'any', database: 'postgres' } }],
    policy: { rules: [...policy.rules, { id: 'auditors-read', subjects: { groups: ['auditors'] }, backends: ['pg'], actions: ['read'], effect: 'allow' }] },
    masking
  })
  t.teardown(() => gw.stop())
  const sql = 'SELECT id, email, note FROM bulk ORDER BY id'
  const want = (await direct.query(sql)).rows
  for (const [who, groups, masked, binary] of [['alice', ['analysts'], true, false], ['aud', ['auditors'], false, false], ['bob', ['analysts'], true, true]] as const) {
    const c = new pg.Client({ host: '127.0.0.1', port: gw.port('pg'), user: who, password: await gw.token(who, { groups: [...groups] }), database: 'postgres' })
    await c.connect()
    // the extended protocol asking for binary results (`binary: true`) for bob, the simple protocol's text for the others
    const got = (await c.query({ text: sql, binary })).rows
    await c.end()
    t.equal(got.length, 3000, `${who}: every row`)
    t.same(got.map(r => [r.id, r.note]), want.map(r => [r.id, r.note]), `${who}: ids and notes as stored, in order`)
    t.same(got.map(r => r.email), masked ? want.map(() => '[redacted]') : want.map(r => r.email), `${who}: emails ${masked ? 'masked' : 'as stored'}`)
    await gw.gw.parts.journal.flush()
    const r = new JournalReader(gw.config.journal.path)
    const session = r.sessions({ backend: 'pg' }).find(s => s.subject === who)!
    const events = r.events(session.id)
    const call = events.find(e => e.kind === 'request' && e.body.op.action === 'read')!.call
    const journaled = events.filter(e => e.kind === 'response' && e.call === call && e.body.data?.result !== undefined).flatMap(e => e.body.data.result)
    r.close()
    t.same(journaled, got, `${who}: the journal's rows are the rows the client received`)
  }
})
