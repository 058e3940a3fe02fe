import { DROP } from '../../decoders/types.js'
import { REDACTED, type Hasher, type MaskAction } from './actions.js'
import { Cuts } from './bytes.js'
import { mayEndSecretName } from './detect/secrets.js'
import { partialText } from './detect/partial.js'
import type { PathNode, PathSet } from './paths.js'
import type { Scanner } from './scanner.js'

/**
 * `MaskProfile.document` over JSON text (RFC 8259) as it arrived — a Milvus JSON field, a Postgres
 * json/jsonb value — without JSON.parse and JSON.stringify: one walk over the UTF-8 bytes that
 * follows the key path, runs the detectors' gate over string bytes and decodes only the strings the
 * gate lets through. A value the mask changes is replaced by the JSON text of its masked value
 * (JSON.stringify of what `document` makes of it), everything else keeps its bytes, so the result is
 * the same JSON value `document` gives. The walk validates the grammar as it goes.
 *
 * It answers `undefined` (the caller parses, masks and stringifies instead) whenever it could not
 * give exactly that value: text that is not one JSON object, nesting near MAX_DEPTH, a key the
 * detectors would rename (renames may collide with other keys), a key or value to remove (`drop`),
 * `hash` or `partial` of a value that is not a string (they read the value as JavaScript prints it).
 */

const QUOTE = 34
const BACKSLASH = 92
const COMMA = 44
const COLON = 58
const OPEN_OBJECT = 123
const CLOSE_OBJECT = 125
const OPEN_ARRAY = 91
const CLOSE_ARRAY = 93

/** a value nested this deep is left to the decoded path, which refuses it past MAX_DEPTH */
const MAX_TEXT_DEPTH = 200

const GIVE_UP = Symbol('json text needs the decoded path')

const REDACTED_TEXT = Buffer.from(JSON.stringify(REDACTED))
const NULL_TEXT = Buffer.from('null')

const isSpace = (c: number): boolean => c === 32 || c === 10 || c === 13 || c === 9
const isDigit = (c: number): boolean => c >= 48 && c <= 57

export class JsonTextMasker {
  /** the text being walked and the cursor; one walk at a time (single-threaded, not re-entrant) */
  private buf: Uint8Array = NULL_TEXT
  private pos = 0
  private end = 0
  /** where the walk puts its replaced spans: its own (`document`) or the caller's (`cut`) */
  private cuts: Cuts
  private readonly ownCuts = new Cuts()
  /** set by `string()`: the string had an escape / a '.' */
  private escaped = false
  private dotted = false

  constructor (
    private readonly paths: PathSet,
    private readonly scanner: Scanner,
    private readonly action: MaskAction,
    private readonly hasher: Hasher,
    private readonly detect: boolean
  ) {
    this.cuts = this.ownCuts
  }

  /**
   * The JSON object text buf[start, end) as `document(JSON.parse(text), prefix)` leaves it, `node`
   * being the path node of `prefix` (not a terminal one): null when unchanged, else the new text;
   * undefined when only the decoded path can say.
   */
  document (buf: Uint8Array, start: number, end: number, node: PathNode | null): Uint8Array | null | undefined {
    const cuts = this.ownCuts
    const changed = this.cut(buf, start, end, node, cuts)
    if (changed !== true) return changed === false ? null : undefined
    const out = Buffer.allocUnsafe(end - start + cuts.growth(0, cuts.count))
    cuts.write(buf, start, end, 0, cuts.count, out, 0)
    cuts.truncate(0)
    return out
  }

  /**
   * `document` with the new text left as replaced spans of buf, added to `cuts` (for a caller that
   * writes the text into something larger, once): true when it added any, false when the text stays
   * as it is, undefined (`cuts` as it was) when only the decoded path can say.
   */
  cut (buf: Uint8Array, start: number, end: number, node: PathNode | null, cuts: Cuts): boolean | undefined {
    const before = cuts.count
    this.buf = buf
    this.pos = start
    this.end = end
    this.cuts = cuts
    let ok = false
    try {
      this.space()
      if (this.peek() !== OPEN_OBJECT) return undefined
      this.object(node, 0)
      this.space()
      if (this.pos !== end) return undefined
      ok = true
      return cuts.count !== before
    } catch (e) {
      if (e === GIVE_UP) return undefined
      throw e
    } finally {
      if (!ok) cuts.truncate(before)
      this.buf = NULL_TEXT
      this.cuts = this.ownCuts
    }
  }

  private replace (a: number, b: number, text: Uint8Array): void {
    this.cuts.add(a, b, text)
  }

