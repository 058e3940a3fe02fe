import t from 'tap'
import { DROP, type Masker } from '../../../decoders/types.js'
import type { MaskProfileConfig } from '../../../lib/config/types.js'
import { compileMasking } from '../../../lib/mask/index.js'

const KEY = Buffer.alloc(32, 7)

function profile (p: Partial<MaskProfileConfig>, hashKey = KEY): Masker {
  const cfg: MaskProfileConfig = { fields: [], detectors: [], action: 'redact', vectors: 'keep', ...p }
  return compileMasking({ p: cfg }, { hashKey }).get('p')!
}

t.test('field paths: top level, nested, arrays, wildcard', async t => {
  const m = profile({ fields: ['email', 'customer.phone', 'contacts.email', '*.ssn', 'a.*.c'] })
  const doc = {
    email: 'x@y.com',
    name: 'Ann',
    customer: { phone: '555', city: 'Oslo' },
    contacts: [{ email: 'p@q.com', kind: 'work' }, { email: 'r@s.com' }, 'not-an-object', [{ email: 'deep@t.com' }]],
    person: { ssn: '1', age: 3 },
    a: { b: { c: 1, d: 2 }, e: { c: 3 } }
  }
  t.equal(m.document(doc), true)
  t.same(doc, {
    email: '[redacted]',
    name: 'Ann',
    customer: { phone: '[redacted]', city: 'Oslo' },
    contacts: [{ email: '[redacted]', kind: 'work' }, { email: '[redacted]' }, 'not-an-object', [{ email: '[redacted]' }]],
    person: { ssn: '[redacted]', age: 3 },
    a: { b: { c: '[redacted]', d: 2 }, e: { c: '[redacted]' } }
  })
})

t.test('a path covers everything under it; flat dotted keys are followed', async t => {
  const m = profile({ fields: ['customer', 'meta.owner.email'] })
  const doc: Record<string, unknown> = { customer: { phone: '1', nested: { x: 1 } }, 'meta.owner.email': 'a@b.co', 'meta.owner': { email: 'c@d.co' }, other: 1 }
  t.ok(m.document(doc))
  t.same(doc, { customer: '[redacted]', 'meta.owner.email': '[redacted]', 'meta.owner': { email: '[redacted]' }, other: 1 })
})

t.test('a configured array keeps its shape; elements are masked whole', async t => {
  const m = profile({ fields: ['tags', 'ids'], action: 'hash' })
  const doc = { tags: ['a', 'b', null, ['c']], ids: [1, 2] }
  t.ok(m.document(doc))
  t.equal(doc.tags.length, 4)
  t.match(doc.tags[0], /^h:[A-Za-z0-9_-]{16}$/)
  t.equal(doc.tags[2], null)
  t.match((doc.tags[3] as string[])[0], /^h:/)
  t.match(doc.ids[0], /^h:/)
})

t.test('actions on configured fields', async t => {
  const mk = (action: MaskProfileConfig['action']): Record<string, unknown> => {
    const doc: Record<string, unknown> = { email: 'alice@example.com', phone: '+44 20 7946 0958', name: 'Alice Smith', n: 5551234567, ok: true, obj: { a: 1 }, none: null, keep: 'x' }
    profile({ fields: ['email', 'phone', 'name', 'n', 'ok', 'obj', 'none'], action }).document(doc)
    return doc
  }
  t.same(mk('redact'), { email: '[redacted]', phone: '[redacted]', name: '[redacted]', n: '[redacted]', ok: '[redacted]', obj: '[redacted]', none: null, keep: 'x' })
  t.same(mk('null'), { email: null, phone: null, name: null, n: null, ok: null, obj: null, none: null, keep: 'x' })
  t.same(mk('drop'), { keep: 'x' })
  t.same(mk('partial'), { email: '***@example.com', phone: '+** ** **** 0958', name: 'A**** S****', n: '******4567', ok: '[redacted]', obj: '[redacted]', none: null, keep: 'x' })
  const h = mk('hash')
  for (const k of ['email', 'phone', 'name', 'n', 'ok', 'obj']) t.match(h[k], /^h:[A-Za-z0-9_-]{16}$/, k)
  t.equal(h.none, null)
  t.equal(h.keep, 'x')
})

