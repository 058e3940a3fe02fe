/**
 * THREATS.md "a client that stops reading": a Postgres client that asks for a large result and then
 * stops reading must not make the gateway buffer the result. The gateway stops reading from PostgreSQL
 * when the client's socket is full, so PostgreSQL itself waits on the write (pg_stat_activity shows
 * wait_event ClientWrite) and the gateway's memory stays bounded; once the client reads again, every
 * row arrives. Real PostgreSQL 15 and node-postgres, with pass-through and with a masking profile (the
 * masking path rebuilds rows, so it is checked on its own).
 */
import t from 'tap'
import type net from 'node:net'
import { setTimeout as sleep } from 'node:timers/promises'
import v8 from 'node:v8'
import vm from 'node:vm'
import pg from 'pg'
import { startPostgres } from '../peers/postgres.js'
import { startTestGateway } from '../helpers/gateway.js'

const peer = await startPostgres()
t.teardown(() => peer.close())
const direct = new pg.Client({ host: peer.host, port: peer.port, user: peer.user, password: peer.password, database: peer.database })
await direct.connect()
t.teardown(() => direct.end())

/** rows of ~2 KiB each: 78 MiB in all, far above what any buffer on the way may hold */
const ROWS = 40_000
const QUERY = `SELECT g AS id, 'user' || g || '@example.com' AS email, repeat('x', 2000) AS filler FROM generate_series(1, ${ROWS}) g`
/** what the gateway may hold for one connection: socket buffers and a few reads, not the result */
const BOUND = 24 * 1024 * 1024

const gw = await startTestGateway({
  backends: [{ name: 'pg', protocol: 'postgres', upstream: `${peer.host}:${peer.port}`, credentials: { user: peer.user, password: peer.password, database: peer.database } }],
  policy: {
    rules: [
      { id: 'plain', subjects: { users: ['plain'] }, backends: ['pg'], actions: ['read'], effect: 'allow' },
      { id: 'masked', subjects: { users: ['masked'] }, backends: ['pg'], actions: ['read'], effect: 'allow', mask: 'pii' }
    ]
  },
  masking: { profiles: { pii: { fields: ['email'], action: 'redact' } } }
})
t.teardown(() => gw.stop())

v8.setFlagsFromString('--expose-gc')
const gc = vm.runInNewContext('gc') as () => void
/** what this process holds after a full collection: the gateway runs in it, the paused client holds nothing */
const heldBytes = (): number => { gc(); const m = process.memoryUsage(); return m.arrayBuffers + m.heapUsed }

/** the backend running `QUERY` for the gateway, once PostgreSQL is blocked writing to it */
async function blockedOnClientWrite (): Promise<void> {
  for (;;) {
    const r = await direct.query("SELECT wait_event FROM pg_stat_activity WHERE query LIKE '%generate_series(1, ' || $1 || ')%' AND pid <> pg_backend_pid()", [String(ROWS)])
    if (r.rows.some(row => row.wait_event === 'ClientWrite')) return
    await sleep(50)
  }
}

for (const user of ['plain', 'masked']) {
  t.test(`${user}: a client that stops reading holds PostgreSQL back, not the gateway's memory`, async t => {
    t.setTimeout(120_000)
    const c = new pg.Client({ host: '127.0.0.1', port: gw.port('pg'), user, password: await gw.token(user), database: peer.database })
    await c.connect()
    t.teardown(() => c.end().catch(() => {}))
    const before = heldBytes()
    const stream = (c as unknown as { connection: { stream: net.Socket } }).connection.stream
    stream.pause()
    const result = c.query(QUERY)
    await blockedOnClientWrite()
    t.pass('PostgreSQL waits on ClientWrite: the gateway stopped reading from it')
    // the gateway has stopped reading; what it holds now is all it will hold
    await sleep(300)
    const held = heldBytes() - before
    t.ok(held < BOUND, `the gateway holds ${Math.round(held / 1048576)} MiB for a ${Math.round(ROWS * 2040 / 1048576)} MiB result (bound ${BOUND / 1048576} MiB)`)
    stream.resume()
    const { rows } = await result
    t.equal(rows.length, ROWS, 'every row arrives once the client reads again')
    t.equal(rows[ROWS - 1].id, ROWS, 'in order')
    if (user === 'masked') t.notOk(rows.some(r => String(r.email).includes('@')), 'masked all the way')
    else t.equal(rows[0].email, 'user1@example.com')
  })
}
