import t from 'tap'
import { AliasMap, type SideCall } from '../../../decoders/grpc/aliases.js'
import type { Operation } from '../../../decoders/types.js'

const op = (collection: string, database = 'default'): Operation => ({ backend: 'b', protocol: 'milvus', method: 'Query', action: 'read', bulk: false, database, collection, summary: {} })
const noCall: SideCall = async () => { throw new Error('not called') }

t.test('an alias is decided on as its collection, and the alias stays named', async t => {
  let reads = 0
  const m = new AliasMap(async (db) => { reads++; return new Map(db === 'default' ? [['innocent', 'secret']] : []) }, 60_000)
  const a = op('innocent')
  t.equal(m.resolve(a), false, 'nothing read yet: the request must wait for a read')
  await m.refresh('default', noCall)
  t.equal(m.resolve(a), true)
  t.equal(a.collection, 'secret', 'the target decides')
  t.same(a.collections, ['innocent'], 'the alias is kept: a deny or a grant on it counts too')
  const plain = op('other')
  t.equal(m.resolve(plain), true)
  t.equal(plain.collection, 'other')
  t.equal(plain.collections, undefined)
  t.equal(m.resolve(op('innocent', 'db2')), false, 'each database has its own map')
  t.equal(reads, 1, 'a fresh map is not read again')
})

t.test('concurrent refreshes share one read; a failed read throws and leaves the map stale', async t => {
  let reads = 0
  let fail = true
  const m = new AliasMap(async () => { reads++; if (fail) throw new Error('upstream down'); return new Map() }, 60_000)
  await t.rejects(Promise.all([m.refresh('default', noCall), m.refresh('default', noCall)]), /upstream down/)
  t.equal(reads, 1)
  t.equal(m.resolve(op('x')), false, 'still stale: the request is refused, not passed')
  fail = false
  await m.refresh('default', noCall)
  t.equal(m.resolve(op('x')), true)
})

t.test('an alias change invalidates at once, and a read that overlapped it is not trusted', async t => {
  let release: (() => void) | undefined
  let answer = new Map<string, string>()
  const m = new AliasMap(async () => { const a = answer; await new Promise<void>(resolve => { release = resolve }); return a }, 60_000)
  const first = m.refresh('default', noCall)
  release!()
  await first
  t.equal(m.resolve(op('innocent')), true)
  m.invalidate()
  t.equal(m.resolve(op('innocent')), false, 'stale after an alias-changing call')
  const overlapped = m.refresh('default', noCall)
  m.invalidate() // the change ends upstream while the read runs
  release!()
  await overlapped
  t.equal(m.resolve(op('innocent')), false, 'the overlapped read is discarded')
  answer = new Map([['innocent', 'secret']])
  const again = m.refresh('default', noCall)
  release!()
  await again
  const a = op('innocent')
  t.equal(m.resolve(a), true)
  t.equal(a.collection, 'secret')
})