t.test('hash tokens are stable across calls and differ across keys and values', async t => {
  const a = profile({ fields: ['email'], action: 'hash' })
  const a2 = profile({ fields: ['email'], action: 'hash' })
  const b = profile({ fields: ['email'], action: 'hash' }, Buffer.alloc(32, 8))
  const run = (m: Masker, v: string): unknown => { const d = { email: v }; m.document(d); return d.email }
  t.equal(run(a, 'x@y.com'), run(a, 'x@y.com'))
  t.equal(run(a, 'x@y.com'), run(a2, 'x@y.com'), 'same key, another compile')
  t.not(run(a, 'x@y.com'), run(b, 'x@y.com'), 'another key')
  t.not(run(a, 'x@y.com'), run(a, 'z@y.com'))
  t.equal(a.scalar('email', 'x@y.com'), run(a, 'x@y.com'), 'scalar and document agree')
  t.equal(a.scalar('email', 42), a.scalar('email', '42'), 'a number hashes as its text')
  const det = profile({ detectors: ['email'], action: 'hash' })
  t.equal(det.scalar('note', 'mail x@y.com now'), `mail ${run(a, 'x@y.com') as string} now`, 'a detected value hashes like the field')
})

t.test('detectors inside documents: strings anywhere, keys too', async t => {
  const m = profile({ detectors: ['email', 'credit_card'] })
  const doc: Record<string, unknown> = {
    note: 'reach me at a@b.com',
    n: 4111111111111111,
    ts: 1718035200000,
    small: 42,
    list: ['x', 'card 4111 1111 1111 1111', { deep: ['c@d.org'] }, 4012888888881881],
    'owner@corp.com': { role: 'admin' },
    clean: 'nothing here'
  }
  t.ok(m.document(doc))
  t.same(doc, {
    note: 'reach me at [redacted:email]',
    n: '[redacted:credit_card]', // a card stored as a number
    ts: 1718035200000,
    small: 42,
    list: ['x', 'card [redacted:credit_card]', { deep: ['[redacted:email]'] }, '[redacted:credit_card]'],
    '[redacted:email]': { role: 'admin' },
    clean: 'nothing here'
  })
})

t.test('detector hits under null and drop', async t => {
  const n = profile({ detectors: ['email'], action: 'null' })
  const d1: Record<string, unknown> = { a: 'x a@b.com', b: ['a@b.com', 'ok'], 'k@x.io': 1, c: 'fine' }
  t.ok(n.document(d1))
  t.same(d1, { a: null, b: [null, 'ok'], c: 'fine' })
  const dr = profile({ detectors: ['email'], action: 'drop' })
  const d2: Record<string, unknown> = { a: 'x a@b.com', b: ['a@b.com', 'ok'], 'k@x.io': 1, c: 'fine' }
  t.ok(dr.document(d2))
  t.same(d2, { b: [null, 'ok'], c: 'fine' })
  t.equal(dr.scalar('col', 'a@b.com'), DROP)
  t.equal(n.scalar('col', 'a@b.com'), null)
})

t.test('secrets by name: values under password / api key names', async t => {
  const m = profile({ detectors: ['secrets'] })
  const doc = { user: 'ann', password: 'hunter2', cfg: { apiKey: 'Zx81kLm2Qp09TrVb77aa', token: 'expired', tokens: 3 } }
  t.ok(m.document(doc))
  t.same(doc, { user: 'ann', password: '[redacted:api_key]', cfg: { apiKey: '[redacted:api_key]', token: 'expired', tokens: 3 } })
  t.equal(m.scalar('password', 'hunter2'), '[redacted:api_key]')
  t.equal(m.scalar('users.pwd', 'hunter2'), '[redacted:api_key]')
  t.equal(m.scalar('name', 'hunter2'), 'hunter2')
  const h = profile({ detectors: ['api_key'], action: 'hash' })
  t.match(h.scalar('password', 'hunter2'), /^h:/)
  t.equal(profile({ detectors: ['email'] }).scalar('password', 'hunter2'), 'hunter2', 'only with the api_key detector')
})

t.test('renamed keys never overwrite each other', async t => {
  const m = profile({ detectors: ['email'] })
  const doc: Record<string, unknown> = { 'a@b.com': 1, 'c@d.com': 2 }
  m.document(doc)
  t.same(Object.values(doc).sort(), [1, 2])
  t.notOk(JSON.stringify(doc).includes('@b.com'))
})

t.test('nothing configured matches: false and untouched', async t => {
  const m = profile({ fields: ['email', 'customer.phone'], detectors: ['email', 'phone', 'credit_card', 'iban', 'jwt', 'api_key'] })
  const doc = { title: 'A short story', score: 0.93, tags: ['red', 'blue'], customer: { name: 'Ann' }, when: '2024-01-15', n: 12345 }
  const before = JSON.stringify(doc)
  t.equal(m.document(doc), false)
  t.equal(JSON.stringify(doc), before)
  t.equal(profile({}).document({ email: 'a@b.com' }), false, 'an empty profile changes nothing')
})

