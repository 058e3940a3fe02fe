import { createRequire } from 'node:module'

/**
 * The blast radius of a held statement (README "Approvals"): what it would touch, as a
 * `SELECT count(*)` over the same table with the same WHERE, for the approver to see.
 *
 * The count query is built from PostgreSQL's own reading of the statement (libpg-query): table names
 * come from the parse tree and are quoted here; the WHERE, USING/FROM and WITH clauses are copied as
 * the exact token spans the lexer delimited (never text found by searching the string), and the
 * result is parsed again and must give the same trees as the original's clauses, or no count query is
 * made. The same parameters ($n) are kept, renumbered to the ones the count query uses.
 *
 *   DELETE FROM t [AS a] [WHERE w]          → SELECT count(*) FROM t [AS a] [WHERE w]
 *   DELETE FROM t USING u [WHERE w]          → SELECT count(*) FROM t WHERE EXISTS (SELECT 1 FROM u [WHERE w])
 *   UPDATE t SET ... FROM u [WHERE w]        → (the same, with FROM u)
 *   TRUNCATE a, b / DROP TABLE a, b          → SELECT (SELECT count(*) FROM a) + (SELECT count(*) FROM b)
 *
 * A join in USING/FROM would count a target row once per matching row; EXISTS counts it once, as
 * DELETE and UPDATE touch it once. WHERE CURRENT OF (one row of a cursor of the client's own session)
 * and anything else has no count query.
 */

export interface CountQuery {
  sql: string
  /** for each $k of `sql`: the number of the original statement's parameter it stands for (params[k-1]) */
  params: number[]
}

interface Token { start: number, end: number, text?: string, tokenName?: string, keywordKind?: number }
interface RawStmt { stmt: Node, stmt_location?: number, stmt_len?: number }
type Node = Record<string, unknown>

interface LibPgQuery {
  loadModule: () => Promise<void>
  parseSync: (sql: string) => { stmts?: RawStmt[] }
  scanSync: (sql: string) => { tokens: Token[] }
}
let lib: LibPgQuery | undefined

/** Loads the parser (WASM) once; the same module the classifier uses. */
export async function loadCountQuery (): Promise<void> {
  if (lib !== undefined) return
  const mod = createRequire(import.meta.url)('libpg-query') as LibPgQuery
  await mod.loadModule()
  lib = mod
}

const COMMENTS = new Set(['SQL_COMMENT', 'C_COMMENT'])

/** A double-quoted identifier (PostgreSQL docs 4.1.1): any name, the quote doubled. */
export function quoteIdent (name: string): string {
  return `"${name.replace(/"/g, '""')}"`
}

/**
 * The count query for statement `index` of `sql`, or undefined when the statement has none (not a
 * DELETE/UPDATE/TRUNCATE/DROP TABLE, WHERE CURRENT OF, or a text whose clauses could not be carried
 * over exactly). Throws only when the parser is not loaded.
 */
export function countQuery (sql: string, index = 0): CountQuery | undefined {
  if (lib === undefined) throw new Error('count query parser not loaded: call loadCountQuery() first')
  let raw: RawStmt | undefined
  try {
    raw = lib.parseSync(sql).stmts?.[index]
  } catch {
    return undefined
  }
  if (raw === undefined) return undefined
  const type = Object.keys(raw.stmt)[0]
  const node = raw.stmt[type] as Node
  switch (type) {
    case 'DeleteStmt': return rowCount(sql, raw, node, 'DELETE', 'USING', node.usingClause as Node[] | undefined)
    case 'UpdateStmt': return rowCount(sql, raw, node, 'UPDATE', 'FROM', node.fromClause as Node[] | undefined)
    case 'TruncateStmt': return tableCount(((node.relations as Node[] | undefined) ?? []).map(r => r.RangeVar as Node))
    case 'DropStmt': {
      if (node.removeType !== 'OBJECT_TABLE') return undefined
      const tables = ((node.objects as Node[] | undefined) ?? []).map(o => {
        const items = ((o.List as Node | undefined)?.items as Array<{ String?: { sval?: string } }> | undefined) ?? []
        const names = items.map(i => i.String?.sval ?? '')
        const rv: Node = { relname: names[names.length - 1], inh: true }
        if (names.length >= 2) rv.schemaname = names[names.length - 2]
        if (names.length >= 3) rv.catalogname = names[names.length - 3]
        return rv
      })
      return tableCount(tables)
    }
    default: return undefined
  }
}

