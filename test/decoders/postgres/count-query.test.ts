/**
 * The blast-radius count query built from a parsed statement: same table, same WHERE, same
 * parameters (renumbered to the ones used), names quoted, clause spans proven by parsing the result
 * back; statements it cannot measure exactly have none.
 */
import t from 'tap'
import { countQuery, loadCountQuery, quoteIdent } from '../../../decoders/postgres/count-query.js'
import { decodeBindParams, decodeParseMessage, measurable } from '../../../lib/postgres/blast-radius.js'
import { MessageWriter, serialize } from '../../../decoders/postgres/writer.js'
import { classify, loadClassifier } from '../../../decoders/postgres/classify.js'

await loadCountQuery()
await loadClassifier()

const cases: Array<[string, string, string, number[]?]> = [
  ['no WHERE', 'DELETE FROM items', 'SELECT count(*) FROM "items"'],
  ['schema-qualified, WHERE with parameters in another order', 'DELETE FROM public.items WHERE id > $2 AND owner = $1 RETURNING *',
    'SELECT count(*) FROM "public"."items" WHERE (id > $1 AND owner = $2)', [2, 1]],
  ['a parameter used twice and one not used by the count', 'UPDATE items SET title = $1 WHERE id = $3 OR parent = $3',
    'SELECT count(*) FROM "items" WHERE (id = $1 OR parent = $1)', [3]],
  ['quoted identifiers keep their case and quotes', 'DELETE FROM "Docs"."My ""Items""" WHERE "Owner" = \'x\'',
    'SELECT count(*) FROM "Docs"."My ""Items""" WHERE ("Owner" = \'x\')'],
  ['unquoted names as the parser folds them', 'DELETE FROM Public.Items WHERE Id = 1', 'SELECT count(*) FROM "public"."items" WHERE (Id = 1)'],
  ['ONLY and an alias', 'DELETE FROM ONLY items AS i WHERE i.id < 10', 'SELECT count(*) FROM ONLY "items" AS "i" WHERE (i.id < 10)'],
  ['a subquery in WHERE', "DELETE FROM items WHERE owner IN (SELECT id FROM users WHERE name = 'o''brien' AND active)",
    'SELECT count(*) FROM "items" WHERE (owner IN (SELECT id FROM users WHERE name = \'o\'\'brien\' AND active))'],
  ['USING with a join counts each target row once', 'DELETE FROM items i USING users u JOIN orgs o USING (org) WHERE i.owner = u.id AND o.closed',
    'SELECT count(*) FROM "items" AS "i" WHERE EXISTS (SELECT 1 FROM users u JOIN orgs o USING (org) WHERE (i.owner = u.id AND o.closed))'],
  ['USING without WHERE', 'DELETE FROM items USING users', 'SELECT count(*) FROM "items" WHERE EXISTS (SELECT 1 FROM users)'],
  ['UPDATE ... FROM', 'UPDATE items SET score = s.v FROM scores s WHERE s.id = items.id AND s.v > $1',
    'SELECT count(*) FROM "items" WHERE EXISTS (SELECT 1 FROM scores s WHERE (s.id = items.id AND s.v > $1))', [1]],
  ['UPDATE with a subquery in SET', "UPDATE items SET n = (SELECT max(n) FROM items WHERE kind = 'a') WHERE kind = 'b'",
    'SELECT count(*) FROM "items" WHERE (kind = \'b\')'],
  ['WITH is carried over', 'WITH old AS (SELECT id FROM items WHERE ts < now() - interval \'1 day\') DELETE FROM items WHERE id IN (SELECT id FROM old)',
    'WITH old AS (SELECT id FROM items WHERE ts < now() - interval \'1 day\') SELECT count(*) FROM "items" WHERE (id IN (SELECT id FROM old))'],
  ['comments and newlines inside, a trailing comment dropped', 'DELETE FROM items -- all of them?\n WHERE tenant /* 7 */ = 7 -- yes\n',
    'SELECT count(*) FROM "items" WHERE (tenant /* 7 */ = 7)'],
  ['non-ASCII text', "UPDATE tëxt SET a = 1 WHERE b = 'é' RETURNING a", 'SELECT count(*) FROM "tëxt" WHERE (b = \'é\')'],
  ['TRUNCATE of several tables', 'TRUNCATE items, ONLY archive.items, "Odd"', 'SELECT (SELECT count(*) FROM "items") + (SELECT count(*) FROM ONLY "archive"."items") + (SELECT count(*) FROM "Odd")'],
  ['DROP TABLE', 'DROP TABLE IF EXISTS a, s.b CASCADE', 'SELECT (SELECT count(*) FROM "a") + (SELECT count(*) FROM "s"."b")'],
  ['hostile names stay names', 'DROP TABLE "x""; DROP TABLE users; --"', 'SELECT count(*) FROM "x""; DROP TABLE users; --"'],
  ['a hostile alias', 'DELETE FROM t AS "a"" WHERE true; --" WHERE 1 = 1', 'SELECT count(*) FROM "t" AS "a"" WHERE true; --" WHERE (1 = 1)']
]

