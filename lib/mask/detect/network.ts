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
  ipv6Runs(s, spans, id)
}

/** the gate of `findIpv6`: true when the text has a run `findIpv6` would hand to the address parser */
export function mayIpv6 (s: string): boolean {
  return ipv6Runs(s, null, 0)
}

/**
 * The runs of hex digits, ':' and '.' that may be addresses, each checked by node's parser and added
 * to `spans`; with `spans` null, true at the first run that would be parsed (nothing is parsed).
 */
function ipv6Runs (s: string, spans: Spans | null, id: number): boolean {
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
    const at = (k: number): number => s.charCodeAt(k)
    if (b - a < 3 || hexGroups(at, a, b) < 2) continue
    if (spans === null) {
      if (addressShape(at, a, b)) return true
      continue
    }
    if (!isIPv6(s.slice(a, b))) continue
    spans.add(a, b, id)
  }
  return false
}

/**
 * `mayIpv6` over the UTF-8 bytes b[start, end), never stricter: a character that is not ASCII is
 * bytes >= 0x80 here, which neither extend a run nor count as a word character, as in the string;
 * the runs and every test on them are the same. Keep the two in step.
 */
export function mayIpv6Bytes (buf: Uint8Array, start: number, end: number): boolean {
  let i = start
  while (i < end) {
    const c = buf[i]
    if (!(isHex(c) || c === 58)) { i++; continue }
    const a = i
    let colons = 0
    let j = i
    while (j < end) {
      const d = buf[j]
      if (d === 58) colons++
      else if (!(isHex(d) || d === 46)) break
      j++
    }
    i = j
    if (colons < 2) continue
    if (a > start && (isAsciiAlnum(buf[a - 1]) || buf[a - 1] === 95)) continue
    if (j < end && (isAsciiAlnum(buf[j]) || buf[j] === 95)) continue
    let b = j
    while (b > a && (buf[b - 1] === 46 || (buf[b - 1] === 58 && (b - 2 < start || buf[b - 2] !== 58)))) b--
    if (b - a < 3) continue
    const at = (k: number): number => buf[k]
    if (hexGroups(at, a, b) >= 2 && addressShape(at, a, b)) return true
  }
  return false
}

/**
 * RFC 4291 §2.2: an address written without `::` has eight groups (seven colons) or six and an IPv4
 * tail (six colons); fewer colons need `::`. A run outside these shapes is no address (a time such
 * as 09:12:44), which the parser would say too.
 */
function addressShape (at: (i: number) => number, a: number, b: number): boolean {
  let colons = 0
  for (let k = a; k < b; k++) {
    if (at(k) !== 58) continue
    if (k + 1 < b && at(k + 1) === 58) return true
    colons++
  }
  return colons >= 6
}

/** number of non-empty groups (so `::` and `::1` alone, which say nothing about anyone, stay) */
function hexGroups (at: (i: number) => number, a: number, b: number): number {
  let groups = 0
  let inGroup = false
  for (let i = a; i < b; i++) {
    const sep = at(i) === 58
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
