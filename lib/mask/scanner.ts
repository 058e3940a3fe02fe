import { DROP, type Dropped } from '../../decoders/types.js'
import type { Hasher, MaskAction } from './actions.js'
import { NOT_SECRET, secretByName, secretKind } from './detect/secrets.js'
import { Spans } from './detect/spans.js'
import { CONTACT_BITS, contactGate, contactGateBytes, contactMask, gate, gateBytes, gateStagedBytes, gateTextRows, quietContactBytes, type Detector } from './detectors.js'

/** one reused hit list: scans never interleave (single-threaded, not re-entrant) */
const spans = new Spans()

/**
 * A profile's detectors over one string. `scan` returns the string itself when nothing was found —
 * the common case, which allocates nothing: one counting pass (`gate`), then only the detectors the
 * counts allow.
 */
export class Scanner {
  private readonly mask: number
  private readonly redactions: string[]
  private readonly byName: boolean
  private readonly cards: boolean
  /** every detector is one `quietContactBytes` answers for */
  readonly contactsOnly: boolean

  constructor (
    private readonly detectors: readonly Detector[],
    private readonly action: MaskAction,
    private readonly hasher: Hasher
  ) {
    let mask = 0
    for (const det of detectors) mask |= det.bit
    this.mask = mask
    this.contactsOnly = (mask & ~CONTACT_BITS) === 0
    this.redactions = detectors.map(det => `[redacted:${det.name}]`)
    this.byName = detectors.some(det => det.name === 'api_key')
    this.cards = detectors.some(det => det.name === 'credit_card')
  }

  get active (): boolean { return this.detectors.length > 0 }

  /** the bits of this profile's detectors (`gateOf` answers within them) */
  get detectorMask (): number { return this.mask }

  /**
   * A string stored under a name (payload key, column): with the api_key detector on, a value under
   * a secret-sounding name (`password`, `api_key`, `client_secret` …) is masked whole; otherwise,
   * and always for other names, the detectors scan it.
   */
  named (name: string, s: string, g = -1): string | null | Dropped {
    if (this.byName && secretByName(name, s)) {
      switch (this.action) {
        case 'null': return null
        case 'drop': return DROP
        case 'hash': return this.hasher.token(s)
        case 'partial': return '****'
        default: return '[redacted:api_key]'
      }
    }
    return this.scan(s, g)
  }

  /**
   * The gate over UTF-8 text buf[start, end) without escapes, for `scan` to reuse once the text is
   * decoded: 0 when `scan` leaves it as it is; else detectors to run (a superset of what `gate` on
   * the decoded string allows: the byte gates are never stricter).
   */
  gateOf (buf: Uint8Array, start: number, end: number): number {
    if (this.contactsOnly) return contactGateBytes(buf, start, end) & this.mask
    return gateBytes(buf, start, end) & this.mask
  }

  /**
   * `gateOf` of buf[start, end), a part of a text staged with `stageBytes` (detectors.ts), `at`
   * being the address of buf[start] there (-1: not staged)
   */
  gateOfStaged (buf: Uint8Array, start: number, end: number, at: number): number {
    if (this.contactsOnly) return contactGateBytes(buf, start, end) & this.mask
    return gateStagedBytes(buf, start, end, at) & this.mask
  }

  /**
   * `named(name, text)` of the UTF-8 text buf[start, end) read off the wire, with one gate, over the
   * bytes: undefined when the result is the text as it is (keep the bytes; most texts are not even
   * decoded), else the masked string, null or DROP. Saves the caller that gates the bytes first
   * (`quietBytes`) and then scans the decoded string from gating it a second time.
   */
  namedBytes (name: string, buf: Buffer, start: number, end: number): string | null | Dropped | undefined {
    if (this.quietName(name)) return this.scanBytes(buf, start, end)
    const s = buf.toString('utf8', start, end)
    const out = this.named(name, s)
    return out === s ? undefined : out
  }

  /** `scan(text)` of the UTF-8 text buf[start, end), as `namedBytes` does it: undefined when the text stays as it is */
  scanBytes (buf: Buffer, start: number, end: number): string | null | Dropped | undefined {
    return this.scanGatedBytes(buf, start, end, this.gateOf(buf, start, end))
  }