/** `[ONLY] "catalog"."schema"."table" [AS "alias"]` from a RangeVar, every name quoted. */
function relationText (rv: Node): string {
  const parts = [rv.catalogname, rv.schemaname, rv.relname].filter((p): p is string => typeof p === 'string').map(quoteIdent)
  const alias = (rv.alias as Node | undefined)?.aliasname
  return `${rv.inh === true ? '' : 'ONLY '}${parts.join('.')}${typeof alias === 'string' ? ` AS ${quoteIdent(alias)}` : ''}`
}

function tableCount (tables: Node[]): CountQuery | undefined {
  if (tables.length === 0 || tables.some(t => typeof t.relname !== 'string' || t.relname === '')) return undefined
  const counts = tables.map(t => `SELECT count(*) FROM ${relationText(t)}`)
  const sql = counts.length === 1 ? counts[0] : `SELECT ${counts.map(c => `(${c})`).join(' + ')}`
  // names are quoted by construction; reading them back proves it
  const back = parseOne(sql)
  if (back === undefined) return undefined
  const found: Node[] = []
  collectRangeVars(back, found)
  if (found.length !== tables.length || found.some((f, i) => !sameRelation(f, tables[i]))) return undefined
  return { sql, params: [] }
}

function rowCount (sql: string, raw: RawStmt, node: Node, verb: string, clauseWord: string, clause: Node[] | undefined): CountQuery | undefined {
  const rv = node.relation as Node | undefined
  const where = node.whereClause as Node | undefined
  if (rv === undefined || typeof rv.relname !== 'string') return undefined
  if (where !== undefined && 'CurrentOfExpr' in where) return undefined
  const bytes = Buffer.from(sql, 'utf8')
  const from = raw.stmt_location ?? 0
  const to = raw.stmt_len !== undefined && raw.stmt_len > 0 ? from + raw.stmt_len : bytes.length
  let tokens: Token[]
  try {
    tokens = lib!.scanSync(sql).tokens.filter(t => t.start >= from && t.end <= to && !COMMENTS.has(t.tokenName ?? '') && t.text !== ';')
  } catch {
    return undefined
  }
  // the clause keywords that delimit spans: at parenthesis depth 0, as keywords (a quoted "WHERE" is an identifier)
  const top: Array<{ word: string, i: number }> = []
  let depth = 0
  for (let i = 0; i < tokens.length; i++) {
    const t = tokens[i]
    if (t.text === '(' || t.text === '[') depth++
    else if (t.text === ')' || t.text === ']') depth--
    else if (depth === 0 && (t.keywordKind ?? 0) !== 0 && t.text !== undefined) top.push({ word: t.text.toUpperCase(), i })
  }
  const verbAt = top.find(k => k.word === verb)?.i
  if (verbAt === undefined) return undefined
  const after = (word: string, i: number): number | undefined => top.find(k => k.word === word && k.i > i)?.i
  const whereAt = where !== undefined ? after('WHERE', verbAt) : undefined
  if (where !== undefined && whereAt === undefined) return undefined
  const returningAt = after('RETURNING', whereAt ?? verbAt)
  const end = returningAt ?? tokens.length
  const hasClause = clause !== undefined && clause.length > 0
  const clauseAt = hasClause ? after(clauseWord, verb === 'UPDATE' ? (after('SET', verbAt) ?? verbAt) : verbAt) : undefined
  if (hasClause && clauseAt === undefined) return undefined

  const mapping = new Map<number, number>()
  const span = (first: number, last: number): string | undefined => {
    if (first > last) return undefined
    let out = ''
    let pos = tokens[first].start
    for (let i = first; i <= last; i++) {
      const t = tokens[i]
      if (t.tokenName !== 'PARAM') continue
      let n = mapping.get(Number(t.text!.slice(1)))
      if (n === undefined) mapping.set(Number(t.text!.slice(1)), n = mapping.size + 1)
      out += bytes.toString('utf8', pos, t.start) + `$${n}`
      pos = t.end
    }
    return out + bytes.toString('utf8', pos, tokens[last].end)
  }
  const withText = node.withClause !== undefined ? span(0, verbAt - 1) : undefined
  if (node.withClause !== undefined && withText === undefined) return undefined
  const clauseText = clauseAt !== undefined ? span(clauseAt + 1, (whereAt ?? end) - 1) : undefined
  const whereText = whereAt !== undefined ? span(whereAt + 1, end - 1) : undefined
  if ((hasClause && clauseText === undefined) || (where !== undefined && whereText === undefined)) return undefined

  let cond: string | undefined
  if (clauseText !== undefined) cond = `EXISTS (SELECT 1 FROM ${clauseText}${whereText !== undefined ? ` WHERE (${whereText})` : ''})`
  else if (whereText !== undefined) cond = `(${whereText})`
  const countSql = `${withText !== undefined ? `${withText} ` : ''}SELECT count(*) FROM ${relationText(rv)}${cond !== undefined ? ` WHERE ${cond}` : ''}`

  // the proof: the count query, read back, has exactly the original's clauses
  const back = parseOne(countSql)?.SelectStmt as Node | undefined
  if (back === undefined) return undefined
  const norm = (n: unknown, remap: boolean): string => canonical(n, remap ? mapping : undefined)
  const target = ((back.fromClause as Node[] | undefined) ?? [])
  if (target.length !== 1 || !sameRelation(target[0].RangeVar as Node, rv)) return undefined
  if (norm(back.withClause, false) !== norm(node.withClause, true)) return undefined
  let backWhere = back.whereClause as Node | undefined
  if (hasClause) {
    const link = backWhere?.SubLink as Node | undefined
    const sub = (link?.subselect as Node | undefined)?.SelectStmt as Node | undefined
    if (link?.subLinkType !== 'EXISTS_SUBLINK' || sub === undefined) return undefined
    if (norm(sub.fromClause, false) !== norm(clause, true)) return undefined
    backWhere = sub.whereClause as Node | undefined
  }
  if (norm(backWhere, false) !== norm(where, true)) return undefined
  const params = [...mapping.entries()].sort((a, b) => a[1] - b[1]).map(([old]) => old)
  return { sql: countSql, params }
}

