/**
 * Event bodies travel to the journal's worker as UTF-8 bytes in a per-batch arena (batch.ts), and a
 * Qdrant result's text is written straight into it from the wire. What is stored must be exactly what
 * storing the body's string stored before: the same TEXT, the same hash (journals written before
 * verify alike), whatever the payload's bytes, however big the batch, and after a rollback.
 */
import t from 'tap'
import Database from 'better-sqlite3'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { Arena, ARENA_MIN, pushEnd, pushEvent, pushStart, type Batch } from '../../../lib/journal/batch.js'
import { eventHash, eventHashBytes } from '../../../lib/journal/chain.js'
import { JournalReader } from '../../../lib/journal/reader.js'
import { EventSerializer } from '../../../lib/journal/serialize.js'
import { JournalStore } from '../../../lib/journal/store.js'
import type { JournalEvent } from '../../../lib/journal/types.js'
import { parseConfig } from '../../../lib/config/load.js'
import { qdrantMethods } from '../../../decoders/qdrant/methods.js'
import type { ResultView } from '../../../decoders/types.js'
import { runCommand } from '../../helpers/run-command.js'
import { key, searchOp, tempDir, trusted, writer } from './harness.js'

const search = qdrantMethods().get('/qdrant.Points/Search')!
const T = search.responseType!

/** a Search response whose payload string `text` holds `bytes` where the marker was */
function searchView (text: string, bytes?: number[], points = 1): ResultView {
  const msg = Buffer.from(T.encode(T.fromObject({
    result: Array.from({ length: points }, (_, i) => ({ id: { num: i + 1 }, score: 0.5, payload: { title: { string_value: text }, n: { integer_value: i } } })),
    time: 0.001
  })).finish())
  if (bytes !== undefined) {
    let at = msg.indexOf('MARK')
    while (at >= 0) { Buffer.from(bytes).copy(msg, at); at = msg.indexOf('MARK', at + 1) }
  }
  return search.resultView!(msg)
}

/** the body as the journal stored it before bodies were bytes: the string of the event with its result's toJSON */
function bodyBefore (e: JournalEvent, view: ResultView): string {
  return new EventSerializer(false).body({ ...e, data: { ...e.data, result: view.toJSON() } })
}

interface Row { n: number, at: number, kind: string, call: number | null, body: string, type: string, prev: string, hash: string }
function rows (path: string, session: string): Row[] {
  const db = new Database(path, { readonly: true })
  try {
    return db.prepare('SELECT n, at, kind, call, body, typeof(body) AS type, prev, hash FROM events WHERE session = ? ORDER BY n').all(session) as Row[]
  } finally { db.close() }
}

t.test('the arena grows by doubling past its first size and keeps what it holds', async t => {
  const a = new Arena(16)
  a.string('{"a":"é😀"}')
  t.equal(a.pos, Buffer.byteLength('{"a":"é😀"}'))
  const big = Buffer.alloc(100, 0x41)
  a.bytes(big, 10, 90)
  t.equal(a.buf.length, 128, 'doubled until it fits')
  a.string('x'.repeat(1000))
  t.equal(a.buf.length, 2048)
  t.equal(a.buf.toString('utf8', 0, a.pos), '{"a":"é😀"}' + 'A'.repeat(80) + 'x'.repeat(1000))
  const b = new Arena(8)
  b.string('ü'.repeat(3)) // 6 bytes, fits without the exact count
  b.string('ü'.repeat(3))
  t.equal(b.buf.toString('utf8', 0, b.pos), 'ü'.repeat(6))
  // a view writing its text into an arena that must grow under it
  const c = new Arena(4)
  c.string('{"r":')
  const view = searchView('MARK ünï "q" \\ \n')
  t.ok(view.journalText!(false, c))
  t.equal(c.buf.toString('utf8', 5, c.pos), JSON.stringify(view.toJSON()))
})