t.test('prefix: the document is at a path', async t => {
  const m = profile({ fields: ['meta.email', 'profile'] })
  const d1 = { email: 'a@b.com', name: 'x' }
  t.ok(m.document(d1, 'meta'))
  t.same(d1, { email: '[redacted]', name: 'x' })
  const d2 = { email: 'a@b.com' }
  t.notOk(m.document(d2, 'other'), 'another column: not configured')
  t.notOk(m.document(d2), 'no prefix: `email` alone is not configured')
  t.same(d2, { email: 'a@b.com' })
  const d3 = { a: 1, b: { c: 'x' }, d: null }
  t.ok(m.document(d3, 'profile'), 'the prefix itself configured: every value')
  t.same(d3, { a: '[redacted]', b: '[redacted]', d: null })
  const drop = profile({ fields: ['profile'], action: 'drop' })
  const d4 = { a: 1 }
  t.ok(drop.document(d4, 'profile'))
  t.same(d4, {})
  const deep = profile({ fields: ['t.meta.owner.email'] })
  const d5 = { owner: { email: 'a@b.com' } }
  t.ok(deep.document(d5, 't.meta'), 'a dotted prefix')
  t.same(d5, { owner: { email: '[redacted]' } })
})

t.test('scalar: configured paths, detectors, DROP', async t => {
  const m = profile({ fields: ['email', 'customer', 'x.*'], detectors: ['email'], action: 'redact' })
  t.equal(m.scalar('email', 'a@b.com'), '[redacted]')
  t.equal(m.scalar('email', null), null)
  t.equal(m.scalar('email', 7), '[redacted]')
  t.equal(m.scalar('customer.phone', '555'), '[redacted]', 'under a configured path')
  t.equal(m.scalar('x.y', true), '[redacted]', 'wildcard')
  t.equal(m.scalar('note', 'mail a@b.com'), 'mail [redacted:email]')
  const same = 'plain text'
  t.equal(m.scalar('note', same), same)
  t.equal(m.scalar('n', 5), 5)
  t.equal(profile({ detectors: ['credit_card'] }).scalar('n', 4111111111111111), '[redacted:credit_card]', 'a card in an integer column')
  t.equal(profile({ detectors: ['credit_card'] }).scalar('n', 4111111111111112), 4111111111111112)
  t.equal(profile({ detectors: ['email'] }).scalar('n', 4111111111111111), 4111111111111111, 'numbers only for credit_card')
  const drop = profile({ fields: ['email'], action: 'drop' })
  t.equal(drop.scalar('email', 'a@b.com'), DROP)
  t.equal(drop.scalar('email', null), DROP, 'drop removes the column whatever it holds')
  t.equal(drop.scalar('name', 'a@b.com'), 'a@b.com', 'no detectors: other columns pass')
})

t.test('touches', async t => {
  const m = profile({ fields: ['email', 'meta.owner.phone', 'x.*.y'] })
  t.ok(m.touches('email'))
  t.ok(m.touches('meta'), 'a path starts under it')
  t.ok(m.touches('meta.owner'))
  t.ok(m.touches('meta.owner.phone'))
  t.ok(m.touches('email.local'), 'under a configured path')
  t.ok(m.touches('x.anything'))
  t.notOk(m.touches('name'))
  t.notOk(m.touches('meta.title'))
  t.notOk(m.touches('emails'))
  t.ok(profile({ detectors: ['email'] }).touches('anything'), 'detectors on: any string may change')
  t.notOk(profile({}).touches('email'))
})

t.test('vectors: keep, drop, round', async t => {
  const v = [0.123456789, -1.5, 3.14159265, 0, -0, 1e-40, Infinity, NaN, 3.4028234663852886e38]
  t.equal(profile({ vectors: 'keep' }).vector(v), v, 'keep: the same vector')
  t.equal(profile({ vectors: 'drop' }).vector(v), null)
  const r = profile({ vectors: 'round' }).vector(v) as Float32Array
  t.type(r, Float32Array)
  t.not(r as unknown, v)
  t.equal(r[0], 0.12353515625, '8 mantissa bits, round to nearest')
  t.equal(r[1], -1.5)
  t.equal(r[2], 3.140625)
  t.equal(r[3], 0)
  t.ok(Object.is(r[4], -0))
  t.equal(r[6], Infinity)
  t.ok(Number.isNaN(r[7]))
  t.ok(Number.isFinite(r[8]), 'the largest float does not round up to Infinity')
  const bits = new Uint32Array(r.buffer)
  for (let i = 0; i < 6; i++) t.equal(bits[i] & 0x7fff, 0, `low 15 mantissa bits clear (${i})`)
  const r2 = profile({ vectors: 'round', round_bits: 2 }).vector(new Float32Array([1.3, 1.6])) as Float32Array
  t.same(Array.from(r2), [1.25, 1.5])
  t.equal(v[0], 0.123456789, 'the input is not changed')
})

