import t from 'tap'
import { endItem, eventItem, lostItem, readBatch, startItem, type BatchSink, type StoredEvent } from '../../../lib/journal/batch.js'
import type { SessionStart } from '../../../lib/journal/types.js'

function read (b: string): unknown[] {
  const out: unknown[] = []
  const sink: BatchSink = {
    start: (s) => out.push(['start', s]),
    event: (e) => out.push(['event', e]),
    end: (session, at, reason) => out.push(['end', session, at, reason]),
    lost: (session, counts) => out.push(['lost', session, counts])
  }
  readBatch(b, sink)
  return out
}

// values a client controls (collection names, record ids, masked results) hold any character,
// including the ones the encoding itself uses: none of them may shift where the next field starts
const awkward = ['', ':', '12:', '_', 'S', 'E3:abc', '0:', '😀', '\ud800', 'a\u0000b', '"},{"kind":"auth"', '9'.repeat(20)]

t.test('a batch reads back item by item, whatever characters the fields hold', async t => {
  const start: SessionStart = { id: 's:1', backend: '_', protocol: 'qdrant', client: '127.0.0.1:5000', tls: true, at: 1700000000000 }
  const events: StoredEvent[] = awkward.map((x, i) => ({
    session: 's:1',
    at: 1700000000001 + i,
    kind: 'response',
    call: i === 0 ? null : i,
    body: JSON.stringify({ data: { x } }),
    collection: x,
    ids: i % 3 === 0 ? null : i % 3 === 1 ? [] : [...awkward],
    subject: i % 2 === 0 ? null : x,
    groups: i % 2 === 0 ? null : JSON.stringify([x]),
    tokenId: i % 2 === 0 ? null : x
  }))
  const b = startItem(start) + lostItem('s:1', { response: 2, 'a:b': 1 }) + events.map(eventItem).join('') + endItem('s:1', 1700000000099, ':_')
  t.same(read(b), [
    ['start', start],
    ['lost', 's:1', { response: 2, 'a:b': 1 }],
    ...events.map(e => ['event', e]),
    ['end', 's:1', 1700000000099, ':_']
  ])
  t.same(read(startItem({ ...start, tls: false })), [['start', { ...start, tls: false }]])
  t.same(read(''), [])
})

t.test('a batch that does not parse is refused, not guessed at', async t => {
  const good = eventItem({ session: 's', at: 1, kind: 'request', call: 1, body: '{}', collection: 'c', ids: ['1'], subject: null, groups: null, tokenId: null })
  t.throws(() => read(good.slice(0, -3)), /journal batch/)
  t.throws(() => read('Q' + good), /unknown item tag/)
  t.throws(() => read('E' + '99:s'), /past the end/)
  t.throws(() => read('Ex:s'), /bad field/)
  t.throws(() => read(good.replace('E1:s', 'E_')), /missing field/)
})