t.test('a Qdrant payload string that is not UTF-8: stored as the same text, with the same hash, as its string was', async t => {
  const path = join(tempDir(t), 'j.db')
  const w = writer(path)
  const at = Date.now()
  const odd = [[0xff], [0xe2, 0x82], [0xc3], [0xed, 0xa0, 0x80], [0xf0, 0x9f, 0x98], [0xe2, 0x82, 0xac]] // the last one is UTF-8 (€)
  w.start({ id: 's', backend: 'qdrant', protocol: 'qdrant', client: 'c', tls: false, at })
  const expected: string[] = []
  for (let i = 0; i < odd.length; i++) {
    const call = i + 1
    const view = searchView('x MARK y ü', odd[i], 3)
    const result: JournalEvent = { session: 's', at, kind: 'response', call, collection: 'docs', ids: [1, 2, 3], data: { result: view } }
    const before = bodyBefore(result, view)
    t.ok(before.includes('\ufffd') === (i < odd.length - 1), `U+FFFD where the bytes are not UTF-8 (${Buffer.from(odd[i]).toString('hex')})`)
    w.event({ session: 's', at, kind: 'request', call, op: searchOp })
    expected.push(JSON.stringify({ op: searchOp }))
    w.event(result)
    // the result stored alone, then its end: no merge
    w.event({ session: 's', at, kind: 'error', call, data: { code: 'X' } })
    expected.push(before, JSON.stringify({ data: { code: 'X' } }))
  }
  w.end('s', at + 1, 'client closed')
  await w.close()
  const stored = rows(path, 's')
  t.same(stored.map(r => r.body), expected, 'the bodies are the strings stored before')
  t.ok(stored.every(r => r.type === 'text'), 'stored as TEXT')
  let prev = stored[0].prev
  for (const r of stored) {
    t.equal(r.prev, prev)
    t.equal(r.hash, eventHash(prev, 's', r.n, r.at, r.kind, r.call, r.body), `event ${r.n}: the hash of the string, as before`)
    prev = r.hash
  }
  const db = new Database(path, { readonly: true })
  t.teardown(() => db.close())
  const s = db.prepare('SELECT bytes, (SELECT sum(octet_length(body)) FROM events WHERE session = ?) AS octets FROM sessions WHERE id = ?').get('s', 's') as { bytes: number, octets: number }
  t.equal(s.bytes, expected.reduce((n, b) => n + Buffer.byteLength(b), 0), 'sessions.bytes: the bodies\' UTF-8 bytes')
  t.equal(s.bytes, s.octets, 'as the store recounts them after a rollback')
  const r = new JournalReader(path)
  t.teardown(() => r.close())
  t.same(r.events('s').map(e => e.body), expected.map(b => JSON.parse(b)), 'the reader parses them')
  t.same(r.verify(trusted()).problems, [])
})

t.test('eventHashBytes is eventHash of the text the bytes encode', async t => {
  for (const body of ['{}', '{"a":"ü😀\ufffd"}', 'x'.repeat(70_000), 'é'.repeat(600_000)]) {
    t.equal(eventHashBytes('p'.repeat(64), 'sess-ü', 3, 17, 'response', null, Buffer.from(body)), eventHash('p'.repeat(64), 'sess-ü', 3, 17, 'response', null, body), `${body.length} characters`)
  }
})

