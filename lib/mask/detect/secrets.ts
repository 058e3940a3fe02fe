import { isAsciiAlnum, isBase64Url } from './chars.js'
import type { Spans } from './spans.js'

/**
 * Credentials that end up in payloads: JWTs and API keys.
 */

/**
 * JWS compact serialization (RFC 7515 §7.1: three base64url segments) and JWE (RFC 7516 §7.1: five).
 * A candidate starts at `eyJ` (base64 of `{"`), and counts only when its header decodes to a JSON
 * object with an `alg` member (RFC 7515 §4.1.1), so dotted base64-looking text is left alone. Later
 * segments may be empty (the signature under `alg: none`, the encrypted key under JWE `dir`).
 */
export function findJwts (s: string, spans: Spans, id: number): void {
  const n = s.length
  let from = 0
  for (let a = s.indexOf('eyJ', from); a !== -1; a = s.indexOf('eyJ', from)) {
    from = a + 3
    if (a > 0 && isBase64Url(s.charCodeAt(a - 1))) continue
    let j = a
    let segments = 0
    let headerEnd = -1
    let end = -1
    for (;;) {
      const g = j
      while (j < n && isBase64Url(s.charCodeAt(j))) j++
      segments++
      if (segments === 1) headerEnd = j
      if (j === g && segments === 1) break
      if (segments === 3 || segments === 5) end = j
      if (segments === 5 || j >= n || s.charCodeAt(j) !== 46) break
      j++
    }
    if (end < 0 || headerEnd - a < 10) continue
    if (!jsonWithAlg(s.slice(a, headerEnd))) continue
    spans.add(a, end, id)
    from = end
  }
}

function jsonWithAlg (segment: string): boolean {
  try {
    const h = JSON.parse(Buffer.from(segment, 'base64url').toString('utf8')) as unknown
    return h !== null && typeof h === 'object' && typeof (h as { alg?: unknown }).alg === 'string'
  } catch {
    return false
  }
}

/**
 * API keys with a known prefix, each with the shortest body its issuer uses:
 * OpenAI/Anthropic `sk-`, Stripe `sk_live_`/`sk_test_`/`rk_live_`/`rk_test_`, GitHub `ghp_` `gho_`
 * `ghu_` `ghs_` `ghr_` `github_pat_`, GitLab `glpat-`, Slack `xoxb-` `xoxp-` `xoxa-` `xoxr-` `xoxs-`,
 * Hugging Face `hf_`, npm `npm_`, Google `AIza`, SendGrid `SG.`, AWS access key ids `AKIA`/`ASIA`
 * (+16 upper-case alphanumerics), and PEM private key blocks. Repetitions are bounded.
 */
const PREFIXED = new RegExp([
  '(?<![A-Za-z0-9_-])(sk-|sk_live_|sk_test_|rk_live_|rk_test_|gh[pousr]_|github_pat_|glpat-|xox[bpaors]-|hf_|npm_|AIza)[A-Za-z0-9_-]{10,512}',
  '(?<![A-Za-z0-9_.-])(SG\\.)[A-Za-z0-9_-]{16,64}\\.[A-Za-z0-9_-]{16,64}',
  '(?<![A-Za-z0-9])(AKIA|ASIA)[A-Z0-9]{16}(?![A-Za-z0-9])',
  '(-----BEGIN )[A-Z0-9 ]{0,40}PRIVATE KEY-----[A-Za-z0-9+/=\\s:,.-]{0,16384}?-----END [A-Z0-9 ]{0,40}PRIVATE KEY-----'
].join('|'), 'g')

/** shortest body after each prefix (issuer formats; shorter strings are ordinary words) */
const MIN_BODY: Record<string, number> = {
  'sk-': 20, sk_live_: 16, sk_test_: 16, rk_live_: 16, rk_test_: 16, ghp_: 36, gho_: 36, ghu_: 36, ghs_: 36,
  ghr_: 36, github_pat_: 22, 'glpat-': 20, 'xoxb-': 10, 'xoxp-': 10, 'xoxa-': 10, 'xoxr-': 10, 'xoxs-': 10,
  hf_: 30, npm_: 36, AIza: 35
}

