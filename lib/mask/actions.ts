import { createHmac } from 'node:crypto'
import type { MaskProfileConfig } from '../config/types.js'
import { partialText } from './detect/partial.js'

export type MaskAction = MaskProfileConfig['action']

/**
 * What a profile's action makes of a value. Two cases:
 * - a configured field: the whole value is replaced (`[redacted]`, a hash token, a partial form,
 *   null), or the key is dropped;
 * - a detector hit inside a string: only the hit is replaced (`[redacted:email]`, a hash token, the
 *   detector's partial form); `null` makes the whole string null and `drop` drops the key (an array
 *   element becomes null: removing it would shift the positions of the others).
 */
export const REDACTED = '[redacted]'

/**
 * Keyed hashing: `h:` + the first 16 base64url characters (96 bits) of HMAC-SHA256(key, value).
 * The same value gives the same token under the same key, so joins, grouping and counting still
 * work on masked results, while without the key a token cannot be checked against guesses (a plain
 * hash of an email or card number is reversed by enumeration). Numbers and booleans hash as their
 * decimal/text form, so a value hashes the same from a text column and a numeric one.
 */
export class Hasher {
  constructor (private readonly key: Buffer) {}

  token (value: string): string {
    return 'h:' + createHmac('sha256', this.key).update(value, 'utf8').digest('base64url').slice(0, 16)
  }
}

/** A configured field's value under the action (not drop: the caller removes the key). */
export function fieldValue (action: MaskAction, hasher: Hasher, v: unknown): unknown {
  if (v === null || v === undefined) return v
  switch (action) {
    case 'null':
    case 'drop':
      return null
    case 'redact':
      return REDACTED
    case 'hash':
      return hasher.token(typeof v === 'object' ? JSON.stringify(v) : String(v))
    case 'partial':
      if (typeof v === 'string') return partialText(v)
      if (typeof v === 'number' || typeof v === 'bigint') return partialText(String(v))
      return REDACTED
  }
}
