/**
 * THREATS.md "Token in logs", the Postgres side: a session through a whole gateway with a good grant as
 * the password, a wrong one, a forged one, a token in the user name, and a refused statement, the
 * gateway logging at trace into a buffer. Afterwards no grant (nor its signature alone), no forged
 * token and not the backend's own password is in the log, the journal file, /metrics or any error the
 * client received.
 */
import t from 'tap'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import pg from 'pg'
import { startPglite } from '../peers/pglite.js'
import { parseConfig } from '../../lib/config/load.js'
import { Gateway } from '../../lib/gateway.js'
import { createLogger } from '../../lib/log.js'
import { assertNoSecrets, journalBytes, logSink } from '../helpers/no-secrets.js'

// PGlite takes any password, so the backend's can be one that is easy to find
const BACKEND_PASSWORD = 'pg-backend-password-5c0f1e'
const lite = await startPglite()
t.teardown(() => lite.close())
const direct = new pg.Client({ host: lite.host, port: lite.port, user: 'postgres', password: BACKEND_PASSWORD, database: 'postgres' })
await direct.connect()
t.teardown(() => direct.end())
await direct.query(`CREATE TABLE IF NOT EXISTS notes (id bigint PRIMARY KEY, body text);
  DELETE FROM notes; INSERT INTO notes VALUES (1, 'n')`)

const dir = mkdtempSync(join(tmpdir(), 'vecgate-secrets-pg-'))
t.teardown(() => rmSync(dir, { recursive: true, force: true }))
writeFileSync(join(dir, 'pw.txt'), BACKEND_PASSWORD + '\n')
const sink = logSink()
const config = parseConfig({
  admin: { listen: '127.0.0.1:0' },
  identity: { signing_key: join(dir, 'signing.jwk') },
  journal: { path: join(dir, 'journal.db') },
  backends: [{ name: 'pg', protocol: 'postgres', listen: '127.0.0.1:0', upstream: `${lite.host}:${lite.port}`, credentials: { user: 'postgres', password: 'file:pw.txt', database: 'postgres' } }],
  policy: { rules: [{ id: 'readers', actions: ['read', 'search'], effect: 'allow' }] }
}, join(dir, 'vecgate.yaml'), {})
const gw = await Gateway.start(config, { log: createLogger({ level: 'trace', destination: sink.stream }) })
let stopped = false
const stop = async (): Promise<void> => { if (!stopped) { stopped = true; await gw.stop() } }
t.teardown(stop)
const port = Number(gw.address('pg').split(':').pop())

const token = (await gw.parts.grants.issue({ subject: 'alice', ttl: 300 })).token
const other = (await gw.parts.grants.issue({ subject: 'bob', ttl: 300 })).token
const forged = token.slice(0, -4) + (token.endsWith('AAAA') ? 'BBBB' : 'AAAA')
const secrets: Array<[string, string]> = [
  ['the grant', token], ['the other grant', other], ['the forged grant', forged],
  ['the grant signature', token.split('.')[2]], ['the forged signature', forged.split('.')[2]],
  ['the backend password', BACKEND_PASSWORD]
]
const seenByClient: string[] = []

async function attempt (user: string, password: string, sql?: string): Promise<void> {
  const c = new pg.Client({ host: '127.0.0.1', port, user, password, database: 'postgres' })
  c.on('error', () => {})
  try {
    await c.connect()
    if (sql !== undefined) await c.query(sql).catch((e: Error & { detail?: string, hint?: string }) => { seenByClient.push(e.message, e.detail ?? '', e.hint ?? '') })
  } catch (e) {
    const err = e as Error & { detail?: string, hint?: string }
    seenByClient.push(err.message, err.detail ?? '', err.hint ?? '')
  } finally {
    await c.end().catch(() => {})
  }
}

t.test('a session: a read, a refused write, wrong, forged and doubled credentials', async t => {
  const c = new pg.Client({ host: '127.0.0.1', port, user: 'alice', password: token, database: 'postgres' })
  await c.connect()
  t.same((await c.query('SELECT body FROM notes WHERE id = 1')).rows, [{ body: 'n' }], 'a read passes')
  await c.end()
  await attempt('alice', token, "UPDATE notes SET body = 'x' WHERE id = 1")
  await attempt('alice', forged)
  await attempt('alice', other)
  await attempt(token, token)
  await attempt(other, token)
  await attempt('alice', 'not-a-token')
  t.ok(seenByClient.length >= 5, 'the refusals reached the client')
})

t.test('no secret in the log, the journal, /metrics or any error the client saw', async t => {
  const metrics = await (await fetch(`${gw.admin!.url}/metrics`)).text()
  await stop()
  const log = sink.bytes()
  t.ok(log.length > 0, 'the gateway logged at trace')
  const journal = journalBytes(dir)
  t.ok(journal.includes(Buffer.from('alice')), 'the journal recorded the sessions')
  const places: Array<[string, Buffer]> = [['log', log], ['journal', journal], ['metrics', Buffer.from(metrics)], ['client errors', Buffer.from(seenByClient.join('\n'))]]
  assertNoSecrets(t, places, secrets)
})
