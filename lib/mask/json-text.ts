import { DROP } from '../../decoders/types.js'
import { REDACTED, type Hasher, type MaskAction } from './actions.js'
import { Cuts } from './bytes.js'
import { stageBytes, unstageBytes } from './detectors.js'
import { wasmGate, type WasmGate } from './detect/wasm-gate.js'
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
 *
 * Where the text is staged in the detectors' WebAssembly module (`stageBytes`, or a row or column
 * staged around it), the module walks it (`walk_json`, native/gate/src/json.rs: the same walk, its
 * strings found 16 bytes a step and gated in place, keys matched against a copy of the path tree)
 * and lists the few places this walk must look at — configured values, keys to check, strings with
 * a gate, numbers a card could hide in — which `replay` then handles with the same methods. A
 * document the module declines (deep nesting, a key with escapes or dots on a configured path, too
 * many places) is walked here whole.
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

/** from this many bytes a text may hold a prefixed API key (`gateMask`: xoxb- and 10 more) */
const LONG_GATE = 14

/** a text this long and longer is staged for its walk (one copy; below it the strings are too few to pay) */
const STAGE_MIN = 64

/** `walk_json` (native/gate/src/json.rs): its events, eight numbers each, and their flags */
const FIELD = 1
const KEY = 2
const MEMBER = 3
const ELEMENT = 4
const NUMBER = 5
const ESCAPED = 1
const KEY_ESCAPED = 2
const IN_ARRAY = 4
const NAMED_KEY = 8
const PLAIN_STRING = 16
const WALK_DETECT = 1
const WALK_CONTACT = 2
const WALK_ANY_NAME = 4

const GIVE_UP = Symbol('json text needs the decoded path')

const REDACTED_TEXT = Buffer.from(JSON.stringify(REDACTED))
const NULL_TEXT = Buffer.from('null')

const isDigit = (c: number): boolean => c >= 48 && c <= 57

/** the first position from i on that is not JSON whitespace (RFC 8259 §2) */
function skipSpace (buf: Uint8Array, i: number, end: number): number {
  while (i < end) {
    const c = buf[i]
    if (c > 32 || (c !== 32 && c !== 10 && c !== 13 && c !== 9)) return i
    i++
  }
  return i
}

/**
 * The walk passes its cursor along: each reader takes the position where its value starts and
 * returns the position after it (what the readers learn beside it is left in fields: `escaped`,
 * `dotted`, `gate`, `plain`).
 */
export class JsonTextMasker {
  /** the text being walked; one walk at a time (single-threaded, not re-entrant) */
  private buf: Uint8Array = NULL_TEXT
  private end = 0
  /** where the walk puts its replaced spans: its own (`document`) or the caller's (`cut`) */
  private cuts: Cuts
  private readonly ownCuts = new Cuts()
  /** set by the string readers: the string had an escape / a '.' (keys only); its gate (`gatedString`) */
  private escaped = false
  private dotted = false
  private gate = 0
  /**
   * buf[stagedFrom] is at address `stagedAt` in the WebAssembly gate's memory (`stageBytes`), for
   * the gates of the walk's strings without a copy each; -1 when the walk's text is not staged
   */
  private stagedAt = -1
  private stagedFrom = 0
  /** set by `number()`: the number was a plain integer */
  private plain = false
  /** the detectors answer nothing for a name alone (no secret-sounding names) */
  private readonly anyName: boolean
  /** `key()`'s answers */
  private readonly keys = new KeyAnswers()

  /**
   * The walk in WebAssembly (`walk_json`): the module, where each path node is in its memory
   * (`pathTable`), the walk's flags; null when there is no module or the table could not be kept
   */
  private readonly walker: WasmGate | null
  /** documents are walked in WebAssembly where they are staged (`stageRows` stages for it) */
  get walks (): boolean { return this.walker !== null }
  private readonly table: Map<PathNode, number> | null
  private readonly walkFlags: number
  /** the events of one walk, copied out of the module's memory (a gate may grow it while they are read) */
  private events = new Int32Array(64)