  /** `scanBytes` of a text whose `gateOf` is known: `g` */
  scanGatedBytes (buf: Buffer, start: number, end: number, g: number): string | null | Dropped | undefined {
    if (g === 0) return undefined
    const s = buf.toString('utf8', start, end)
    const out = this.scan(s, g)
    return out === s ? undefined : out
  }

  /** the detectors of this profile a contact gate's counts allow (`contactMask`), for a gate computed elsewhere */
  contactBits (email: boolean, maxChain: number, plus: boolean): number {
    return contactMask(email, maxChain, plus) & this.mask
  }

  /** true when `scan` leaves the UTF-8 text buf[start, end) as it is (see `gateBytes`): no need to decode it */
  quietBytes (buf: Uint8Array, start: number, end: number): boolean {
    if (this.contactsOnly) return quietContactBytes(buf, start, end)
    return (gateBytes(buf, start, end) & this.mask) === 0
  }

  /** true when `named` never masks a value for its name alone, whatever the name (no api_key detector) */
  get quietAnyName (): boolean { return !this.byName }

  /** true when `named(name, …)` never masks a value for its name alone */
  quietName (name: string): boolean {
    return !this.byName || secretKind(name) === NOT_SECRET
  }

  /**
   * The string with hits replaced, the same string when none, null (action null) or DROP (action
   * drop). `g`: the detectors a gate over this text allowed (`gateOf`); -1 runs `gate` here.
   */
  scan (s: string, g = -1): string | null | Dropped {
    if (g < 0) g = (this.contactsOnly ? contactGate(s) : gate(s)) & this.mask
    if (g === 0) return s
    spans.reset()
    const dets = this.detectors
    for (let i = 0; i < dets.length; i++) {
      if ((g & dets[i].bit) !== 0) dets[i].find(s, spans, i)
    }
    if (spans.count === 0) return s
    if (this.action === 'null') return null
    if (this.action === 'drop') return DROP
    spans.sort()
    let out = ''
    let pos = 0
    for (let k = 0; k < spans.count; k++) {
      const a = spans.start[k]
      const b = spans.end[k]
      const det = spans.detector[k]
      out += s.slice(pos, a) + this.replacement(det, s.slice(a, b), spans.keep[k])
      pos = b
    }
    return out + s.slice(pos)
  }

  /**
   * A number: card numbers end up in integer columns and payload fields too. Checked without
   * building a string (millisecond timestamps are numbers of the same size and far more common):
   * an exact integer of 13–16 digits, first digit 2–6, passing Luhn, is turned into text and masked
   * like a string (the result is a string, null or DROP).
   */
  number (v: number): number | string | null | Dropped {
    if (!this.cards || !(v >= 2e12) || v > Number.MAX_SAFE_INTEGER || !Number.isInteger(v)) return v
    let top = v
    while (top >= 10) top = Math.floor(top / 10)
    if (top < 2 || top > 6 || !luhnNumber(v)) return v
    return this.scan(String(v))
  }

  /**
   * `gateOf` of every row of a protobuf `repeated string` field's content buf[start, end) (a varchar
   * column), in one call (`gateTextRows`): the rows it is nonzero for, four numbers each — where the
   * row's field starts, where its text starts and ends, its gate — and none of the others. Null when
   * the rows cannot be gated so (no WebAssembly gate; bytes that are not such rows).
   */
  gateRows (buf: Uint8Array, start: number, end: number): Int32Array | null {
    return gateTextRows(buf, start, end, this.mask, this.contactsOnly)
  }

  private replacement (det: number, m: string, keep: number): string {
    switch (this.action) {
      case 'hash': return this.hasher.token(m)
      case 'partial': return this.detectors[det].partial(m, keep)
      default: return this.redactions[det]
    }
  }
}

/** Luhn (ISO/IEC 7812-1 Annex B) over the decimal digits of a safe integer */
function luhnNumber (v: number): boolean {
  let sum = 0
  let double = false
  for (let x = v; x > 0; x = Math.floor(x / 10)) {
    let d = x % 10
    if (double) { d *= 2; if (d > 9) d -= 9 }
    sum += d
    double = !double
  }
  return sum % 10 === 0
}
