import { isAsciiAlnum, isAsciiLetter, isDigit } from './chars.js'
import type { Spans } from './spans.js'

/**
 * IBANs (ISO 13616): country code, two check digits, then a BBAN whose length the country fixes; the
 * whole passes ISO 7064 mod 97-10 (remainder 1). Accepted printed as one run or in groups of four
 * separated by single spaces, upper or lower case. Only countries in the SWIFT IBAN registry count:
 * the length table is what lets "DE89 3704 0044 0532 0130 00 AND MORE" stop at the right place.
 */
const LENGTHS: Record<string, number> = {
  AD: 24, AE: 23, AL: 28, AT: 20, AZ: 28, BA: 20, BE: 16, BG: 22, BH: 22, BI: 27, BR: 29, BY: 28, CH: 21,
  CR: 22, CY: 28, CZ: 24, DE: 22, DJ: 27, DK: 18, DO: 28, EE: 20, EG: 29, ES: 24, FI: 18, FK: 18, FO: 18,
  FR: 27, GB: 22, GE: 22, GI: 23, GL: 18, GR: 27, GT: 28, HR: 21, HU: 28, IE: 22, IL: 23, IQ: 23, IS: 26,
  IT: 27, JO: 30, KW: 30, KZ: 20, LB: 28, LC: 32, LI: 21, LT: 20, LU: 20, LV: 21, LY: 25, MC: 27, MD: 24,
  ME: 22, MK: 19, MN: 20, MR: 27, MT: 31, MU: 30, NI: 28, NL: 18, NO: 15, OM: 23, PK: 24, PL: 28, PS: 29,
  PT: 25, QA: 29, RO: 24, RS: 22, RU: 33, SA: 24, SC: 31, SD: 18, SE: 24, SI: 19, SK: 24, SM: 27, SO: 23,
  ST: 25, SV: 28, TL: 23, TN: 24, TR: 26, UA: 29, VA: 22, VG: 24, XK: 20, YE: 30
}

/** table indexed by the two upper-cased letters, so the hot loop does no string work */
const LENGTH_AT = new Uint8Array(26 * 26)
for (const [cc, len] of Object.entries(LENGTHS)) LENGTH_AT[(cc.charCodeAt(0) - 65) * 26 + cc.charCodeAt(1) - 65] = len

export function findIbans (s: string, spans: Spans, id: number): void {
  const n = s.length
  for (let i = 2; i + 1 < n; i++) {
    // look for letter letter digit digit at a word start
    if (!isDigit(s.charCodeAt(i)) || !isDigit(s.charCodeAt(i + 1))) continue
    const c0 = s.charCodeAt(i - 2); const c1 = s.charCodeAt(i - 1)
    if (!isAsciiLetter(c0) || !isAsciiLetter(c1)) continue
    if (i > 2 && isAsciiAlnum(s.charCodeAt(i - 3))) continue
    const len = LENGTH_AT[((c0 & ~32) - 65) * 26 + (c1 & ~32) - 65]
    if (len === 0) continue
    const end = take(s, i - 2, len)
    if (end < 0) continue
    if (end < n && isAsciiAlnum(s.charCodeAt(end))) continue
    if (mod97(s, i - 2, end) !== 1) continue
    spans.add(i - 2, end, id)
    i = end
  }
}

/** end of `len` alphanumerics from `a`, single spaces allowed between them; -1 when they run out */
function take (s: string, a: number, len: number): number {
  let got = 0
  let j = a
  while (j < s.length && got < len) {
    const c = s.charCodeAt(j)
    if (isAsciiAlnum(c)) { got++; j++; continue }
    if (c === 32 && got >= 4 && j + 1 < s.length && isAsciiAlnum(s.charCodeAt(j + 1))) { j++; continue }
    return -1
  }
  return got === len ? j : -1
}

/** ISO 7064 mod 97-10 over the IBAN rearranged (first four characters moved to the end), letters A=10 … Z=35 */
function mod97 (s: string, a: number, b: number): number {
  let r = 0
  const step = (c: number): void => {
    if (c >= 48 && c <= 57) r = (r * 10 + c - 48) % 97
    else { const v = (c & ~32) - 55; r = (r * 100 + v) % 97 }
  }
  let head = 0
  for (let i = a; i < b; i++) {
    const c = s.charCodeAt(i)
    if (c === 32) continue
    if (head < 4) { head++; continue }
    step(c)
  }
  head = 0
  for (let i = a; i < b && head < 4; i++) {
    const c = s.charCodeAt(i)
    if (c === 32) continue
    step(c); head++
  }
  return r
}
