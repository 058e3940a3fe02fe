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
  /** where each literal stood in the original text: its start and end (exclusive), two numbers per literal */
  spans: number[]
}

const isIdent = (c: number): boolean =>
  (c >= 0x61 && c <= 0x7a) || (c >= 0x41 && c <= 0x5a) || (c >= 0x30 && c <= 0x39) || c === 0x5f || c === 0x24 || c >= 0x80
const isDigit = (c: number): boolean => c >= 0x30 && c <= 0x39

export function shapeOf (sql: string): Shape | undefined {
  let out = ''
  let from = 0
  const literals: string[] = []
  let kinds = ''
  const spans: number[] = []
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
        spans.push(i, q + 1)
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
      spans.push(i, j)
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
  if (literals.length === 0) return { text: sql, literals, kinds, spans }
  return { text: out + sql.slice(from), literals, kinds, spans }
}

/** the longest text kept as a connection's last shape */
const MAX_REMEMBERED = 16 * 1024

/**
 * The last shaped query text of a connection, as bytes: clients send the same few shapes again and
 * again with new values, and a Query whose bytes are those of the last text outside its literals has
 * the same shape, so it needs no decoding, shaping or cache lookup (on pgbench `-S` that is most of
 * what classifying a statement costs).
 *
 * Where a literal stood, the new bytes are read with shapeOf's own rules for that kind of literal;
 * between literals they must be the same bytes. Since what precedes and follows each literal is the
 * same as in the remembered text, shapeOf would read the new text into the same shape: `match` gives
 * its literals. Anything else is a miss, and the caller shapes the text as usual. Only ASCII texts are
 * remembered (their string offsets are byte offsets).
 */
export class LastShape<T> {
  private text: Buffer | undefined
  private spans: number[] = []
  private kinds = ''
  /** what the caller derived from the remembered text's shape (its classification) */
  value: T | undefined

  remember (text: string, shape: Shape, value: T): void {
    if (text.length > MAX_REMEMBERED || Buffer.byteLength(text) !== text.length) { this.forget(); return }
    this.text = Buffer.from(text, 'latin1')
    this.spans = shape.spans
    this.kinds = shape.kinds
    this.value = value
  }

  forget (): void {
    this.text = undefined
    this.value = undefined
  }

  /**
   * The literals of the NUL-terminated text `buf[from, end)` (a Query body) when it has the remembered
   * shape; undefined otherwise.
   */
  match (buf: Buffer, from: number, end: number): string[] | undefined {
    const tpl = this.text
    // the text ends at the message's last byte, a NUL, and holds none before it (protocol 55.7 "Query")
    const last = end - 1
    if (tpl === undefined || buf[last] !== 0) return undefined
    const spans = this.spans
    const literals: string[] = []
    let t = 0
    let p = from
    for (let k = 0; k < spans.length; k += 2) {
      const s = spans[k]
      if (!same(buf, p, tpl, t, s)) return undefined
      p += s - t
      const q = this.kinds.charCodeAt(k >> 1) === 0x6e ? numberEnd(buf, p, last) : stringEnd(buf, p, last)
      if (q < 0) return undefined
      literals.push(this.kinds.charCodeAt(k >> 1) === 0x6e ? buf.toString('latin1', p, q) : stringValue(buf, p, q))
      p = q
      t = spans[k + 1]
    }
    if (last - p !== tpl.length - t || !same(buf, p, tpl, t, tpl.length)) return undefined
    return literals
  }
}

/** `buf` at `p` holds `tpl[t, tEnd)` */
function same (buf: Buffer, p: number, tpl: Buffer, t: number, tEnd: number): boolean {
  const n = tEnd - t
  if (p + n > buf.length) return false
  for (let i = 0; i < n; i++) if (buf[p + i] !== tpl[t + i]) return false
  return true
}

/** shapeOf's number literal at `i`, as bytes: its end, or -1 where shapeOf would give up */
function numberEnd (buf: Buffer, i: number, last: number): number {
  if (i >= last || !isDigit(buf[i])) return -1
  let j = i + 1
  while (j < last && isDigit(buf[j])) j++
  if (j < last && buf[j] === 0x2e && j + 1 < last && isDigit(buf[j + 1])) {
    j += 2
    while (j < last && isDigit(buf[j])) j++
  }
  if (j < last && (buf[j] | 0x20) === 0x65) {
    let k = j + 1
    if (k < last && (buf[k] === 0x2b || buf[k] === 0x2d)) k++
    if (k >= last || !isDigit(buf[k])) return -1
    while (k < last && isDigit(buf[k])) k++
    j = k
  }
  if (j < last && (isIdent(buf[j]) || buf[j] === 0x2e)) return -1
  return j
}

/** shapeOf's '...' literal at `i` ('' for a quote), as bytes: its end, or -1 (unterminated, or a NUL inside) */
function stringEnd (buf: Buffer, i: number, last: number): number {
  if (i >= last || buf[i] !== 0x27) return -1
  for (let j = i + 1; j < last; j++) {
    const c = buf[j]
    if (c === 0) return -1
    if (c !== 0x27) continue
    if (j + 1 < last && buf[j + 1] === 0x27) { j++; continue }
    return j + 1
  }
  return -1
}

function stringValue (buf: Buffer, start: number, end: number): string {
  const v = buf.toString('utf8', start + 1, end - 1)
  return v.includes("''") ? v.replaceAll("''", "'") : v
}
