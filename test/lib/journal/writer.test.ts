import t from 'tap'
import { join } from 'node:path'
import { spawnSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import Database from 'better-sqlite3'
import { Writable } from 'node:stream'
import { createLogger } from '../../../lib/log.js'
import { JournalReader } from '../../../lib/journal/reader.js'
import { eventSummary, sessionLine } from '../../../lib/journal/format.js'
import { alice, searchOp, session, tempDir, trusted, writer } from './harness.js'

t.test('a session is recorded in order, chained and sealed', async t => {
  const path = join(tempDir(t), 'j.db')
  const w = writer(path)
  session(w, 's1')
  await w.close()
  const r = new JournalReader(path)
  t.teardown(() => r.close())
  const [s] = r.sessions()
  t.match(s, { id: 's1', backend: 'qdrant', subject: 'alice', groups: ['analysts'], token_id: 'jti-1', events: 4, sealed: true, end_reason: 'client closed', client: '127.0.0.1:5000' })
  const events = r.events('s1')
  t.same(events.map(e => e.kind), ['auth', 'request', 'verdict', 'response'])
  t.same(events.map(e => e.n), [1, 2, 3, 4])
  t.equal(events[0].body.identity.subject, 'alice')
  t.notOk('claims' in events[0].body.identity, 'token claims are not copied into the journal')
  t.equal(events[1].body.op.method, 'qdrant.Points/Search')
  t.equal(events[2].body.verdict.rule, 'analysts-read')
  t.same(events[3].body.data.result, [{ id: 1, payload: { email: '<redacted>' }, vector: '<vector dim=8>' }], 'the masked result, vectors summarized')
  t.match(events[3].body.data, { ok: true, records: 3, final: true }, 'with the end of the call')
  const report = r.verify(trusted())
  t.same(report.problems, [])
  t.equal(report.sealed, 1)
})

t.test('store_vectors keeps vectors whole; bigints and bytes serialize', async t => {
  const path = join(tempDir(t), 'j.db')
  const w = writer(path, { storeVectors: true })
  w.start({ id: 's', backend: 'b', protocol: 'qdrant', client: 'c', tls: true, at: 1 })
  w.event({ session: 's', at: 2, kind: 'response', call: 1, data: { result: { v: new Float32Array([1, 2, 3, 4, 5, 6, 7, 8]), n: 12345678901234567890n, b: Buffer.from('abc'), list: [1, 2, 3, 4, 5, 6, 7, 8] } } })
  await w.close()
  const r = new JournalReader(path)
  t.teardown(() => r.close())
  t.same(r.events('s')[0].body.data.result, { v: [1, 2, 3, 4, 5, 6, 7, 8], n: '12345678901234567890', b: '<3 bytes>', list: [1, 2, 3, 4, 5, 6, 7, 8] })
})

// a result view reads buffers the relay goes on using: the journal keeps what the client received
// in the I/O turn that gave the event, not what the view holds by the time the batch goes to the worker
t.test('an event is recorded as it was in the turn that gave it, not as its objects are later', async t => {
  const path = join(tempDir(t), 'j.db')
  const w = writer(path)
  const rows = ['alice@example.org']
  const op = { ...searchOp }
  w.start({ id: 's', backend: 'qdrant', protocol: 'qdrant', client: 'c', tls: false, at: 1 })
  w.event({ session: 's', at: 2, kind: 'request', call: 1, op })
  w.event({ session: 's', at: 3, kind: 'response', call: 1, data: { result: { toJSON: () => [...rows] } } })
  await new Promise(resolve => setImmediate(resolve))
  rows[0] = 'bob@example.org'
  op.collection = 'other'
  await w.close()
  const r = new JournalReader(path)
  t.teardown(() => r.close())
  const [request, response] = r.events('s')
  t.equal(request.body.op.collection, 'docs')
  t.same(response.body.data.result, ['alice@example.org'])
})

t.test('who-saw finds the sessions whose responses returned a record', async t => {
  const path = join(tempDir(t), 'j.db')
  const w = writer(path)
  session(w, 's1')
  session(w, 's2')
  w.start({ id: 's3', backend: 'pg', protocol: 'postgres', client: 'c', tls: false, at: Date.now() })
  w.event({ session: 's3', at: Date.now(), kind: 'response', call: 1, collection: 'public.items', ids: ['7'], data: {} })
  await w.close()
  const r = new JournalReader(path)
  t.teardown(() => r.close())
  t.same(r.whoSaw('qdrant', 'docs', '2').map(x => x.session.id), ['s1', 's2'])
  t.same(r.whoSaw('qdrant', 'docs', '2')[0].events.map(e => e.n), [4])
  t.same(r.whoSaw('pg', 'public.items', '7').map(x => x.session.id), ['s3'])
  t.same(r.whoSaw('qdrant', 'docs', '99'), [])
})

t.test('on_full hold: a full queue is written at once, nothing lost', async t => {
  const path = join(tempDir(t), 'j.db')
  const w = writer(path, { queue: 100, onFull: 'hold' })
  w.start({ id: 's', backend: 'b', protocol: 'qdrant', client: 'c', tls: false, at: 1 })
  for (let i = 0; i < 1000; i++) w.event({ session: 's', at: 2, kind: 'request', call: i, op: searchOp })
  await w.close()
  const r = new JournalReader(path)
  t.teardown(() => r.close())
  t.equal(r.events('s').length, 1000)
  t.same(r.verify(trusted()).problems, [])
})

t.test('on_full mark: events beyond the queue are counted in a loss event, never dropped silently', async t => {
  const path = join(tempDir(t), 'j.db')
  const w = writer(path, { queue: 100, onFull: 'mark' })
  w.start({ id: 's', backend: 'b', protocol: 'qdrant', client: 'c', tls: false, at: 1 })
  for (let i = 0; i < 300; i++) w.event({ session: 's', at: 2, kind: i % 2 === 0 ? 'request' : 'verdict', call: i })
  await w.flush()
  w.end('s', 3, 'client closed')
  await w.close()
  const r = new JournalReader(path)
  t.teardown(() => r.close())
  const events = r.events('s')
  const loss = events.filter(e => e.kind === 'loss')
  t.equal(loss.length, 1)
  const lost = loss[0].body.data.lost as Record<string, number>
  t.equal(events.length - 1 + Object.values(lost).reduce((a, b) => a + b, 0), 300, 'recorded + lost = given')
  t.match(loss[0].body.data.reason, /queue full/)
  t.same(r.verify(trusted()).problems, [])
})

t.test('the queue is full at its bytes too: large results over the budget are held for (on_full hold) or counted as lost (mark)', async t => {
  const big = 'x'.repeat(100_000)
  for (const onFull of ['hold', 'mark'] as const) {
    const path = join(tempDir(t), `j-${onFull}.db`)
    const w = writer(path, { onFull, queueBytes: 1_000_000, commitDelay: 60_000 })
    w.start({ id: 's', backend: 'b', protocol: 'qdrant', client: 'c', tls: false, at: 1 })
    // 30 results of 100 kB in one turn: serialized at its end, ~3 MB kept, over the budget of 1 MB
    for (let i = 0; i < 30; i++) w.event({ session: 's', at: 2, kind: 'response', call: i, data: { result: { text: big }, final: true } })
    await new Promise(resolve => setImmediate(resolve))
    // the next turn's results find the queue full
    for (let i = 30; i < 40; i++) w.event({ session: 's', at: 3, kind: 'response', call: i, data: { result: { text: big }, final: true } })
    await w.flush()
    w.end('s', 4, 'client closed')
    await w.close()
    const r = new JournalReader(path)
    const events = r.events('s')
    const loss = events.filter(e => e.kind === 'loss')
    const responses = events.filter(e => e.kind === 'response').length
    if (onFull === 'hold') {
      t.equal(responses, 40, 'hold: every result recorded, after waiting for the worker')
      t.equal(loss.length, 0)
    } else {
      t.equal(loss.length, 1, 'mark: a loss event')
      const lost = (loss[0].body.data.lost as Record<string, number>).response
      t.ok(lost > 0, `mark: results past the budget lost (${lost}), and said so`)
      t.equal(responses + lost, 40, 'recorded + lost = given')
    }
    t.same(r.verify(trusted()).problems, [])
    r.close()
  }
})

t.test('an approval decided after its session ended goes to the gateway session, naming it', async t => {
  const path = join(tempDir(t), 'j.db')
  const w = writer(path)
  session(w, 's1')
  await w.flush()
  w.event({ session: 's1', at: Date.now(), kind: 'approval', identity: alice, data: { step: 'approved', approval: 'apr_1' } })
  await w.close()
  const r = new JournalReader(path)
  t.teardown(() => r.close())
  const related = r.eventsFor('s1')
  t.equal(related.length, 1)
  t.equal(related[0].body.for, 's1')
  t.equal(related[0].body.data.approval, 'apr_1')
  t.same(r.verify(trusted()).problems, [])
})

t.test('a failing database is loud, refuses flushes, keeps events and recovers', async t => {
  const path = join(tempDir(t), 'j.db')
  const w = writer(path)
  // the writer's connection lives in its worker thread: break the schema from another connection
  const db = new Database(path)
  t.teardown(() => db.close())
  db.exec("CREATE TRIGGER broken BEFORE INSERT ON events BEGIN SELECT RAISE(ABORT, 'disk I/O error'); END")
  w.start({ id: 's', backend: 'b', protocol: 'qdrant', client: 'c', tls: false, at: 1 })
  w.event({ session: 's', at: 2, kind: 'request', call: 1, op: searchOp })
  await t.rejects(w.flush(), { code: 'VG_ERR_JOURNAL' })
  t.ok(w.failure, 'failure is set: the pipeline refuses new requests')
  db.exec('DROP TRIGGER broken')
  w.event({ session: 's', at: 3, kind: 'verdict', call: 1, verdict: { effect: 'allow', reason: 'r' } })
  await w.flush()
  t.equal(w.failure, undefined, 'writes again')
  await w.close()
  const r = new JournalReader(path)
  t.teardown(() => r.close())
  t.same(r.events('s').map(e => e.kind), ['request', 'verdict'], 'nothing lost while it failed')
  t.same(r.verify(trusted()).problems, [])
})

t.test('one writer per file', async t => {
  const path = join(tempDir(t), 'j.db')
  const w = writer(path)
  t.throws(() => writer(path), { code: 'VG_ERR_JOURNAL', message: /in use by another vecgate/ })
  await w.close()
  const again = writer(path)
  await again.close()
})

t.test('a writer killed mid-session: the next start closes its sessions with a loss event naming unfinished calls and from when events may be missing', async t => {
  const dir = tempDir(t)
  const path = join(dir, 'j.db')
  const child = fileURLToPath(new URL('./killed-writer.ts', import.meta.url))
  const run = spawnSync(process.execPath, ['--import', 'tsx', child, path], { encoding: 'utf8', timeout: 60_000 })
  t.equal(run.signal, 'SIGKILL', `the child killed itself (${run.stderr})`)
  const unsent = Number(run.stdout)
  t.ok(unsent > 0, 'the child queued a last event it never handed over')
  const w = writer(path)
  await w.close()
  const r = new JournalReader(path)
  t.teardown(() => r.close())
  const [s] = r.sessions({ backend: 'qdrant' })
  t.equal(s.end_reason, 'gateway stopped abruptly')
  t.ok(s.sealed)
  t.ok(s.loss, 'the session is listed with a loss')
  const events = r.events(s.id)
  t.same(events.slice(0, 5).map(e => e.kind), ['auth', 'request', 'verdict', 'response', 'request'], 'every committed event is there')
  t.equal(events.length, 6, 'the response queued after the last hand-off is not')
  const loss = events.at(-1)!
  t.equal(loss.kind, 'loss')
  t.equal(loss.body.data.last_event, 5)
  t.same(loss.body.data.unfinished_calls, [2], 'call 2 had no recorded end')
  t.equal(loss.body.data.unfinished, 1)
  const from = loss.body.data.missing_from as number
  t.type(from, 'number', 'the loss says from when events may be missing')
  t.ok(events.slice(0, 5).every(e => e.at <= from), 'everything journaled was queued before that time')
  t.ok(unsent >= from, `the missing event (queued at ${unsent}) falls in the window from ${from}`)
  t.equal(loss.body.data.reads_may_trail_ms, 60_000, 'and the hand-off delay reads may trail by')
  t.match(eventSummary(loss), /events from .* on may be missing \(with journal\.durable: changes, reads and searches answered in the last ~60000 ms/)
  t.match(sessionLine(s), /LOSS/)
  // the journal as a whole: sessions the killed gateway started after that time may be missing whole
  const gw = r.sessions().filter(x => x.id.startsWith('gw-') && x.loss)
  t.equal(gw.length, 1, 'one journal-level loss event')
  const whole = r.events(gw[0].id).find(e => e.kind === 'loss')!
  t.match(whole.body.data, { scope: 'journal', missing_from: from, sessions_left_open: 1 })
  t.match(eventSummary(whole), /sessions started from then on may be missing whole/)
  t.same(r.verify(trusted()).problems, [])
})

t.test('a clean stop leaves nothing for recovery to report', async t => {
  const path = join(tempDir(t), 'j.db')
  const w = writer(path)
  session(w, 's1')
  await w.close()
  await writer(path).close()
  const r = new JournalReader(path)
  t.teardown(() => r.close())
  t.same(r.sessions().filter(s => s.loss).map(s => s.id), [], 'no loss event anywhere')
})

t.test('retention prunes whole ended sessions by age and by size, recorded so verify does not call it tampering', async t => {
  const path = join(tempDir(t), 'j.db')
  const w = writer(path, { retention: { max_age: 3600 } })
  session(w, 'old', Date.now() - 7200_000)
  session(w, 'new')
  w.start({ id: 'live', backend: 'b', protocol: 'qdrant', client: 'c', tls: false, at: Date.now() - 7200_000 })
  await w.flush()
  t.equal(await w.prune(), 1)
  await w.close()
  const r = new JournalReader(path)
  t.teardown(() => r.close())
  t.same(r.sessions().map(s => s.id).sort(), ['live', 'new'].concat(r.sessions().filter(s => s.id.startsWith('gw-')).map(s => s.id)).sort())
  t.match(r.pruned(), [{ session: 'old', reason: /max_age/ }])
  t.same(r.events('old'), [])
  t.same(r.whoSaw('qdrant', 'docs', '1').map(x => x.session.id), ['new'])
  t.same(r.verify(trusted()).problems, [])

  const path2 = join(tempDir(t), 'j2.db')
  const w2 = writer(path2, { retention: { max_bytes: 200_000 } })
  for (let i = 0; i < 400; i++) session(w2, `s${i}`)
  await w2.flush()
  t.ok(await w2.prune() > 0)
  const size = await w2.size()
  t.ok(size <= 200_000, `size ${size} within max_bytes`)
  await w2.close()
  const r2 = new JournalReader(path2)
  t.teardown(() => r2.close())
  t.same(r2.verify(trusted()).problems, [])
  t.ok(r2.sessions({ limit: 1000 }).some(s => s.id === 's399'), 'the newest sessions stay')
})

// a top-10 search with numeric ids: the body must keep the ids, or retention cannot find the
// response's who-saw rows and leaves them behind
t.test('retention drops the who-saw rows of a response with ten numeric ids', async t => {
  const path = join(tempDir(t), 'j.db')
  const w = writer(path, { retention: { max_age: 3600 } })
  const at = Date.now() - 7200_000
  const ids = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]
  w.start({ id: 'old', backend: 'qdrant', protocol: 'qdrant', client: 'c', tls: false, at })
  w.event({ session: 'old', at, kind: 'response', call: 1, collection: 'docs', ids, data: { result: { toJSON: () => ids.map(id => ({ id })) } } })
  w.end('old', at + 1, 'client closed')
  await w.flush()
  t.equal(await w.prune(), 1)
  await w.close()
  const db = new Database(path, { readonly: true })
  t.teardown(() => db.close())
  t.equal((db.prepare('SELECT count(*) AS c FROM seen').get() as { c: number }).c, 0)
})

t.test('a journal worker that stops is loud, fails closed and refuses flushes', async t => {
  const path = join(tempDir(t), 'j.db')
  const lines: string[] = []
  const destination = new Writable({ write (chunk, _enc, done) { lines.push(String(chunk)); done() } })
  const w = writer(path, { log: createLogger({ level: 'error', destination }) })
  w.start({ id: 's', backend: 'b', protocol: 'qdrant', client: 'c', tls: false, at: 1 })
  await w.flush()
  await (w as any).worker.terminate()
  await new Promise(resolve => setImmediate(resolve))
  t.match(w.failure, { code: 'VG_ERR_JOURNAL', message: /journal worker stopped/ }, 'the pipeline refuses new requests')
  w.event({ session: 's', at: 2, kind: 'request', call: 1, op: searchOp })
  await t.rejects(w.flush(), { code: 'VG_ERR_JOURNAL' })
  t.match(lines.join(''), /JOURNAL WORKER STOPPED/)
  await w.close()
  // what it committed before it stopped is there, and the next writer closes the session
  const again = writer(path)
  await again.close()
  const r = new JournalReader(path)
  t.teardown(() => r.close())
  t.match(r.sessions({ backend: 'b' }), [{ id: 's', end_reason: 'gateway stopped abruptly' }])
  t.same(r.verify(trusted()).problems, [])
})

t.test('events handed over without a flush are committed within the commit delay', async t => {
  const path = join(tempDir(t), 'j.db')
  const w = writer(path, { commitDelay: 5 })
  t.teardown(() => w.close())
  session(w, 's1')
  const r = new JournalReader(path)
  t.teardown(() => r.close())
  // nobody waits: poll the file as an auditor beside a live gateway would
  while (r.events('s1').length < 4) await new Promise(resolve => setTimeout(resolve, 5))
  t.equal(r.sessions().find(s => s.id === 's1')?.sealed, true)
})

t.test('a flush given just before close resolves once close has committed it', async t => {
  const path = join(tempDir(t), 'j.db')
  const w = writer(path)
  session(w, 's1')
  const flushed = w.flush()
  await w.close()
  await flushed
  const r = new JournalReader(path)
  t.teardown(() => r.close())
  t.equal(r.events('s1').length, 4)
})

t.test("a call's result and its end are one event, unless something of its call or a hand-over comes between", async t => {
  const path = join(tempDir(t), 'j.db')
  const w = writer(path)
  const at = Date.now()
  w.start({ id: 's', backend: 'qdrant', protocol: 'qdrant', client: 'c', tls: false, at })
  const result = (call: number): void => w.event({ session: 's', at, kind: 'response', call, collection: 'docs', ids: [call], data: { result: { toJSON: () => [{ id: call, payload: { email: '<redacted>' } }] } } })
  const end = (call: number): void => w.event({ session: 's', at: at + 1, kind: 'response', call, data: { ok: true, status: '0', records: 1, vectors: 0, final: true, ms: 1, bytes: 50 } })
  w.event({ session: 's', at, kind: 'request', call: 1, op: searchOp })
  result(1); end(1)
  w.event({ session: 's', at, kind: 'request', call: 2, op: searchOp })
  result(2)
  w.event({ session: 's', at, kind: 'request', call: 3, op: searchOp })
  end(2)
  await w.flush()
  result(3)
  await w.flush()
  end(3)
  result(4)
  w.event({ session: 's', at, kind: 'error', call: 4, data: { code: 'VG_ERR_UPSTREAM', message: 'upstream lost' } })
  end(4)
  result(5)
  w.end('s', at + 2, 'client closed')
  await w.close()
  const r = new JournalReader(path)
  t.teardown(() => r.close())
  const events = r.events('s')
  t.same(events.map(e => `${e.kind} ${e.call ?? ''}${e.body.data?.result !== undefined ? ' result' : ''}${e.body.data?.final === true ? ' end' : ''}`), [
    'request 1', 'response 1 result end',
    'request 2', 'request 3', 'response 2 result end', // in the place of its end
    'response 3 result', 'response 3 end', // a flush came between
    'response 4 result', 'error 4', 'response 4 end', // an error came between
    'response 5 result' // held until the session's end
  ])
  const one = events[1]
  t.same(one.body.data.result, [{ id: 1, payload: { email: '<redacted>' } }], 'the result as the client received it')
  t.match(one.body, { ids: [1], collection: 'docs', data: { ok: true, status: '0', records: 1, final: true } }, 'and the end of the call')
  t.equal(one.at, at + 1, 'at the end of the call')
  t.match(eventSummary(one), /^OK, 1 records, 50 bytes, 1\.0 ms, result: ids 1 {2}\(--event 2 shows it\)$/)
  t.equal(r.whoSaw('qdrant', 'docs', '1')[0].events[0].n, 2, 'who-saw finds it')
  t.same(r.verify(trusted()).problems, [])
})

t.test('a flush commits a result held for its end, even after a hand-over that kept it back', async t => {
  const path = join(tempDir(t), 'j.db')
  const w = writer(path, { commitDelay: 600 })
  w.start({ id: 's', backend: 'qdrant', protocol: 'qdrant', client: 'c', tls: false, at: Date.now() })
  w.event({ session: 's', at: Date.now(), kind: 'request', call: 1, op: searchOp })
  await new Promise(resolve => setTimeout(resolve, 400))
  // given 400 ms into the delay: the hand-over at 600 ms finds it younger than the delay and keeps it
  w.event({ session: 's', at: Date.now(), kind: 'response', call: 1, collection: 'docs', ids: [1], data: { result: { toJSON: () => [{ id: 1 }] } } })
  await new Promise(resolve => setTimeout(resolve, 400))
  await w.flush()
  const r = new JournalReader(path)
  t.teardown(() => r.close())
  t.same(r.events('s').map(e => e.kind), ['request', 'response'], 'committed by the flush, before the call ended')
  await w.close()
})
