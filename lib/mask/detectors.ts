import { findCards } from './detect/card.js'
import { findEmails } from './detect/email.js'
import { findIbans } from './detect/iban.js'
import { findEsDni, findUkNino, findUsSsn } from './detect/national-id.js'
import { findIpv4, findIpv6, mayIpv6, mayIpv6Bytes, partialIpv4, partialIpv6 } from './detect/network.js'
import { keepAlnum, keepDomain, keepLastDigits } from './detect/partial.js'
import { findPhones } from './detect/phone.js'
import { findAssignedSecrets, findJwts, findPrefixedKeys, KEY_PAIRS, mayAssign, mayAssignBytes } from './detect/secrets.js'
import type { Spans } from './detect/spans.js'
import { wasmGate } from './detect/wasm-gate.js'

/**
 * The detectors a profile can name, in the order they claim text: a later detector never matches
 * inside an earlier one's hit (a card number inside a JWT is the JWT; an IPv4 tail is part of the
 * IPv6 address). Each has a cheap gate on character counts so most strings skip it without a scan.
 */
export interface Detector {
  readonly name: string
  /** bit in the gate mask */
  readonly bit: number
  find (s: string, spans: Spans, id: number): void
  /** what `action: partial` leaves of a hit; `keep` is the prefix length the detector reported */
  partial (m: string, keep: number): string
}

const d = (name: string, bit: number, find: Detector['find'], partial: Detector['partial']): Detector =>
  ({ name, bit, find, partial })

export const DETECTORS: readonly Detector[] = [
  d('jwt', 1 << 0, findJwts, () => '[redacted:jwt]'),
  d('api_key', 1 << 1, findPrefixedKeys, (m, keep) => m.slice(0, keep) + '****'),
  d('api_key', 1 << 2, findAssignedSecrets, () => '****'),
  d('email', 1 << 3, findEmails, keepDomain),
  d('iban', 1 << 4, findIbans, m => keepAlnum(m, 2, 4)),
  d('credit_card', 1 << 5, findCards, m => keepLastDigits(m)),
  d('us_ssn', 1 << 6, findUsSsn, m => keepAlnum(m, 0, 4)),
  d('uk_nino', 1 << 7, findUkNino, m => keepAlnum(m, 0, 3)),
  d('es_dni', 1 << 8, findEsDni, m => keepAlnum(m, 0, 3)),
  d('ipv6', 1 << 9, findIpv6, partialIpv6),
  d('ipv4', 1 << 10, findIpv4, partialIpv4),
  d('phone', 1 << 11, findPhones, m => keepLastDigits(m))
]

const NAMES = [...new Set(DETECTORS.map(x => x.name))]

/** names that stand for several detectors */
export const DETECTOR_GROUPS: Readonly<Record<string, readonly string[]>> = {
  national_id: ['us_ssn', 'uk_nino', 'es_dni'],
  ip: ['ipv4', 'ipv6'],
  secrets: ['jwt', 'api_key'],
  all: NAMES
}

/** every name a profile may list, alphabetically (error messages show it) */
export const DETECTOR_NAMES: readonly string[] = [...NAMES, ...Object.keys(DETECTOR_GROUPS)].sort()

/** (previous, current) character pairs that may start a prefixed API key, as a 128×128 bit table */
const KEY_PAIR = new Uint8Array(128 * 128)
for (const p of KEY_PAIRS) KEY_PAIR[(p.charCodeAt(0) << 7) | p.charCodeAt(1)] = 1

const isLetter = (c: number): boolean => ((c | 32) - 97) >>> 0 < 26
const isWordChar = (c: number): boolean => (c >= 48 && c <= 57) || ((c | 32) >= 97 && (c | 32) <= 122) || c === 95
/** base64url (findJwts: an `eyJ` right after one of these continues a word and starts no token) */
const isBase64Url = (c: number): boolean => isWordChar(c) || c === 45

/**
 * One pass over the string's code units, measuring what the detectors need, and the mask of the
 * detectors that could match at all. Most strings (words, dates, URLs, ids) fail every test and are
 * never scanned. A "chain" is digits joined by the separators numbers are written with
 * (space - . ( ) +): a card needs 13 digits in one chain, a phone 9 (8 after a `+`), an SSN 9; a
 * UK NINO six digits joined by spaces only; an IPv4 address three dots between digits; a JWT `eyJ`
 * where a run of letters starts, after no base64url character (where findJwts looks).
 */