t.test('too deep a document is refused, not half-masked', async t => {
  const m = profile({ detectors: ['email'] })
  let doc: Record<string, unknown> = { e: 'a@b.com' }
  for (let i = 0; i < 1000; i++) doc = { n: doc }
  t.throws(() => m.document(doc), { code: 'VG_ERR_MALFORMED' })
  let arr: unknown[] = ['x']
  for (let i = 0; i < 1000; i++) arr = [arr]
  t.throws(() => profile({ fields: ['a'] }).document({ a: arr }), { code: 'VG_ERR_MALFORMED' }, 'nested arrays under a configured path')
})

t.test('quietJson never passes a value under a secret-sounding key, wherever the colon stands', async t => {
  const m = profile({ detectors: ['api_key'] })
  const every = profile({ detectors: ['all'] })
  const wire = m.wire!
  for (const text of ['{"password":"hunter22"}', '{"password"\n\n\n\n:"hunter22"}', '{"a":{"api_key" \r\n\t : "sk9Xq2Lm4Np6Rt8Vw0Yz"}}', '{"x":[{"pwd":"abcd"}]}', '{"clé":"abcdef"}']) {
    const b = Buffer.from(text)
    t.equal(wire.quietJson(b, 0, b.length), false, text)
    t.equal(every.wire!.quietJson(b, 0, b.length), false, text)
    const doc = JSON.parse(text)
    m.document(doc)
    if (!text.includes('clé')) t.not(JSON.stringify(doc), JSON.stringify(JSON.parse(text)), `document masks ${text}`)
  }
  // keys whose last letter ends no secret-sounding name, values no detector reads: answered without a walk
  for (const text of ['{"titles":"plain words","src":"https://docs.example.com/a#b","stamp":"2024-03-18T09:12:44Z"}', '{"tags":["a","b"],"num":12}']) {
    const b = Buffer.from(text)
    t.equal(wire.quietJson(b, 0, b.length), true, text)
    t.equal(every.wire!.quietJson(b, 0, b.length), true, text)
  }
})

t.test('maskText: what quietText and then scalar of the decoded text give, at a free path under a quiet name, for every action, split at every offset, with invalid UTF-8', async t => {
  const PIECES = ['ann.lee@example.com', '+44 20 7946 0958', '4111 1111 1111 1111', '078-05-1120', '192.168.0.1', 'password=hunter2xyz',
    'ghp_' + 'a1B2c3D4e5'.repeat(4), ' ', 'the ', 'é', '€', '\u{1f600}', '0', '7', '-', '.', '@', ':', '=']
  const BAD = [[0xff], [0xc3], [0x80], [0xe2, 0x82], [0xf0, 0x9f, 0x98]]
  let seed = 20261129
  const rand = (): number => { seed = (seed * 1664525 + 1013904223) >>> 0; return seed / 4294967296 }
  const texts: Buffer[] = []
  for (let i = 0; i < 300; i++) {
    const parts: Buffer[] = []
    for (let k = Math.floor(rand() * 8); k > 0; k--) {
      parts.push(rand() < 0.15 ? Buffer.from(BAD[Math.floor(rand() * BAD.length)]) : Buffer.from(PIECES[Math.floor(rand() * PIECES.length)]))
    }
    texts.push(Buffer.concat(parts))
  }
  // a hit's bytes cut at every offset (a text ending inside a character)
  const hit = Buffer.from('mail é ann.lee@example.com, card 4111 1111 1111 1111 €')
  for (let k = 0; k <= hit.length; k++) texts.push(hit.subarray(0, k), hit.subarray(k))
  for (const action of ['redact', 'null', 'drop', 'hash', 'partial'] as const) {
    for (const detectors of [['all'], ['email', 'phone', 'credit_card'], []]) {
      const m = profile({ fields: ['email'], detectors, action })
      const w = m.wire!
      t.ok(w.pathFree('note') && w.quietName('note'))
      let bad = 0
      for (const text of texts) {
        const buf = Buffer.concat([Buffer.from('xy'), text, Buffer.from('z')])
        const got = w.maskText(buf, 2, 2 + text.length)
        let want: unknown
        if (!w.quietText(buf, 2, 2 + text.length)) {
          const s = text.toString('utf8')
          const out = m.scalar('note', s)
          want = out === s ? undefined : out
        }
        if (got !== want) { bad++; t.equal(got, want, `${action} ${detectors.join(',')}: ${JSON.stringify(text.toString('utf8'))}`) }
      }
      t.equal(bad, 0, `${action} ${detectors.join(',')}: every text alike`)
    }
  }
})
