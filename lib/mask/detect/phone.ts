import { at, before, isAsciiAlnum, isDigit } from './chars.js'
import type { Spans } from './spans.js'

/**
 * Telephone numbers, as people write them:
 * - international: `+` then 8–15 digits (ITU-T E.164 allows at most 15), separators allowed;
 *   `00` followed by 8–15 more digits is the same thing dialled from Europe;
 * - NANP: (NXX) NXX-XXXX or NXX-NXX-XXXX, with or without a leading 1, N = 2–9;
 * - national numbers with a trunk 0 (UK, FR, DE, …): 9–12 digits in at least two groups with
 *   one consistent separator (`020 7946 0958`, `01 23 45 67 89`, `07700-900123`).
 * An unformatted run of digits is never a phone (ids, amounts, timestamps), and dates and times
 * do not fit these shapes: `2024-01-15`, `01.02.2024 10:30`, `12/31/2024` have too few digits,
 * the wrong groups or mixed separators.
 *
 * The scan reads a chain of digit groups joined by single separators, then looks for the longest
 * run of whole groups that fits a shape, starting at the chain's start or after a space — so a
 * number right after a date or an id (`2024-01-15 (918) 903-2635`) is still found.
 */

const MAX_GROUPS = 16
const gLen = new Int32Array(MAX_GROUPS)
/** where the group's digits start, and where its text starts (the '(' of a parenthesised group) */
const gStart = new Int32Array(MAX_GROUPS)
const gFrom = new Int32Array(MAX_GROUPS)
const gEnd = new Int32Array(MAX_GROUPS)
const gFirst = new Int32Array(MAX_GROUPS)
const gParen = new Uint8Array(MAX_GROUPS)
/** separator before the group: 32 space, 45 dash, 46 dot, 0 none (right after a parenthesis) */
const gSep = new Int32Array(MAX_GROUPS)
let groups = 0
/** the last group runs into a letter (`2671x`): it cannot end a number */
let glued = false

/**
 * A number is at least 9 characters (`+` and 8 digits) of digits and the characters written between
 * them (space - . ( ) +), and each of those characters has a digit right before or after it, or two
 * after it (`+(4`, ` (4`); so only every 9th character is looked at until one could lie in a number,
 * then the stretch of such characters around it is scanned whole (`scanStretch`). What the scan finds
 * depends only on the stretch and the characters on either side of it (chains never cross any other
 * character), so stretches with no such character in them, which cannot hold a number, are passed over.
 */
const MIN_PHONE = 9

export function findPhones (s: string, spans: Spans, id: number): void {
  const n = s.length
  let i = 0 // every number left to find starts at or after i, and i starts no stretch's middle
  for (let probe = i + MIN_PHONE - 1; probe < n; probe += MIN_PHONE) {
    const c = s.charCodeAt(probe)
    if (!isDigit(c) && !(isNumberChar(c) && (isDigit(before(s, probe)) || isDigit(at(s, probe + 1)) || isDigit(at(s, probe + 2))))) continue
    let a = probe
    while (a > i && isNumberChar(s.charCodeAt(a - 1))) a--
    i = scanStretch(s, spans, id, a)
    probe = i + MIN_PHONE - 1 - MIN_PHONE
  }
}

/** digits and what is written between them: space - . ( ) + */
const isNumberChar = (c: number): boolean => (c >= 48 && c <= 57) || c === 32 || c === 45 || c === 46 || c === 40 || c === 41 || c === 43

/** the numbers in the stretch of `isNumberChar` characters that starts at `i`; returns where the stretch ends */
function scanStretch (s: string, spans: Spans, id: number, i: number): number {
  const n = s.length
  while (i < n) {
    const c = s.charCodeAt(i)
    if (!isNumberChar(c)) return i
    // nothing but a digit, '(' or '+' can start a number
    if (c > 57 || (c < 48 && c !== 40 && c !== 43)) { i++; continue }
    const next = i + 1 < n ? s.charCodeAt(i + 1) : -1
    const open = c === 40 && isDigit(next)
    const plus = c === 43 && (isDigit(next) || next === 40)
    if (!(isDigit(c) || open || plus)) { i++; continue }
    const p = i > 0 ? s.charCodeAt(i - 1) : -1
    if (isAsciiAlnum(p) || p === 46 || p === 43 || p === 95 || (p === 45 && i > 1 && isDigit(s.charCodeAt(i - 2)))) {
      i = skipDigits(s, i)
      continue
    }
    const end = chain(s, plus ? i + 1 : i)
    if (groups > 0) pick(s, spans, id, plus ? i : -1)
    // a chain longer than we remember is scanned again from a few groups back (a number spans at most 6)
    i = groups === MAX_GROUPS ? gFrom[MAX_GROUPS - 6] : end > i ? end : i + 1
  }
  return n
}

