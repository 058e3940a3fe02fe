import { isAsciiAlnum, isDigit } from './chars.js'

/**
 * What `action: partial` leaves of a value: enough to recognise it (last digits, the domain, the
 * country), never enough to use it. Only called on hits, so these may allocate.
 */

/** masks every digit but the last `keep`, separators kept: `**** **** **** 1111`, `+** *** ***4567` */
export function keepLastDigits (m: string, keep = 4): string {
  let digits = 0
  for (let i = 0; i < m.length; i++) if (isDigit(m.charCodeAt(i))) digits++
  let out = ''
  let seen = 0
  for (let i = 0; i < m.length; i++) {
    out += isDigit(m.charCodeAt(i)) && seen++ < digits - keep ? '*' : m[i]
  }
  return out
}

/** masks letters and digits, keeping the first `head` and the last `tail`: `***-**-6789`, `DE** … **30 00` */
export function keepAlnum (m: string, head: number, tail: number): string {
  let alnum = 0
  for (let i = 0; i < m.length; i++) if (isAsciiAlnum(m.charCodeAt(i))) alnum++
  let out = ''
  let seen = 0
  for (let i = 0; i < m.length; i++) {
    if (!isAsciiAlnum(m.charCodeAt(i))) { out += m[i]; continue }
    out += seen < head || seen >= alnum - tail ? m[i] : '*'
    seen++
  }
  return out
}

/** keeps the domain of an address: `***@example.com` */
export function keepDomain (m: string): string {
  return '***' + m.slice(m.lastIndexOf('@'))
}

/**
 * A configured field's value under `partial`, whatever it holds: an address keeps its domain; a
 * value that is mostly digits (phone, card, account) keeps its last four; other text keeps the
 * first letter of each word (`Alice Smith` → `A**** S****`), so nothing longer than an initial leaks.
 */
export function partialText (s: string): string {
  const at = s.lastIndexOf('@')
  if (at > 0 && s.indexOf('.', at) > at) return keepDomain(s)
  let digits = 0
  let alnum = 0
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i)
    if (isDigit(c)) digits++
    if (isAsciiAlnum(c) || c >= 0x80) alnum++
  }
  if (digits >= 4 && digits * 2 >= alnum) return keepLastDigits(s, digits >= 8 ? 4 : 2)
  let out = ''
  let wordStart = true
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i)
    const space = c === 32 || c === 9 || c === 10 || c === 13 || c === 45 || c === 46 || c === 44
    if (space) { out += s[i]; wordStart = true; continue }
    out += wordStart ? s[i] : '*'
    wordStart = false
  }
  return out
}
