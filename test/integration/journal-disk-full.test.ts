/**
 * THREATS.md "never a silently full disk": the journal's file system fills up (a real ENOSPC, on a
 * small tmpfs mounted for the test) while clients work through the gateway. What must hold:
 *  - nothing is let through unjournaled: once the journal cannot write, requests are refused with the
 *    protocol's own error (Postgres 58000, naming the journal), the gateway does not crash or hang;
 *  - nothing is lost: events kept while the disk was full are written once there is room again, the
 *    gateway serves again without a restart, and `journal verify` finds the chain whole.
 * Real parts: a tmpfs (mount needs root, as the PostgreSQL tests do), PGlite, node-postgres.
 */
import t from 'tap'
import { execFileSync } from 'node:child_process'
import { mkdtempSync, openSync, writeSync, closeSync, rmSync, statfsSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import pg from 'pg'
import { startPglite } from '../peers/pglite.js'
import { startTestGateway } from '../helpers/gateway.js'
import { runCommand } from '../helpers/run-command.js'

const mnt = mkdtempSync(join(tmpdir(), 'vecgate-full-'))
try {
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=4m', 'tmpfs', mnt], { stdio: 'pipe' })
} catch (e) {
  throw new Error(`this test mounts a 4 MiB tmpfs to fill it and needs root (as \`npm test\` runs on CI): ${(e as Error).message}`)
}
t.teardown(() => { try { execFileSync('umount', ['-l', mnt]) } catch {} rmSync(mnt, { recursive: true, force: true }) })

const lite = await startPglite()
t.teardown(() => lite.close())
const setup = new pg.Client({ host: lite.host, port: lite.port, user: 'postgres', password: 'any', database: 'postgres' })
await setup.connect()
await setup.query('CREATE TABLE notes (id serial PRIMARY KEY, body text)')
await setup.end()

const gw = await startTestGateway({
  backends: [{ name: 'pg', protocol: 'postgres', upstream: `${lite.host}:${lite.port}`, credentials: { user: 'postgres', password: 'any', database: 'postgres' } }],
  policy: { rules: [{ id: 'everyone', effect: 'allow' }] },
  journal: { path: join(mnt, 'journal.db') }
})
t.teardown(() => gw.stop())

const FILLER = join(mnt, 'filler')
/** takes every free block of the tmpfs */
function fillDisk (): void {
  const fd = openSync(FILLER, 'w')
  const chunk = Buffer.alloc(64 * 1024, 1)
  try {
    for (;;) writeSync(fd, chunk)
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOSPC') throw e
    // the last partial block too
    for (let n = 4096; n >= 1; n >>= 1) { try { for (;;) writeSync(fd, chunk, 0, n) } catch {} }
  } finally {
    closeSync(fd)
  }
}

t.test('a full disk under the journal: refused, never let through; nothing lost once there is room', async t => {
  t.setTimeout(120_000)
  const c = new pg.Client({ host: '127.0.0.1', port: gw.port('pg'), user: 'alice', password: await gw.token('alice'), database: 'postgres' })
  c.on('error', () => {})
  await c.connect()
  t.teardown(() => c.end().catch(() => {}))
  await c.query("INSERT INTO notes (body) VALUES ('before')")

  fillDisk()
  t.equal(statfsSync(mnt).bavail, 0, 'the journal\'s file system is full')
  // writes wait for their events to be committed: the first one that cannot be is refused, and so is
  // everything after it while the journal cannot write
  let refused: (Error & { code?: string }) | undefined
  let passedWhileFull = 0
  for (let i = 0; i < 2000 && refused === undefined; i++) {
    try {
      await c.query('INSERT INTO notes (body) VALUES ($1)', [`during ${i} ${'x'.repeat(2000)}`])
      passedWhileFull++
    } catch (e) {
      refused = e as Error & { code?: string }
    }
  }
  t.ok(refused, `a write was refused once the journal could not commit it (${passedWhileFull} committed into the last free pages first)`)
  t.equal(refused?.code, '58000', 'as a Postgres system error')
  t.match(refused?.message, /journal/, 'that names the journal')
  const later = await c.query('SELECT count(*) FROM notes').catch((e: Error & { code?: string }) => e)
  t.ok(later instanceof Error && later.code === '58000', 'a read is refused too while the journal fails (fail closed)')

  const { rows: [upstream] } = await (async () => {
    const d = new pg.Client({ host: lite.host, port: lite.port, user: 'postgres', password: 'any', database: 'postgres' })
    await d.connect()
    try { return await d.query('SELECT count(*)::int AS n FROM notes') } finally { await d.end() }
  })()
  t.ok(upstream.n >= 1 + passedWhileFull && upstream.n <= 1 + passedWhileFull + 1, `upstream has ${upstream.n} rows: the refused write may have run (its answer was held back), nothing after it did`)

  rmSync(FILLER)
  // the writer retries on its own: the gateway serves again without a restart
  let back: unknown
  for (let i = 0; i < 200; i++) {
    back = await c.query("INSERT INTO notes (body) VALUES ('after')").catch((e: Error) => e)
    if (!(back instanceof Error)) break
    await sleep(50)
  }
  t.notOk(back instanceof Error, `writes pass again once there is room (${String((back as Error)?.message ?? 'ok')})`)
  await c.end()
  await gw.gw.parts.journal.flush()
  const verify = await runCommand('journal verify', {}, [], gw.config, { mergeErr: true })
  t.equal(verify.code, 0, `journal verify: the chain is whole (${verify.out.trim()})`)
  const sessions = await runCommand('sessions list', {}, [], gw.config, { mergeErr: true })
  t.notMatch(sessions.out, /LOSS/, 'no session lost events')
})
