import { DROP, type Dropped, type Masker, type WireChecks } from '../../decoders/types.js'
import { VecgateError } from '../errors.js'
import { fieldValue, REDACTED, type Hasher, type MaskAction } from './actions.js'
import { PathSet, type PathNode } from './paths.js'
import type { Scanner } from './scanner.js'
import type { Cuts } from './bytes.js'
import { JsonTextMasker } from './json-text.js'
import { mayEndSecretName } from './detect/secrets.js'
import { stageBytes } from './detectors.js'
import { roundVector, roundWith } from './vectors.js'

/** deeper than this a document is refused rather than walked (the stack is finite; no real payload nests so) */
export const MAX_DEPTH = 256

export interface MaskProfileParts {
  name: string
  paths: PathSet
  scanner: Scanner
  action: MaskAction
  hasher: Hasher
  vectors: 'keep' | 'drop' | 'round'
  roundBits: number
}

/**
 * One compiled mask profile: what decoders call for every result (decoders/types.ts `Masker`).
 * Built once at config load; every method is a walk over the value with precompiled paths and
 * detectors, and allocates only when something is masked.
 */
export class MaskProfile implements Masker, WireChecks {
  readonly name: string
  /** decoders reading results off the wire ask these before decoding a value */
  readonly wire: WireChecks = this
  readonly vectors: 'keep' | 'drop' | 'round'
  private readonly paths: PathSet
  private readonly scanner: Scanner
  private readonly action: MaskAction
  private readonly hasher: Hasher
  private readonly roundBits: number
  private readonly detect: boolean

  private readonly jsonText: JsonTextMasker
  /** `roundWith`'s masks for `roundFloat32`; keep 0: the profile leaves floats as they are */
  private readonly roundKeep: number
  private readonly roundHalf: number

  constructor (p: MaskProfileParts) {
    this.name = p.name
    this.vectors = p.vectors
    this.paths = p.paths
    this.scanner = p.scanner
    this.action = p.action
    this.hasher = p.hasher
    this.roundBits = p.roundBits
    this.detect = p.scanner.active
    this.jsonText = new JsonTextMasker(p.paths, p.scanner, p.action, p.hasher, this.detect)
    const drop = 23 - p.roundBits
    this.roundKeep = p.vectors === 'round' && drop > 0 ? ~((1 << drop) - 1) >>> 0 : 0
    this.roundHalf = drop > 0 ? 1 << (drop - 1) : 0
  }

  /**
   * Masks a JSON-like document in place. `prefix` is the document's own path: with prefix `meta`,
   * the configured path `meta.email` applies to `doc.email`. When the prefix itself is configured,
   * every top-level value gets the action (the document cannot replace itself; `drop` empties it).
   * Keys are checked by the detectors too (an address used as a map key is still an address): a key
   * with a hit is renamed to its masked form, or removed under `null`/`drop`.
   */
  document (doc: Record<string, unknown>, prefix = ''): boolean {
    const node = prefix === '' ? this.paths.root : this.paths.at(prefix)
    if (node === null && !this.detect) return false
    if (node !== null && node.terminal) return this.wholeObject(doc)
    return this.object(doc, node, 0)
  }

  scalar (path: string, value: string | number | boolean | null): string | number | boolean | null | Dropped {
    if (this.paths.root !== null && this.paths.matches(path)) {
      if (this.action === 'drop') return DROP
      return fieldValue(this.action, this.hasher, value) as string | null
    }
    if (this.detect) {
      if (typeof value === 'string') return this.scanner.named(path, value)
      if (typeof value === 'number') return this.scanner.number(value)
    }
    return value
  }

  touches (path: string): boolean {
    return this.detect || this.paths.touches(path)
  }

  /** keep: the same vector; drop: null; round: a new Float32Array (see vectors.ts) */
  vector (v: ArrayLike<number>): ArrayLike<number> | null {
    if (this.vectors === 'keep') return v
    if (this.vectors === 'drop') return null
    return roundVector(v, this.roundBits)
  }

  roundFloat32 (bits: number): number {
    return this.roundKeep === 0 ? bits : roundWith(bits, this.roundKeep, this.roundHalf)
  }

