/**
 * Human approval of risky SQL through real clients and a real PostgreSQL 15: node-postgres (simple and
 * extended protocol) and psycopg. A delete is held in protocol, shown to approvers with its blast
 * radius (SELECT count(*) with the same WHERE and the same Bind parameters, run upstream read-only),
 * approved by a second identity and completes in the same call with the rowCount a direct delete
 * gives (psql too); a denied one is refused with 42501 and the approval id in HINT, the session still usable; one
 * held past policy.approval_hold is refused with 57014 and the approval id, and the same statement
 * retried after approval passes exactly once; the requester cannot approve their own request, nor can
 * someone outside the approver group; a WHERE that calls a writing function is not run by the count.
 */
import pg from 'pg'
import t from 'tap'
import { request } from 'undici'
import { JournalReader } from '../../lib/journal/reader.js'
import { startTestGateway, type TestGateway } from '../helpers/gateway.js'
import { runCommand } from '../helpers/run-command.js'
import { startPostgres } from '../peers/postgres.js'
import { psql } from '../lib/postgres/harness.js'
import { runPythonJSON } from '../peers/python.js'

const peer = await startPostgres()
t.teardown(() => peer.close())
const up = { host: peer.host, port: peer.port, user: peer.user, password: peer.password, database: peer.database }
const direct = new pg.Client(up)
await direct.connect()
t.teardown(() => direct.end())
await direct.query(`
  CREATE TABLE docs (id int PRIMARY KEY, grp text NOT NULL, n int NOT NULL, title text);
  CREATE TABLE tenants (grp text PRIMARY KEY, closed boolean NOT NULL);
  INSERT INTO tenants VALUES ('a', false), ('b', true), ('c', false), ('d', true);
  CREATE TABLE side_effects (id int);
  CREATE FUNCTION touch(i int) RETURNS boolean LANGUAGE plpgsql AS $$ BEGIN INSERT INTO side_effects VALUES (i); RETURN true; END $$;
  CREATE SCHEMA "Odd ""Schema""";
  CREATE TABLE "Odd ""Schema""".";drop table docs;--" (id int);
  INSERT INTO "Odd ""Schema""".";drop table docs;--" SELECT generate_series(1, 7);
`)
/** 40 rows: groups a, b, c, d of 10, n = 1..10 in each */
async function refill (): Promise<void> {
  await direct.query("TRUNCATE docs; INSERT INTO docs SELECT i, chr(97 + (i - 1) / 10), 1 + (i - 1) % 10, 'doc ' || i FROM generate_series(1, 40) i")
}
await refill()
const rows = async (where = 'true'): Promise<number> => Number((await direct.query(`SELECT count(*) AS n FROM docs WHERE ${where}`)).rows[0].n)

const backend = { name: 'pg', protocol: 'postgres', upstream: `${peer.host}:${peer.port}`, credentials: { user: peer.user, password: peer.password, database: peer.database } }
const policy = (hold: string): Record<string, unknown> => ({
  approval_hold: hold,
  rules: [
    { id: 'engineers', subjects: { groups: ['engineers'] }, effect: 'allow' },
    { id: 'deletes-need-approval', subjects: { groups: ['engineers'] }, actions: ['delete'], effect: 'approve', approvers: { groups: ['security'], count: 1 } },
    { id: 'bulk-updates-need-approval', subjects: { groups: ['engineers'] }, actions: ['write'], when: { bulk: true }, effect: 'approve', approvers: { groups: ['security'], count: 1 } },
    { id: 'drops-need-approval', subjects: { groups: ['engineers'] }, actions: ['admin'], effect: 'approve', approvers: { groups: ['security'], count: 1 } }
  ]
})
const gw = await startTestGateway({ backends: [backend], policy: policy('120s') })
t.teardown(() => gw.stop())
const eve = await gw.token('eve', { groups: ['engineers'] })
const sam = await gw.token('sam', { groups: ['security'] })
const mallory = await gw.token('mallory', { groups: ['engineers'] })