  private peek (): number {
    return this.pos < this.end ? this.buf[this.pos] : -1
  }

  private space (): void {
    while (this.pos < this.end && isSpace(this.buf[this.pos])) this.pos++
  }

  /** after a member or element: true at a comma (another follows), false at `close` (the end) */
  private more (close: number): boolean {
    this.space()
    const c = this.peek()
    this.pos++
    if (c === COMMA) return true
    if (c === close) return false
    throw GIVE_UP
  }

  private expect (c: number): void {
    this.space()
    if (this.peek() !== c) throw GIVE_UP
    this.pos++
  }

  /** `MaskProfile.object` over the members of the object at the cursor */
  private object (node: PathNode | null, depth: number): void {
    if (depth > MAX_TEXT_DEPTH) throw GIVE_UP
    this.pos++ // {
    this.space()
    if (this.peek() === CLOSE_OBJECT) { this.pos++; return }
    for (;;) {
      this.space()
      if (this.peek() !== QUOTE) throw GIVE_UP
      const ks = this.pos
      // the key's gate comes with reading it (keys are scanned too: `checkKey`)
      let kg = 0
      if (this.detect) kg = this.gatedString()
      else this.string()
      const ke = this.pos
      const keyEscaped = this.escaped
      const keyDotted = this.dotted
      this.expect(COLON)
      this.space()
      const child = node === null ? null : this.child(node, ks, ke, keyEscaped, keyDotted)
      if (child !== null && child.terminal) this.field(depth)
      else this.member(child, ks, ke, keyEscaped, depth)
      if (kg !== 0) this.checkKey(ks, ke, keyEscaped, kg)
      if (!this.more(CLOSE_OBJECT)) return
    }
  }

  /** a value under a key no configured path ends at */
  private member (child: PathNode | null, ks: number, ke: number, keyEscaped: boolean, depth: number): void {
    const c = this.peek()
    if (c === QUOTE) {
      const vs = this.pos
      if (!this.detect) { this.string(); return }
      // the gate over the bytes is kept for the scan (escaped text: the scan gates the decoded string)
      const g = this.gatedString()
      const ve = this.pos
      if (g === 0 && this.quietKeyName(ks, ke, keyEscaped)) return
      const s = this.text(vs, ve, this.escaped)
      this.out(vs, ve, s, this.scanner.named(this.text(ks, ke, keyEscaped), s, g), false)
    } else if (c === OPEN_OBJECT) {
      if (child === null && !this.detect) this.skipValue(depth + 1)
      else this.object(child, depth + 1)
    } else if (c === OPEN_ARRAY) {
      if (child === null && !this.detect) this.skipValue(depth + 1)
      else this.array(child, depth + 1)
    } else {
      this.scalarValue()
    }
  }

  /** `MaskProfile.array`: elements are scanned without a name; a removed element becomes null */
  private array (node: PathNode | null, depth: number): void {
    if (depth > MAX_TEXT_DEPTH) throw GIVE_UP
    this.pos++ // [
    this.space()
    if (this.peek() === CLOSE_ARRAY) { this.pos++; return }
    for (;;) {
      this.space()
      const c = this.peek()
      if (c === QUOTE) {
        const vs = this.pos
        if (!this.detect) this.string()
        else {
          const g = this.gatedString()
          const ve = this.pos
          if (g !== 0) {
            const s = this.text(vs, ve, this.escaped)
            this.out(vs, ve, s, this.scanner.scan(s, g), true)
          }
        }
      } else if (c === OPEN_OBJECT) this.object(node, depth + 1)
      else if (c === OPEN_ARRAY) this.array(node, depth + 1)
      else this.scalarValue(true)
      if (!this.more(CLOSE_ARRAY)) return
    }
  }

  /** a number, true, false or null outside configured paths: numbers that could be card numbers go through the scanner */
  private scalarValue (inArray = false): void {
    const vs = this.pos
    const c = this.peek()
    if (c === 116) { this.word('true'); return }
    if (c === 102) { this.word('false'); return }
    if (c === 110) { this.word('null'); return }
    const plain = this.number()
    // a plain integer of at most 12 characters is below 2e12, which no card check looks at
    if (!this.detect || (plain && this.pos - vs <= 12)) return
    const v = Number(Buffer.from(this.buf.buffer, this.buf.byteOffset + vs, this.pos - vs).toString('latin1'))
    this.out(vs, this.pos, v, this.scanner.number(v), inArray)
  }

