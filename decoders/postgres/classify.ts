import { createRequire } from 'node:module'
import type { Action } from '../types.js'
import { VecgateError } from '../../lib/errors.js'
import { LITERAL_BASE, shapeOf, type Shape } from './sql-literals.js'
import { READ_ONLY_FUNCTIONS } from './read-only-functions.js'

/**
 * SQL → what each statement does, using PostgreSQL's own grammar (libpg-query, the server's parser
 * compiled to WASM). THREATS.md "Classification evasion": multi-statement strings, comments, dollar
 * quoting and data-modifying CTEs are the parser's business, not regular expressions'; anything not
 * understood is `admin`; text the parser rejects is refused.
 */

export interface StatementClass {
  /** 'SELECT', 'INSERT', 'CREATE INDEX', 'BEGIN', ... */
  method: string
  action: Action
  /** schema-qualified as written: 'items', 'public.items' */
  tables: string[]
  bulk: boolean
  /**
   * Transaction and session control that touches no data (BEGIN, COMMIT, SET datestyle, SHOW,
   * DISCARD, LISTEN ...): forwarded without asking the policy.
   */
  control: boolean
  /** LIMIT as a number, or an index into the query's literals */
  limit?: number
  limitLiteral?: number
  /** the statement with its literal values replaced by $n: what the journal keeps */
  text: string
  /** DEALLOCATE / DISCARD: the relay forgets prepared statements too */
  forgets?: { statement?: string, all?: boolean }
  /** DECLARE names a cursor; FETCH reads one: judged as the cursor's own query */
  declares?: string
  fetches?: string
  /**
   * What PostgreSQL resolves against the database's own catalog when it runs this statement, as keys of
   * lib/postgres/catalog.ts: `f:lower` an unqualified call of a read-only built-in name, `o:+` an
   * operator, `t:mytype` a cast to a type, `coerce` expressions where an implicit cast may apply.
   * Undefined when there is none. A read stays a read only while the backend's catalog has no
   * user-defined object behind any of them (PostgreSQL docs 10.3 "Functions": `lower(5)` resolves to a
   * `public.lower(int)` the user created, since pg_catalog's `lower(text)` does not match).
   */
  catalog?: string[]
  /** set by lib/postgres/catalog.ts on the admin copy: the name the database defines itself, or why the catalog is unknown */
  judged?: string
}

export interface Classified {
  statements: StatementClass[]
  /** literal values of this text, in the order the statements' $n refer to them */
  literals: string[]
  /** the shape the statements were classified by, when they hold for every text of that shape */
  shape?: Shape
}

type ParseSync = (sql: string) => { stmts?: Array<{ stmt: Record<string, unknown>, stmt_location?: number, stmt_len?: number }> }
type NormalizeSync = (sql: string) => string
let parseSync: ParseSync | undefined
let normalizeSync: NormalizeSync | undefined

/** Loads the parser (WASM, async) once at start; classification itself is synchronous. */
export async function loadClassifier (): Promise<void> {
  if (parseSync !== undefined) return
  const require = createRequire(import.meta.url)
  const mod = require('libpg-query') as { loadModule: () => Promise<void>, parseSync: ParseSync, normalizeSync: NormalizeSync }
  await mod.loadModule()
  parseSync = mod.parseSync
  normalizeSync = mod.normalizeSync
}

/**
 * Two generations instead of a strict LRU: a hit is one Map lookup (no re-insertion), and entries
 * not seen for a whole generation fall out when the old one is dropped.
 */
const GENERATION = 2048
let young = new Map<string, StatementClass[] | VecgateError>()
let old = new Map<string, StatementClass[] | VecgateError>()

function cached (key: string): StatementClass[] | VecgateError | undefined {
  const y = young.get(key)
  if (y !== undefined) return y
  const o = old.get(key)
  if (o !== undefined) remember(key, o)
  return o
}

function remember (key: string, v: StatementClass[] | VecgateError): void {
  if (young.size >= GENERATION) { old = young; young = new Map() }
  young.set(key, v)
}

/**
 * Classifies a query string. Results are cached by the text with its literals taken out, so repeated
 * shapes (`... WHERE aid = 17`, `... WHERE aid = 42`) cost one scan and a Map lookup. Throws
 * VG_ERR_MALFORMED when PostgreSQL's grammar rejects the text.
 */
