import t from 'tap'
import { parsePath, PathSet } from '../../../lib/mask/paths.js'

const set = (...paths: string[]): PathSet => new PathSet(paths.map(p => parsePath(p) as string[]))

t.test('literal and wildcard branches merge: one lookup per key, no backtracking', async t => {
  const p = set('customer.phone', '*.email', 'a.*.c', 'a.b.d')
  const root = p.root!
  const customer = p.child(root, 'customer')!
  t.ok(customer.next?.has('phone') && customer.next?.has('email'), 'customer: its own path and the wildcard one')
  t.ok(p.child(customer, 'phone')!.terminal)
  t.ok(p.child(customer, 'email')!.terminal)
  t.equal(p.child(customer, 'name'), null)
  const other = p.child(root, 'anything')!
  t.ok(p.child(other, 'email')!.terminal)
  t.equal(p.child(other, 'phone'), null)
  const ab = p.child(p.child(root, 'a')!, 'b')!
  t.ok(p.child(ab, 'c')!.terminal, 'a.*.c through b')
  t.ok(p.child(ab, 'd')!.terminal, 'a.b.d')
  t.equal(p.child(ab, 'email'), null, '*.email is one level: it does not reach a.b.email')
})

t.test('a terminal covers what lies under it', async t => {
  const p = set('customer', 'customer.phone')
  const c = p.child(p.root!, 'customer')!
  t.ok(c.terminal)
  t.ok(p.matches('customer.phone.country'))
  t.ok(p.matches('customer'))
  t.notOk(p.matches('customers'))
})

t.test('flat dotted keys are followed segment by segment', async t => {
  const p = set('meta.owner.email', 'x')
  const n = p.child(p.root!, 'meta.owner')!
  t.ok(p.child(n, 'email')!.terminal)
  t.ok(p.child(p.root!, 'meta.owner.email')!.terminal)
  t.ok(p.child(p.root!, 'x.y')!.terminal, 'under a terminal')
  t.equal(p.child(p.root!, 'meta.title'), null)
})

t.test('matches, touches and prefixes', async t => {
  const p = set('email', 'meta.owner.phone', 'x.*.y')
  t.ok(p.matches('email'))
  t.ok(p.matches('x.q.y'))
  t.notOk(p.matches('x.q'))
  t.notOk(p.matches('meta'))
  t.ok(p.touches('meta'))
  t.ok(p.touches('x.q'))
  t.notOk(p.touches('name'))
  t.equal(p.at(''), p.root)
  t.ok(p.at('meta.owner')?.next?.has('phone'))
  t.equal(p.at('nothing'), null)
  t.ok(p.at('email')!.terminal)
})

t.test('no paths: no root; caches stay bounded', async t => {
  const p = set()
  t.equal(p.root, null)
  t.notOk(p.matches('a'))
  t.notOk(p.touches('a'))
  const q = set('a')
  for (let i = 0; i < 10000; i++) q.matches(`col${i}`)
  t.notOk(q.matches('col1'))
  t.ok(q.matches('a'))
})

t.test('parsePath', async t => {
  t.same(parsePath('a.b'), ['a', 'b'])
  t.same(parsePath('*'), ['*'])
  t.type(parsePath(''), 'string')
  t.type(parsePath('a.'), 'string')
  t.type(parsePath('.a'), 'string')
  t.type(parsePath('a.**'), 'string')
  t.type(parsePath('a*'), 'string')
})
