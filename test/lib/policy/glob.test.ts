import t from 'tap'
import { CollectionGlobs, GlobSet, globMatch, globProblem } from '../../../lib/policy/glob.js'

t.test('star-only globs are decided without a RegExp, and agree with one', async t => {
  const patterns = ['*', 'a*', '*a', 'a*b', '*a*', 'a*b*c', '*.secret_1*', 'x**y', '**', 'ab*ab', '*ab*ab*', 'a?c', '?*', 'a.b*']
  const names = ['', 'a', 'b', 'ab', 'abab', 'ababab', 'aXbYc', 'acb', 'abc', 'x', 'xy', 'xzy', 'public.secret_1', 'public.secret_12', 'secret_1', 'a.bc', 'aXb.c', 'ab.ab']
  for (const p of patterns) {
    const set = new GlobSet()
    set.add(p)
    for (const n of names) t.equal(set.test(n), globMatch(p, n), `${p} ~ ${JSON.stringify(n)}`)
  }
  t.equal(globMatch('ab*ab', 'ab'), false, 'prefix and suffix may not overlap')
  t.equal(globMatch('*ab*ab*', 'abab'), true)
  t.equal(globMatch('a*b*c', 'acb'), false, 'pieces in order')
})

t.test('problems are named', async t => {
  t.equal(globProblem('docs_*'), undefined)
  t.equal(globProblem('public.items'), undefined)
  t.match(globProblem('docs[0-9]'), /only \* and \?/)
  t.match(globProblem('a b'), /only \* and \?/)
  t.match(globProblem('{a,b}'), /only \* and \?/)
  t.match(globProblem(''), /non-empty/)
  t.match(globProblem('.items'), /a name like/)
  t.match(globProblem(3), /a string/)
})

t.test('Postgres forms: allow reads an unqualified name as public, deny as any schema', async t => {
  const allow = new CollectionGlobs(['items'], false)
  const deny = new CollectionGlobs(['items'], true)
  t.equal(allow.test('items', 'postgres'), true)
  t.equal(allow.test('public.items', 'postgres'), true)
  t.equal(allow.test('other.items', 'postgres'), false)
  t.equal(deny.test('other.items', 'postgres'), true)
  t.equal(deny.test('items', 'qdrant'), true, 'flat for Qdrant')
  t.equal(deny.test('other.items', 'qdrant'), false, 'flat: the whole name')
})

t.test('Postgres: qualified and unqualified names decide each other, both ways, for every effect', async t => {
  // [patterns, name, allow matches, deny/approve matches]
  const cases: Array<[string[], string, boolean, boolean]> = [
    [['public.items'], 'items', true, true],
    [['public.items'], 'public.items', true, true],
    [['public.items'], 'other.items', false, false],
    [['items'], 'public.items', true, true],
    [['items'], 'items', true, true],
    [['items'], 'other.items', false, true],
    [['public.*'], 'items', true, true],
    [['public.*'], 'other.items', false, false],
    [['*.items'], 'items', true, true],
    [['other.items'], 'items', false, false],
    [['other.*'], 'items', false, false],
    [['pub*.items'], 'items', true, true],
    [['public.it?ms'], 'items', true, true],
    // an unqualified pg_ name may be the catalog's: public rules never allow it
    [['public.*'], 'pg_authid', false, true],
    [['public.pg_foo'], 'pg_foo', false, true],
    [['pg_catalog.*'], 'pg_authid', true, true],
    [['pg_authid'], 'pg_authid', true, true],
    [['pg_authid'], 'pg_catalog.pg_authid', true, true],
    [['pg_authid'], 'public.pg_authid', false, true],
    [['*'], 'pg_authid', true, true]
  ]
  for (const [patterns, name, allow, restrictive] of cases) {
    t.equal(new CollectionGlobs(patterns, false).test(name, 'postgres'), allow, `allow ${patterns.join(',')} ~ ${name}`)
    t.equal(new CollectionGlobs(patterns, true).test(name, 'postgres'), restrictive, `deny ${patterns.join(',')} ~ ${name}`)
  }
})

t.test('Qdrant: no schema logic, dots are part of the name', async t => {
  for (const restrictive of [false, true]) {
    t.equal(new CollectionGlobs(['public.items'], restrictive).test('items', 'qdrant'), false)
    t.equal(new CollectionGlobs(['items'], restrictive).test('public.items', 'qdrant'), false)
    t.equal(new CollectionGlobs(['public.*'], restrictive).test('items', 'qdrant'), false)
    t.equal(new CollectionGlobs(['docs.*'], restrictive).test('docs.v2', 'qdrant'), true)
  }
})

t.test('Milvus: a name without a database is the default database\'s in an allow rule, any database\'s in a deny rule', async t => {
  // [patterns, collection, database, allow matches, deny/approve matches]
  const cases: Array<[string[], string, string, boolean, boolean]> = [
    [['docs'], 'docs', 'default', true, true],
    [['docs'], 'docs', 'hr', false, true],
    [['hr.docs'], 'docs', 'hr', true, true],
    [['hr.docs'], 'docs', 'default', false, false],
    [['default.docs'], 'docs', 'default', true, true],
    [['hr.*'], 'salaries', 'hr', true, true],
    [['hr.*'], 'salaries', 'default', false, false],
    [['*.docs'], 'docs', 'hr', true, true],
    [['doc*'], 'docs', 'hr', false, true],
    [['doc*'], 'docs', 'default', true, true],
    [['*'], 'docs', 'hr', true, true]
  ]
  for (const [patterns, name, database, allow, restrictive] of cases) {
    t.equal(new CollectionGlobs(patterns, false).test(name, 'milvus', database), allow, `allow ${patterns.join(',')} ~ ${database}.${name}`)
    t.equal(new CollectionGlobs(patterns, true).test(name, 'milvus', database), restrictive, `deny ${patterns.join(',')} ~ ${database}.${name}`)
  }
  t.equal(new CollectionGlobs(['docs'], false).test('docs', 'milvus'), true, 'no database named: default')
})
