import t from 'tap'
import { EventSerializer, MAX_BODY } from '../../../lib/journal/serialize.js'
import type { JournalEvent } from '../../../lib/journal/types.js'
import { eventSummary } from '../../../lib/journal/format.js'

const ser = new EventSerializer(false)
const response = (result: unknown, ids?: Array<string | number>): JournalEvent => ({ session: 's', at: 1, kind: 'response', call: 1, collection: 'docs', ids, data: { result } })
const body = (e: JournalEvent, s = ser): any => JSON.parse(s.body(e))

t.test('a plain result is kept as it is, read once', async t => {
  let reads = 0
  const points = [{ id: 1, score: 0.5, payload: { title: 'a "quoted" title', n: null, tags: ['x', 'y'], nested: { deep: [1, 'two', true] } } }]
  const view = { toJSON: () => { reads++; return { points } } }
  const text = ser.body(response(view, [1]))
  t.equal(text, JSON.stringify({ collection: 'docs', ids: [1], data: { result: { points } } }))
  t.equal(reads, 1, 'toJSON is called once')
})

// the journal must not become a copy of the embeddings, wherever they sit in a result
t.test('vectors, bytes and bigints anywhere in a result are summarized as before', async t => {
  const vector = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8]
  const result = {
    points: [{ id: 1, vectors: vector, payload: { embedding: { values: vector }, raw: Buffer.from('abc'), f: new Float32Array(4), big: 2n ** 70n, when: new Date(0) } }],
    plainNumbers: [1, 2, 3]
  }
  t.same(body(response({ toJSON: () => result })).data.result, {
    points: [{ id: 1, vectors: '<vector dim=8>', payload: { embedding: { values: '<vector dim=8>' }, raw: '<3 bytes>', f: '<vector dim=4>', big: String(2n ** 70n), when: '1970-01-01T00:00:00.000Z' } }],
    plainNumbers: [1, 2, 3]
  })
  t.same(body(response([vector, vector])).data.result, ['<vector dim=8>', '<vector dim=8>'], 'a result that is not a view')
  t.same(body(response({ toJSON: () => vector }, [1])).data.result, '<vector dim=8>')
  t.same(body(response({ toJSON: () => ({ v: vector }) }), new EventSerializer(true)).data.result, { v: vector }, 'store_vectors keeps them')
})

// record ids are what who-saw and retention read back; ten numeric ids are not a vector
t.test('a response keeps its record ids, however many numbers they are', async t => {
  const ids = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]
  t.same(body(response({ toJSON: () => [] }, ids)).ids, ids)
  t.same(body(response({ toJSON: () => [new Float32Array(2)] }, ids)).ids, ids, 'also when the result needs the replacer')
  t.same(body({ session: 's', at: 1, kind: 'response', call: 1, collection: 'docs', ids, data: {} }).ids, ids, 'also without a result')
})

t.test('a result that cannot serialize is still an event; a huge one is summarized', async t => {
  const cyclic: Record<string, unknown> = { a: 1 }
  cyclic.self = cyclic
  t.match(body(response({ toJSON: () => cyclic })).data, { unserializable: /circular/i })
  t.match(body(response({ toJSON: () => { throw new Error('gone') } })).data, { unserializable: 'gone' })
  let deep: unknown = 'bottom'
  for (let i = 0; i < 100; i++) deep = [deep]
  t.equal(ser.body(response(deep)), JSON.stringify({ collection: 'docs', data: { result: deep } }), 'deep nesting serializes whole')
  const result = ['x'.repeat(MAX_BODY)]
  const huge = body(response({ toJSON: () => result }, [1, 2]))
  t.same(huge.data.truncated, { bytes: JSON.stringify({ collection: 'docs', ids: [1, 2], data: { result } }).length, ids: 2 })
  t.notOk('ids' in huge)
})

t.test('replay reads the ids of journals written before they were kept whole', async t => {
  const line = (ids: unknown): string => eventSummary({ id: 1, session: 's', n: 4, at: 1, kind: 'response', call: 1, body: { ids, data: { result: [] } } })
  t.equal(line('<vector dim=10>'), 'result: ids <vector dim=10>  (--event 4 shows it)')
  t.equal(line([1, 2, 3, 4, 5, 6]), 'result: ids 1,2,3,4,5,… (6)  (--event 4 shows it)')
})