export function gate (s: string): number {
  const n = s.length
  if (n < 6) return 0
  let digits = 0; let at = 0; let dots = 0; let colons = 0; let eq = 0; let plus = 0
  let chain = 0; let maxChain = 0; let run = 0; let maxRun = 0
  let letterDigit = 0; let keyPair = 0; let spaced = 0; let maxSpaced = 0; let dotted = 0
  let prev = 0; let prev2 = 0; let eyJ = false
  for (let i = 0; i < n; i++) {
    const c = s.charCodeAt(i)
    if (isLetter(c)) { // letters first: the most common by far
      chain = 0
      run = 0
      spaced = 0
      if (KEY_PAIR[((prev & 127) << 7) | c] === 1 && !isWordChar(prev2)) keyPair = 1 // at a word start
      if (c === 101 && i + 2 < n && s.charCodeAt(i + 1) === 121 && s.charCodeAt(i + 2) === 74 && !isBase64Url(prev)) eyJ = true
      if (i + 1 < n && isLetter(s.charCodeAt(i + 1))) {
        const d = s.charCodeAt(i + 1)
        if (KEY_PAIR[(c << 7) | d] === 1 && !isWordChar(prev)) keyPair = 1
        // the rest of a run of letters: each has a letter two before it, so none starts a key pair
        let j = i + 2
        while (j < n && isLetter(s.charCodeAt(j))) j++
        prev2 = s.charCodeAt(j - 2)
        prev = s.charCodeAt(j - 1)
        i = j - 1
        continue
      }
    } else if (c >= 48 && c <= 57) {
      digits++
      if (++chain > maxChain) maxChain = chain
      if (++run > maxRun) maxRun = run
      if (++spaced > maxSpaced) maxSpaced = spaced
      if (isLetter(prev)) { if (isLetter(prev2)) letterDigit++ } else if (prev === 46 && prev2 >= 48 && prev2 <= 57) dotted++
    } else {
      run = 0
      if (c !== 32) spaced = 0
      if (c === 32 || c === 45 || c === 46 || c === 40 || c === 41 || c === 43) {
        if (c === 46) dots++
        else if (c === 43) plus++
        else if (c === 45 && prev === 45) keyPair = 1
      } else {
        chain = 0
        if (c === 58) colons++
        else if (c === 64) at++
        else if (c === 61) eq++
      }
    }
    prev2 = prev
    prev = c
  }
  const jwt = dots >= 2 && n >= 24 && eyJ
  const m = gateMask(n, digits, at, dots, colons, eq, plus, maxChain, maxRun, letterDigit, keyPair, maxSpaced, dotted, jwt)
  return (m & RECHECK) === 0 ? m : recheck(s, m)
}

const ASSIGNED = 1 << 2
const IPV6 = 1 << 9
/** detectors whose count test lets most `:` through (URLs, times): asked again with their own first test */
const RECHECK = ASSIGNED | IPV6

/** `m` without the assigned-secret and IPv6 bits their detectors' own first tests rule out */
function recheck (s: string, m: number): number {
  if ((m & ASSIGNED) !== 0 && !mayAssign(s)) m &= ~ASSIGNED
  if ((m & IPV6) !== 0 && !mayIpv6(s)) m &= ~IPV6
  return m
}

/** `recheck` over UTF-8 bytes, never stricter (see `mayAssignBytes`, `mayIpv6Bytes`; the WebAssembly gate has its own) */
function recheckBytes (b: Uint8Array, start: number, end: number, m: number): number {
  if ((m & ASSIGNED) !== 0 && !mayAssignBytes(b, start, end)) m &= ~ASSIGNED
  if ((m & IPV6) !== 0 && !mayIpv6Bytes(b, start, end)) m &= ~IPV6
  return m
}

/**
 * `gate` over UTF-8 bytes read off the wire, so a value that no detector could match is passed over
 * without decoding it. Never stricter than `gate` on the decoded string: every byte of a multi-byte
 * character is >= 0x80 and takes the branch the character would (no digit, letter or separator), and
 * the length in bytes is at least the length in code units. Keep the two loops in step.
 */
export function gateBytes (b: Uint8Array, start: number, end: number): number {
  if (end - start >= WASM_MIN && end - start <= WASM_MAX && wasmGate !== null) return wasmGate.gate(b, start, end)
  return gateBytesLoop(b, start, end)
}

/**
 * From this many bytes the gates run in WebAssembly (detect/wasm-gate.ts), where they take 64 bytes
 * a step: below it the copy into the module's memory and the call (60–70 ns) cost more than they save.
 */
const WASM_MIN = 128

/**
 * The most bytes copied into the WebAssembly gate's memory at once (a text, a staged row, document
 * or column): a module's memory only grows, so one 50 MB value copied in would stay 50 MB of the
 * process for good. Longer texts take the JS loops; longer rows and columns are gated text by text.
 */
export const WASM_MAX = 1 << 20

