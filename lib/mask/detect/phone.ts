import { isAsciiAlnum, isDigit } from './chars.js'
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
 */

const MAX_GROUPS = 12
const gLen = new Int32Array(MAX_GROUPS)
const gFirst = new Int32Array(MAX_GROUPS)
const gStart = new Int32Array(MAX_GROUPS)
const gParen = new Uint8Array(MAX_GROUPS)

export function findPhones (s: string, spans: Spans, id: number): void {
  const n = s.length
  let i = 0
  while (i < n) {
    const c = s.charCodeAt(i)
    const open = c === 40 && i + 1 < n && isDigit(s.charCodeAt(i + 1))
    const plus = c === 43 && i + 1 < n && (isDigit(s.charCodeAt(i + 1)) || s.charCodeAt(i + 1) === 40)
    if (!(isDigit(c) || open || plus)) { i++; continue }
    const p = i > 0 ? s.charCodeAt(i - 1) : -1
    if (isAsciiAlnum(p) || p === 46 || p === 43 || p === 95 || (p === 45 && i > 1 && isDigit(s.charCodeAt(i - 2)))) {
      i = skipRun(s, i)
      continue
    }
    const end = scan(s, plus ? i + 1 : i)
    if (end > 0 && valid(s, plus)) spans.add(i, end, id)
    i = end > i ? end : skipRun(s, i)
  }
}

let groups = 0
let seps = 0 // bit per separator kind seen between groups: 1 space, 2 dash, 4 dot, 8 none (after a paren)

/** reads digit groups from `j`; returns the end of the last group, -1 when the shape is off */
function scan (s: string, j: number): number {
  const n = s.length
  groups = 0
  seps = 0
  let end = -1
  for (;;) {
    if (groups === MAX_GROUPS) return -1
    const c = j < n ? s.charCodeAt(j) : -1
    if (c === 40) { // (NXX) or (0)
      let k = j + 1
      while (k < n && isDigit(s.charCodeAt(k)) && k - j <= 4) k++
      if (k === j + 1 || k >= n || s.charCodeAt(k) !== 41) break
      gLen[groups] = k - j - 1; gStart[groups] = j + 1; gFirst[groups] = s.charCodeAt(j + 1); gParen[groups] = 1; groups++
      end = k + 1
      j = k + 1
      if (j < n && isDigit(s.charCodeAt(j))) { seps |= 8; continue }
    } else if (isDigit(c)) {
      const g = j
      while (j < n && isDigit(s.charCodeAt(j))) j++
      gLen[groups] = j - g; gStart[groups] = g; gFirst[groups] = c; gParen[groups] = 0; groups++
      end = j
    } else {
      break
    }
    if (j + 1 >= n) break
    const d = s.charCodeAt(j)
    const next = s.charCodeAt(j + 1)
    if ((d === 32 || d === 45 || d === 46) && (isDigit(next) || next === 40)) {
      seps |= d === 32 ? 1 : d === 45 ? 2 : 4
      j++
      continue
    }
    break
  }
  if (end > 0 && end < n) {
    const after = s.charCodeAt(end)
    if (isAsciiAlnum(after) || after === 95) return -1
  }
  return end
}

function valid (s: string, plus: boolean): boolean {
  let digits = 0
  for (let g = 0; g < groups; g++) digits += gLen[g]
  if (plus) return digits >= 8 && digits <= 15 && gFirst[0] !== 48
  if (groups < 2) return false
  if (gFirst[0] === 48 && gLen[0] >= 2) {
    // 00 international prefix (then a country code and 8–15 digits), or a national number with its trunk 0
    if (!gParen[0] && s.charCodeAt(gStart[0] + 1) === 48) return digits >= 10 && digits <= 17 && oneSeparator()
    return digits >= 9 && digits <= 12 && oneSeparator() && minGroup(2)
  }
  // NANP, optionally with the country code 1
  let g = 0
  if (gLen[0] === 1 && gFirst[0] === 49) g = 1
  if (groups - g !== 3 || gLen[g] !== 3 || gLen[g + 1] !== 3 || gLen[g + 2] !== 4) return false
  if (gFirst[g] < 50 || gFirst[g + 1] < 50) return false
  return !gParen[g + 1] && !gParen[g + 2]
}

function oneSeparator (): boolean {
  return seps === 1 || seps === 2 || seps === 4
}

function minGroup (min: number): boolean {
  for (let g = 0; g < groups; g++) if (gLen[g] < min && !gParen[g]) return false
  return true
}

/** skips past a run of digits and separators that cannot start a number (e.g. the tail of a word) */
function skipRun (s: string, i: number): number {
  let j = i + 1
  while (j < s.length && isDigit(s.charCodeAt(j))) j++
  return j
}