export function classify (sql: string): Classified {
  if (parseSync === undefined) throw new VecgateError('VG_ERR_INTERNAL', 'SQL classifier not loaded: call loadClassifier() at start')
  const shape = shapeOf(sql)
  // which literals were quoted strings decides which function `f($1)` resolves to: part of the key
  const key = shape === undefined ? sql : shape.kinds.includes('s') ? `${shape.kinds}\u0000${shape.text}` : shape.text
  let hit = cached(key)
  if (hit === undefined) {
    literalKinds = shape?.kinds ?? ''
    hit = classifyText(shape?.text ?? sql, shape !== undefined && shape.literals.length > 0 ? sql : undefined)
    literalKinds = ''
    // these statements hold for these literals only (uncacheable): no shape to reuse them by
    if (UNCACHEABLE in hit) return { statements: hit as StatementClass[], literals: shape?.literals ?? [] }
    remember(key, hit)
  }
  if (hit instanceof VecgateError) throw hit
  return { statements: hit, literals: shape?.literals ?? [], shape }
}

function classifyText (text: string, original: string | undefined, literalsInText = false): StatementClass[] | VecgateError {
  if (text.trim() === '') return []
  let tree
  try {
    tree = parseSync!(text)
  } catch (e) {
    if (original !== undefined) {
      // the shaped text may not be valid where a literal was syntax (INTERVAL '1 day'): classify the
      // original instead; that result holds for these values only, so it is not cached under the shape
      const r = classifyText(original, undefined, true)
      if (r instanceof VecgateError) return r
      return uncacheable(r)
    }
    return new VecgateError('VG_ERR_MALFORMED', `SQL not understood: ${(e as Error).message}`, { hint: 'vecgate refuses statements PostgreSQL\'s parser rejects' })
  }
  const out: StatementClass[] = []
  for (const raw of tree.stmts ?? []) {
    const loc = raw.stmt_location ?? 0
    const len = raw.stmt_len ?? (text.length - loc)
    let stmtText = text.slice(loc, loc + len).trim()
    if (literalsInText || (original === undefined && shapeOf(stmtText) === undefined)) stmtText = summarize(stmtText)
    out.push(classifyStatement(raw.stmt, stmtText))
  }
  return out
}

/** Shape.kinds of the text being classified: what each $LITERAL_BASE+i parameter stood for */
let literalKinds = ''

/** Marks a result computed from one text's literals: it must not be reused for other values. */
const UNCACHEABLE = Symbol('uncacheable')
function uncacheable (r: StatementClass[]): StatementClass[] {
  (r as unknown as Record<symbol, boolean>)[UNCACHEABLE] = true
  return r
}

function summarize (stmt: string): string {
  try {
    return normalizeSync!(stmt).slice(0, 2000)
  } catch {
    return stmt.slice(0, 200)
  }
}

type Node = Record<string, unknown>

const RANK: Record<Action, number> = { read: 0, search: 1, write: 2, delete: 3, admin: 4 }
const worse = (a: Action, b: Action): Action => RANK[a] >= RANK[b] ? a : b

/** pgvector's distance operators (pgvector README "Querying"): ORDER BY one of these is a KNN search. */
const DISTANCE_OPS = new Set(['<->', '<=>', '<#>', '<+>', '<~>', '<%>'])

/**
 * Built-ins that change data but no more than a write would (sequences). Every other function not in
 * READ_ONLY_FUNCTIONS (read-only-functions.ts) is admin: user-defined ones may do anything.
 */
const WRITE_FUNCTIONS = new Set(['nextval', 'setval'])

/** SET of these changes who we are or what unqualified table names mean: not mere session control. */
const GUARDED_SETTINGS = new Set(['role', 'session_authorization', 'search_path'])

const CONTROL_STMTS = new Set([
  'TransactionStmt', 'VariableShowStmt', 'DiscardStmt', 'DeallocateStmt', 'ListenStmt', 'UnlistenStmt',
  'ClosePortalStmt', 'ConstraintsSetStmt', 'NotifyStmt'
])

