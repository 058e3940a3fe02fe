/**
 * Tamper evidence. Each event's hash covers the previous hash and every stored column of the event,
 * so an edited, removed or reordered event breaks the chain at that event. The chain starts from a
 * hash of the session's own header, and a session is sealed at its end with an Ed25519 signature by
 * the gateway's key over its header, event count and last hash — a truncated tail breaks the seal.
 */
import { createHash, hash, sign, verify, type KeyObject } from 'node:crypto'

export interface SessionHeader {
  id: string
  backend: string
  protocol: string
  client: string
  tls: boolean
  started_at: number
}

export function genesis (s: SessionHeader): string {
  return createHash('sha256')
    .update(`vecgate-journal-v1\n${s.id}\n${s.backend}\n${s.protocol}\n${s.client}\n${s.tls ? 1 : 0}\n${s.started_at}`)
    .digest('hex')
}

export function eventHash (prev: string, session: string, n: number, at: number, kind: string, call: number | null, body: string): string {
  // one-shot: no Hash object per event, which is most of the cost for bodies of a few KB; the same
  // bytes as hashing the header line and then the body (the header ends in a newline, so no
  // character is split between the two)
  return hash('sha256', `${prev}\n${session}\n${n}\n${at}\n${kind}\n${call ?? ''}\n` + body, 'hex')
}

/** header and body side by side for eventHashBytes' one-shot hash; kept while it stays modest */
let joined = Buffer.allocUnsafeSlow(64 * 1024)
const JOINED_MAX = 1024 * 1024

/**
 * eventHash of a body given as its UTF-8 bytes (as the journal's worker has it): the same hash as
 * eventHash of the string they encode, so journals written either way verify alike.
 */
export function eventHashBytes (prev: string, session: string, n: number, at: number, kind: string, call: number | null, body: Uint8Array): string {
  const head = `${prev}\n${session}\n${n}\n${at}\n${kind}\n${call ?? ''}\n`
  const most = head.length * 3 + body.length
  if (most > joined.length) {
    if (most > JOINED_MAX) return createHash('sha256').update(head).update(body).digest('hex')
    joined = Buffer.allocUnsafeSlow(Math.min(JOINED_MAX, Math.max(most, joined.length * 2)))
  }
  // a copy of the body and one hash: less than a Hash object and two updates for bodies of a few KB
  const h = joined.write(head, 0, 'utf8')
  joined.set(body, h)
  return hash('sha256', joined.subarray(0, h + body.length), 'hex')
}

export interface SealFacts extends SessionHeader {
  ended_at: number
  end_reason: string
  events: number
  last_hash: string
}

function sealText (s: SealFacts): Buffer {
  return Buffer.from(`vecgate-seal-v1\n${genesis(s)}\n${s.ended_at}\n${s.end_reason}\n${s.events}\n${s.last_hash}`)
}

export function seal (s: SealFacts, key: KeyObject): string {
  return sign(null, sealText(s), key).toString('base64')
}

export function sealValid (s: SealFacts, signature: string, key: KeyObject): boolean {
  try {
    return verify(null, sealText(s), key, Buffer.from(signature, 'base64'))
  } catch {
    return false
  }
}
