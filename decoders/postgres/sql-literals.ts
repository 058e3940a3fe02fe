/**
 * Splits literal values out of SQL text so statements that differ only in their constants share one
 * classification (pgbench, ORMs and most applications send the same shapes with new values).
 *
 * Deliberately conservative: it only understands plain '...' strings (with '' doubling), "..."
 * identifiers and unsigned numbers. Anything whose lexing depends on more than that — backslashes
 * (E'' strings, standard_conforming_strings=off), comments, dollar quoting, U& / B'' / X'' prefixes —
 * returns undefined and the caller classifies the full text instead (PostgreSQL docs 4.1 "Lexical
 * Structure"). Literals become parameters numbered from LITERAL_BASE so they never collide with the
 * statement's own $n and can be looked up again (LIMIT).
 */
export const LITERAL_BASE = 10001

export interface Shape {
  /** the text with literals replaced by $LITERAL_BASE+i */
  text: string
  /** the literal values in order, strings unquoted, numbers as written */
  literals: string[]
  /**
   * one letter per literal: 's' a quoted string (type unknown until resolved, PostgreSQL docs 4.1.2.7
   * "Constants of Other Types"), 'n' a number. Function resolution depends on it (docs 10.3 step 4.e).
   */
  kinds: string
}

const isIdent = (c: number): boolean =>
  (c >= 0x61 && c <= 0x7a) || (c >= 0x41 && c <= 0x5a) || (c >= 0x30 && c <= 0x39) || c === 0x5f || c === 0x24 || c >= 0x80
const isDigit = (c: number): boolean => c >= 0x30 && c <= 0x39

export function shapeOf (sql: string): Shape | undefined {
  let out = ''
  let from = 0
  const literals: string[] = []
  let kinds = ''
  const n = sql.length
  let i = 0
  while (i < n) {
    const c = sql.charCodeAt(i)
    if (c === 0x5c) return undefined // backslash
    if (c === 0x2d && sql.charCodeAt(i + 1) === 0x2d) return undefined // -- comment
    if (c === 0x2f && sql.charCodeAt(i + 1) === 0x2a) return undefined // /* comment
    if (c === 0x24) { // $: a parameter $n is fine, dollar quoting is not
      let j = i + 1
      while (j < n && isDigit(sql.charCodeAt(j))) j++
      if (j === i + 1 || (j < n && isIdent(sql.charCodeAt(j)))) return undefined
      // the client's own $10001 would read as one of our literals (and its kind)
      if (Number(sql.slice(i + 1, j)) >= LITERAL_BASE) return undefined
      i = j
      continue
    }
    if (c === 0x22) { // "identifier"
      let j = i + 1
      for (;;) {
        const q = sql.indexOf('"', j)
        if (q < 0) return undefined
        if (sql.charCodeAt(q + 1) === 0x22) { j = q + 2; continue }
        i = q + 1
        break
      }
      continue
    }
    if (c === 0x27) { // 'string'
      if (i > 0 && isIdent(sql.charCodeAt(i - 1))) return undefined // E'', B'', X'', N'', U&'' and typed literals like date'...'
      if (i > 0 && sql.charCodeAt(i - 1) === 0x26) return undefined
      let j = i + 1
      let value = ''
      for (;;) {
        const q = sql.indexOf("'", j)
        if (q < 0) return undefined
        value += sql.slice(j, q)
        if (sql.charCodeAt(q + 1) === 0x27) { value += "'"; j = q + 2; continue }
        out += sql.slice(from, i) + '$' + String(LITERAL_BASE + literals.length)
        literals.push(value)
        kinds += 's'
        i = q + 1
        from = i
        break
      }
      continue
    }
    if (isDigit(c) && (i === 0 || !isIdent(sql.charCodeAt(i - 1)))) {
      // digits [. digits] [e [+-] digits]; anything glued on (1from, 0x1f, 1_000) is left to the real parser
      let j = i + 1
      while (j < n && isDigit(sql.charCodeAt(j))) j++
      if (sql.charCodeAt(j) === 0x2e && isDigit(sql.charCodeAt(j + 1))) {
        j += 2
        while (j < n && isDigit(sql.charCodeAt(j))) j++
      }
      if ((sql.charCodeAt(j) | 0x20) === 0x65) {
        let k = j + 1
        const s = sql.charCodeAt(k)
        if (s === 0x2b || s === 0x2d) k++
        if (!isDigit(sql.charCodeAt(k))) return undefined
        while (k < n && isDigit(sql.charCodeAt(k))) k++
        j = k
      }
      if (j < n && (isIdent(sql.charCodeAt(j)) || sql.charCodeAt(j) === 0x2e)) return undefined
      if (sql.charCodeAt(i - 1) === 0x2e) return undefined // .5 and a.1 are rare; do not guess
      out += sql.slice(from, i) + '$' + String(LITERAL_BASE + literals.length)
      literals.push(sql.slice(i, j))
      kinds += 'n'
      i = j
      from = i
      continue
    }
    if (isIdent(c)) {
      let j = i + 1
      while (j < n && isIdent(sql.charCodeAt(j))) j++
      i = j
      continue
    }
    i++
  }
  if (literals.length === 0) return { text: sql, literals, kinds }
  return { text: out + sql.slice(from), literals, kinds }
}