export function findPrefixedKeys (s: string, spans: Spans, id: number): void {
  PREFIXED.lastIndex = 0
  for (let m = PREFIXED.exec(s); m !== null; m = PREFIXED.exec(s)) {
    const prefix = m[1] ?? m[2] ?? m[3] ?? m[4]
    const min = MIN_BODY[prefix]
    if (min !== undefined && m[0].length - prefix.length < min) continue
    spans.add(m.index, m.index + m[0].length, id, prefix.startsWith('-') ? 0 : prefix.length)
  }
}

/** character pairs that start a prefix above (`sk`, `gh`, `AK` …): the gate's cheap test before the regex */
export const KEY_PAIRS: readonly string[] = ['sk', 'rk', 'gh', 'gi', 'gl', 'xo', 'hf', 'np', 'AI', 'AK', 'AS', 'SG', '--']

/**
 * Generic `name=value` / `"name": "value"` assignments in text, found from each `=` and `:` (no
 * regex over the whole string), and values stored under such a name (a payload key or column named
 * `password`, `api_key`, `aws_secret_access_key` …: see `secretKind`). Password-like names mask any
 * value of four or more characters; key/secret/token names only values that look random (16+
 * characters, at least two character classes, ≥ 3 bits of entropy per character), so
 * `token: expired` stays.
 */
const PASSWORD_SUFFIXES = ['password', 'passwd', 'pwd', 'passphrase']
const KEY_SUFFIXES = ['apikey', 'accesskey', 'secretkey', 'privatekey', 'clientsecret', 'secret', 'token']
/** last letters of the names above: most `:` (URLs, times) are passed over before any string is built */
const NAME_END = new Set([...'ytndeYTNDE'].map(c => c.charCodeAt(0)))

/**
 * true when a name whose last character is `c` (its last UTF-8 byte, for names read off the wire)
 * may be secret-sounding: false answers `secretKind(name) === NOT_SECRET` without the name as a string
 */
export const mayEndSecretName = (c: number): boolean => c >= 0x80 || NAME_END.has(c)

export const NOT_SECRET = 0
export const PASSWORD = 1
export const KEY = 2
const kinds = new Map<string, number>()

/**
 * What a name says about its value: PASSWORD, KEY, or NOT_SECRET. Case, `_`, `-` and `.` are
 * ignored and only the end counts, so `dbPassword`, `users.password` and `OPENAI_API_KEY` all count.
 * Names repeat (payload keys, column names), so answers are cached (bounded).
 */
export function secretKind (name: string): number {
  const n = name.length
  if (n < 3 || !NAME_END.has(name.charCodeAt(n - 1))) return NOT_SECRET
  let k = kinds.get(name)
  if (k !== undefined) return k
  const norm = name.toLowerCase().replace(/[-_.\s]/g, '')
  k = PASSWORD_SUFFIXES.some(x => norm.endsWith(x)) ? PASSWORD : KEY_SUFFIXES.some(x => norm.endsWith(x)) ? KEY : NOT_SECRET
  if (kinds.size >= 4096) kinds.clear()
  kinds.set(name, k)
  return k
}

/** true when `value`, stored under `name`, is to be masked whole */
export function secretByName (name: string, value: string): boolean {
  const k = secretKind(name)
  return k === PASSWORD ? value.length >= 4 : k === KEY && looksRandom(value)
}

export function findAssignedSecrets (s: string, spans: Spans, id: number): void {
  for (let i = s.indexOf('='); i !== -1; i = s.indexOf('=', i + 1)) assigned(s, i, spans, id)
  for (let i = s.indexOf(':'); i !== -1; i = s.indexOf(':', i + 1)) assigned(s, i, spans, id)
}