/** reads a chain of digit groups from `j`; returns where it ends */
function chain (s: string, j: number): number {
  const n = s.length
  groups = 0
  glued = false
  let sep = 0
  let end = j
  while (groups < MAX_GROUPS) {
    const c = j < n ? s.charCodeAt(j) : -1
    if (c === 40) { // (NXX) or (0)
      let k = j + 1
      while (k < n && isDigit(s.charCodeAt(k)) && k - j <= 4) k++
      if (k === j + 1 || k >= n || s.charCodeAt(k) !== 41) break
      record(j, j + 1, k, 1, sep, s)
      end = k + 1
      j = k + 1
      if (j < n && isDigit(s.charCodeAt(j))) { sep = 0; continue }
    } else if (isDigit(c)) {
      const g = j
      while (j < n && isDigit(s.charCodeAt(j))) j++
      record(g, g, j, 0, sep, s)
      end = j
    } else {
      break
    }
    if (j + 1 >= n) break
    const d = s.charCodeAt(j)
    const next = s.charCodeAt(j + 1)
    if ((d === 32 || d === 45 || d === 46) && (isDigit(next) || next === 40)) { sep = d; j++; continue }
    break
  }
  if (end < n) {
    const after = s.charCodeAt(end)
    glued = isAsciiAlnum(after) || after === 95
  }
  return end
}

function record (from: number, start: number, end: number, paren: number, sep: number, s: string): void {
  gFrom[groups] = from; gStart[groups] = start; gEnd[groups] = end
  gLen[groups] = end - start; gFirst[groups] = s.charCodeAt(start); gParen[groups] = paren; gSep[groups] = sep
  groups++
}

/** the longest runs of whole groups that fit a shape, left to right */
function pick (s: string, spans: Spans, id: number, plusAt: number): void {
  const last = glued ? groups - 2 : groups - 1
  for (let g0 = 0; g0 <= last; g0++) {
    if (g0 > 0 && gSep[g0] !== 32) continue // a number starts the chain or follows a space
    for (let g1 = last; g1 >= g0; g1--) {
      const plus = g0 === 0 && plusAt >= 0
      if (!valid(s, g0, g1, plus)) continue
      spans.add(plus ? plusAt : gFrom[g0], gEnd[g1], id)
      g0 = g1
      break
    }
  }
}

function valid (s: string, g0: number, g1: number, plus: boolean): boolean {
  let digits = 0
  for (let g = g0; g <= g1; g++) digits += gLen[g]
  if (plus) return digits >= 8 && digits <= 15 && gFirst[g0] !== 48
  if (g1 === g0) return false // unformatted
  if (gFirst[g0] === 48 && gLen[g0] >= 2) {
    // 00 international prefix (then a country code and 8–15 digits), or a national number with its trunk 0
    if (!gParen[g0] && s.charCodeAt(gStart[g0] + 1) === 48) return digits >= 10 && digits <= 17 && oneSeparator(g0, g1)
    return digits >= 9 && digits <= 12 && oneSeparator(g0, g1) && minGroup(g0, g1, 2)
  }
  // NANP, optionally with the country code 1
  let g = g0
  if (gLen[g0] === 1 && gFirst[g0] === 49 && !gParen[g0]) g++
  if (g1 - g !== 2 || gLen[g] !== 3 || gLen[g + 1] !== 3 || gLen[g + 2] !== 4) return false
  if (gFirst[g] < 50 || gFirst[g + 1] < 50) return false
  return !gParen[g + 1] && !gParen[g + 2]
}

/** one separator kind between the groups, and never none */
function oneSeparator (g0: number, g1: number): boolean {
  const sep = gSep[g0 + 1]
  if (sep === 0) return false
  for (let g = g0 + 2; g <= g1; g++) if (gSep[g] !== sep) return false
  return true
}

function minGroup (g0: number, g1: number, min: number): boolean {
  for (let g = g0; g <= g1; g++) if (gLen[g] < min && !gParen[g]) return false
  return true
}

function skipDigits (s: string, i: number): number {
  let j = i + 1
  while (j < s.length && isDigit(s.charCodeAt(j))) j++
  return j
}
