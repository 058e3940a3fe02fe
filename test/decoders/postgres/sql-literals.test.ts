import t from 'tap'
import { LITERAL_BASE, LastShape, shapeOf } from '../../../decoders/postgres/sql-literals.js'
import { serialize } from '../../../decoders/postgres/writer.js'
import { pick, prng } from '../../helpers/random.js'

const p = (i: number): string => `$${LITERAL_BASE + i}`

t.same(shapeOf("SELECT * FROM t WHERE a = 'x''y' AND b = 12.5e-3"), { text: `SELECT * FROM t WHERE a = ${p(0)} AND b = ${p(1)}`, literals: ["x'y", '12.5e-3'], kinds: 'sn', spans: [26, 32, 41, 48] })
t.same(shapeOf('SELECT "we""ird 1", t1.c2 FROM t1 WHERE x = $1'), { text: 'SELECT "we""ird 1", t1.c2 FROM t1 WHERE x = $1', literals: [], kinds: '', spans: [] })
// a client's own parameter numbered like our literals would be taken for one of them: not shaped
t.equal(shapeOf(`SELECT lower(${p(0)}), 'x'`), undefined)
for (const sql of [
  "SELECT E'\\x'", 'SELECT 1 -- c', 'SELECT /* c */ 1', 'SELECT $$x$$', 'SELECT $tag$x$tag$', "SELECT U&'d'", "SELECT x'1f'",
  'SELECT 1from t', 'SELECT 0x1f', 'SELECT 1_000', "SELECT 'open", 'SELECT "open', 'SELECT .5', 'SELECT 1.'
]) {
  t.equal(shapeOf(sql), undefined, `left to the parser: ${sql}`)
}

/** a Query message's text as LastShape reads it: body from 5, NUL-terminated to the end */
function matchQuery (last: LastShape<string>, sql: string): string[] | undefined {
  const m = serialize.query(sql)
  return last.match(m, 5, m.length)
}

t.test('LastShape: a text of the remembered shape gives its literals without shaping', async t => {
  const last = new LastShape<string>()
  const a = 'SELECT abalance FROM pgbench_accounts WHERE aid = 17;'
  last.remember(a, shapeOf(a)!, 'classified')
  t.same(matchQuery(last, 'SELECT abalance FROM pgbench_accounts WHERE aid = 912345;'), ['912345'])
  t.equal(matchQuery(last, 'SELECT abalance FROM pgbench_accounts WHERE aid = 1x;'), undefined, 'a literal shapeOf refuses')
  t.same(matchQuery(last, 'SELECT abalance FROM pgbench_accounts WHERE aid = 1.5e3;'), ['1.5e3'], 'any number where a number stood')
  t.equal(matchQuery(last, "SELECT abalance FROM pgbench_accounts WHERE aid = '1';"), undefined, 'another kind of literal is another shape')
  t.equal(matchQuery(last, 'SELECT abalance FROM pgbench_accounts WHERE aid = 1; DROP TABLE x;'), undefined, 'more text is another shape')
  t.equal(matchQuery(last, 'SELECT abalance FROM pgbench_accounts WHERE aid = 1'), undefined, 'less too')
  const b = "SELECT * FROM t WHERE name = 'x''y' AND n = 2"
  last.remember(b, shapeOf(b)!, 'other')
  t.same(matchQuery(last, "SELECT * FROM t WHERE name = 'élan ''quoted''' AND n = 3.25e+2"), ["élan 'quoted'", '3.25e+2'])
  t.equal(matchQuery(last, "SELECT * FROM t WHERE name = 'a\0b' AND n = 2"), undefined, 'a NUL ends the text: not this shape')
  last.remember('SELECT é', { text: 'SELECT é', literals: [], kinds: '', spans: [] }, 'non-ASCII')
  t.equal(matchQuery(last, 'SELECT é'), undefined, 'non-ASCII texts are not remembered')
})

/**
 * Whatever LastShape matches, shapeOf reads the same way: the same shape (text and kinds) as the
 * remembered text, and the same literals. Texts built from fragments around literal positions, where
 * shapeOf's rules bite: identifiers and digits glued to literals, dots, exponents, quotes, NULs.
 */
t.test('LastShape agrees with shapeOf on random texts', async t => {
  const r = prng(20261129)
  const around = [' ', '=', '(', ',', 'a', '_', '.', '"x"', '$1', 'e', '-', '&', ' AND c = ', ')', "'", '1', '', '::int', ' e']
  const literal = ['1', '42', '007', '1.5', '1.', '.5', '2e10', '2E-3', '3e', '3e+', '1x', "'a'", "'it''s'", "''", "'é'", "'a\0b'", "'open", '1.2.3', 'x']
  const texts = (): string => {
    let s = pick(r, ['SELECT ', 'SELECT x FROM t WHERE a = ', 'UPDATE t SET a = '])
    const n = 1 + Math.floor(r() * 3)
    for (let i = 0; i < n; i++) s += pick(r, around) + pick(r, literal) + pick(r, around)
    return s
  }
  let hits = 0
  let checked = 0
  for (let i = 0; i < 20000; i++) {
    const a = texts()
    const sa = shapeOf(a)
    if (sa === undefined || a.includes('\0')) continue
    const last = new LastShape<string>()
    last.remember(a, sa, 'v')
    for (let k = 0; k < 5; k++) {
      // another text of the same fragments with other literals, or any other text
      const b = r() < 0.7 ? a.replace(/\d+|'[^']*'/g, () => pick(r, literal)) : texts()
      const got = matchQuery(last, b)
      checked++
      if (got === undefined) continue
      hits++
      const sb = shapeOf(b)
      if (sb === undefined || sb.text !== sa.text || sb.kinds !== sa.kinds || JSON.stringify(sb.literals) !== JSON.stringify(got)) {
        t.fail(`LastShape matched ${JSON.stringify(b)} against ${JSON.stringify(a)} as ${JSON.stringify(got)}; shapeOf reads ${JSON.stringify(sb)}`)
        return
      }
    }
  }
  t.ok(hits > 1000, `${hits} of ${checked} texts matched, every one as shapeOf reads it`)
})
