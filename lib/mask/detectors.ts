import { findCards } from './detect/card.js'
import { findEmails } from './detect/email.js'
import { findIbans } from './detect/iban.js'
import { findEsDni, findUkNino, findUsSsn } from './detect/national-id.js'
import { findIpv4, findIpv6, partialIpv4, partialIpv6 } from './detect/network.js'
import { keepAlnum, keepDomain, keepLastDigits } from './detect/partial.js'
import { findPhones } from './detect/phone.js'
import { findApiKeys, findJwts } from './detect/secrets.js'
import type { Spans } from './detect/spans.js'

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
  d('api_key', 1 << 1, findApiKeys, (m, keep) => m.slice(0, keep) + '****'),
  d('email', 1 << 2, findEmails, keepDomain),
  d('iban', 1 << 3, findIbans, m => keepAlnum(m, 2, 4)),
  d('credit_card', 1 << 4, findCards, m => keepLastDigits(m)),
  d('us_ssn', 1 << 5, findUsSsn, m => keepAlnum(m, 0, 4)),
  d('uk_nino', 1 << 6, findUkNino, m => keepAlnum(m, 0, 3)),
  d('es_dni', 1 << 7, findEsDni, m => keepAlnum(m, 0, 3)),
  d('ipv6', 1 << 8, findIpv6, partialIpv6),
  d('ipv4', 1 << 9, findIpv4, partialIpv4),
  d('phone', 1 << 10, findPhones, m => keepLastDigits(m))
]

/** names that stand for several detectors */
export const DETECTOR_GROUPS: Readonly<Record<string, readonly string[]>> = {
  national_id: ['us_ssn', 'uk_nino', 'es_dni'],
  ip: ['ipv4', 'ipv6'],
  secrets: ['jwt', 'api_key'],
  all: DETECTORS.map(x => x.name)
}

/** every name a profile may list, alphabetically (error messages show it) */
export const DETECTOR_NAMES: readonly string[] = [...DETECTORS.map(x => x.name), ...Object.keys(DETECTOR_GROUPS)].sort()

/**
 * One pass over the string's code units, counting what the detectors need, and the mask of
 * detectors that could match at all. Shortest hits: `a@b.co` (6), `::ff:1` …, so shorter strings
 * return 0 at once.
 */
export function gate (s: string): number {
  const n = s.length
  if (n < 6) return 0
  let digits = 0; let at = 0; let dots = 0; let colons = 0; let eq = 0
  for (let i = 0; i < n; i++) {
    const c = s.charCodeAt(i)
    if (c <= 57) {
      if (c >= 48) digits++
      else if (c === 46) dots++
    } else if (c <= 64) {
      if (c === 58) colons++
      else if (c === 64) at++
      else if (c === 61) eq++
    }
  }
  let m = 0
  if (dots >= 2 && n >= 24) m |= 1 << 0 // jwt: eyJ….….
  if (n >= 15 || (eq + colons > 0 && n >= 8)) m |= 1 << 1 // api keys: the shortest is xoxb- + 10; `pwd=abcd`
  if (at > 0 && dots > 0) m |= 1 << 2
  if (digits >= 6 && n >= 15) m |= 1 << 3
  if (digits >= 13) m |= 1 << 4
  if (digits >= 9) m |= 1 << 5
  if (digits >= 6 && n >= 9) m |= 1 << 6
  if (digits >= 7) m |= 1 << 7
  if (colons >= 2) m |= 1 << 8
  if (dots >= 3 && digits >= 4) m |= 1 << 9
  if (digits >= 8) m |= 1 << 10
  return m
}
