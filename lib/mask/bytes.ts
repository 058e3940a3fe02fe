/**
 * Copying kept byte runs into a rebuilt message (a masked protobuf message, DataRow or JSON text).
 * Short runs (field headers, small values) by a loop, four bytes a step, which costs less than
 * `set()`'s call; long runs by `set()` — straight from `src` when the run is all of it, else from a
 * plain Uint8Array view, never a Buffer view (`subarray` on a Buffer builds a FastBuffer, which
 * showed up in profiles once per run). Making the view costs about as much as the loop copying
 * ~80 bytes (Node 20, measured on runs of 16–256 bytes).
 */
export function copyBytes (src: Uint8Array, a: number, b: number, out: Uint8Array, pos: number): number {
  const n = b - a
  if (n < 80) {
    let i = a
    for (const e = b - 3; i < e; i += 4) {
      out[pos] = src[i]; out[pos + 1] = src[i + 1]; out[pos + 2] = src[i + 2]; out[pos + 3] = src[i + 3]
      pos += 4
    }
    for (; i < b; i++) out[pos++] = src[i]
    return pos
  }
  if (n === src.length) out.set(src, pos)
  else out.set(new Uint8Array(src.buffer, src.byteOffset + a, n), pos)
  return pos + n
}

/**
 * out[a, b) moved back to `pos` (at or before `a`) within one buffer: short runs by a loop, which
 * costs less than the call; longer ones by `copyWithin`, a memmove that needs no view of a source
 * (see `copyBytes`). Returns where the run now ends.
 */
export function moveBack (out: Uint8Array, a: number, b: number, pos: number): number {
  if (a === pos) return pos + b - a
  if (b - a < 16) {
    for (let i = a; i < b; i++) out[pos++] = out[i]
    return pos
  }
  out.copyWithin(pos, a, b)
  return pos + b - a
}

const NOTHING = new Uint8Array(0)

/**
 * Replaced spans of one source buffer, in source order: src[at[2k], at[2k + 1]) becomes text[k].
 * A text is rebuilt once from them (`write`), copying each kept run once. The arrays are kept from
 * use to use (emptying them would free their storage); one user at a time.
 */
export class Cuts {
  private readonly at: number[] = []
  private readonly text: Uint8Array[] = []
  /** cuts so far */
  count = 0

  /** src[a, b) becomes `text`; after the cuts so far (a >= the last cut's end) */
  add (a: number, b: number, text: Uint8Array): void {
    const k = this.count++
    this.at[2 * k] = a
    this.at[2 * k + 1] = b
    this.text[k] = text
  }

  /** bytes the cuts [from, to) add (negative: remove) */
  growth (from: number, to: number): number {
    let n = 0
    for (let k = from; k < to; k++) n += this.text[k].length - (this.at[2 * k + 1] - this.at[2 * k])
    return n
  }

  /**
   * The most the text runs ahead of its source while the cuts [from, to) are written in order (the
   * largest growth of any first few of them; 0 when none grows it): how far in a caller that moves
   * the text within one buffer (`writeMoving`) puts the source copy.
   */
  ahead (from: number, to: number): number {
    let ahead = 0
    let grown = 0
    for (let k = from; k < to; k++) {
      grown += this.text[k].length - (this.at[2 * k + 1] - this.at[2 * k])
      if (grown > ahead) ahead = grown
    }
    return ahead
  }

  /**
   * `write` for a source already copied into `out`, source byte i at out[i + shift]: the kept runs
   * are moved back (`moveBack`) instead of copied from the source. `pos` must never run past the
   * source bytes not yet moved, which holds when `shift` is at least the growth of the cuts written
   * before (see `ahead`).
   */
  writeMoving (out: Uint8Array, shift: number, a: number, b: number, from: number, to: number, pos: number): number {
    const at = this.at
    for (let k = from; k < to; k++) {
      pos = moveBack(out, a + shift, at[2 * k] + shift, pos)
      const t = this.text[k]
      if (t.length < 16) for (let j = 0; j < t.length; j++) out[pos++] = t[j]
      else { out.set(t, pos); pos += t.length }
      a = at[2 * k + 1]
    }
    return moveBack(out, a + shift, b + shift, pos)
  }

  /** src[a, b) with the cuts [from, to) (all inside it) written at out[pos]; returns where it ends */
  write (src: Uint8Array, a: number, b: number, from: number, to: number, out: Uint8Array, pos: number): number {
    const at = this.at
    for (let k = from; k < to; k++) {
      pos = copyBytes(src, a, at[2 * k], out, pos)
      const t = this.text[k]
      pos = copyBytes(t, 0, t.length, out, pos)
      a = at[2 * k + 1]
    }
    return copyBytes(src, a, b, out, pos)
  }

  /** forgets the cuts from `count` on (an abandoned walk), letting go of their texts */
  truncate (count: number): void {
    for (let k = count; k < this.count; k++) this.text[k] = NOTHING
    this.count = count
  }
}
