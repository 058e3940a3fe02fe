/**
 * THREATS.md "idle connections time out", for the PostgreSQL listener: limits.idle_timeout applies to a
 * Postgres client connection that sends nothing, as it does to HTTP/2 ones. A client session idle past it
 * is ended with a FATAL 57P05 idle_session_timeout and journaled as such; a statement running longer than
 * the timeout is not idleness; a connection that never sends its startup packet is closed too.
 */
import t from 'tap'
import net from 'node:net'
import { once } from 'node:events'
import { setTimeout as sleep } from 'node:timers/promises'
import pg from 'pg'
import { startPglite } from '../peers/pglite.js'
import { startTestGateway } from '../helpers/gateway.js'
import { JournalReader } from '../../lib/journal/reader.js'

const lite = await startPglite()
t.teardown(() => lite.close())
const gw = await startTestGateway({
  backends: [{ name: 'pg', protocol: 'postgres', upstream: `${lite.host}:${lite.port}`, credentials: { user: 'postgres', password: 'any', database: 'postgres' } }],
  policy: { rules: [{ id: 'everyone', effect: 'allow' }] },
  limits: { idle_timeout: '300ms' }
})
t.teardown(() => gw.stop())

t.test('an idle Postgres client connection is ended with 57P05 and journaled so', async t => {
  t.setTimeout(30_000)
  const c = new pg.Client({ host: '127.0.0.1', port: gw.port('pg'), user: 'alice', password: await gw.token('alice'), database: 'postgres' })
  const errors: Array<Error & { code?: string }> = []
  c.on('error', e => errors.push(e))
  const ended = new Promise<void>(resolve => c.once('end', () => resolve()))
  await c.connect()
  const local = (c as unknown as { connection: { stream: net.Socket } }).connection.stream.localPort
  t.same((await c.query('SELECT 1 AS ok')).rows, [{ ok: 1 }])
  await ended
  t.pass('the gateway ended the idle session')
  t.equal(errors[0]?.code, '57P05', 'idle_session_timeout')
  // the journal is written in batches: look until the session's end is there
  const reader = new JournalReader(gw.config.journal.path)
  t.teardown(() => reader.close())
  let reason: string | null | undefined
  while (reason == null) {
    reason = reader.sessions({ backend: 'pg' }).find(s => s.client.endsWith(`:${local}`))?.end_reason
    if (reason == null) await sleep(50)
  }
  t.equal(reason, 'idle timeout', 'journaled as the end reason')
})

t.test('a statement running longer than the idle timeout is not cut', async t => {
  t.setTimeout(30_000)
  const c = new pg.Client({ host: '127.0.0.1', port: gw.port('pg'), user: 'alice', password: await gw.token('alice'), database: 'postgres' })
  c.on('error', () => {})
  await c.connect()
  t.teardown(() => c.end().catch(() => {}))
  t.same((await c.query('SELECT pg_sleep(1), 2 AS ok')).rows.map(r => r.ok), [2], 'the answer arrives')
})

t.test('a connection that never sends its startup packet is closed', async t => {
  t.setTimeout(30_000)
  const s = net.connect(gw.port('pg'), '127.0.0.1')
  s.on('error', () => {})
  const chunks: Buffer[] = []
  s.on('data', c => chunks.push(c))
  await once(s, 'close')
  const got = Buffer.concat(chunks)
  t.equal(got[0], 0x45, 'an ErrorResponse came first')
  t.ok(got.includes(Buffer.from('C57P05\0')), 'with 57P05')
})