/**
 * Copies b[start, end) into the WebAssembly gate's memory once, for `gateStagedBytes` to gate its
 * parts in place (the strings of a JSON document: most are too short to pay for a copy each): the
 * address of b[start] there, -1 when there is no WebAssembly gate or the text is longer than WASM_MAX. Staged texts nest; each stays
 * until `unstageBytes` of its address (never keyed on the buffer: callers reuse their buffers).
 */
export function stageBytes (b: Uint8Array, start: number, end: number): number {
  return wasmGate === null || end - start > WASM_MAX ? -1 : wasmGate.stage(b, start, end)
}

/** gives back the memory of a text `stageBytes` staged at `at` (and of any staged after it) */
export function unstageBytes (at: number): void {
  if (at >= 0 && wasmGate !== null) wasmGate.unstage(at)
}

/**
 * `gateBytes` over b[start, end), a part of a text `stageBytes` staged, `at` being the address of
 * b[start] there (-1: not staged): from `STAGED_MIN` bytes in WebAssembly without a copy.
 */
export function gateStagedBytes (b: Uint8Array, start: number, end: number, at: number): number {
  if (at < 0 || end - start < STAGED_MIN) return gateBytes(b, start, end)
  return wasmGate!.gateAt(at, end - start)
}

/** From this many bytes a staged text is gated in WebAssembly: the call alone (no copy) costs about what the JS loop takes on this many. */
const STAGED_MIN = 16

/** `gateBytes` as a JS loop over the bytes (the WebAssembly gate gives the same mask; tests hold the two equal) */
export function gateBytesLoop (b: Uint8Array, start: number, end: number): number {
  const n = end - start
  if (n < 6) return 0
  let digits = 0; let at = 0; let dots = 0; let colons = 0; let eq = 0; let plus = 0
  let chain = 0; let maxChain = 0; let run = 0; let maxRun = 0
  let letterDigit = 0; let keyPair = 0; let spaced = 0; let maxSpaced = 0; let dotted = 0
  let prev = 0; let prev2 = 0; let eyJ = false
  for (let i = start; i < end; i++) {
    const c = b[i]
    if (isLetter(c)) { // letters first: the most common by far
      chain = 0
      run = 0
      spaced = 0
      if (KEY_PAIR[((prev & 127) << 7) | c] === 1 && !isWordChar(prev2)) keyPair = 1 // at a word start
      if (c === 101 && i + 2 < end && b[i + 1] === 121 && b[i + 2] === 74 && !isBase64Url(prev)) eyJ = true
      if (i + 1 < end && isLetter(b[i + 1])) {
        const d = b[i + 1]
        if (KEY_PAIR[(c << 7) | d] === 1 && !isWordChar(prev)) keyPair = 1
        // the rest of a run of letters: each has a letter two before it, so none starts a key pair
        let j = i + 2
        while (j < end && isLetter(b[j])) j++
        prev2 = b[j - 2]
        prev = b[j - 1]
        i = j - 1
        continue
      }
    } else if (c >= 48 && c <= 57) {
      digits++
      if (++chain > maxChain) maxChain = chain
      if (++run > maxRun) maxRun = run
      if (++spaced > maxSpaced) maxSpaced = spaced
      if (isLetter(prev)) { if (isLetter(prev2)) letterDigit++ } else if (prev === 46 && prev2 >= 48 && prev2 <= 57) dotted++
    } else {
      run = 0
      if (c !== 32) spaced = 0
      if (c === 32 || c === 45 || c === 46 || c === 40 || c === 41 || c === 43) {
        if (c === 46) dots++
        else if (c === 43) plus++
        else if (c === 45 && prev === 45) keyPair = 1
      } else {
        chain = 0
        if (c === 58) colons++
        else if (c === 64) at++
        else if (c === 61) eq++
      }
    }
    prev2 = prev
    prev = c
  }
  const m = gateMask(n, digits, at, dots, colons, eq, plus, maxChain, maxRun, letterDigit, keyPair, maxSpaced, dotted, dots >= 2 && n >= 24 && eyJ)
  return (m & RECHECK) === 0 ? m : recheckBytes(b, start, end, m)
}

/** the detectors `quietContactBytes` answers for: email, credit_card, us_ssn, phone */
export const CONTACT_BITS = 1 << 3 | 1 << 5 | 1 << 6 | 1 << 11

/**
 * `(gateBytes(b, start, end) & CONTACT_BITS) === 0` in a lighter loop, for profiles whose detectors
 * are among email, credit_card, us_ssn and phone (the common ones): true when the text has no '@'
 * with a '.', no chain of 9 digits, and no chain of 8 with a '+' anywhere (see `gate` for chains).
 */
