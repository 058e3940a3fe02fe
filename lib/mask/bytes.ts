/**
 * Copying kept byte runs into a rebuilt message (a masked protobuf message, DataRow or JSON text).
 * Short runs (field headers, small values) by a loop, which costs less than `set()`'s call; long runs
 * by `set()` from a plain Uint8Array view, never a Buffer view (`subarray` on a Buffer builds a
 * FastBuffer, which showed up in profiles once per run).
 */
export function copyBytes (src: Uint8Array, a: number, b: number, out: Uint8Array, pos: number): number {
  if (b - a < 32) {
    for (let i = a; i < b; i++) out[pos++] = src[i]
    return pos
  }
  out.set(new Uint8Array(src.buffer, src.byteOffset + a, b - a), pos)
  return pos + b - a
}