  /** writes what masking made of the value at [vs, ve): a string, null, the same value, or DROP */
  private out (vs: number, ve: number, before: unknown, after: unknown, inArray: boolean): void {
    if (after === before) return
    if (after === DROP) {
      if (!inArray) throw GIVE_UP // the key goes: left to the decoded path
      after = null
    }
    this.replace(vs, ve, after === null ? NULL_TEXT : Buffer.from(JSON.stringify(after)))
  }

  /** a value under a configured path: replaced whole as `fieldValue` replaces it (each element of an array) */
  private field (depth: number): void {
    if (this.action === 'drop') throw GIVE_UP // the key goes
    const c = this.peek()
    if (c === OPEN_ARRAY) { this.elements(depth + 1); return }
    const vs = this.pos
    if (c === 110) { this.word('null'); return } // null stays null
    if (c === QUOTE) {
      this.string()
      const ve = this.pos
      const escaped = this.escaped
      switch (this.action) {
        case 'redact':
          // already the redaction text: fieldValue leaves it as it is
          if (ve - vs === REDACTED_TEXT.length && Buffer.compare(this.buf.subarray(vs, ve), REDACTED_TEXT) === 0) return
          this.replace(vs, ve, REDACTED_TEXT)
          return
        case 'null':
          this.replace(vs, ve, NULL_TEXT)
          return
        default: {
          const s = this.text(vs, ve, escaped)
          const out = this.action === 'hash' ? this.hasher.token(s) : partialText(s)
          if (out !== s) this.replace(vs, ve, Buffer.from(JSON.stringify(out)))
          return
        }
      }
    }
    if (this.action === 'hash' || (this.action === 'partial' && c !== OPEN_OBJECT && c !== 116 && c !== 102)) throw GIVE_UP
    this.skipValue(depth)
    this.replace(vs, this.pos, this.action === 'null' ? NULL_TEXT : REDACTED_TEXT)
  }

  /** `MaskProfile.elements`: arrays under a configured path keep their shape */
  private elements (depth: number): void {
    if (depth > MAX_TEXT_DEPTH) throw GIVE_UP
    this.pos++ // [
    this.space()
    if (this.peek() === CLOSE_ARRAY) { this.pos++; return }
    for (;;) {
      this.space()
      this.field(depth)
      if (!this.more(CLOSE_ARRAY)) return
    }
  }

  /** keys are scanned too (`MaskProfile.object`): a key with a hit would be renamed */
  /** `g`: the key's gate (`gatedString`), not 0 */
  private checkKey (ks: number, ke: number, escaped: boolean, g: number): void {
    const k = this.text(ks, ke, escaped)
    if (k.length >= 6 && this.scanner.scan(k, escaped ? -1 : g) !== k) throw GIVE_UP
  }

  /** true when `named` cannot mask a value for this key's name alone (secret-sounding names) */
  private quietKeyName (ks: number, ke: number, escaped: boolean): boolean {
    if (this.scanner.quietAnyName) return true
    // most keys end in a letter no secret-sounding name ends with: answered without decoding the key
    if (!escaped && (ke - ks - 2 < 3 || !mayEndSecretName(this.buf[ke - 2]))) return true
    return this.scanner.quietName(this.text(ks, ke, escaped))
  }

  /** the path node for the key at [ks, ke) (quotes included) under `node` */
  private child (node: PathNode, ks: number, ke: number, escaped: boolean, dotted: boolean): PathNode | null {
    if (escaped || dotted) return this.paths.child(node, this.text(ks, ke, escaped))
    const keys = node.keyBytes
    if (keys !== null) {
      const n = ke - ks - 2
      for (let i = 0; i < keys.length; i++) {
        const k = keys[i]
        if (k.length !== n) continue
        let j = 0
        while (j < n && k[j] === this.buf[ks + 1 + j]) j++
        if (j === n) return node.keyNodes![i]
      }
    }
    return node.other
  }

  /** the string whose JSON text (quotes included) is at [a, b) */
  private text (a: number, b: number, escaped: boolean): string {
    const buf = this.buf
    if (escaped) return JSON.parse(Buffer.from(buf.buffer, buf.byteOffset + a, b - a).toString('utf8')) as string
    return Buffer.from(buf.buffer, buf.byteOffset + a + 1, b - a - 2).toString('utf8')
  }

