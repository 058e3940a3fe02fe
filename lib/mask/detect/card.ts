import { isAsciiLetter, isDigit } from './chars.js'
import type { Spans } from './spans.js'

/**
 * Payment card numbers (ISO/IEC 7812): 13–19 digits, either one unbroken run or groups split by one
 * space or dash (4-4-4-4, 4-6-5, 4-4-4-4-3 …), first digit 2–6 (the issuer ranges of Visa, Mastercard,
 * Amex, Discover, JCB, Diners, UnionPay, Maestro) and a valid Luhn check digit (ISO/IEC 7812-1 Annex B).
 * First digits 1, 7, 8, 9 are left out on purpose: 13-digit millisecond timestamps and 19-digit
 * snowflake ids start with 1, and one random number in ten passes Luhn.
 * Decimals are not cards: a run right after `digit.` (a score like 0.4111111111111111) is skipped.
 */

/** groups remembered per chain; a longer chain is scanned in overlapping pieces (a card spans at most 6 groups) */
const MAX_GROUPS = 32
const OVERLAP = 6
const gStart = new Int32Array(MAX_GROUPS)
const gEnd = new Int32Array(MAX_GROUPS)
/** separator before each group (space or dash); one card uses one kind */
const gSep = new Int32Array(MAX_GROUPS)

/**
 * A card is at least 13 characters of one chain (digits, and single spaces or dashes between them),
 * so only every 13th character is looked at until one could lie in a card; then the stretch of
 * chain characters around it is counted, and scanned whole (`scanStretch`) if it has 13 digits.
 * What the scan finds depends only on the stretch and the characters on either side of it (chains
 * never cross any other character), so stretches that cannot hold a card are passed over.
 */
const MIN_CARD = 13

export function findCards (s: string, spans: Spans, id: number): void {
  const n = s.length
  let i = 0 // every card left to find starts at or after i, and i starts no stretch's middle
  for (let probe = i + MIN_CARD - 1; probe < n; probe += MIN_CARD) {
    const c = s.charCodeAt(probe)
    if (!isDigit(c) && !((c === 32 || c === 45) && probe + 1 < n && isDigit(s.charCodeAt(probe + 1)))) continue
    let a = probe
    while (a > i && isChainChar(s.charCodeAt(a - 1))) a--
    // most stretches are dates, versions, amounts: too few digits for a card, and not read into groups
    let b = a
    let digits = 0
    for (; b < n; b++) {
      const d = s.charCodeAt(b)
      if (!isChainChar(d)) break
      if (isDigit(d)) digits++
    }
    i = digits < MIN_CARD ? b : scanStretch(s, spans, id, a)
    probe = i + MIN_CARD - 1 - MIN_CARD
  }
}

const isChainChar = (c: number): boolean => isDigit(c) || c === 32 || c === 45

/**
 * The chains of the stretch of chain characters that starts at `i`, each read into groups and
 * handed to `scanChain`; returns where the stretch ends.
 */
function scanStretch (s: string, spans: Spans, id: number, i: number): number {
  const n = s.length
  while (i < n) {
    const c0 = s.charCodeAt(i)
    if (!isDigit(c0)) {
      if (c0 !== 32 && c0 !== 45) return i
      i++
      continue
    }
    // i starts a digit run (the character before it is not a digit)
    const p = i > 0 ? s.charCodeAt(i - 1) : -1
    const decimal = p === 46 && i > 1 && isDigit(s.charCodeAt(i - 2)) // a comma is a list separator far more often than a decimal one
    let groups = 0
    let sep = 0
    let j = i
    for (;;) {
      const g = j
      while (j < n && isDigit(s.charCodeAt(j))) j++
      gStart[groups] = g; gEnd[groups] = j; gSep[groups] = sep; groups++
      if (groups === MAX_GROUPS) break
      if (j + 1 < n) {
        const c = s.charCodeAt(j)
        if ((c === 32 || c === 45) && isDigit(s.charCodeAt(j + 1))) { sep = c; j++; continue }
      }
      break
    }
    const after = j < n ? s.charCodeAt(j) : -1
    // x4111…, 0.4111… and +4915… (an E.164 phone) cannot start a card; 4111….5 cannot end one
    const firstOk = !decimal && !isAsciiLetter(p) && p !== 43
    const lastOk = !(after === 46 && j + 1 < n && isDigit(s.charCodeAt(j + 1))) && !isAsciiLetter(after)
    scanChain(s, spans, id, firstOk ? 0 : 1, lastOk ? groups - 1 : groups - 2)
    i = groups === MAX_GROUPS ? gStart[MAX_GROUPS - OVERLAP] : j
  }
  return n
}

/** within groups first..last of a chain, the longest whole-group windows that look like a card */
function scanChain (s: string, spans: Spans, id: number, first: number, last: number): void {
  let g0 = first
  while (g0 <= last) {
    let best = -1
    let digits = 0
    for (let g1 = g0; g1 <= last; g1++) {
      const len = gEnd[g1] - gStart[g1]
      if (g1 === g0 ? len > 19 : (len < 3 || len > 7)) break
      if (g1 === g0 + 1 && gEnd[g0] - gStart[g0] !== 4) break // grouped cards start with 4 digits
      if (g1 > g0 + 1 && gSep[g1] !== gSep[g0 + 1]) break // one separator kind
      digits += len
      if (digits > 19) break
      if (digits >= 13 && validCard(s, gStart[g0], gEnd[g1])) best = g1
      if (g1 === g0 && len >= 13) break // an unbroken run stands alone
    }
    if (best >= 0) {
      spans.add(gStart[g0], gEnd[best], id)
      g0 = best + 1
    } else {
      g0++
    }
  }
}

function validCard (s: string, a: number, b: number): boolean {
  const first = s.charCodeAt(a)
  if (first < 50 || first > 54) return false // 2–6
  return luhn(s, a, b)
}

/** Luhn mod 10 over the digits of s[a, b), separators skipped */
export function luhn (s: string, a: number, b: number): boolean {
  let sum = 0
  let double = false
  for (let i = b - 1; i >= a; i--) {
    const c = s.charCodeAt(i)
    if (c < 48 || c > 57) continue
    let d = c - 48
    if (double) { d *= 2; if (d > 9) d -= 9 }
    sum += d
    double = !double
  }
  return sum % 10 === 0
}
