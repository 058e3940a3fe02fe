import type { Spans } from './spans.js'

/**
 * National identifiers with a format that can be validated, so that look-alike numbers are left
 * alone. Patterns have only bounded repetitions (no backtracking blow-up) and are compiled once.
 */

/**
 * US Social Security numbers, written AAA-GG-SSSS (dashes or spaces). SSA rules: area is not 000,
 * 666 or 900–999; group is not 00; serial is not 0000. Nine digits in a row are too ambiguous
 * (order numbers, zip+4) to mask as SSNs.
 */
const SSN = /(?<![\d-])(\d{3})([- ])(\d{2})\2(\d{4})(?![\d-])/g

export function findUsSsn (s: string, spans: Spans, id: number): void {
  SSN.lastIndex = 0
  for (let m = SSN.exec(s); m !== null; m = SSN.exec(s)) {
    const area = m[1]
    if (area === '000' || area === '666' || area[0] === '9') continue
    if (m[3] === '00' || m[4] === '0000') continue
    spans.add(m.index, m.index + m[0].length, id)
  }
}

/**
 * UK National Insurance numbers (HMRC NIM39110): two prefix letters, six digits, suffix A–D, spaces
 * optional. D, F, I, Q, U, V never appear in the prefix, O never second, and BG, GB, KN, NK, NT,
 * TN, ZZ are not allocated.
 */
const NINO = /(?<![A-Za-z0-9])([A-CEGHJ-PR-TW-Z][A-CEGHJ-NPR-TW-Z]) ?(\d{2}) ?(\d{2}) ?(\d{2}) ?([A-D])(?![A-Za-z0-9])/gi
const NINO_UNUSED = new Set(['BG', 'GB', 'KN', 'NK', 'NT', 'TN', 'ZZ'])

export function findUkNino (s: string, spans: Spans, id: number): void {
  NINO.lastIndex = 0
  for (let m = NINO.exec(s); m !== null; m = NINO.exec(s)) {
    if (NINO_UNUSED.has(m[1].toUpperCase())) continue
    spans.add(m.index, m.index + m[0].length, id)
  }
}

/**
 * Spanish DNI (8 digits + check letter) and NIE (X/Y/Z + 7 digits + check letter); the letter is
 * TRWAGMYFPDXBNJZSQVHLCKE[number mod 23] (Real Decreto 1553/2005, Orden INT/2058/2008 for the NIE).
 */
const DNI = /(?<![A-Za-z0-9])([XYZxyz]?)(\d{7,8})[- ]?([A-Za-z])(?![A-Za-z0-9])/g
const DNI_LETTERS = 'TRWAGMYFPDXBNJZSQVHLCKE'

export function findEsDni (s: string, spans: Spans, id: number): void {
  DNI.lastIndex = 0
  for (let m = DNI.exec(s); m !== null; m = DNI.exec(s)) {
    const nie = m[1] !== ''
    const digits = m[2]
    if (nie ? digits.length !== 7 : digits.length !== 8) continue
    const n = Number((nie ? String('XYZ'.indexOf(m[1].toUpperCase())) : '') + digits)
    if (DNI_LETTERS[n % 23] !== m[3].toUpperCase()) continue
    spans.add(m.index, m.index + m[0].length, id)
  }
}
