import { isIPv6 } from 'node:net'
import { isAsciiAlnum, isDigit } from './chars.js'
import type { Spans } from './spans.js'

/**
 * IP addresses. IPv4 is the dotted quad of RFC 791 with octets 0–255 and no leading zeros, not part
 * of a longer dotted number (`1.2.3.4.5`, a version string). IPv6 candidates are runs of hex digits,
 * colons and dots (RFC 4291 §2.2 text forms, including the embedded IPv4 tail) that touch no other
 * word character, checked by node's own parser; `std::vector`, `12:30:45` and MAC addresses are not
 * addresses.
 */
const IPV4 = /(?<![\d.])(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(?!\.?\d)/g

export function findIpv4 (s: string, spans: Spans, id: number): void {
  IPV4.lastIndex = 0
  for (let m = IPV4.exec(s); m !== null; m = IPV4.exec(s)) spans.add(m.index, m.index + m[0].length, id)
}

const isHex = (c: number): boolean => isDigit(c) || ((c | 32) >= 97 && (c | 32) <= 102)

export function findIpv6 (s: string, spans: Spans, id: number): void {
  const n = s.length
  let i = 0
  while (i < n) {
    const c = s.charCodeAt(i)
    if (!(isHex(c) || c === 58)) { i++; continue }
    // a run of hex digits, ':' and '.' that does not continue a word
    const a = i
    let colons = 0
    let j = i
    while (j < n) {
      const d = s.charCodeAt(j)
      if (d === 58) colons++
      else if (!(isHex(d) || d === 46)) break
      j++
    }
    i = j
    if (colons < 2) continue
    if (a > 0 && (isAsciiAlnum(s.charCodeAt(a - 1)) || s.charCodeAt(a - 1) === 95)) continue
    if (j < n && (isAsciiAlnum(s.charCodeAt(j)) || s.charCodeAt(j) === 95)) continue
    let b = j
    while (b > a && (s.charCodeAt(b - 1) === 46 || (s.charCodeAt(b - 1) === 58 && s.charCodeAt(b - 2) !== 58))) b-- // sentence punctuation
    if (b - a < 3 || hexGroups(s, a, b) < 2) continue
    if (!isIPv6(s.slice(a, b))) continue
    spans.add(a, b, id)
  }
}

/** number of non-empty groups (so `::` and `::1` alone, which say nothing about anyone, stay) */
function hexGroups (s: string, a: number, b: number): number {
  let groups = 0
  let inGroup = false
  for (let i = a; i < b; i++) {
    const sep = s.charCodeAt(i) === 58
    if (!sep && !inGroup) groups++
    inGroup = !sep
  }
  return groups
}

/** keeps the network part: `192.168.*.*` */
export function partialIpv4 (m: string): string {
  const p = m.split('.')
  return `${p[0]}.${p[1]}.*.*`
}

/** keeps the first two groups: `2001:db8:*` */
export function partialIpv6 (m: string): string {
  const p = m.split(':')
  return `${p[0]}:${p[1]}:*`
}