  /**
   * `string()`, and the gate of the string's text for `scan`: -1 when it has escapes (the scan gates
   * the decoded string). For contact-only profiles the two are one pass over the bytes
   * (`contactGateBytes` folded into the string's loop; keep them in step).
   */
  private gatedString (): number {
    if (!this.scanner.contactsOnly) {
      const vs = this.pos
      this.string()
      return this.escaped ? -1 : this.scanner.gateOf(this.buf, vs + 1, this.pos - 1)
    }
    const buf = this.buf
    const end = this.end
    const start = this.pos + 1
    let i = start
    let chain = 0; let maxChain = 0; let at = false; let dot = false; let plus = false
    for (;;) {
      if (i >= end) throw GIVE_UP
      const c = buf[i]
      if (c > 64) {
        if (c === BACKSLASH) { this.string(); return -1 }
        chain = 0
      } else if (c >= 48) {
        if (c <= 57) { if (++chain > maxChain) maxChain = chain } else { if (c === 64) at = true; chain = 0 }
      } else if (c === QUOTE) break
      else if (c < 0x20) throw GIVE_UP
      else if (c === 46) dot = true
      else if (c === 43) plus = true
      else if (c !== 32 && c !== 45 && c !== 40 && c !== 41) chain = 0
      i++
    }
    this.pos = i + 1
    this.escaped = false
    this.dotted = dot
    return i - start < 6 ? 0 : this.scanner.contactBits(at && dot, maxChain, plus)
  }

  /** moves past the string at the cursor (RFC 8259 §7), noting escapes and dots */
  private string (): void {
    const buf = this.buf
    const end = this.end
    let i = this.pos + 1
    let escaped = false
    let dotted = false
    for (;;) {
      if (i >= end) throw GIVE_UP
      const c = buf[i]
      if (c === QUOTE) break
      if (c < 0x20) throw GIVE_UP
      if (c === 46) dotted = true
      else if (c === BACKSLASH) {
        escaped = true
        const e = i + 1 < end ? buf[i + 1] : -1
        if (e === 117) { // \uXXXX
          for (let h = i + 2; h < i + 6; h++) {
            const x = h < end ? buf[h] | 32 : -1
            if (!(isDigit(x) || (x >= 97 && x <= 102))) throw GIVE_UP
          }
          i += 6
          continue
        }
        if (e !== QUOTE && e !== BACKSLASH && e !== 47 && e !== 98 && e !== 102 && e !== 110 && e !== 114 && e !== 116) throw GIVE_UP
        i += 2
        continue
      }
      i++
    }
    this.pos = i + 1
    this.escaped = escaped
    this.dotted = dotted
  }

  /** moves past the number at the cursor (RFC 8259 §6); true when it is a plain integer */
  private number (): boolean {
    const buf = this.buf
    const end = this.end
    let i = this.pos
    if (i < end && buf[i] === 45) i++
    if (i >= end || !isDigit(buf[i])) throw GIVE_UP
    if (buf[i] === 48) i++
    else while (i < end && isDigit(buf[i])) i++
    let plain = true
    if (i < end && buf[i] === 46) {
      plain = false
      i++
      if (i >= end || !isDigit(buf[i])) throw GIVE_UP
      while (i < end && isDigit(buf[i])) i++
    }
    if (i < end && (buf[i] | 32) === 101) {
      plain = false
      i++
      if (i < end && (buf[i] === 43 || buf[i] === 45)) i++
      if (i >= end || !isDigit(buf[i])) throw GIVE_UP
      while (i < end && isDigit(buf[i])) i++
    }
    this.pos = i
    return plain
  }

  private word (w: string): void {
    if (this.end - this.pos < w.length) throw GIVE_UP
    for (let j = 0; j < w.length; j++) if (this.buf[this.pos + j] !== w.charCodeAt(j)) throw GIVE_UP
    this.pos += w.length
  }

  /** moves past any value, checking its grammar */
  private skipValue (depth: number): void {
    if (depth > MAX_TEXT_DEPTH) throw GIVE_UP
    const c = this.peek()
    if (c === QUOTE) { this.string(); return }
    if (c === OPEN_OBJECT || c === OPEN_ARRAY) {
      const close = c === OPEN_OBJECT ? CLOSE_OBJECT : CLOSE_ARRAY
      this.pos++
      this.space()
      if (this.peek() === close) { this.pos++; return }
      for (;;) {
        this.space()
        if (c === OPEN_OBJECT) {
          if (this.peek() !== QUOTE) throw GIVE_UP
          this.string()
          this.expect(COLON)
          this.space()
        }
        this.skipValue(depth + 1)
        if (!this.more(close)) return
      }
    }
    if (c === 116) this.word('true')
    else if (c === 102) this.word('false')
    else if (c === 110) this.word('null')
    else this.number()
  }
}
