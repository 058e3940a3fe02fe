/**
 * Grant scopes on collections: for Postgres `items` and `public.items` name one table whichever way
 * the grant and the statement write it, and no other schema's; Qdrant and Milvus names compare whole
 * (a Qdrant collection may be called `public.items`).
 */
import t from 'tap'
import type { GrantScope, Operation, Protocol } from '../../../decoders/types.js'
import { checkScope } from '../../../lib/identity/scope.js'

const op = (protocol: Protocol, collection: string | undefined, collections?: string[]): Operation => ({
  backend: protocol === 'postgres' ? 'pg' : protocol,
  protocol,
  method: protocol === 'postgres' ? 'SELECT' : 'Search',
  action: 'read',
  ...(collection !== undefined ? { collection } : {}),
  ...(collections !== undefined ? { collections } : {}),
  bulk: false,
  summary: {}
})
const admits = (scope: GrantScope, o: Operation): boolean => {
  try { checkScope(scope, o); return true } catch (e) {
    if ((e as { code?: string }).code !== 'VG_ERR_DENIED') throw e
    return false
  }
}

t.test('collections in a grant', async t => {
  const cases: Array<[string, string[], Operation, boolean]> = [
    ['pg: qualified grant, unqualified statement', ['public.items'], op('postgres', 'items'), true],
    ['pg: unqualified grant, qualified statement', ['items'], op('postgres', 'public.items'), true],
    ['pg: same spelling', ['items'], op('postgres', 'items'), true],
    ['pg: same spelling, qualified', ['public.items'], op('postgres', 'public.items'), true],
    ['pg: unqualified grant, other schema', ['items'], op('postgres', 'other.items'), false],
    ['pg: public grant, other schema', ['public.items'], op('postgres', 'other.items'), false],
    ['pg: other-schema grant, unqualified statement', ['other.items'], op('postgres', 'items'), false],
    ['pg: other-schema grant, public statement', ['other.items'], op('postgres', 'public.items'), false],
    ['pg: other-schema grant, same table', ['other.items'], op('postgres', 'other.items'), true],
    ['pg: another table', ['public.items'], op('postgres', 'users'), false],
    ['pg: a suffix is not a table', ['items'], op('postgres', 'public.old_items'), false],
    ['pg: join, every table in scope', ['public.items', 'users'], op('postgres', 'items', ['items', 'public.users']), true],
    ['pg: join, one table outside', ['public.items'], op('postgres', 'items', ['items', 'public.users']), false],
    ['pg: catalog name is not public', ['public.pg_authid'], op('postgres', 'pg_authid'), false],
    ['pg: catalog, qualified grant', ['pg_catalog.pg_class'], op('postgres', 'pg_class'), true],
    ['pg: no collection', ['items'], op('postgres', undefined), false],
    ['qdrant: names are whole (dots are part of a name)', ['items'], op('qdrant', 'public.items'), false],
    ['qdrant: and the other way', ['public.items'], op('qdrant', 'items'), false],
    ['qdrant: exact', ['docs.v2'], op('qdrant', 'docs.v2'), true],
    ['milvus: names are whole', ['items'], op('milvus', 'public.items'), false],
    ['milvus: exact', ['items'], op('milvus', 'items'), true]
  ]
  for (const [name, collections, o, ok] of cases) t.equal(admits({ collections }, o), ok, name)
})

t.test('the refusal names what is outside', async t => {
  t.throws(() => checkScope({ collections: ['items'] }, op('postgres', 'other.items')), { code: 'VG_ERR_DENIED', message: /collection other\.items is outside the grant's scope/ })
})