t.test('`vecgate journal verify` verifies a journal written from byte bodies; replay and who-saw read it', async t => {
  const dir = tempDir(t)
  const path = join(dir, 'j.db')
  writeFileSync(join(dir, 'signing.jwk'), JSON.stringify(key.privateKey.export({ format: 'jwk' })))
  const config = parseConfig({
    identity: { signing_key: join(dir, 'signing.jwk') },
    journal: { path },
    backends: [{ name: 'qdrant', protocol: 'qdrant', listen: '127.0.0.1:0', upstream: '127.0.0.1:1', credentials: { api_key: 'k' } }]
  }, join(dir, 'vecgate.yaml'))
  const w = writer(path)
  const at = Date.now()
  w.start({ id: 'sess-bytes', backend: 'qdrant', protocol: 'qdrant', client: 'c', tls: false, at })
  for (let call = 1; call <= 40; call++) {
    w.event({ session: 'sess-bytes', at, kind: 'request', call, op: searchOp })
    w.event({ session: 'sess-bytes', at, kind: 'response', call, collection: 'docs', ids: [call], data: { result: searchView(`ünï MARK ${call}`, call % 2 === 0 ? [0xff] : [0x41]) } })
    w.event({ session: 'sess-bytes', at, kind: 'response', call, data: { ok: true, status: '0', records: 1, vectors: 0, final: true, ms: 1, bytes: 50 } })
    if (call % 10 === 0) await w.flush()
  }
  w.end('sess-bytes', at + 1, 'client closed')
  // an approval after its session ended: kept in the gateway session, `for` spliced into its bytes
  w.event({ session: 'sess-bytes', at: at + 2, kind: 'approval', data: { approval: 'apr_1', state: 'approved' } })
  w.event({ session: 'sess-bytes', at: at + 2, kind: 'approval' })
  await w.close()
  const verify = await runCommand('journal verify', {}, [], config, { mergeErr: true })
  t.equal(verify.code, 0, verify.out)
  t.match(verify.out, /journal verified/)
  const replay = await runCommand('replay', { json: true, local: true }, ['sess-bytes'], config)
  t.equal(replay.code, 0)
  const events = replay.out.trim().split('\n').slice(1).map(l => JSON.parse(l) as { kind: string, body: any })
  t.equal(events.length, 80, 'request and response (result and end as one event) per call')
  t.match(events[1].body, { ids: [1], data: { result: { points: [{ id: 1, payload: { title: 'ünï AARK 1' } }] }, final: true } })
  t.match(events[3].body, { data: { result: { points: [{ id: 1, payload: { title: 'ünï \ufffdARK 2' } }] }, final: true } })
  const r = new JournalReader(path)
  t.teardown(() => r.close())
  t.same(r.eventsFor('sess-bytes').map(e => e.body), [{ for: 'sess-bytes', data: { approval: 'apr_1', state: 'approved' } }, { for: 'sess-bytes' }])
  t.equal(r.whoSaw('qdrant', 'docs', '7')[0].events[0].n, 14)
})

t.test('a batch bigger than the arena, and a result held across a hand-over, keep their bodies', async t => {
  const path = join(tempDir(t), 'j.db')
  const w = writer(path, { commitDelay: 600 })
  const at = Date.now()
  w.start({ id: 's', backend: 'qdrant', protocol: 'qdrant', client: 'c', tls: false, at })
  const big = 'ü'.repeat(ARENA_MIN) // more UTF-8 bytes than the arena starts with
  const view = searchView(`MARK ${big}`, [0xff])
  w.event({ session: 's', at, kind: 'request', call: 1, op: searchOp })
  w.event({ session: 's', at, kind: 'response', call: 1, ids: [1], data: { result: view } })
  for (let i = 0; i < 200; i++) w.event({ session: 's', at, kind: 'verdict', verdict: { effect: 'allow', reason: `r${i} ${'é'.repeat(i * 10)}` } })
  // its end after all of those: joined in the room left after the result
  w.event({ session: 's', at: at + 5, kind: 'response', call: 1, data: { ok: true, final: true, ms: 2 } })
  // an end too big for that room: the two bodies are joined at the arena's end
  w.event({ session: 's', at, kind: 'response', call: 3, ids: [3], data: { result: searchView('three MARK', [0xf0, 0x9f]) } })
  w.event({ session: 's', at: at + 5, kind: 'response', call: 3, data: { ok: true, final: true, note: 'ë'.repeat(300) } })
  // given late in the delay: the hand-over keeps it back, and its body moves to the next arena
  await new Promise(resolve => setTimeout(resolve, 400))
  w.event({ session: 's', at: Date.now(), kind: 'response', call: 2, ids: [2], data: { result: searchView('held MARK', [0xe2, 0x82]) } })
  await new Promise(resolve => setTimeout(resolve, 400))
  w.event({ session: 's', at: at + 5, kind: 'response', call: 2, data: { ok: true, final: true, ms: 1 } })
  w.end('s', at + 6, 'client closed')
  await w.close()
  const r = new JournalReader(path)
  t.teardown(() => r.close())
  const events = r.events('s')
  t.equal(events.length, 204)
  for (let i = 0; i < 200; i++) if (events[i + 1].body.verdict.reason !== `r${i} ${'é'.repeat(i * 10)}`) t.fail(`verdict ${i}`)
  t.equal(events[201].body.data.result.points[0].payload.title, `\ufffdARK ${big}`)
  t.same(events[201].body.data, { result: view.toJSON(), ok: true, final: true, ms: 2 }, 'the big result joined by its end, in its place')
  t.same(events[202].body, { ids: [3], data: { result: { points: [{ id: 1, score: 0.5, payload: { title: 'three \ufffdRK', n: 0 } }] }, ok: true, final: true, note: 'ë'.repeat(300) } }, 'joined by an end too big for the room after it')
  t.same(events[203].body.data, { result: { points: [{ id: 1, score: 0.5, payload: { title: 'held \ufffdRK', n: 0 } }] }, ok: true, final: true, ms: 1 }, 'the held result, moved to the next arena, joined by its end')
  t.same(r.verify(trusted()).problems, [])
})

