/**
 * Tamper evidence: a byte edited in the database file, a removed, reordered or added event, a
 * truncated tail, an edited session header, a removed session, a foreign key — each named by verify.
 */
import t from 'tap'
import { join } from 'node:path'
import { readFileSync, writeFileSync } from 'node:fs'
import { generateKeyPairSync } from 'node:crypto'
import Database from 'better-sqlite3'
import { JournalReader } from '../../../lib/journal/reader.js'
import { session, tempDir, trusted, writer } from './harness.js'

async function journal (t: any): Promise<string> {
  const path = join(tempDir(t), 'j.db')
  const w = writer(path)
  session(w, 's1')
  session(w, 's2')
  session(w, 's3')
  await w.close() // checkpointed: everything is in the main file
  return path
}

function verify (path: string): ReturnType<JournalReader['verify']> {
  const r = new JournalReader(path)
  try { return r.verify(trusted()) } finally { r.close() }
}

function sql (path: string, q: string): void {
  const db = new Database(path)
  db.exec(q)
  db.close()
}

t.test('an untouched journal verifies', async t => {
  const report = verify(await journal(t))
  t.same(report.problems, [])
  t.equal(report.sessions, 3)
  t.equal(report.sealed, 3)
})

t.test('one byte of one event edited in the database file is found and named', async t => {
  const path = await journal(t)
  const bytes = readFileSync(path)
  const needle = Buffer.from('analysts may search docs')
  // the verdict event (#3) of one session: change one letter in place
  const at = bytes.indexOf(needle)
  t.ok(at > 0, 'the event text is in the file')
  let copies = 0
  for (let i = at; i >= 0; i = bytes.indexOf(needle, i + 1)) copies++
  t.equal(copies, 3, 'one copy per session: no stale copies linger in free pages (secure_delete)')
  bytes[at] = 'A'.charCodeAt(0)
  writeFileSync(path, bytes)
  const { problems } = verify(path)
  t.equal(problems.length, 1)
  t.match(problems[0], { event: 3, problem: /event #3 \(verdict.*was edited/ })
  t.ok(['s1', 's2', 's3'].includes(problems[0].session))
})

t.test('an event edited with its hash recomputed breaks the next link', async t => {
  const path = await journal(t)
  const db = new Database(path)
  const row = db.prepare("SELECT * FROM events WHERE session = 's2' AND n = 2").get() as any
  const body = row.body.replace('"limit":3', '"limit":300')
  const { eventHash } = await import('../../../lib/journal/chain.js')
  db.prepare('UPDATE events SET body = ?, hash = ? WHERE id = ?').run(body, eventHash(row.prev, 's2', 2, row.at, row.kind, row.call, body), row.id)
  db.close()
  const { problems } = verify(path)
  t.match(problems, [{ session: 's2', event: 3, problem: /does not follow event #2/ }])
})

t.test('a removed event is named', async t => {
  const path = await journal(t)
  sql(path, "DELETE FROM events WHERE session = 's1' AND n = 3")
  t.match(verify(path).problems, [{ session: 's1', event: 3, problem: /event #3 removed/ }])
})

t.test('reordered events are found', async t => {
  const path = await journal(t)
  sql(path, "UPDATE events SET n = -1 WHERE session = 's3' AND n = 2; UPDATE events SET n = 2 WHERE session = 's3' AND n = 3; UPDATE events SET n = 3 WHERE session = 's3' AND n = -1")
  t.match(verify(path).problems, [{ session: 's3', event: 2 }])
})

t.test('a removed last event breaks the seal', async t => {
  const path = await journal(t)
  sql(path, "DELETE FROM events WHERE session = 's1' AND n = 4")
  t.match(verify(path).problems, [{ session: 's1', problem: /removed/ }])
})

t.test('an event added after the seal is found', async t => {
  const path = await journal(t)
  const db = new Database(path)
  const last = db.prepare("SELECT * FROM events WHERE session = 's1' AND n = 4").get() as any
  const { eventHash } = await import('../../../lib/journal/chain.js')
  db.prepare('INSERT INTO events (session, n, at, kind, call, body, prev, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?)')
    .run('s1', 5, last.at, 'response', 1, '{}', last.hash, eventHash(last.hash, 's1', 5, last.at, 'response', 1, '{}'))
  db.close()
  t.match(verify(path).problems, [{ session: 's1', problem: /beyond the seal/ }])
})

t.test('an edited session header (client address) breaks the chain from its first event', async t => {
  const path = await journal(t)
  sql(path, "UPDATE sessions SET client = '10.0.0.9:1' WHERE id = 's2'")
  t.match(verify(path).problems, [{ session: 's2', event: 1 }])
})

t.test('an edited end reason breaks the seal', async t => {
  const path = await journal(t)
  sql(path, "UPDATE sessions SET end_reason = 'nothing happened' WHERE id = 's2'")
  t.match(verify(path).problems, [{ session: 's2', problem: /seal does not match/ }])
})

t.test('a whole session removed leaves a gap verify names', async t => {
  const path = await journal(t)
  sql(path, "DELETE FROM events WHERE session = 's2'; DELETE FROM sessions WHERE id = 's2'")
  t.match(verify(path).problems, [{ problem: /session number 2 was removed/ }])
})

t.test('a session re-sealed with another key is not trusted', async t => {
  const path = await journal(t)
  const r = new JournalReader(path)
  t.teardown(() => r.close())
  const other = generateKeyPairSync('ed25519')
  const report = r.verify(new Map([['k1', other.publicKey]]))
  t.equal(report.problems.length, 3)
  t.match(report.problems[0], { problem: /seal does not match/ })
  t.match(r.verify(new Map()).problems[0], { problem: /not a trusted key/ })
})