export function quietContactBytes (b: Uint8Array, start: number, end: number): boolean {
  return contactGateBytes(b, start, end) === 0
}

/**
 * `gate(s) & CONTACT_BITS` in a lighter loop: for profiles whose detectors
 * are all contact ones, the detectors to run on a string with something in it.
 */
export function contactGate (s: string): number {
  const n = s.length
  if (n < 6) return 0
  let chain = 0; let maxChain = 0; let at = false; let dot = false; let plus = false
  for (let i = 0; i < n; i++) {
    const c = s.charCodeAt(i)
    if (c > 64) { chain = 0; continue }
    if (c >= 48) {
      if (c <= 57) { if (++chain > maxChain) maxChain = chain; continue }
      if (c === 64) at = true
      chain = 0
      continue
    }
    if (c === 46) dot = true
    else if (c === 43) plus = true
    else if (c !== 32 && c !== 45 && c !== 40 && c !== 41) chain = 0
  }
  return contactMask(at && dot, maxChain, plus)
}

/** `contactGate` over UTF-8 bytes, never stricter (see `gateBytes`); keep the two loops in step */
export function contactGateBytes (b: Uint8Array, start: number, end: number): number {
  if (end - start >= WASM_MIN && end - start <= WASM_MAX && wasmGate !== null) return wasmGate.contactGate(b, start, end)
  return contactGateBytesLoop(b, start, end)
}

/** `contactGateBytes` as a JS loop over the bytes (see `gateBytesLoop`) */
export function contactGateBytesLoop (b: Uint8Array, start: number, end: number): number {
  if (end - start < 6) return 0
  let chain = 0; let maxChain = 0; let at = false; let dot = false; let plus = false
  for (let i = start; i < end; i++) {
    const c = b[i]
    if (c > 64) { chain = 0; continue }
    if (c >= 48) {
      if (c <= 57) { if (++chain > maxChain) maxChain = chain; continue }
      if (c === 64) at = true
      chain = 0
      continue
    }
    if (c === 46) dot = true
    else if (c === 43) plus = true
    else if (c !== 32 && c !== 45 && c !== 40 && c !== 41) chain = 0
  }
  return contactMask(at && dot, maxChain, plus)
}

/** the contact bits of `gateMask` */
export function contactMask (email: boolean, maxChain: number, plus: boolean): number {
  let m = 0
  if (email) m |= 1 << 3
  if (maxChain >= 13) m |= 1 << 5
  if (maxChain >= 9) m |= 1 << 6 | 1 << 11
  else if (plus && maxChain >= 8) m |= 1 << 11
  return m
}

/** the detectors the gate's counts allow (exported for the gate's tests) */
export function gateMask (n: number, digits: number, at: number, dots: number, colons: number, eq: number, plus: number,
  maxChain: number, maxRun: number, letterDigit: number, keyPair: number, maxSpaced: number, dotted: number, jwt: boolean): number {
  let m = 0
  if (jwt) m |= 1 << 0 // jwt: eyJ….….
  if (keyPair !== 0 && n >= 14) m |= 1 << 1 // the shortest prefixed key: xoxb- + 10
  if (eq + colons > 0) m |= 1 << 2
  if (at > 0 && dots > 0) m |= 1 << 3
  if (letterDigit > 0 && digits >= 6 && n >= 15) m |= 1 << 4 // iban: CCdd… (letterDigit: digits after two letters)
  if (maxChain >= 13) m |= 1 << 5
  if (maxChain >= 9) m |= 1 << 6
  if (digits >= 6 && n >= 9 && maxSpaced >= 6) m |= 1 << 7 // uk_nino: six digits, at most spaces between
  if (maxRun >= 7) m |= 1 << 8
  if (colons >= 2) m |= 1 << 9
  if (dots >= 3 && digits >= 4 && dotted >= 3) m |= 1 << 10 // ipv4: three dots between digits
  if (maxChain >= 9 || (plus > 0 && maxChain >= 8)) m |= 1 << 11
  return m
}

/**
 * The gates of every row of a protobuf `repeated string` field's content b[start, end) (a Milvus
 * varchar column) in WebAssembly, in one call: `contactGateBytes` of each row when `contact`, else
 * `gateBytes`. The rows whose gate shares a bit with `mask`, four numbers each (see
 * `WasmGate.gateRows`); null when there is no WebAssembly gate, the bytes are more than WASM_MAX or
 * not such rows.
 */
export function gateTextRows (b: Uint8Array, start: number, end: number, mask: number, contact: boolean): Int32Array | null {
  return wasmGate === null || end - start > WASM_MAX ? null : wasmGate.gateRows(b, start, end, mask, contact)
}