t.test('a batch rolled back is written again from the same bytes', async t => {
  const path = join(tempDir(t), 'j.db')
  const store = new JournalStore({ path, signingKey: key.privateKey, keyId: 'k1', log: { info () {}, warn () {}, error () {} } })
  const ser = new EventSerializer(false)
  const arena = new Arena(64)
  const b: Batch = { items: [], bodies: Buffer.alloc(0) }
  pushStart(b.items, { id: 's', backend: 'qdrant', protocol: 'qdrant', client: 'c', tls: false, at: 1 })
  const bodies: string[] = []
  for (let call = 1; call <= 5; call++) {
    const e: JournalEvent = { session: 's', at: 2, kind: 'response', call, ids: [call], collection: 'docs', data: { result: searchView(`ü MARK ${call}`, [0xc3]) } }
    const start = arena.pos
    ser.write(e, arena)
    pushEvent(b.items, { session: 's', at: 2, kind: 'response', call, collection: 'docs', ids: [String(call)], subject: null, groups: null, tokenId: null }, start, arena.pos)
    bodies.push(arena.buf.toString('utf8', start, arena.pos))
  }
  b.bodies = arena.buf.subarray(0, arena.pos)
  const db = new Database(path)
  t.teardown(() => db.close())
  // the fourth event fails: three were written in the transaction, then it rolled back
  db.exec("CREATE TRIGGER broken BEFORE INSERT ON events WHEN NEW.n = 4 BEGIN SELECT RAISE(ABORT, 'disk I/O error'); END")
  t.throws(() => store.write([b], 3), /disk I\/O error/)
  t.equal((db.prepare('SELECT count(*) AS c FROM events').get() as { c: number }).c, 0, 'rolled back')
  db.exec('DROP TRIGGER broken')
  store.write([b], 3)
  const end: Batch = { items: [], bodies: Buffer.alloc(0) }
  pushEnd(end.items, 's', 4, 'client closed')
  store.write([end], 4)
  store.close()
  t.same(rows(path, 's').map(r => r.body), bodies, 'every body as written the first time')
  const r = new JournalReader(path)
  t.teardown(() => r.close())
  t.equal(r.session('s')!.bytes, bodies.reduce((n, x) => n + Buffer.byteLength(x), 0))
  t.same(r.verify(trusted()).problems, [])
})

t.test("a batch the worker could not write is written again from its transferred arena", async t => {
  const path = join(tempDir(t), 'j.db')
  const w = writer(path)
  const db = new Database(path)
  t.teardown(() => db.close())
  db.exec("CREATE TRIGGER broken BEFORE INSERT ON events WHEN NEW.n = 3 BEGIN SELECT RAISE(ABORT, 'disk I/O error'); END")
  const at = Date.now()
  w.start({ id: 's', backend: 'qdrant', protocol: 'qdrant', client: 'c', tls: false, at })
  const views = [searchView('ü MARK 1', [0xff]), searchView('ü MARK 2', [0x41])]
  const given: JournalEvent[] = [
    { session: 's', at, kind: 'request', call: 1, op: searchOp },
    { session: 's', at, kind: 'response', call: 1, ids: [1], data: { final: true, result: views[0] } },
    { session: 's', at, kind: 'request', call: 2, op: searchOp },
    { session: 's', at, kind: 'response', call: 2, ids: [1], data: { final: true, result: views[1] } }
  ]
  for (const e of given) w.event(e)
  await t.rejects(w.flush(), { code: 'VG_ERR_JOURNAL' })
  db.exec('DROP TRIGGER broken')
  await w.flush()
  w.end('s', at + 1, 'client closed')
  await w.close()
  const expected = given.map(e => e.data?.result !== undefined ? bodyBefore(e, e.data.result as ResultView) : new EventSerializer(false).body(e))
  t.same(rows(path, 's').map(r => r.body), expected)
  const r = new JournalReader(path)
  t.teardown(() => r.close())
  t.same(r.verify(trusted()).problems, [])
})
