/**
 * Property: whatever DELETE, UPDATE, TRUNCATE or DROP TABLE text a client sends (hostile names,
 * comments, string and dollar-quoted literals holding SQL, semicolons, parameters), the count query is
 * either absent or exactly one SELECT statement that counts from the statement's own target table and
 * writes nothing itself, with every $n it uses mapped to a parameter of the original.
 */
import t from 'tap'
import { createRequire } from 'node:module'
import { countQuery, loadCountQuery } from '../../../decoders/postgres/count-query.js'

await loadCountQuery()
const lib = createRequire(import.meta.url)('libpg-query') as { parseSync: (sql: string) => { stmts?: Array<{ stmt: Record<string, any> }> } }

const SEED = Number(process.env.VECGATE_SEED ?? 20261129)
let state = SEED
const rnd = (n: number): number => { state = (state * 1103515245 + 12345) & 0x7fffffff; return state % n }
const pick = <T>(xs: T[]): T => xs[rnd(xs.length)]

const NAMES = ['items', 'Items', 'x"; DROP TABLE users; --', 'a b', 'ünï', 'where', 'select', 'x)', "o'k", '$1', '--', '/*', 'tëst']
const quote = (n: string): string => `"${n.replace(/"/g, '""')}"`
const ident = (): string => { const n = pick(NAMES); return /^[a-z_][a-z0-9_]*$/.test(n) && !['where', 'select'].includes(n) && rnd(2) === 0 ? n : quote(n) }
const table = (): string => (rnd(3) === 0 ? `${ident()}.` : '') + ident()
const literal = (): string => pick([
  "'; DELETE FROM users; --'", "'it''s'", '$$ WHERE 1=1; DROP TABLE x $$', '$q$ ) RETURNING * $q$', '42', '-1.5', 'NULL', 'true',
  `$${1 + rnd(4)}`, "E'\\\\x00'", "'where'"
])
const comment = (): string => pick(['', ' /* WHERE ; */ ', ' -- RETURNING\n ', ' '])
const cond = (depth = 0): string => {
  switch (rnd(depth > 2 ? 3 : 6)) {
    case 0: return `${ident()} = ${literal()}`
    case 1: return `${ident()} IS NOT NULL`
    case 2: return `${ident()} IN (${literal()}, ${literal()})`
    case 3: return `(${cond(depth + 1)}) AND${comment()}${cond(depth + 1)}`
    case 4: return `${ident()} IN (SELECT ${ident()} FROM ${table()} WHERE ${cond(depth + 1)})`
    default: return `NOT (${cond(depth + 1)} OR ${cond(depth + 1)})`
  }
}
function statement (): string {
  const alias = rnd(3) === 0 ? ` AS ${ident()}` : ''
  const where = rnd(4) === 0 ? '' : ` WHERE${comment()}${cond()}`
  const returning = rnd(4) === 0 ? ` RETURNING ${ident()}` : ''
  const withClause = rnd(5) === 0 ? `WITH ${ident()} AS (SELECT ${literal()})${comment()}` : ''
  switch (rnd(5)) {
    case 0: return `${withClause}DELETE FROM ${rnd(4) === 0 ? 'ONLY ' : ''}${table()}${alias}${rnd(3) === 0 ? ` USING ${table()} JOIN ${table()} USING (${ident()})` : ''}${where}${returning}`
    case 1: return `${withClause}UPDATE ${table()}${alias} SET ${ident()} = ${literal()}${rnd(3) === 0 ? ` FROM ${table()}` : ''}${where}${returning}`
    case 2: return `TRUNCATE ${table()}${rnd(2) === 0 ? `, ONLY ${table()}` : ''}`
    case 3: return `DROP TABLE IF EXISTS ${table()}, ${table()}`
    default: return `SELECT 1;${comment()}DELETE FROM ${table()}${where}`
  }
}

const WRITES = ['InsertStmt', 'UpdateStmt', 'DeleteStmt', 'MergeStmt', 'TruncateStmt', 'DropStmt']
function contains (n: unknown, keys: string[]): boolean {
  if (Array.isArray(n)) return n.some(x => contains(x, keys))
  if (n === null || typeof n !== 'object') return false
  return Object.entries(n as Record<string, unknown>).some(([k, v]) => keys.includes(k) || contains(v, keys))
}
function paramsOf (n: unknown, out: number[] = []): number[] {
  if (Array.isArray(n)) { for (const x of n) paramsOf(x, out); return out }
  if (n === null || typeof n !== 'object') return out
  for (const [k, v] of Object.entries(n as Record<string, unknown>)) {
    if (k === 'ParamRef') out.push((v as { number: number }).number)
    else paramsOf(v, out)
  }
  return out
}

t.test(`2000 generated statements (seed ${SEED})`, async t => {
  let built = 0
  let parsed = 0
  for (let i = 0; i < 2000; i++) {
    const sql = statement()
    let tree
    try { tree = lib.parseSync(sql) } catch { continue }
    parsed++
    const index = (tree.stmts?.length ?? 1) - 1
    const original = tree.stmts![index].stmt
    const q = countQuery(sql, index)
    if (q === undefined) continue
    built++
    const back = lib.parseSync(q.sql).stmts ?? []
    if (back.length !== 1 || back[0].stmt.SelectStmt === undefined) { t.fail(`not one SELECT: ${q.sql} (from ${sql})`); continue }
    const select = back[0].stmt.SelectStmt
    // a WITH of the client's own may hold anything: it is carried over, and the read-only transaction stops it
    const body = { ...select, withClause: undefined }
    if (contains(body, WRITES) && !contains(original.DeleteStmt?.whereClause ?? original.UpdateStmt?.whereClause, WRITES)) {
      t.fail(`the count writes: ${q.sql} (from ${sql})`)
    }
    const target = (original.DeleteStmt ?? original.UpdateStmt)?.relation
    if (target !== undefined) {
      const from = select.fromClause?.[0]?.RangeVar
      if (select.fromClause?.length !== 1 || from?.relname !== target.relname || from?.schemaname !== target.schemaname) t.fail(`not counted from the target table: ${q.sql} (from ${sql})`)
    }
    const used = [...new Set(paramsOf(back))].sort((a, b) => a - b)
    if (used.length !== q.params.length || used.some((n, k) => n !== k + 1)) t.fail(`parameters not 1..${q.params.length}: ${q.sql}`)
    const originals = new Set(paramsOf(original))
    if (q.params.some(n => !originals.has(n))) t.fail(`a parameter the statement does not have: ${q.sql} (from ${sql})`)
  }
  t.ok(parsed > 1000, `${parsed} of the generated texts are SQL`)
  t.ok(built > parsed / 2, `${built} count queries built`)
})