/**
 * Where the name before the `=` or `:` at `sep` ends — read backwards: [spaces] [quote] name — when
 * its last character could end a secret-sounding name; -1 otherwise (most `:` in URLs and times).
 */
function nameEndBefore (s: string, sep: number): number {
  let j = sep - 1
  for (let k = 0; k < 3 && j >= 0 && (s.charCodeAt(j) === 32 || s.charCodeAt(j) === 9); k++) j--
  if (j >= 0 && (s.charCodeAt(j) === 34 || s.charCodeAt(j) === 39)) j--
  return j < 2 || !NAME_END.has(s.charCodeAt(j)) ? -1 : j
}

/**
 * The gate of `findAssignedSecrets`: true when some `=` or `:` has a name before it that could end a
 * secret-sounding name (`nameEndBefore`); false when the detector cannot find anything.
 */
export function mayAssign (s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i)
    if ((c === 61 || c === 58) && nameEndBefore(s, i) >= 0) return true
  }
  return false
}

/**
 * `mayAssign` over the UTF-8 bytes b[start, end), never stricter: the characters `nameEndBefore`
 * steps over (spaces, tabs, quotes) are one byte each; a character it stops at that is not ASCII is
 * bytes >= 0x80 here, which end no name either; and a byte offset is never below the character's index.
 */
export function mayAssignBytes (b: Uint8Array, start: number, end: number): boolean {
  for (let i = start; i < end; i++) {
    const c = b[i]
    if (c !== 61 && c !== 58) continue
    let j = i - 1
    for (let k = 0; k < 3 && j >= start && (b[j] === 32 || b[j] === 9); k++) j--
    if (j >= start && (b[j] === 34 || b[j] === 39)) j--
    if (j - start >= 2 && NAME_END.has(b[j])) return true
  }
  return false
}

function assigned (s: string, sep: number, spans: Spans, id: number): void {
  // the name, read backwards: [spaces] [quote] name
  let j = nameEndBefore(s, sep)
  if (j < 0) return
  const nameEnd = j + 1
  while (j >= 0 && nameEnd - j <= 32 && isNameChar(s.charCodeAt(j))) j--
  if (j >= 0 && isAsciiAlnum(s.charCodeAt(j))) return
  const kind = secretKind(s.slice(j + 1, nameEnd))
  if (kind === NOT_SECRET) return
  // the value: [spaces] [quote] value
  let v = sep + 1
  for (let k = 0; k < 3 && v < s.length && (s.charCodeAt(v) === 32 || s.charCodeAt(v) === 9); k++) v++
  if (v < s.length && (s.charCodeAt(v) === 34 || s.charCodeAt(v) === 39)) v++
  let e = v
  while (e < s.length && e - v < 512 && isValueChar(s.charCodeAt(e))) e++
  if (e - v < 4) return
  if (kind === KEY && !looksRandom(s.slice(v, e))) return
  spans.add(v, e, id)
}

const isNameChar = (c: number): boolean => isAsciiAlnum(c) || c === 95 || c === 45
/** anything up to whitespace, a quote or a list/query separator */
const isValueChar = (c: number): boolean => c > 32 && c !== 34 && c !== 39 && c !== 38 && c !== 44 && c !== 59 && c !== 0x7f

const counts = new Int32Array(128)

/** 16+ characters, two or more classes, Shannon entropy ≥ 3 bits per character */
export function looksRandom (v: string): boolean {
  if (v.length < 16) return false
  let lower = 0; let upper = 0; let digit = 0
  counts.fill(0)
  for (let i = 0; i < v.length; i++) {
    const c = v.charCodeAt(i)
    if (c >= 97 && c <= 122) lower = 1
    else if (c >= 65 && c <= 90) upper = 1
    else if (c >= 48 && c <= 57) digit = 1
    counts[c & 127]++
  }
  if (lower + upper + digit < 2) return false
  let h = 0
  for (let i = 0; i < 128; i++) {
    if (counts[i] === 0) continue
    const p = counts[i] / v.length
    h -= p * Math.log2(p)
  }
  return h >= 3
}
