import type { RecordId } from '../types.js'

/**
 * Reads a Milvus boolean expression as a list of primary keys, when — and only when — it is plainly one:
 *   `field in [1, 2, 3]`, `field IN ["a", "b"]`, `field == 7`, `field == "x"`
 * (the forms the SDKs build for delete/get by ids). Anything else — `or`, `not in`, ranges, JSON paths,
 * templates (`{ids}`), functions, parentheses, floats — is not an id list, and the caller treats the
 * expression as a filter. THREATS.md: a "delete by ids" that is really an expression matching everything
 * must count as bulk, so this parser errs only toward "filter".
 *
 * The caller decides whether `field` is the collection's primary key; this file knows no schema.
 * Grammar per Milvus's Plan.g4: identifiers `[A-Za-z_][A-Za-z0-9_]*`, `in`/`IN`, integer and string
 * literals with backslash escapes.
 */
export interface IdList {
  field: string
  ids: RecordId[]
}

const HEAD = /^\s*([A-Za-z_][A-Za-z0-9_]*)\s*(==|\s(?:in|IN)\s*\[)/y
const INT = /-?\d+/y

export function parseIdList (expr: string): IdList | undefined {
  HEAD.lastIndex = 0
  const head = HEAD.exec(expr)
  if (head === null) return undefined
  const field = head[1]
  if (field === 'not' || field === 'NOT') return undefined
  const cur = { s: expr, i: HEAD.lastIndex }
  const ids: RecordId[] = []
  if (head[2] === '==') {
    const v = literal(cur)
    if (v === undefined) return undefined
    ids.push(v)
  } else {
    skipSpace(cur)
    if (cur.s[cur.i] === ']') {
      cur.i++
    } else {
      for (;;) {
        const v = literal(cur)
        if (v === undefined) return undefined
        ids.push(v)
        skipSpace(cur)
        const c = cur.s[cur.i++]
        if (c === ']') break
        if (c !== ',') return undefined
        skipSpace(cur)
        if (cur.s[cur.i] === ']') { cur.i++; break } // trailing comma
      }
    }
  }
  skipSpace(cur)
  return cur.i === expr.length ? { field, ids } : undefined
}

interface Cursor { s: string, i: number }

function skipSpace (c: Cursor): void {
  while (c.i < c.s.length && (c.s[c.i] === ' ' || c.s[c.i] === '\t' || c.s[c.i] === '\n' || c.s[c.i] === '\r')) c.i++
}

function literal (c: Cursor): RecordId | undefined {
  skipSpace(c)
  const q = c.s[c.i]
  if (q === '"' || q === "'") return quoted(c, q)
  INT.lastIndex = c.i
  const m = INT.exec(c.s)
  if (m === null) return undefined
  c.i = INT.lastIndex
  // `1.5`, `1e3`, `0x10`, `1abc`: not an integer literal on its own
  const next = c.s[c.i]
  if (next !== undefined && /[.\w]/.test(next)) return undefined
  return intId(m[0])
}

function quoted (c: Cursor, q: string): string | undefined {
  let out = ''
  for (let i = c.i + 1; i < c.s.length; i++) {
    const ch = c.s[i]
    if (ch === q) { c.i = i + 1; return out }
    if (ch === '\\') {
      const e = c.s[++i]
      if (e === '\\' || e === '"' || e === "'") out += e
      else return undefined // other escapes: leave the whole expression to be a filter
    } else {
      out += ch
    }
  }
  return undefined
}

/** Int64 keys: a number when exact in a double, else the decimal string (as the result views do). */
export function intId (digits: string): RecordId {
  const n = Number(digits)
  return Number.isSafeInteger(n) ? n : BigInt(digits).toString()
}