  constructor (
    private readonly paths: PathSet,
    private readonly scanner: Scanner,
    private readonly action: MaskAction,
    private readonly hasher: Hasher,
    private readonly detect: boolean,
    /** the module that walks documents (tests compare the walk without it: null) */
    walker: WasmGate | null = wasmGate
  ) {
    this.cuts = this.ownCuts
    this.anyName = scanner.quietAnyName
    this.table = walker === null ? null : pathTable(walker, paths)
    this.walker = this.table === null ? null : walker
    this.walkFlags = (detect ? WALK_DETECT : 0) | (scanner.contactsOnly ? WALK_CONTACT : 0) | (this.anyName ? WALK_ANY_NAME : 0)
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
   * as it is, undefined (`cuts` as it was) when only the decoded path can say. `staged`: where
   * buf[start] already is in the gate's memory (the caller staged the text with others), else -1.
   */
  cut (buf: Uint8Array, start: number, end: number, node: PathNode | null, cuts: Cuts, staged = -1): boolean | undefined {
    const before = cuts.count
    this.buf = buf
    this.end = end
    this.cuts = cuts
    let ok = false
    // staged for the walk in WebAssembly, else for the full gate only (the contact gate is folded into reading the strings)
    const own = staged < 0 && end - start >= STAGE_MIN && (this.walker !== null || (this.detect && !this.scanner.contactsOnly))
    const at = own ? stageBytes(buf, start, end) : staged
    this.stagedAt = at
    this.stagedFrom = start
    try {
      if (at >= 0 && this.walker !== null) {
        const addr = node === null ? -1 : this.table!.get(node)
        const count = addr === undefined ? -1 : this.walker.walkJson(at, end - start, addr, this.walkFlags, this.scanner.detectorMask)
        if (count >= 0) {
          this.replay(count, start)
          ok = true
          return cuts.count !== before
        }
      }
      let i = skipSpace(buf, start, end)
      if (i >= end || buf[i] !== OPEN_OBJECT) return undefined
      i = skipSpace(buf, this.object(i, node, 0), end)
      if (i !== end) return undefined
      ok = true
      return cuts.count !== before
    } catch (e) {
      if (e === GIVE_UP) return undefined
      throw e
    } finally {
      if (!ok) cuts.truncate(before)
      if (own) unstageBytes(at)
      this.stagedAt = -1
      this.buf = NULL_TEXT
      this.cuts = this.ownCuts
    }
  }

  /**
   * What the JS walk does at the places `walk_json` wrote `count` events for (the document starts at
   * `start` in buf): the same calls, in the same order, on the same bytes.
   */
  private replay (count: number, start: number): void {
    const from = this.walker!.events()
    let ev = this.events
    if (ev.length < count * 8) ev = this.events = new Int32Array(count * 16)
    for (let k = 0; k < count * 8; k++) ev[k] = from[k]
    let keyAt = -1 // the key asked about last (KEY) and its answer: does its name leave its value alone
    let quiet = true
    for (let o = 0; o < count * 8; o += 8) {
      const a = ev[o + 1] + start
      const b = ev[o + 2] + start
      const g = ev[o + 3]
      const flags = ev[o + 6]
      switch (ev[o]) {
        case FIELD:
          // a string without escapes is masked as `field` masks it, without reading it again
          if ((flags & PLAIN_STRING) !== 0 && this.action !== 'drop') this.fieldText(a, b, false)
          else if (this.field(a, ev[o + 7]) !== b) throw GIVE_UP
          break
        case KEY:
          if (this.scanner.contactsOnly) this.checkKey(a, b, (flags & ESCAPED) !== 0, g)
          else { keyAt = a; quiet = this.key(a, b, (flags & ESCAPED) !== 0, g) }
          break
        case MEMBER: {
          const ks = ev[o + 4] + start
          // the name's answer: the JS side's when it was asked (KEY), else the module's
          if (g === 0 && (ks === keyAt ? quiet : (flags & NAMED_KEY) === 0)) break
          const s = this.text(a, b, (flags & ESCAPED) !== 0)
          this.out(a, b, s, this.scanner.named(this.text(ks, ev[o + 5] + start, (flags & KEY_ESCAPED) !== 0), s, g), false)
          break
        }
        case ELEMENT: {
          const s = this.text(a, b, (flags & ESCAPED) !== 0)
          this.out(a, b, s, this.scanner.scan(s, g), true)
          break
        }
        case NUMBER: {
          const v = Number(Buffer.from(this.buf.buffer, this.buf.byteOffset + a, b - a).toString('latin1'))
          this.out(a, b, v, this.scanner.number(v), (flags & IN_ARRAY) !== 0)
          break
        }
        default:
          throw GIVE_UP
      }
    }
  }

  /** the scanner's gate over buf[start, end) without escapes, in place when the text is staged */
  private gateOf (start: number, end: number): number {
    const at = this.stagedAt
    return at < 0 ? this.scanner.gateOf(this.buf, start, end) : this.scanner.gateOfStaged(this.buf, start, end, at + start - this.stagedFrom)
  }

  /** the byte at i, -1 past the end */
  private at (i: number): number {
    return i < this.end ? this.buf[i] : -1
  }

  /** past the whitespace after a member or element at i: the position after a comma (another follows), or -1 - the position after `close` (the end) */
  private next (i: number, close: number): number {
    i = skipSpace(this.buf, i, this.end)
    const c = this.at(i)
    if (c === COMMA) return skipSpace(this.buf, i + 1, this.end)
    if (c === close) return -2 - i
    throw GIVE_UP
  }

  /** `MaskProfile.object` over the members of the object at i */
  private object (i: number, node: PathNode | null, depth: number): number {
    if (depth > MAX_TEXT_DEPTH) throw GIVE_UP
    const buf = this.buf
    const end = this.end
    i = skipSpace(buf, i + 1, end)
    if (this.at(i) === CLOSE_OBJECT) return i + 1
    for (;;) {
      if (this.at(i) !== QUOTE) throw GIVE_UP
      const ks = i
      let quietName = true
      if (!this.detect) i = this.string(i)
      else if (this.scanner.contactsOnly) {
        // the key's gate comes with reading it; contact detectors mask nothing for a name alone
        i = this.gatedString(i)
        if (this.gate !== 0) this.checkKey(ks, i, this.escaped, this.gate)
      } else {
        i = this.gatedString(i)
        quietName = this.key(ks, i, this.escaped, this.gate)
      }
      const ke = i
      const keyEscaped = this.escaped
      const keyDotted = this.dotted
      i = skipSpace(buf, i, end)
      if (this.at(i) !== COLON) throw GIVE_UP
      i = skipSpace(buf, i + 1, end)
      const child = node === null ? null : this.child(node, ks, ke, keyEscaped, keyDotted)
      if (child !== null && child.terminal) i = this.field(i, depth)
      else i = this.member(i, child, ks, ke, keyEscaped, quietName, depth)
      i = this.next(i, CLOSE_OBJECT)
      if (i < 0) return -1 - i
    }
  }

  /** a value at i under a key no configured path ends at */
  private member (i: number, child: PathNode | null, ks: number, ke: number, keyEscaped: boolean, quietName: boolean, depth: number): number {
    const c = this.at(i)
    if (c === QUOTE) {
      if (!this.detect) return this.string(i)
      // the gate over the bytes is kept for the scan (escaped text: the scan gates the decoded string)
      const e = this.gatedString(i)
      const g = this.gate
      if (g === 0 && quietName) return e
      const s = this.text(i, e, this.escaped)
      this.out(i, e, s, this.scanner.named(this.text(ks, ke, keyEscaped), s, g), false)
      return e
    }
    if (c === OPEN_OBJECT) return child === null && !this.detect ? this.skipValue(i, depth + 1) : this.object(i, child, depth + 1)
    if (c === OPEN_ARRAY) return child === null && !this.detect ? this.skipValue(i, depth + 1) : this.array(i, child, depth + 1)
    return this.scalarValue(i, false)
  }

  /** `MaskProfile.array`: elements are scanned without a name; a removed element becomes null */
  private array (i: number, node: PathNode | null, depth: number): number {
    if (depth > MAX_TEXT_DEPTH) throw GIVE_UP
    i = skipSpace(this.buf, i + 1, this.end)
    if (this.at(i) === CLOSE_ARRAY) return i + 1
    for (;;) {
      const c = this.at(i)
      if (c === QUOTE) {
        if (!this.detect) i = this.string(i)
        else {
          const e = this.gatedString(i)
          const g = this.gate
          if (g !== 0) {
            const s = this.text(i, e, this.escaped)
            this.out(i, e, s, this.scanner.scan(s, g), true)
          }
          i = e
        }
      } else if (c === OPEN_OBJECT) i = this.object(i, node, depth + 1)
      else if (c === OPEN_ARRAY) i = this.array(i, node, depth + 1)
      else i = this.scalarValue(i, true)
      i = this.next(i, CLOSE_ARRAY)
      if (i < 0) return -1 - i
    }
  }

  /** a number, true, false or null at i outside configured paths: numbers that could be card numbers go through the scanner */
  private scalarValue (i: number, inArray: boolean): number {
    const c = this.at(i)
    if (c === 116) return this.word(i, 'true')
    if (c === 102) return this.word(i, 'false')
    if (c === 110) return this.word(i, 'null')
    const e = this.number(i)
    // a plain integer of at most 12 characters is below 2e12, which no card check looks at
    if (!this.detect || (this.plain && e - i <= 12)) return e
    const v = Number(Buffer.from(this.buf.buffer, this.buf.byteOffset + i, e - i).toString('latin1'))
    this.out(i, e, v, this.scanner.number(v), inArray)
    return e
  }

  /** writes what masking made of the value at [vs, ve): a string, null, the same value, or DROP */
  private out (vs: number, ve: number, before: unknown, after: unknown, inArray: boolean): void {
    if (after === before) return
    if (after === DROP) {
      if (!inArray) throw GIVE_UP // the key goes: left to the decoded path
      after = null
    }
    this.cuts.add(vs, ve, after === null ? NULL_TEXT : Buffer.from(JSON.stringify(after)))
  }

  /** a value at i under a configured path: replaced whole as `fieldValue` replaces it (each element of an array) */
  private field (i: number, depth: number): number {
    if (this.action === 'drop') throw GIVE_UP // the key goes
    const c = this.at(i)
    if (c === OPEN_ARRAY) return this.elements(i, depth + 1)
    if (c === 110) return this.word(i, 'null') // null stays null
    if (c === QUOTE) {
      const e = this.string(i)
      this.fieldText(i, e, this.escaped)
      return e
    }
    if (this.action === 'hash' || (this.action === 'partial' && c !== OPEN_OBJECT && c !== 116 && c !== 102)) throw GIVE_UP
    const e = this.skipValue(i, depth)
    this.cuts.add(i, e, this.action === 'null' ? NULL_TEXT : REDACTED_TEXT)
    return e
  }

  /** `field` of the string whose JSON text is at [i, e) (not under `drop`) */
  private fieldText (i: number, e: number, escaped: boolean): void {
    switch (this.action) {
      case 'redact':
        // already the redaction text: fieldValue leaves it as it is
        if (!this.sameText(i, e, REDACTED_TEXT)) this.cuts.add(i, e, REDACTED_TEXT)
        return
      case 'null':
        this.cuts.add(i, e, NULL_TEXT)
        return
      default: {
        const s = this.text(i, e, escaped)
        const out = this.action === 'hash' ? this.hasher.token(s) : partialText(s)
        if (out !== s) this.cuts.add(i, e, Buffer.from(JSON.stringify(out)))
      }
    }
  }

  private sameText (a: number, b: number, text: Uint8Array): boolean {
    if (b - a !== text.length) return false
    const buf = this.buf
    for (let j = 0; j < text.length; j++) if (buf[a + j] !== text[j]) return false
    return true
  }

  /** `MaskProfile.elements`: arrays under a configured path keep their shape */
  private elements (i: number, depth: number): number {
    if (depth > MAX_TEXT_DEPTH) throw GIVE_UP
    i = skipSpace(this.buf, i + 1, this.end)
    if (this.at(i) === CLOSE_ARRAY) return i + 1
    for (;;) {
      i = this.next(this.field(i, depth), CLOSE_ARRAY)
      if (i < 0) return -1 - i
    }
  }

  /**
   * Keys are scanned too (`MaskProfile.object`): a key with a hit would be renamed, which is left to
   * the decoded path. Answers whether `named` leaves the values under this key alone for its name
   * (secret-sounding names). Both depend on the key alone, and a document's keys come again in the
   * next one: answers are kept by the key's bytes.
   */
  private key (ks: number, ke: number, escaped: boolean, g: number): boolean {
    if (escaped) return this.keyAnswer(ks, ke, true)
    // a key without a gate whose last letter ends no secret-sounding name: nothing to look up
    if (g === 0 && this.plainName(ks, ke)) return true
    const known = this.keys.get(this.buf, ks, ke)
    if (known !== UNKNOWN) return known === QUIET_NAME
    const quiet = this.keyAnswer(ks, ke, false)
    this.keys.set(this.buf, ks, ke, quiet ? QUIET_NAME : NAMED)
    return quiet
  }

  /** `g`: the key's gate (`gatedString`, `gateOf`), not 0 */
  private checkKey (ks: number, ke: number, escaped: boolean, g: number): void {
    const k = this.text(ks, ke, escaped)
    if (k.length >= 6 && this.scanner.scan(k, escaped ? -1 : g) !== k) throw GIVE_UP
  }

  private keyAnswer (ks: number, ke: number, escaped: boolean): boolean {
    const g = escaped ? -1 : this.gateOf(ks + 1, ke - 1)
    if (g !== 0) this.checkKey(ks, ke, escaped, g)
    if (!escaped && this.plainName(ks, ke)) return true
    return this.scanner.quietName(this.text(ks, ke, escaped))
  }

  /** true when the unescaped key at [ks, ke) is no secret-sounding name, answered without decoding it: most keys end in a letter none ends with */
  private plainName (ks: number, ke: number): boolean {
    return this.anyName || ke - ks - 2 < 3 || !mayEndSecretName(this.buf[ke - 2])
  }

  /** the path node for the key at [ks, ke) (quotes included) under `node` */
  private child (node: PathNode, ks: number, ke: number, escaped: boolean, dotted: boolean): PathNode | null {
    if (escaped || dotted) return this.paths.child(node, this.text(ks, ke, escaped))
    const keys = node.keyBytes
    if (keys !== null) {
      const n = ke - ks - 2
      const buf = this.buf
      for (let k = 0; k < keys.length; k++) {
        const key = keys[k]
        if (key.length !== n) continue
        let j = 0
        while (j < n && key[j] === buf[ks + 1 + j]) j++
        if (j === n) return node.keyNodes![k]
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
   * `string(i)`, and in `gate` the gate of the string's text for `scan`: -1 when it has escapes (the
   * scan gates the decoded string). For contact-only profiles the two are one pass over the bytes
   * (`contactGateBytes` folded into the string's loop; keep them in step); for others see
   * `fullGatedString`.
   */
  private gatedString (i: number): number {
    if (!this.scanner.contactsOnly) return this.fullGatedString(i)
    const buf = this.buf
    const end = this.end
    const start = i + 1
    let chain = 0; let maxChain = 0; let at = false; let dot = false; let plus = false
    for (i = start; ; i++) {
      if (i >= end) throw GIVE_UP
      const c = buf[i]
      if (c > 64) {
        if (c === BACKSLASH) { this.gate = -1; return this.string(start - 1) }
        chain = 0
        // the rest of a run of letters (and other bytes above '@') moves nothing the gate counts
        while (i + 1 < end && buf[i + 1] > 64 && buf[i + 1] !== BACKSLASH) i++
      } else if (c >= 48) {
        if (c <= 57) { if (++chain > maxChain) maxChain = chain } else { if (c === 64) at = true; chain = 0 }
      } else if (c === QUOTE) break
      else if (c < 0x20) throw GIVE_UP
      else if (c === 46) dot = true
      else if (c === 43) plus = true
      else if (c !== 32 && c !== 45 && c !== 40 && c !== 41) chain = 0
    }
    this.escaped = false
    this.dotted = dot
    this.gate = i - start < 6 ? 0 : this.scanner.contactBits(at && dot, maxChain, plus)
    return i + 1
  }

  /**
   * `gatedString` for profiles with detectors beyond the contact ones: reading the string counts
   * what proves `gateBytes` 0 for a short text, so most keys and short values (names, tags, ids) are
   * answered without a gate call; longer texts and those the counts cannot clear get the gate
   * (`gateOf`: in place when staged). The counts are never stricter than `gateMask`: below
   * LONG_GATE bytes no prefixed key or JWT fits, and every other detector needs a ':', '=' or '@',
   * or at least four digits (an IPv4 address also three dots, the rest six digits).
   */
  private fullGatedString (i: number): number {
    const buf = this.buf
    const end = this.end
    const start = i + 1
    let digits = 0; let dots = 0; let marks = false
    for (i = start; ; i++) {
      if (i >= end) throw GIVE_UP
      const c = buf[i]
      if (c > 64) {
        if (c === BACKSLASH) { const e = this.string(start - 1); this.gate = -1; return e }
        // a run of letters (and other bytes above '@'): nothing the counts look at
        while (i + 1 < end && buf[i + 1] > 64 && buf[i + 1] !== BACKSLASH) i++
      } else if (c >= 48) {
        if (c <= 57) digits++
        else if (c === 58 || c === 61 || c === 64) marks = true // ':' '=' '@'
      } else if (c === QUOTE) break
      else if (c < 0x20) throw GIVE_UP
      else if (c === 46) dots++
    }
    this.escaped = false
    this.dotted = dots > 0
    const n = i - start
    this.gate = n < 6 || (n < LONG_GATE && !marks && (digits < 4 || (digits < 6 && dots < 3))) ? 0 : this.gateOf(start, i)
    return i + 1
  }

  /** the end of the string at i (RFC 8259 §7), noting escapes and dots */
  private string (i: number): number {
    const buf = this.buf
    const end = this.end
    let escaped = false
    let dotted = false
    for (i++; ; i++) {
      if (i >= end) throw GIVE_UP
      const c = buf[i]
      if (c > 64 && c !== BACKSLASH) {
        // a run of letters (and other bytes above '@'): none ends the string or needs a look
        while (i + 1 < end && buf[i + 1] > 64 && buf[i + 1] !== BACKSLASH) i++
        continue
      }
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
          i += 5
          continue
        }
        if (e !== QUOTE && e !== BACKSLASH && e !== 47 && e !== 98 && e !== 102 && e !== 110 && e !== 114 && e !== 116) throw GIVE_UP
        i++
      }
    }
    this.escaped = escaped
    this.dotted = dotted
    return i + 1
  }

  /** the end of the number at i (RFC 8259 §6); `plain`: it is a plain integer */
  private number (i: number): number {
    const buf = this.buf
    const end = this.end
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
    this.plain = plain
    return i
  }

  private word (i: number, w: string): number {
    if (this.end - i < w.length) throw GIVE_UP
    for (let j = 0; j < w.length; j++) if (this.buf[i + j] !== w.charCodeAt(j)) throw GIVE_UP
    return i + w.length
  }

  /** the end of any value at i, its grammar checked */
  private skipValue (i: number, depth: number): number {
    if (depth > MAX_TEXT_DEPTH) throw GIVE_UP
    const c = this.at(i)
    if (c === QUOTE) return this.string(i)
    if (c === OPEN_OBJECT || c === OPEN_ARRAY) {
      const close = c === OPEN_OBJECT ? CLOSE_OBJECT : CLOSE_ARRAY
      i = skipSpace(this.buf, i + 1, this.end)
      if (this.at(i) === close) return i + 1
      for (;;) {
        if (c === OPEN_OBJECT) {
          if (this.at(i) !== QUOTE) throw GIVE_UP
          i = skipSpace(this.buf, this.string(i), this.end)
          if (this.at(i) !== COLON) throw GIVE_UP
          i = skipSpace(this.buf, i + 1, this.end)
        }
        i = this.next(this.skipValue(i, depth + 1), close)
        if (i < 0) return -1 - i
      }
    }
    if (c === 116) return this.word(i, 'true')
    if (c === 102) return this.word(i, 'false')
    if (c === 110) return this.word(i, 'null')
    return this.number(i)
  }
}

/**
 * The path nodes of `paths` copied into the WebAssembly module's memory for `walk_json` (kept for
 * the life of the process: a profile's paths are compiled once), and where each is. A node is
 * 32-bit words: terminal (0 or 1), the node for other keys (-1: none), how many literal keys, then
 * per key its length in bytes, the address of its UTF-8 bytes, its node; the keys' bytes follow the
 * nodes. Null when the memory could not be kept (something was staged).
 */
function pathTable (gate: WasmGate, paths: PathSet): Map<PathNode, number> | null {
  const nodes: PathNode[] = []
  const index = new Map<PathNode, number>()
  const visit = (n: PathNode | null): void => {
    if (n === null || index.has(n)) return
    index.set(n, nodes.length)
    nodes.push(n)
    for (const c of n.keyNodes ?? []) visit(c)
    visit(n.other)
  }
  visit(paths.root)
  const table = new Map<PathNode, number>()
  if (nodes.length === 0) return table
  const offsets = nodes.map(() => 0)
  let words = 0
  for (let k = 0; k < nodes.length; k++) { offsets[k] = words * 4; words += 3 + 3 * (nodes[k].keyBytes?.length ?? 0) }
  // profiles with the same paths share one table (a process that compiles profiles again and again
  // keeps one copy of each set of paths, not one per compile)
  const shape = JSON.stringify(nodes.map(n => [n.terminal, n.other === null ? -1 : index.get(n.other), (n.keyBytes ?? []).map(b => b.toString('latin1')), (n.keyNodes ?? []).map(c => index.get(c))]))
  let kept = keptTables.get(gate)
  if (kept === undefined) keptTables.set(gate, kept = new Map())
  let at = kept.get(shape) ?? -1
  if (at < 0) at = keepTable(gate, nodes, index, offsets, words)
  if (at < 0) return null
  kept.set(shape, at)
  nodes.forEach((n, k) => table.set(n, at + offsets[k]))
  return table
}

/** the tables `pathTable` kept, per module, by the shape of their paths: their addresses */
const keptTables = new Map<WasmGate, Map<string, number>>()

/** writes the table of `nodes` (`pathTable`) into the module's memory for good: its address, -1 when it could not */
function keepTable (gate: WasmGate, nodes: PathNode[], index: Map<PathNode, number>, offsets: number[], words: number): number {
  const keyBytes = nodes.flatMap(n => n.keyBytes ?? [])
  const size = words * 4 + keyBytes.reduce((sum, b) => sum + b.length, 0)
  return gate.keep(size, at => {
    const bytes = new Uint8Array(size)
    const view = new DataView(bytes.buffer)
    let key = words * 4
    nodes.forEach((n, k) => {
      let w = offsets[k]
      const put = (x: number): void => { view.setUint32(w, x >>> 0, true); w += 4 }
      put(n.terminal ? 1 : 0)
      put(n.other === null ? -1 : at + offsets[index.get(n.other)!])
      const keys = n.keyBytes ?? []
      put(keys.length)
      keys.forEach((b, j) => {
        put(b.length)
        put(at + key)
        put(at + offsets[index.get(n.keyNodes![j])!])
        bytes.set(b, key)
        key += b.length
      })
    })
    return bytes
  })
}

const UNKNOWN = -1
const QUIET_NAME = 1
const NAMED = 2

/** keys of at most this many bytes (quotes included) have their answers kept */
const KEPT_KEY = 64

/**
 * Answers kept per JSON key text (quotes included), for the keys that repeat from document to
 * document: a direct-mapped table of 256 entries by a hash of the bytes, each holding a copy of the
 * bytes it answers for in its own part of one buffer (a key that comes once costs a copy, no
 * allocation).
 */
class KeyAnswers {
  /** entry s: its key in bytes[s * KEPT_KEY, …) (a Buffer like the texts walked: one kind of array in the comparing loop) */
  private readonly bytes = Buffer.alloc(256 * KEPT_KEY)
  /** entry s: its key's length, -1 when empty */
  private readonly lengths = new Int16Array(256).fill(-1)
  private readonly answers = new Uint8Array(256)

  private slot (buf: Uint8Array, a: number, b: number): number {
    let h = 0x811c9dc5 // FNV-1a
    for (let i = a; i < b; i++) h = Math.imul(h ^ buf[i], 0x01000193)
    return h >>> 24
  }

  /** the entry the last `get` looked at: where `set` puts the answer it did not have (-1: none) */
  private last = 0
  /**
   * Keys that did not repeat (lookups that missed less those that hit) and, once too many did,
   * how many lookups are answered UNKNOWN without a look: documents whose keys are data (ids,
   * addresses) would pay a lookup and a copy per key for nothing.
   */
  private misses = 0
  private resting = 0

  get (buf: Uint8Array, a: number, b: number): number {
    if (this.resting > 0) { this.resting--; this.last = -1; return UNKNOWN }
    const s = this.last = this.slot(buf, a, b)
    if (this.lengths[s] === b - a) {
      const bytes = this.bytes
      let j = 0
      for (const at = s * KEPT_KEY; j < b - a; j++) if (bytes[at + j] !== buf[a + j]) break
      if (j === b - a) {
        if (this.misses > 0) this.misses--
        return this.answers[s]
      }
    }
    if (++this.misses > 64) { this.misses = 0; this.resting = 1024 }
    return UNKNOWN
  }

  /** the answer for the key `get` was last asked about, buf[a, b) */
  set (buf: Uint8Array, a: number, b: number, answer: number): void {
    const s = this.last
    if (s < 0 || b - a > KEPT_KEY) return
    const bytes = this.bytes
    for (let j = 0, at = s * KEPT_KEY; j < b - a; j++) bytes[at + j] = buf[a + j]
    this.lengths[s] = b - a
    this.answers[s] = answer
  }
}