const METHOD: Record<string, string> = {
  SelectStmt: 'SELECT', InsertStmt: 'INSERT', UpdateStmt: 'UPDATE', DeleteStmt: 'DELETE', MergeStmt: 'MERGE',
  TruncateStmt: 'TRUNCATE', CopyStmt: 'COPY', DropStmt: 'DROP', IndexStmt: 'CREATE INDEX', CreateStmt: 'CREATE TABLE',
  CreateExtensionStmt: 'CREATE EXTENSION', VariableSetStmt: 'SET', VariableShowStmt: 'SHOW', ExplainStmt: 'EXPLAIN',
  PrepareStmt: 'PREPARE', ExecuteStmt: 'EXECUTE', DeclareCursorStmt: 'DECLARE', FetchStmt: 'FETCH', DoStmt: 'DO',
  CreateTableAsStmt: 'CREATE TABLE AS', ViewStmt: 'CREATE VIEW', AlterTableStmt: 'ALTER TABLE', CallStmt: 'CALL'
}

function methodOf (type: string, node: Node): string {
  if (type === 'TransactionStmt') return String(node.kind ?? 'TRANS_STMT').replace('TRANS_STMT_', '').replace('_', ' ')
  return METHOD[type] ?? type.replace(/Stmt$/, '').replace(/([a-z])([A-Z])/g, '$1 $2').toUpperCase()
}

/**
 * A name part written as a quoted identifier with a dot or a quote in it (`"x.items"`) is kept quoted,
 * so it can never read as another schema's table (`x.items`) in grants, rules or who-saw; any other
 * part is the identifier as PostgreSQL folded it.
 */
