/**
 * who-saw finds a Postgres row whichever way the statement and the auditor spell the table (`items`
 * or `public.items`), never another schema's table; Qdrant names compare whole.
 */
import t from 'tap'
import { join } from 'node:path'
import type { JournalWriter } from '../../../lib/journal/writer.js'
import { JournalReader } from '../../../lib/journal/reader.js'
import { alice, tempDir, writer } from './harness.js'

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
