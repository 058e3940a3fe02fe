import type { GrantScope, Operation } from '../../decoders/types.js'
import { VecgateError } from '../errors.js'
import { MILVUS_DEFAULT_DATABASE, qualifiedTable } from '../policy/table-name.js'

/**
 * A grant's scope bounds every request it carries, whatever the policy says. Returns normally when the
 * operation is inside the scope; otherwise throws VG_ERR_DENIED naming what is outside.
 */
export function checkScope (scope: GrantScope | undefined, op: Operation): void {
  if (scope === undefined) return
  if (scope.backend !== undefined && scope.backend !== op.backend) {
    throw outside(`backend ${op.backend}`)
  }
  if (scope.actions !== undefined && !scope.actions.includes(op.action)) {
    throw outside(`action ${op.action}`)
  }
  if (scope.collections !== undefined) {
    const wanted = op.collections ?? (op.collection !== undefined ? [op.collection] : [])
    if (wanted.length === 0) throw outside('a request that names no collection')
    for (const c of wanted) {
      if (!scope.collections.some(s => collectionMatches(s, c, op))) throw outside(`collection ${c}`)
    }
  }
  if (scope.ids !== undefined) {
    // An id-scoped grant only admits requests that name their ids, all of them inside the scope:
    // a filter, a search or a scroll could return any record.
    if (op.ids === undefined || op.ids.length === 0 || op.filter !== undefined || op.bulk) {
      throw outside('a request that is not limited to the granted ids')
    }
    const allowed = new Set(scope.ids.map(String))
    for (const id of op.ids) if (!allowed.has(String(id))) throw outside(`id ${String(id)}`)
  }
}

/**
 * Grant collections are exact names, no globs. For Postgres, `items` and `public.items` are one table
 * either way round (the grant may be written one way and the statement the other), and `items` is
 * never `other.items` (lib/policy/table-name.ts says why). For Milvus, `docs` is the `default`
 * database's collection and `hr.docs` the `hr` database's. Qdrant names compare whole: a Qdrant
 * collection may be called `public.items` and is then not `items`.
 */
function collectionMatches (scoped: string, actual: string, op: Operation): boolean {
  if (op.protocol === 'milvus') return milvusName(scoped) === `${op.database ?? MILVUS_DEFAULT_DATABASE}.${actual}`
  if (scoped === actual) return true
  return op.protocol === 'postgres' && qualifiedTable(scoped) === qualifiedTable(actual)
}

const milvusName = (name: string): string => name.includes('.') ? name : `${MILVUS_DEFAULT_DATABASE}.${name}`

function outside (what: string): VecgateError {
  return new VecgateError('VG_ERR_DENIED', `${what} is outside the grant's scope`, { rule: 'grant-scope' })
}
