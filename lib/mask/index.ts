/**
 * Masking profiles (CONTRACT.md "Configuration", `masking.profiles`), compiled once into the
 * `Masker`s decoders call (decoders/types.ts). What a profile does:
 *
 * fields   dotted key paths (`email`, `customer.phone`, `*.ssn`); arrays are transparent; a path
 *          covers everything under it; flat keys with dots (`"customer.phone": …`) count as nested.
 *          For Postgres the first segment is the column (`meta.owner` inside jsonb column `meta`).
 * detectors  email, phone, credit_card, iban, us_ssn, uk_nino, es_dni, ipv4, ipv6, jwt, api_key,
 *          and the groups national_id, ip, secrets, all — run over every other string value, every
 *          object key, and integers that could be card numbers. api_key also masks values stored
 *          under secret-sounding names (`password`, `api_key`, `client_secret` …).
 * action   on a configured field, the whole value: redact → "[redacted]"; hash → "h:" + 16
 *          base64url chars of HMAC-SHA256 (stable under one key, so joins and grouping still work);
 *          partial → the email domain, the last digits, or initials; null → null; drop → the key
 *          (the column, from `scalar`) is removed. Arrays keep their length, each element masked.
 *          On a detector hit, only the hit: "[redacted:email]", its hash token, or its partial
 *          form (`***@example.com`, `**** **** **** 1111`); null makes the whole string null; drop
 *          removes the key (an array element becomes null). A key with a hit is renamed the same
 *          way, or removed under null/drop.
 * vectors  keep; drop (null); round (`round_bits`, default 8, mantissa bits kept; a new Float32Array).
 */
import type { Masker } from '../../decoders/types.js'
import type { MaskProfileConfig } from '../config/types.js'
import { VecgateError } from '../errors.js'
import { Hasher } from './actions.js'
import { DETECTOR_GROUPS, DETECTOR_NAMES, DETECTORS, type Detector } from './detectors.js'
import { parsePath, PathSet } from './paths.js'
import { MaskProfile } from './profile.js'
import { Scanner } from './scanner.js'

export { MaskProfile } from './profile.js'
export { DETECTOR_NAMES } from './detectors.js'

const ACTIONS = ['redact', 'hash', 'partial', 'null', 'drop'] as const
const VECTORS = ['keep', 'drop', 'round'] as const
const DEFAULT_ROUND_BITS = 8

/**
 * Compiles every profile under `masking.profiles` once, at config load (STYLE.md: the hot path only
 * calls functions). Errors name the key and what was expected. `hashKey` keys the `hash` action; it
 * must stay the same across restarts for hash tokens to stay comparable.
 */
export function compileMasking (profiles: Record<string, MaskProfileConfig>, opts: { hashKey: Buffer }): Map<string, Masker> {
  if (!Buffer.isBuffer(opts.hashKey) || opts.hashKey.length < 16) {
    throw new VecgateError('VG_ERR_CONFIG', 'masking: the hash key must be at least 16 bytes')
  }
  const hasher = new Hasher(Buffer.from(opts.hashKey))
  const out = new Map<string, Masker>()
  for (const [name, p] of Object.entries(profiles)) out.set(name, compileProfile(name, p, hasher))
  return out
}

function compileProfile (name: string, p: MaskProfileConfig, hasher: Hasher): MaskProfile {
  const key = `masking.profiles.${name}`
  const fail = (k: string, expected: string): never => { throw new VecgateError('VG_ERR_CONFIG', `${key}${k}: ${expected}`) }
  if (p === null || typeof p !== 'object') fail('', 'a mapping with fields, detectors, action, vectors')

  const fields = p.fields ?? []
  if (!Array.isArray(fields)) fail('.fields', 'a list of key paths')
  const paths = fields.map((f, i) => {
    if (typeof f !== 'string') return fail(`.fields[${i}]`, `a key path string, not ${JSON.stringify(f)}`)
    const r = parsePath(f)
    return typeof r === 'string' ? fail(`.fields[${i}]`, r) : r
  })

  const detectorNames = p.detectors ?? []
  if (!Array.isArray(detectorNames)) fail('.detectors', `a list of detector names (${DETECTOR_NAMES.join(', ')})`)
  const wanted = new Set<string>()
  detectorNames.forEach((d, i) => {
    if (typeof d !== 'string' || !DETECTOR_NAMES.includes(d)) {
      fail(`.detectors[${i}]`, `unknown detector ${JSON.stringify(d)} (expected one of ${DETECTOR_NAMES.join(', ')})`)
    }
    for (const n of DETECTOR_GROUPS[d] ?? [d]) wanted.add(n)
  })
  // always in DETECTORS order: that order decides which detector claims overlapping text
  const detectors: Detector[] = DETECTORS.filter(det => wanted.has(det.name))

  const action = p.action ?? 'redact'
  if (!ACTIONS.includes(action)) fail('.action', `one of ${ACTIONS.join(', ')}, not ${JSON.stringify(action)}`)
  const vectors = p.vectors ?? 'keep'
  if (!VECTORS.includes(vectors)) fail('.vectors', `one of ${VECTORS.join(', ')}, not ${JSON.stringify(vectors)}`)
  const roundBits = p.round_bits ?? DEFAULT_ROUND_BITS
  if (!Number.isInteger(roundBits) || roundBits < 1 || roundBits > 23) fail('.round_bits', `an integer from 1 to 23 (float32 mantissa bits), not ${JSON.stringify(roundBits)}`)

  return new MaskProfile({
    name,
    paths: new PathSet(paths),
    scanner: new Scanner(detectors, action, hasher),
    action,
    hasher,
    vectors,
    roundBits
  })
}