async function connect (g: TestGateway, token = eve, sub = 'eve'): Promise<pg.Client> {
  const c = new pg.Client({ host: '127.0.0.1', port: g.port('pg'), user: sub, password: token, database: 'postgres' })
  await c.connect()
  return c
}
async function admin (g: TestGateway, method: 'GET' | 'POST', path: string, token: string, body?: unknown): Promise<{ status: number, json: any }> {
  const r = await request(g.adminUrl + path, { method, headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: body !== undefined ? JSON.stringify(body) : undefined })
  return { status: r.statusCode, json: await r.body.json() }
}
/** the next pending approval, once the held statement has asked (the blast radius is measured first) */
async function pending (g: TestGateway = gw, not?: string): Promise<any> {
  for (let i = 0; i < 600; i++) {
    const list = ((await admin(g, 'GET', '/v1/approvals?status=pending', sam)).json.approvals as any[]).filter(a => a.id !== not)
    if (list.length > 0) return list[0]
    await new Promise(resolve => setTimeout(resolve, 50))
  }
  throw new Error('no pending approval appeared')
}
async function cli (g: TestGateway, name: string, positionals: string[], token = sam): Promise<string> {
  return (await runCommand(name, { token, admin: g.adminUrl }, positionals, g.config, { mergeErr: true })).out
}
const refusal = async (p: Promise<unknown>): Promise<any> => await p.then(() => 'passed', (e: unknown) => e)

t.test('node-postgres: a held delete with Bind parameters is shown with its blast radius, approved by a second identity, and completes in the same call', async t => {
  await refill()
  const expected = await rows("grp = 'a' AND n <= 7")
  const c = await connect(gw)
  t.teardown(() => c.end())
  const del = c.query('DELETE FROM docs WHERE grp = $1 AND n <= $2', ['a', 7])
  const a = await pending()
  t.match(a, { requester: { subject: 'eve' }, status: 'pending', rule: 'deletes-need-approval', op: { backend: 'pg', method: 'DELETE', action: 'delete', collection: 'docs', bulk: false } })
  t.equal(a.blastRadius, expected, 'the approver sees what it would delete: count(*) with the same WHERE and parameters, upstream')
  t.match(await cli(gw, 'approvals show', [a.id]), new RegExp(`${a.id as string}\\s+pending\\s+requested by eve[\\s\\S]*touches: ${expected} records`), 'vecgate approvals show')
  t.match(await cli(gw, 'approvals show', [a.id]), /sql: +DELETE FROM docs WHERE grp = \$1 AND n <= \$2\n/, 'the statement, as the journal keeps it')
  t.equal(await rows(), 40, 'nothing deleted while held')
  const self = await admin(gw, 'POST', `/v1/approvals/${a.id as string}/approve`, eve)
  t.equal(self.status, 403, 'the requester cannot approve their own request')
  t.match(self.json, { message: /own request/ })
  const outsider = await admin(gw, 'POST', `/v1/approvals/${a.id as string}/approve`, mallory)
  t.equal(outsider.status, 403, 'someone outside the approver group cannot approve')
  t.match(await cli(gw, 'approvals approve', [a.id]), /used|approved/, 'vecgate approvals approve by sam')
  const r = await del
  t.equal(r.rowCount, expected, 'the held call completed with the rowCount of the delete')
  t.equal(await rows(), 40 - expected)
  t.equal((await c.query('SELECT count(*)::int AS n FROM docs')).rows[0].n, 40 - expected, 'the same connection goes on')
})

t.test('psql: the held delete waits in psql, is approved with vecgate approvals approve, and psql prints its result', async t => {
  await refill()
  const run = psql(gw.port('pg'), 'eve', eve, ['-c', "DELETE FROM docs WHERE grp = 'a' AND n > 8"])
  const a = await pending()
  t.equal(a.blastRadius, 2)
  t.match(await cli(gw, 'approvals list', []), new RegExp(`${a.id as string}\\s+pending[\\s\\S]*touches: 2 records`), 'vecgate approvals list')
  await cli(gw, 'approvals approve', [a.id])
  const r = await run
  t.equal(r.code, 0, r.stderr)
  t.equal(await rows("grp = 'a'"), 8)
})

