import t from 'tap'
import { classify, loadClassifier } from '../../../decoders/postgres/classify.js'

await loadClassifier()
const one = (sql: string) => {
  const c = classify(sql)
  t.equal(c.statements.length, 1, sql)
  return c.statements[0]
}

t.test('actions', async t => {
  t.match(one("SELECT id FROM items ORDER BY embedding <-> '[1,2,3]' LIMIT 5"), { method: 'SELECT', action: 'search', tables: ['items'], limit: undefined, limitLiteral: 1 })
  t.match(one("SELECT id FROM items ORDER BY embedding <=> $1 LIMIT 5"), { action: 'search' })
  t.match(one('SELECT * FROM public.items WHERE id = 3'), { action: 'read', tables: ['public.items'], bulk: false })
  t.match(one('INSERT INTO items (id) VALUES (1)'), { action: 'write', tables: ['items'] })
  t.match(one('UPDATE items SET a = 1 WHERE id = 2'), { action: 'write', bulk: false })
  t.match(one('UPDATE items SET a = 1'), { action: 'write', bulk: true })
  t.match(one('DELETE FROM items WHERE id = 1'), { action: 'delete', bulk: false })
  t.match(one('DELETE FROM items'), { action: 'delete', bulk: true })
  t.match(one('TRUNCATE items, other'), { action: 'delete', bulk: true, tables: ['items', 'other'] })
  t.match(one('COPY items FROM STDIN'), { action: 'write', tables: ['items'] })
  t.match(one('COPY items TO STDOUT'), { action: 'read', bulk: true })
  t.match(one('COPY (SELECT id FROM items WHERE id < 3) TO STDOUT'), { action: 'read', bulk: false, tables: ['items'] })
  t.match(one("COPY items FROM PROGRAM 'curl evil'"), { action: 'admin' })
  t.match(one("COPY items TO '/tmp/x'"), { action: 'admin' })
  t.match(one('DROP TABLE items'), { action: 'admin', bulk: true, tables: ['items'] })
  // a quoted name with a dot stays quoted: it is public's table "x.items", never schema x's items
  t.same(one('SELECT * FROM "x.items"').tables, ['"x.items"'])
  t.same(one('SELECT * FROM "a""b".items').tables, ['"a""b".items'])
  t.same(one('SELECT * FROM x."y.z"').tables, ['x."y.z"'])
  t.same(one('DROP TABLE "x.items"').tables, ['"x.items"'])
  t.same(one('SELECT * FROM "Items"').tables, ['Items'])
  t.match(one('CREATE EXTENSION vector'), { action: 'admin' })
  t.match(one('CREATE TABLE items (id bigserial, embedding vector(3))'), { action: 'admin' })
  t.match(one('CREATE INDEX ON items USING hnsw (embedding vector_l2_ops)'), { method: 'CREATE INDEX', action: 'admin', tables: ['items'] })
  t.match(one('SELECT 1 LIMIT 7'), { limitLiteral: 1 })
})

t.test('evasions are seen through', async t => {
  t.match(one('WITH gone AS (DELETE FROM items RETURNING *) SELECT * FROM gone'), { action: 'delete', tables: ['items'] })
  t.match(one("SELECT query_to_xml('select * from secret', true, true, '')"), { action: 'admin' })
  t.match(one("SELECT set_config('search_path', 'secret', false)"), { action: 'admin' })
  t.match(one('SET ROLE admin'), { action: 'admin', control: false })
  t.match(one('SET SESSION AUTHORIZATION admin'), { action: 'admin', control: false })
  t.match(one('SET search_path = secret'), { action: 'admin' })
  t.match(one('SET datestyle = ISO'), { control: true })
  t.match(one("DO $$ BEGIN DELETE FROM items; END $$"), { action: 'admin' })
  t.match(one('EXPLAIN ANALYZE DELETE FROM items'), { action: 'delete', bulk: true })
  t.match(one('PREPARE p AS DELETE FROM items'), { action: 'delete' })
  t.match(one('EXECUTE p'), { action: 'admin' })
  t.match(one('SELECT * INTO copy_of FROM items'), { action: 'admin' })
  t.match(one("SELECT nextval('s')"), { action: 'write' })
  const multi = classify("SELECT 1; /* ; */ DELETE FROM items WHERE note = ';--'; -- trailing\nSELECT $$;$$")
  t.same(multi.statements.map(s => s.action), ['read', 'delete', 'read'], 'statements split by the real grammar')
  t.same(classify("SELECT 'a'';DELETE FROM items;--'").statements.map(s => s.action), ['read'], 'quotes inside strings')
  t.throws(() => classify('SELEC 1'), { code: 'VG_ERR_MALFORMED' })
  t.throws(() => classify('SELECT 1from items'), { code: 'VG_ERR_MALFORMED' }, 'junk glued to a number is not guessed at')
  t.same(classify('').statements, [])
  t.match(one('BEGIN'), { control: true, method: 'BEGIN' })
  t.match(one('DEALLOCATE s1'), { control: true, forgets: { statement: 's1' } })
  t.match(one('DISCARD ALL'), { control: true, forgets: { all: true } })
})

