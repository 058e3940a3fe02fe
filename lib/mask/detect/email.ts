import { isAsciiAlnum, isWordLetter } from './chars.js'
import type { Spans } from './spans.js'

/**
 * Email addresses (RFC 5322 dot-atom local part, RFC 6531 non-ASCII allowed, a domain with at least
 * one dot and a TLD that is not all digits). Scanned outward from each '@' instead of by regex: a
 * regex with an unbounded local part backtracks quadratically on long runs of local characters, and
 * payload text is attacker-supplied. Each character is visited a bounded number of times.
 */

// RFC 5322 atext minus the rarely used ! # $ & * / = ? ^ ` { | } ~ (they make prose false positives)
const isLocal = (c: number): boolean => isWordLetter(c) || c === 46 || c === 95 || c === 37 || c === 43 || c === 45 || c === 39
const isDomain = (c: number): boolean => isWordLetter(c) || c === 45

export function findEmails (s: string, spans: Spans, id: number): void {
  const n = s.length
  let from = 0
  let floor = 0 // local parts never reach back into an earlier match
  for (let at = s.indexOf('@', from); at !== -1; at = s.indexOf('@', from)) {
    from = at + 1
    let a = at
    while (a > floor && isLocal(s.charCodeAt(a - 1))) a--
    while (a < at && !isAsciiAlnumOrWide(s.charCodeAt(a))) a++ // no leading dot, quote, plus …
    if (a === at) continue
    let b = at + 1
    let labelStart = b
    let lastDot = -1
    while (b < n) {
      const c = s.charCodeAt(b)
      if (isDomain(c)) { b++; continue }
      if (c === 46 && b > labelStart && b + 1 < n && isDomain(s.charCodeAt(b + 1))) {
        lastDot = b
        labelStart = ++b
        continue
      }
      break
    }
    while (b > labelStart && s.charCodeAt(b - 1) === 45) b-- // a label does not end with '-'
    if (lastDot < 0 || b - lastDot - 1 < 2) continue
    let letter = false
    for (let i = lastDot + 1; i < b; i++) { if (!(s.charCodeAt(i) >= 48 && s.charCodeAt(i) <= 57)) { letter = true; break } }
    if (!letter) continue // 'a@1.2.3.4'-like: not a mail domain
    spans.add(a, b, id)
    from = b
    floor = b
  }
}

const isAsciiAlnumOrWide = (c: number): boolean => isAsciiAlnum(c) || c >= 0x80

/** keeps the domain: `***@example.com` */
export function partialEmail (m: string): string {
  return '***' + m.slice(m.lastIndexOf('@'))
}
