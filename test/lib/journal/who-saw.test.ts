/**
 * who-saw finds a Postgres row whichever way the statement and the auditor spell the table (`items`
 * or `public.items`), never another schema's table; Qdrant names compare whole.
 */
import t from 'tap'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import type { JournalWriter } from '../../../lib/journal/writer.js'
import { JournalReader } from '../../../lib/journal/reader.js'
import { alice, tempDir, trusted, writer } from './harness.js'

function responding (w: JournalWriter, id: string, backend: string, protocol: 'postgres' | 'qdrant', collection: string, ids: number[]): void {
  const at = Date.now()
  w.start({ id, backend, protocol, client: '127.0.0.1:5000', tls: false, at })
  w.event({ session: id, at, kind: 'auth', identity: alice })
  w.event({ session: id, at, kind: 'request', call: 1, op: { backend, protocol, method: 'SELECT', action: 'read', collection, bulk: false, summary: {} } })
  w.event({ session: id, at, kind: 'response', call: 1, collection, ids, data: { result: { toJSON: () => [] } } })
  w.end(id, at + 1, 'client closed')
}

t.test('who-saw on Postgres tables and Qdrant collections', async t => {
  const path = join(tempDir(t), 'j.db')
  const w = writer(path)
  responding(w, 'pg-unqualified', 'pg', 'postgres', 'items', [1])
  responding(w, 'pg-qualified', 'pg', 'postgres', 'public.items', [1])
  responding(w, 'pg-other', 'pg', 'postgres', 'other.items', [1])
  responding(w, 'q-dotted', 'qdrant', 'qdrant', 'public.items', [1])
  responding(w, 'q-plain', 'qdrant', 'qdrant', 'items', [1])
  await w.close()
  const r = new JournalReader(path)
  t.teardown(() => r.close())
  const who = (backend: string, collection: string): string[] => r.whoSaw(backend, collection, '1').map(x => x.session.id).sort()
  t.same(who('pg', 'items'), ['pg-qualified', 'pg-unqualified'], 'asked unqualified: both spellings of public.items')
  t.same(who('pg', 'public.items'), ['pg-qualified', 'pg-unqualified'], 'asked qualified: both spellings')
  t.same(who('pg', 'other.items'), ['pg-other'], 'another schema only itself')
  t.same(r.whoSaw('pg', 'items', '2'), [], 'a row nobody received')
  t.same(who('qdrant', 'items'), ['q-plain'], 'qdrant: the whole name')
  t.same(who('qdrant', 'public.items'), ['q-dotted'], 'qdrant: a dotted name is one collection')
  t.same(who('nowhere', 'items'), [], 'an unknown backend')
})

t.test('who-saw finds a record in every span of the index, and none of another record', async t => {
  const path = join(tempDir(t), 'j.db')
  const w = writer(path)
  // 600 calls of 2 events each: the responses fall in several spans (SEEN_SPAN_BITS)
  w.start({ id: 's', backend: 'qdrant', protocol: 'qdrant', client: 'c', tls: false, at: Date.now() })
  for (let call = 1; call <= 600; call++) {
    w.event({ session: 's', at: Date.now(), kind: 'request', call, op: { backend: 'qdrant', protocol: 'qdrant', method: 'Search', action: 'search', collection: 'docs', bulk: false, summary: {} } })
    w.event({ session: 's', at: Date.now(), kind: 'response', call, collection: 'docs', ids: [call % 7, 1000 + call], data: { result: { toJSON: () => [] } } })
  }
  w.end('s', Date.now(), 'client closed')
  await w.close()
  const r = new JournalReader(path)
  t.teardown(() => r.close())
  const calls = (record: string): Array<number | null> => r.whoSaw('qdrant', 'docs', record).flatMap(x => x.events.map(e => e.call))
  t.same(calls('3'), Array.from({ length: 600 }, (_, i) => i + 1).filter(c => c % 7 === 3), 'every call that returned it, in order')
  t.same(calls('1599'), [599])
  t.same(calls('5000'), [])
  t.same(r.whoSaw('qdrant', 'other', '3'), [])
})

t.test('a journal from before the spans (schema version 2) is read as it is, and migrated by the next writer', async t => {
  const path = join(tempDir(t), 'j.db')
  const w = writer(path)
  responding(w, 'old', 'qdrant', 'qdrant', 'items', [1, 2])
  await w.close()
  // what a version 2 writer left: the who-saw index keyed by record, without spans
  const db = new Database(path)
  db.exec(`CREATE TABLE seen_v2 (scope INTEGER NOT NULL, record TEXT NOT NULL, event INTEGER NOT NULL, PRIMARY KEY (scope, record, event)) WITHOUT ROWID;
    INSERT INTO seen_v2 SELECT scope, record, event FROM seen; DROP TABLE seen; ALTER TABLE seen_v2 RENAME TO seen; PRAGMA user_version = 2;`)
  db.close()
  const who = (record: string): string[] => {
    const r = new JournalReader(path)
    try { return r.whoSaw('qdrant', 'items', record).map(x => x.session.id) } finally { r.close() }
  }
  t.same(who('2'), ['old'], 'read as version 2')
  const w2 = writer(path)
  responding(w2, 'new', 'qdrant', 'qdrant', 'items', [2, 3])
  await w2.close()
  t.same(who('2'), ['old', 'new'], 'migrated: the older rows are found beside the new ones')
  t.same(who('1'), ['old'])
  const r = new JournalReader(path)
  t.teardown(() => r.close())
  t.same(r.verify(trusted()).problems, [], 'the chains are untouched by the migration')
})

t.test("who-saw names each hit's subject from its own call's request, with calls interleaved", async t => {
  const path = join(tempDir(t), 'j.db')
  const w = writer(path)
  const op = { backend: 'qdrant', protocol: 'qdrant' as const, method: 'Search', action: 'search' as const, collection: 'docs', bulk: false, summary: {} }
  const at = Date.now()
  w.start({ id: 's', backend: 'qdrant', protocol: 'qdrant', client: 'c', tls: false, at })
  // one connection, two identities; call 2 is requested while call 1 is in flight, and answered first
  w.event({ session: 's', at, kind: 'request', call: 1, op, data: { subject: 'alice' } })
  w.event({ session: 's', at, kind: 'request', call: 2, op, data: { subject: 'bob' } })
  w.event({ session: 's', at, kind: 'response', call: 2, collection: 'docs', ids: [7], data: { result: { toJSON: () => [] } } })
  w.event({ session: 's', at, kind: 'response', call: 1, collection: 'docs', ids: [7], data: { result: { toJSON: () => [] } } })
  // many calls later, the same call numbers are not reused; a later call by alice again
  for (let call = 3; call <= 400; call++) w.event({ session: 's', at, kind: 'request', call, op, data: { subject: call === 400 ? 'carol' : 'alice' } })
  w.event({ session: 's', at, kind: 'response', call: 400, collection: 'docs', ids: [7], data: { result: { toJSON: () => [] } } })
  w.end('s', at + 1, 'client closed')
  await w.close()
  const r = new JournalReader(path)
  t.teardown(() => r.close())
  const hits = r.whoSaw('qdrant', 'docs', '7').flatMap(x => x.events.map(e => [e.call, e.subject]))
  t.same(hits, [[2, 'bob'], [1, 'alice'], [400, 'carol']], 'each hit with the subject of its call')
})
