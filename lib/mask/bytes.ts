/**
 * Copying kept byte runs into a rebuilt message (a masked protobuf message, DataRow or JSON text).
 * Short runs (field headers, small values) by a loop, which costs less than `set()`'s call; long runs
 * by `set()` — straight from `src` when the run is all of it, else from a plain Uint8Array view, never
 * a Buffer view (`subarray` on a Buffer builds a FastBuffer, which showed up in profiles once per
 * run). Making the view costs about as much as the copy itself below ~64 bytes.
 */
export function copyBytes (src: Uint8Array, a: number, b: number, out: Uint8Array, pos: number): number {
  const n = b - a
  if (n < 48) {
    for (let i = a; i < b; i++) out[pos++] = src[i]
    return pos
  }
  if (n === src.length) out.set(src, pos)
  else out.set(new Uint8Array(src.buffer, src.byteOffset + a, n), pos)
  return pos + n
}