function parseOne (sql: string): Node | undefined {
  try {
    const stmts = lib!.parseSync(sql).stmts ?? []
    return stmts.length === 1 ? stmts[0].stmt : undefined
  } catch {
    return undefined
  }
}

function collectRangeVars (n: unknown, out: Node[]): void {
  if (Array.isArray(n)) { for (const x of n) collectRangeVars(x, out); return }
  if (n === null || typeof n !== 'object') return
  for (const [k, v] of Object.entries(n as Node)) {
    if (k === 'RangeVar') out.push(v as Node)
    else collectRangeVars(v, out)
  }
}

function sameRelation (a: Node | undefined, b: Node): boolean {
  if (a === undefined) return false
  return a.relname === b.relname && a.schemaname === b.schemaname && a.catalogname === b.catalogname &&
    (a.inh === true) === (b.inh === true) && (a.alias as Node | undefined)?.aliasname === (b.alias as Node | undefined)?.aliasname
}

/** A tree as text without source locations, with $n renumbered as the count query numbers them. */
function canonical (n: unknown, mapping: Map<number, number> | undefined): string {
  return JSON.stringify(strip(n ?? null, mapping))
}

function strip (n: unknown, mapping: Map<number, number> | undefined): unknown {
  if (Array.isArray(n)) return n.map(x => strip(x, mapping))
  if (n === null || typeof n !== 'object') return n
  const out: Node = {}
  for (const [k, v] of Object.entries(n as Node)) {
    if (k === 'location') continue
    if (k === 'ParamRef' && mapping !== undefined) {
      const old = (v as { number?: number }).number ?? 0
      // a parameter the spans did not carry over cannot match: the proof fails
      out[k] = { number: mapping.get(old) ?? -old }
      continue
    }
    out[k] = strip(v, mapping)
  }
  return out
}