t.test('a function call is a read only when it is a known read-only built-in', async t => {
  for (const sql of [
    'SELECT wipe_items()', 'SELECT * FROM wipe_items()', 'SELECT id FROM items WHERE id = my_check(id)',
    'SELECT myschema.lower(title) FROM items', 'SELECT public.l2_distance(embedding, embedding) FROM items',
    "SELECT pg_read_file('/etc/passwd')", "SELECT lo_import('/etc/passwd')", "SELECT dblink_exec('x', 'DELETE FROM items')",
    'SELECT "LOWER"(title) FROM items', 'WITH x AS (SELECT wipe_items()) SELECT * FROM x',
    'SELECT id FROM items ORDER BY my_distance(embedding) LIMIT 3', 'SELECT count(*) FROM items GROUP BY my_bucket(id)'
  ]) t.match(one(sql), { action: 'admin' }, sql)
  for (const sql of [
    'SELECT count(*), sum(id), avg(id), min(id), max(id), array_agg(id), string_agg(title, \',\') FROM items',
    'SELECT json_agg(i), jsonb_agg(i), jsonb_build_object(\'a\', 1), to_jsonb(i) FROM items i',
    'SELECT coalesce(title, \'\'), nullif(id, 0), greatest(id, 1), least(id, 2), id::text, CAST(id AS int) FROM items',
    'SELECT lower(title), upper(title), length(title), substring(title FROM 1 FOR 3), trim(title), pg_catalog.lower(title) FROM items',
    'SELECT now(), current_timestamp, extract(year FROM now()), date_trunc(\'day\', now()), random()',
    'SELECT * FROM generate_series(1, 3) g, unnest(ARRAY[1, 2]) u', 'SELECT pg_sleep(0.1)',
    'SELECT row_number() OVER (), rank() OVER (ORDER BY id), lag(id) OVER (ORDER BY id) FROM items',
    'SELECT l2_distance(embedding, embedding), cosine_distance(embedding, embedding), inner_product(embedding, embedding), vector_dims(embedding), vector_norm(embedding), l2_normalize(embedding), avg(embedding) FROM items'
  ]) t.match(one(sql), { action: 'read' }, sql)
  t.match(one("SELECT id, l2_distance(embedding, '[1,2]') FROM items ORDER BY embedding <-> '[1,2]' LIMIT 5"), { action: 'search' })
})

t.test('the cache keys on the shape, and the journal text carries no literals', async t => {
  const a = classify("SELECT * FROM items WHERE email = 'a@x.io' AND id = 1")
  const b = classify("SELECT * FROM items WHERE email = 'b@y.io' AND id = 2")
  t.equal(a.statements, b.statements, 'same cached classification')
  t.same(a.literals, ['a@x.io', '1'])
  t.same(b.literals, ['b@y.io', '2'])
  t.notMatch(a.statements[0].text, /a@x\.io/)
  const v = classify("INSERT INTO items (embedding) VALUES ('[0.1,0.2,0.3]')")
  t.notMatch(v.statements[0].text, /0\.1/, 'vectors are not journaled whole')
  const iv = classify("SELECT now() - interval '1 day' FROM items")
  t.match(iv.statements[0], { action: 'read', tables: ['items'] })
})

t.test('what a statement relies on in the database\'s catalog (lib/postgres/catalog.ts judges it)', async t => {
  const deps = (sql: string): string[] => [...(one(sql).catalog ?? [])].sort()
  t.same(deps('SELECT lower(5)'), ['coerce', 'f:lower', 't:lower'], 'an unqualified built-in name: an overload may win')
  t.same(deps("SELECT lower('X')"), ['coerce', 's:lower', 't:lower'], 'quoted literals only: the string category decides (docs 10.3 step 4.e)')
  t.same(deps("SELECT lower('X') FROM t WHERE a = 1"), ['coerce', 'o:=', 's:lower', 't:lower'])
  t.same(deps("SELECT pg_catalog.lower('X')"), ['coerce', 't:lower'], 'pg_catalog.lower is the built-in function (a type named lower would still be a cast)')
  t.same(deps('SELECT 1 === 2'), ['coerce', 'o:==='])
  t.same(deps('SELECT 1 OPERATOR(pg_catalog.+) 2'), ['coerce'])
  t.same(deps('SELECT 1 OPERATOR(public.+) 2'), ['coerce', 'o:+'])
  t.same(deps('SELECT 5::tag'), ['coerce', 't:tag'])
  t.same(deps('SELECT CAST(5 AS tag)'), ['coerce', 't:tag'])
  t.same(deps('SELECT ARRAY[5]::tag[]'), ['coerce', 't:_tag', 't:tag'], 'the element type\'s cast, or one to the array type')
  t.same(deps('SELECT text(v) FROM t'), ['coerce', 'f:text', 't:text'], 'a call with one argument may be a cast')
  t.same(deps('SELECT a FROM t WHERE flag'), ['coerce'], 'a bare column as a condition is cast to boolean')
  t.same(deps('SELECT a FROM t WHERE b BETWEEN 1 AND 2'), ['coerce', 'o:<', 'o:<=', 'o:>', 'o:>='])
  t.same(deps('SELECT a FROM t ORDER BY a'), ['o:<', 'o:>'], 'sorting uses the type\'s ordering operators')
  t.same(deps('SELECT DISTINCT a FROM t'), ['o:<', 'o:='])
  t.same(deps('SELECT a FROM t UNION SELECT b FROM u'), ['coerce', 'o:<', 'o:='])
  t.same(deps("SELECT doc->>'k' FROM t WHERE doc @> '{}'"), ['coerce', 'o:->>', 'o:@>'])
  t.same(deps("SELECT id FROM items ORDER BY embedding <-> '[1,2,3]' LIMIT 5"), ['coerce', 'o:<', 'o:<->', 'o:>'])
  t.same(deps('INSERT INTO t (a) VALUES (1)'), ['coerce'], 'storing a value may apply an assignment cast')
  t.equal(one('SELECT a, b FROM t').catalog, undefined, 'nothing to resolve: no catalog read needed')
  t.equal(one('SELECT wipe_items()').catalog, undefined, 'already admin')
  // the same shape with a number and with a string are different classifications
  t.same(deps('SELECT lower(7)'), ['coerce', 'f:lower', 't:lower'])
  t.same(deps("SELECT lower('7')"), ['coerce', 's:lower', 't:lower'])
})
