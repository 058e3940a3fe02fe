import t from 'tap'
import { LITERAL_BASE, shapeOf } from '../../../decoders/postgres/sql-literals.js'

const p = (i: number): string => `$${LITERAL_BASE + i}`

t.same(shapeOf("SELECT * FROM t WHERE a = 'x''y' AND b = 12.5e-3"), { text: `SELECT * FROM t WHERE a = ${p(0)} AND b = ${p(1)}`, literals: ["x'y", '12.5e-3'], kinds: 'sn' })
t.same(shapeOf('SELECT "we""ird 1", t1.c2 FROM t1 WHERE x = $1'), { text: 'SELECT "we""ird 1", t1.c2 FROM t1 WHERE x = $1', literals: [], kinds: '' })
// a client's own parameter numbered like our literals would be taken for one of them: not shaped
t.equal(shapeOf(`SELECT lower(${p(0)}), 'x'`), undefined)
for (const sql of [
  "SELECT E'\\x'", 'SELECT 1 -- c', 'SELECT /* c */ 1', 'SELECT $$x$$', 'SELECT $tag$x$tag$', "SELECT U&'d'", "SELECT x'1f'",
  'SELECT 1from t', 'SELECT 0x1f', 'SELECT 1_000', "SELECT 'open", 'SELECT "open', 'SELECT .5', 'SELECT 1.'
]) {
  t.equal(shapeOf(sql), undefined, `left to the parser: ${sql}`)
}