t.test('count queries', async t => {
  for (const [name, sql, want, params] of cases) {
    const q = countQuery(sql)
    t.same(q, { sql: want, params: params ?? [] }, name)
  }
})

t.test('the statement of a multi-statement text is the one asked for', async t => {
  const sql = "SELECT 1; DELETE FROM a WHERE x = 'y;z'; TRUNCATE b"
  t.same(countQuery(sql, 1), { sql: 'SELECT count(*) FROM "a" WHERE (x = \'y;z\')', params: [] })
  t.same(countQuery(sql, 2), { sql: 'SELECT count(*) FROM "b"', params: [] })
  t.equal(countQuery(sql, 0), undefined, 'a SELECT has none')
  t.equal(countQuery(sql, 3), undefined, 'no such statement')
})

t.test('no count query where it could not be exact', async t => {
  for (const sql of [
    'DELETE FROM t WHERE CURRENT OF c', // a cursor of the client's own session
    'SELECT * FROM t',
    'INSERT INTO t VALUES (1)',
    'DROP INDEX i',
    'DROP VIEW v',
    'WITH delete AS (SELECT 1) DELETE FROM t', // a CTE named like the verb: the spans are ambiguous
    'DELETE FROM', // not SQL
    'EXPLAIN ANALYZE DELETE FROM t'
  ]) t.equal(countQuery(sql), undefined, sql)
})

t.test('quoteIdent', async t => {
  t.equal(quoteIdent('a'), '"a"')
  t.equal(quoteIdent('a"b'), '"a""b"')
  t.equal(quoteIdent(''), '""')
})

t.test('which statements may be measured', async t => {
  const m = (sql: string): boolean => measurable(classify(sql).statements[0])
  t.ok(m('DELETE FROM t'))
  t.ok(m('UPDATE t SET a = 1'))
  t.ok(m('TRUNCATE t'))
  t.ok(m('DROP TABLE t'))
  t.notOk(m('SELECT 1'))
  t.notOk(m('INSERT INTO t VALUES (1)'))
  t.notOk(measurable(undefined))
})

t.test('Parse and Bind as the blast radius reads them', async t => {
  const parse = serialize.parse('s1', 'DELETE FROM t WHERE a = $1 AND b = $2', [25, 0])
  t.same(decodeParseMessage(parse), { sql: 'DELETE FROM t WHERE a = $1 AND b = $2', types: [25, 0] })
  const w = new MessageWriter().cstring('').cstring('s1').int16(2).int16(0).int16(1)
  w.int16(3).int32(1).bytes(Buffer.from('x')).int32(-1).int32(4).bytes(Buffer.from([0, 0, 0, 7])).int16(0)
  t.same(decodeBindParams(w.finish(0x42)), { formats: [0, 1, 0], values: [Buffer.from('x'), null, Buffer.from([0, 0, 0, 7])] }, 'per-parameter formats, NULL, binary')
  const one = new MessageWriter().cstring('').cstring('').int16(1).int16(1).int16(1).int32(2).bytes(Buffer.from([0, 9])).int16(0)
  t.same(decodeBindParams(one.finish(0x42)), { formats: [1], values: [Buffer.from([0, 9])] }, 'one format for all')
  t.same(decodeBindParams(serialize.bind('', '', ['a', 'b'])), { formats: [0, 0], values: [Buffer.from('a'), Buffer.from('b')] }, 'no formats: text')
  t.throws(() => decodeBindParams(Buffer.from([0x42, 0, 0, 0, 6, 0])), { code: 'VG_ERR_MALFORMED' }, 'a short Bind')
})