  /** `document` over JSON text (json-text.ts); a configured prefix (the whole document masked) is left to `document` */
  maskJson (buf: Uint8Array, start: number, end: number, prefix: string): Uint8Array | null | undefined {
    const node = this.paths.at(prefix)
    if (node !== null && node.terminal) return undefined
    return this.jsonText.document(buf, start, end, node)
  }

  /** `maskJson` with the new text left as replaced spans of buf, added to `cuts` (json-text.ts `cut`) */
  maskJsonCuts (buf: Uint8Array, start: number, end: number, prefix: string, cuts: Cuts, staged = -1): boolean | undefined {
    // a column's values come row after row with the same prefix
    if (prefix !== this.lastPrefix) { this.lastNode = this.paths.at(prefix); this.lastPrefix = prefix }
    const node = this.lastNode
    if (node !== null && node.terminal) return undefined
    return this.jsonText.cut(buf, start, end, node, cuts, staged)
  }

  /** `maskJsonCuts`' last prefix and its path node */
  private lastPrefix: string | undefined = undefined
  private lastNode: PathNode | null = null

  covered (path: string): boolean {
    return this.paths.root !== null && this.paths.matches(path)
  }

  /** `scalar(path, s)` of a string under a configured path is `fieldValue`: under redact, REDACTED whatever `s` is */
  fixedText (path: string): string | undefined {
    return this.action === 'redact' && this.covered(path) ? REDACTED : undefined
  }

  pathFree (path: string): boolean {
    return this.paths.root === null || !this.paths.touches(path)
  }

  quietText (buf: Uint8Array, start: number, end: number): boolean {
    return !this.detect || this.scanner.quietBytes(buf, start, end)
  }

  maskText (buf: Buffer, start: number, end: number): string | null | Dropped | undefined {
    // with no configured path and a quiet name, `scalar` is the scan (`Scanner.named`)
    return this.detect ? this.scanner.scanBytes(buf, start, end) : undefined
  }

  stageRows (buf: Uint8Array, start: number, end: number, json: boolean): number {
    return (json && this.jsonText.walks) || (this.detect && !this.scanner.contactsOnly) ? stageBytes(buf, start, end) : -1
  }

  textRows (buf: Uint8Array, start: number, end: number): Int32Array | null {
    return this.detect ? this.scanner.gateRows(buf, start, end) : NO_ROWS
  }

  stagedTextGate (buf: Uint8Array, start: number, end: number, staged: number): number {
    return this.detect ? this.scanner.gateOfStaged(buf, start, end, staged) : 0
  }

  maskGatedText (buf: Buffer, start: number, end: number, gate: number): string | null | Dropped | undefined {
    return this.scanner.scanGatedBytes(buf, start, end, gate)
  }

  /** names repeat (payload keys, columns): answers are kept, like the path caches */
  private readonly quietNames = new Map<string, boolean>()
  quietName (name: string): boolean {
    if (!this.detect) return true
    let q = this.quietNames.get(name)
    if (q === undefined) {
      // as a key, `object()` renames a name with a hit (names shorter than 6 are never scanned)
      q = this.scanner.quietName(name) && (name.length < 6 || this.scanner.scan(name) === name)
      if (this.quietNames.size >= 4096) this.quietNames.clear()
      this.quietNames.set(name, q)
    }
    return q
  }

  quietNumber (v: number): boolean {
    return !this.detect || this.scanner.number(v) === v
  }

  /**
   * The gate over a whole JSON text answers for each key and string in it (the gate only grows when
   * text is added around a string), as long as the text is what the strings decode to: no escapes.
   * A number is text the gate sees too, unless written with an exponent (`4.1e15`), so those are
   * not answered here. Values under secret-sounding names (the api_key detector) are: a member
   * whose key could end such a name (`mayEndSecretName` of its last byte) is not answered here.
   */
  quietJson (buf: Uint8Array, start: number, end: number): boolean {
    if (!this.detect) return true
    const names = !this.scanner.quietAnyName
    let inString = false
    /** the last byte of the last string (its opening quote when empty) */
    let last = 0
    for (let i = start; i < end; i++) {
      const c = buf[i]
      if (c === 34) { // without escapes every quote opens or closes a string
        if (inString) last = buf[i - 1]
        inString = !inString
      } else if (c === 92) return false // backslash
      else if (!inString) {
        if ((c | 32) === 101 && i > start && buf[i - 1] >= 48 && buf[i - 1] <= 57) return false // 4.1e15
        if (c === 58 && names && mayEndSecretName(last)) return false // "password": …
      }
    }
    return this.scanner.quietBytes(buf, start, end)
  }