const namePart = (s: string): string => /[."]/.test(s) ? `"${s.replaceAll('"', '""')}"` : s
const rangeName = (rv: Node): string => (rv.schemaname !== undefined ? `${namePart(String(rv.schemaname))}.` : '') + namePart(String(rv.relname))

/** What a walk over a statement tree found. */
interface Found {
  tables: string[]
  cteNames: Set<string>
  action: Action
  search: boolean
  catalog: Set<string> | undefined
}

const needs = (f: Found, key: string): void => { (f.catalog ??= new Set()).add(key) }

/**
 * Nodes where PostgreSQL may apply an implicit or assignment cast to make types match (docs 10.2
 * "Operators", 10.3 "Functions", 10.4 "Value Storage", 10.5 "UNION, CASE, and Related Constructs"):
 * with a user-defined implicit cast in the database, one of these may call the cast's function.
 */
const COERCING = new Set([
  'A_Expr', 'FuncCall', 'TypeCast', 'CaseExpr', 'CoalesceExpr', 'MinMaxExpr', 'A_ArrayExpr', 'SubLink',
  'valuesLists', 'larg', 'NullIfExpr', 'RowExpr', 'A_Indirection',
  // a condition that is a bare column of another type is cast to boolean (docs 7.2.2 "The WHERE Clause")
  'whereClause', 'havingClause', 'quals', 'limitCount', 'limitOffset'
])

/** BETWEEN compares with these operators (docs 9.2 "Comparison Functions and Operators") */
const BETWEEN_OPS = ['<=', '>=', '<', '>']

/** Visits every node below `n`: tables read, nested data-modifying statements, side-effect functions. */
function walk (n: unknown, f: Found): void {
  if (Array.isArray(n)) { for (const x of n) walk(x, f); return }
  if (n === null || typeof n !== 'object') return
  for (const [k, v] of Object.entries(n as Node)) {
    if (k === 'RangeVar' || (k === 'relation' && typeof (v as Node).relname === 'string')) {
      const name = rangeName(v as Node)
      if (!f.tables.includes(name)) f.tables.push(name)
      continue
    }
    if (k === 'CommonTableExpr') f.cteNames.add(String((v as Node).ctename))
    else if (k === 'InsertStmt' || k === 'UpdateStmt' || k === 'MergeStmt') f.action = worse(f.action, 'write')
    else if (k === 'DeleteStmt') f.action = worse(f.action, 'delete')
    else if (k === 'FuncCall') {
      f.action = worse(f.action, functionAction(v as Node, f))
    } else if (k === 'A_Expr') operatorNeeds(v as Node, f)
    else if (k === 'TypeCast') {
      const tn = ((v as Node).typeName ?? {}) as Node
      const names = (tn.names as Node[] | undefined) ?? []
      const type = nameOf(names[names.length - 1])
      needs(f, `t:${type}`)
      // to an array, each element is cast with the element type's cast (docs 10 "Type Conversion"),
      // unless there is one to the array type itself, named with an underscore in pg_type
      if (tn.arrayBounds !== undefined) needs(f, `t:_${type}`)
    } else if (k === 'sortClause') {
      if (containsDistanceOp(v)) f.search = true
      // sorting calls the type's btree ordering: user-defined for a user type, with its own operators
      needs(f, 'o:<'); needs(f, 'o:>')
    } else if (k === 'groupClause' || k === 'distinctClause' || (k === 'op' && typeof v === 'string' && v.startsWith('SETOP_') && v !== 'SETOP_NONE') || k === 'usingClause' || (k === 'isNatural' && v === true)) {
      // grouping, DISTINCT, UNION/INTERSECT/EXCEPT and joins on equal columns compare with `=`
      needs(f, 'o:='); needs(f, 'o:<')
    } else if (k === 'intoClause') f.action = worse(f.action, 'admin') // SELECT ... INTO creates a table
    if (COERCING.has(k)) needs(f, 'coerce')
    walk(v, f)
  }
}

/**
 * A call is a read only when it names a known read-only built-in, unqualified or as pg_catalog.name;
 * `myschema.lower()` is somebody's own function and may write (THREATS.md: anything not understood is
 * admin).
 */
function functionAction (call: Node, f: Found): Action {
  const names = (call.funcname as Node[] | undefined) ?? []
  const parts = names.map(nameOf)
  const fn = parts[parts.length - 1] ?? ''
  const builtin = parts.length === 1 || (parts.length === 2 && parts[0] === 'pg_catalog')
  const known = builtin && (READ_ONLY_FUNCTIONS.has(fn) || WRITE_FUNCTIONS.has(fn))
  // unqualified, the name is looked up along the search path: an overload created in the database
  // wins when its argument types fit better (docs 10.3 "Functions"); `pg_catalog.lower` cannot.
  // Called with quoted literals only (`lower('X')`), the string category is preferred (step 4.e):
  // the catalog tells apart the overloads that could still win (`s:`) from those that could not
  if (known && parts.length === 1) needs(f, `${onlyStrings(call.args) ? 's' : 'f'}:${fn}`)
  // `text(x)` with one argument is a cast to text when no function fits (docs 10.3 step 3)
  if (known && Array.isArray(call.args) && call.args.length === 1) needs(f, `t:${fn}`)
  if (builtin && READ_ONLY_FUNCTIONS.has(fn)) return 'read'
  if (builtin && WRITE_FUNCTIONS.has(fn)) return 'write'
  return 'admin'
}

/** arguments that are all quoted literals: their type is unknown until the call is resolved */
function onlyStrings (args: unknown): boolean {
  if (!Array.isArray(args) || args.length === 0) return false
  for (const a of args as Node[]) {
    const c = a.A_Const as { sval?: unknown } | undefined
    if (c !== undefined) { if (c.sval === undefined) return false; continue }
    const p = (a.ParamRef as { number?: number } | undefined)?.number
    if (p === undefined || p < LITERAL_BASE || literalKinds[p - LITERAL_BASE] !== 's') return false
  }
  return true
}

const nameOf = (n: unknown): string => (n as { String?: { sval?: string } } | undefined)?.String?.sval ?? ''

/**
 * An operator is a function call too (docs 38.14 "User-Defined Operators"): `1 +++ 2`, or `=` on a
 * user type, runs whatever function the operator's creator named. Only `OPERATOR(pg_catalog.op)` is
 * certain to be a built-in; any other spelling is resolved in the catalog.
 */
function operatorNeeds (e: Node, f: Found): void {
  const kind = e.kind as string | undefined
  if (kind !== undefined && kind.startsWith('AEXPR_BETWEEN')) {
    for (const op of BETWEEN_OPS) needs(f, `o:${op}`)
    return
  }
  const parts = ((e.name as Node[] | undefined) ?? []).map(nameOf)
  if (parts.length === 2 && parts[0] === 'pg_catalog') return
  const op = parts[parts.length - 1]
  if (op !== undefined && op !== '') needs(f, `o:${op}`)
}

function containsDistanceOp (n: unknown): boolean {
  if (Array.isArray(n)) return n.some(containsDistanceOp)
  if (n === null || typeof n !== 'object') return false
  for (const [k, v] of Object.entries(n as Node)) {
    if (k === 'A_Expr') {
      const name = (v as Node).name as Array<{ String?: { sval?: string } }> | undefined
      const op = name?.[name.length - 1]?.String?.sval
      if (op !== undefined && DISTANCE_OPS.has(op)) return true
    }
    if (containsDistanceOp(v)) return true
  }
  return false
}

function limitOf (select: Node, c: StatementClass): void {
  const lc = select.limitCount as Node | undefined
  if (lc === undefined) return
  const ac = lc.A_Const as { ival?: { ival?: number } } | undefined
  if (ac !== undefined) { c.limit = ac.ival?.ival ?? 0; return }
  const pr = lc.ParamRef as { number?: number } | undefined
  if (pr?.number !== undefined && pr.number >= LITERAL_BASE) c.limitLiteral = pr.number - LITERAL_BASE
}

export function classifyStatement (wrapper: Node, text: string): StatementClass {
  const type = Object.keys(wrapper)[0] ?? 'Unknown'
  const node = (wrapper[type] ?? {}) as Node
  const f: Found = { tables: [], cteNames: new Set(), action: 'read', search: false, catalog: undefined }
  const c: StatementClass = { method: methodOf(type, node), action: 'admin', tables: [], bulk: false, control: false, text }
  switch (type) {
    case 'SelectStmt':
      walk(node, f)
      c.action = f.action
      if (f.search && c.action === 'read') c.action = 'search'
      limitOf(node, c)
      break
    case 'InsertStmt':
    case 'MergeStmt':
      walk(node, f)
      c.action = worse('write', f.action)
      needs(f, 'coerce') // storing a value applies assignment casts (docs 10.4 "Value Storage")
      break
    case 'UpdateStmt':
      walk(node, f)
      needs(f, 'coerce')
      c.action = worse('write', f.action)
      c.bulk = node.whereClause === undefined
      break
    case 'DeleteStmt':
      walk(node, f)
      c.action = worse('delete', f.action)
      c.bulk = node.whereClause === undefined
      break
    case 'TruncateStmt':
      walk(node, f)
      c.action = 'delete'
      c.bulk = true
      break
    case 'CopyStmt':
      walk(node, f)
      if (node.is_program === true || node.filename !== undefined) c.action = 'admin' // COPY ... PROGRAM / server files
      else if (node.is_from === true) c.action = worse('write', f.action)
      else {
        c.action = f.action
        c.bulk = node.relation !== undefined // COPY table TO: the whole table
      }
      break
    case 'DropStmt':
      c.action = 'admin'
      c.bulk = true
      for (const o of (node.objects as unknown[] | undefined) ?? []) {
        const parts = ((o as Node).List as { items?: Array<{ String?: { sval?: string } }> } | undefined)?.items
        if (parts !== undefined) f.tables.push(parts.map(p => namePart(p.String?.sval ?? '')).join('.'))
      }
      break
    case 'ExplainStmt':
    case 'PrepareStmt':
    case 'DeclareCursorStmt': {
      // the statement inside decides: EXPLAIN ANALYZE runs it; PREPARE and DECLARE will
      const inner = classifyStatement((node.query ?? {}) as Node, text)
      const out: StatementClass = { ...inner, method: `${c.method} ${inner.method}`, text }
      if (type === 'DeclareCursorStmt') out.declares = String(node.portalname ?? '')
      return out
    }
    case 'FetchStmt':
      // rows of a cursor: the relay judges them as the DECLAREd query (admin when it does not know it)
      c.action = 'read'
      if (node.ismove !== true) c.fetches = String(node.portalname ?? '')
      break
    case 'VariableSetStmt':
      if (GUARDED_SETTINGS.has(String(node.name ?? '').toLowerCase()) || node.kind === 'VAR_RESET_ALL') c.action = 'admin'
      else { c.action = 'read'; c.control = true }
      break
    case 'DeallocateStmt':
      c.action = 'read'
      c.control = true
      c.forgets = node.name !== undefined ? { statement: String(node.name) } : { all: true }
      break
    case 'DiscardStmt':
      c.action = 'read'
      c.control = true
      if (node.target === 'DISCARD_ALL') c.forgets = { all: true }
      break
    default:
      if (CONTROL_STMTS.has(type)) {
        c.action = 'read'
        c.control = true
      } else {
        // DDL and everything else: admin; name the table it is about when it has one
        walk(node, f)
        c.action = 'admin'
      }
  }
  c.tables = f.cteNames.size > 0 ? f.tables.filter(t => !f.cteNames.has(t)) : f.tables
  if (f.catalog !== undefined && c.action !== 'admin') c.catalog = [...f.catalog]
  return c
}

/** Test seam: forget cached classifications. */
export function clearClassifierCache (): void { young.clear(); old.clear() }