t.test('node-postgres: blast radius of a bulk delete, DELETE ... USING in a multi-statement query, a bulk UPDATE, TRUNCATE of two tables, DROP TABLE with a hostile name', async t => {
  await refill()
  const c = await connect(gw)
  t.teardown(() => c.end())
  const cases: Array<[string, number]> = [
    ['DELETE FROM docs', 40],
    ["SELECT 1; DELETE FROM public.docs d USING tenants t WHERE d.grp = t.grp AND t.closed AND d.n > 5", 10],
    ['UPDATE docs SET title = NULL', 40],
    ['TRUNCATE docs, tenants', 44],
    ['DROP TABLE "Odd ""Schema""".";drop table docs;--"', 7]
  ]
  for (const [sql, expected] of cases) {
    const held = refusal(c.query(sql))
    const a = await pending()
    t.equal(a.blastRadius, expected, sql)
    t.equal((await admin(gw, 'POST', `/v1/approvals/${a.id as string}/deny`, sam, { reason: 'measured only' })).status, 200)
    t.match(await held, { code: '42501' }, `${sql}: denied`)
  }
  t.equal(await rows(), 40, 'nothing was changed by measuring')
  t.equal(Number((await direct.query('SELECT count(*) AS n FROM "Odd ""Schema""".";drop table docs;--"')).rows[0].n), 7)
})

t.test('a WHERE that calls a writing function: the count cannot write (read-only), the approver is asked without a blast radius', async t => {
  await refill()
  const c = await connect(gw)
  t.teardown(() => c.end())
  const held = refusal(c.query('DELETE FROM docs WHERE touch(id)'))
  const a = await pending()
  t.equal(a.blastRadius, undefined, 'no blast radius: the count failed in its read-only transaction')
  t.equal(Number((await direct.query('SELECT count(*) AS n FROM side_effects')).rows[0].n), 0, 'the function wrote nothing')
  await admin(gw, 'POST', `/v1/approvals/${a.id as string}/deny`, sam)
  t.match(await held, { code: '42501' })
})

t.test('a WHERE slower than the count may take: the statement_timeout ends it, the approver is asked without a blast radius', async t => {
  const c = await connect(gw)
  t.teardown(() => c.end())
  const held = refusal(c.query('DELETE FROM docs WHERE pg_sleep(60) IS NULL'))
  const a = await pending()
  t.equal(a.blastRadius, undefined)
  // the sleep asked for 60 s: the count connection is gone well before, ended by its statement_timeout
  let counting = 1
  for (let i = 0; i < 200 && counting > 0; i++) {
    counting = (await direct.query("SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = 'vecgate:blast-radius'")).rows[0].n
    if (counting > 0) await new Promise(resolve => setTimeout(resolve, 50))
  }
  t.equal(counting, 0, 'the count no longer runs upstream')
  await admin(gw, 'POST', `/v1/approvals/${a.id as string}/deny`, sam)
  t.match(await held, { code: '42501' })
})

t.test('node-postgres: a denied approval refuses with 42501 and the approval id in HINT; the session stays usable', async t => {
  await refill()
  const c = await connect(gw)
  t.teardown(() => c.end())
  const held = refusal(c.query("DELETE FROM docs WHERE grp = 'b'"))
  const a = await pending()
  t.equal(a.blastRadius, 10)
  t.match(await cli(gw, 'approvals deny', [a.id]), /denied/)
  const err = await held
  t.equal(err.code, '42501')
  t.equal(err.hint, `approval id: ${a.id as string}`, 'HINT carries the approval id')
  t.match(err.message, new RegExp(`approval ${a.id as string} was denied by sam`))
  t.equal((await c.query('SELECT 1 AS one')).rows[0].one, 1, 'the session is still usable')
  t.equal(await rows(), 40, 'nothing deleted')
  await t.rejects(c.query("DELETE FROM docs WHERE grp = 'b'"), { code: '42501', hint: `approval id: ${a.id as string}` }, 'the same statement again: the denial stands')
})