  private object (obj: Record<string, unknown>, node: PathNode | null, depth: number): boolean {
    if (depth > MAX_DEPTH) throw tooDeep()
    let changed = false
    let renames: Array<string | null> | undefined
    for (const k in obj) {
      const v = obj[k]
      const child = node === null ? null : this.paths.child(node, k)
      if (child !== null && child.terminal) {
        if (this.field(obj, k, v)) changed = true
      } else if (typeof v === 'string') {
        if (this.detect) {
          const out = this.scanner.named(k, v)
          if (out !== v) {
            if (out === DROP) delete obj[k]
            else obj[k] = out
            changed = true
          }
        }
      } else if (v !== null && typeof v === 'object') {
        if (child !== null || this.detect) {
          if (Array.isArray(v) ? this.array(v, child, depth + 1) : this.object(v as Record<string, unknown>, child, depth + 1)) changed = true
        }
      } else if (typeof v === 'number' && this.detect) {
        const out = this.scanner.number(v)
        if (out !== v) {
          if (out === DROP) delete obj[k]
          else obj[k] = out
          changed = true
        }
      }
      if (this.detect && k.length >= 6) {
        const out = this.scanner.scan(k)
        if (out !== k) (renames ??= []).push(k, out === DROP ? null : out)
      }
    }
    if (renames !== undefined) {
      for (let i = 0; i < renames.length; i += 2) {
        const from = renames[i] as string
        let to = renames[i + 1]
        if (!(from in obj)) continue // dropped above
        const v = obj[from]
        delete obj[from]
        if (to === null) continue
        while (to in obj) to += '~'
        obj[to] = v
      }
      changed = true
    }
    return changed
  }

  private array (arr: unknown[], node: PathNode | null, depth: number): boolean {
    if (depth > MAX_DEPTH) throw tooDeep()
    let changed = false
    for (let i = 0; i < arr.length; i++) {
      const v = arr[i]
      if (typeof v === 'string') {
        if (this.detect) {
          const out = this.scanner.scan(v)
          if (out !== v) { arr[i] = out === DROP ? null : out; changed = true }
        }
      } else if (v !== null && typeof v === 'object') {
        if (Array.isArray(v) ? this.array(v, node, depth + 1) : this.object(v as Record<string, unknown>, node, depth + 1)) changed = true
      } else if (typeof v === 'number' && this.detect) {
        const out = this.scanner.number(v)
        if (out !== v) { arr[i] = out === DROP ? null : out; changed = true }
      }
    }
    return changed
  }

  /** a configured field: drop the key, or replace its value (each element, for an array) */
  private field (obj: Record<string, unknown>, k: string, v: unknown): boolean {
    if (this.action === 'drop') { delete obj[k]; return true }
    if (Array.isArray(v)) return this.elements(v, 0)
    const out = fieldValue(this.action, this.hasher, v)
    if (out === v) return false
    obj[k] = out
    return true
  }

  /** arrays under a configured path keep their shape: each element masked whole */
  private elements (arr: unknown[], depth: number): boolean {
    if (depth > MAX_DEPTH) throw tooDeep()
    let changed = false
    for (let i = 0; i < arr.length; i++) {
      const v = arr[i]
      if (Array.isArray(v)) { if (this.elements(v, depth + 1)) changed = true; continue }
      const out = fieldValue(this.action, this.hasher, v)
      if (out !== v) { arr[i] = out; changed = true }
    }
    return changed
  }

  private wholeObject (doc: Record<string, unknown>): boolean {
    let changed = false
    for (const k in doc) if (this.field(doc, k, doc[k])) changed = true
    return changed
  }
}

/** `textRows` without detectors: `maskText` changes no row */
const NO_ROWS = new Int32Array(0)

function tooDeep (): VecgateError {
  return new VecgateError('VG_ERR_MALFORMED', `document nested deeper than ${MAX_DEPTH} levels; not masked, not sent`)
}