t.test('held past policy.approval_hold: 57014 with the approval id; approved later, the retry passes exactly once', async t => {
  await refill()
  const short = await startTestGateway({ backends: [backend], policy: policy('1s') })
  t.teardown(() => short.stop())
  const eveShort = await short.token('eve', { groups: ['engineers'] })
  const samShort = await short.token('sam', { groups: ['security'] })
  const c = await connect(short, eveShort)
  t.teardown(() => c.end())
  const sql = 'DELETE FROM docs WHERE grp = $1'
  const err = await refusal(c.query(sql, ['c']))
  t.equal(err.code, '57014', 'query_canceled: the hold ended')
  t.match(err.hint, /^approval id: apr_[a-z2-7]{10}$/)
  const id = (err.hint as string).slice('approval id: '.length)
  t.match(err.message, /the hold ended: retry once it is approved/)
  const a = (await admin(short, 'GET', `/v1/approvals/${id}`, samShort)).json
  t.match(a, { status: 'pending', blastRadius: 10 }, 'the approval stays pending, with its blast radius')
  t.equal((await admin(short, 'POST', `/v1/approvals/${id}/approve`, samShort)).status, 200)
  const other = await refusal(c.query(sql, ['a']))
  t.equal(other.code, '57014', 'the same statement with another parameter value does not ride on the approval')
  t.not(other.hint, err.hint, 'it asks under an approval of its own')
  t.equal(await rows("grp = 'a'"), 10, 'and deleted nothing')
  const r = await c.query(sql, ['c'])
  t.equal(r.rowCount, 10, 'the retry after approval passes at once, on the same connection')
  await direct.query("INSERT INTO docs VALUES (100, 'c', 1, 'again')")
  const again = await refusal(c.query(sql, ['c']))
  t.equal(again.code, '57014', 'a second retry needs a new approval')
  t.not(again.hint, err.hint, 'under a new approval id')
  t.equal(await rows("grp = 'c'"), 1, 'the second retry deleted nothing')
  t.equal((await admin(short, 'GET', `/v1/approvals/${id}`, samShort)).json.status, 'used')
  await short.gw.parts.journal.flush()
  const j = new JournalReader(short.config.journal.path)
  t.teardown(() => j.close())
  const steps = j.sessions({ backend: 'pg' }).flatMap(s => j.events(s.id)).filter(e => e.kind === 'approval' && e.body.data?.approval === id).map(e => e.body.data.step)
  t.same(steps, ['created', 'timeout', 'approved', 'released'], 'every approval step journaled in the requesting session')

  // the simple protocol: literals are part of what was approved
  const literal = await refusal(c.query("DELETE FROM docs WHERE grp = 'b'"))
  t.equal(literal.code, '57014')
  const lid = (literal.hint as string).slice('approval id: '.length)
  t.equal((await admin(short, 'POST', `/v1/approvals/${lid}/approve`, samShort)).status, 200)
  const swapped = await refusal(c.query("DELETE FROM docs WHERE grp = 'd'"))
  t.equal(swapped.code, '57014', 'another literal: not the approved statement')
  t.not(swapped.hint, literal.hint)
  t.equal(await rows("grp = 'd'"), 10)
  t.equal((await c.query("DELETE FROM docs WHERE grp = 'b'")).rowCount, 10, 'the approved statement itself passes')
})

t.test('psycopg: held with a text and a binary parameter, shown with its blast radius, approved, completes in the same call; denied is 42501 with the id', async t => {
  await refill()
  const expected = await rows("grp = 'd' AND n <= 4")
  const run = runPythonJSON<{ rowcount?: number, sqlstate?: string, hint?: string, after: number }>('pg_approval.py', ['127.0.0.1', String(gw.port('pg')), 'eve', eve, 'd', '4'])
  const a = await pending()
  t.equal(a.blastRadius, expected, 'count(*) with the same Bind parameters, one of them binary')
  t.match(a.op.summary, { sql: /DELETE FROM docs WHERE grp = \$1 AND n <= \$2/ })
  t.equal((await admin(gw, 'POST', `/v1/approvals/${a.id as string}/approve`, mallory)).status, 403, 'not an approver')
  t.equal((await admin(gw, 'POST', `/v1/approvals/${a.id as string}/approve`, sam)).status, 200)
  t.same(await run, { rowcount: expected, after: 1 }, 'psycopg saw the delete complete, same rowcount as direct')
  t.equal(await rows("grp = 'd'"), 10 - expected)

  const denied = runPythonJSON<{ rowcount?: number, sqlstate?: string, hint?: string, after: number }>('pg_approval.py', ['127.0.0.1', String(gw.port('pg')), 'eve', eve, 'd', '9'])
  const b = await pending(gw, a.id)
  t.equal(b.blastRadius, await rows("grp = 'd' AND n <= 9"))
  t.equal((await admin(gw, 'POST', `/v1/approvals/${b.id as string}/deny`, sam)).status, 200)
  t.same(await denied, { sqlstate: '42501', hint: `approval id: ${b.id as string}`, after: 1 })
})
