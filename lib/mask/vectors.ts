/**
 * Vectors are sensitive too: embeddings can be inverted back to text (Morris et al., "Text
 * Embeddings Reveal (Almost) As Much As Text", EMNLP 2023). `round` keeps only the top `bits` of
 * each float32 mantissa (IEEE 754 binary32 has 23), rounding to nearest, which keeps similarity
 * search usable while destroying the low-order detail inversion feeds on.
 *
 * Returns a new Float32Array (the caller's vector is never changed); NaN and ±Infinity pass
 * unchanged, and a value that would round up past the largest finite float is truncated instead.
 */
export function roundVector (v: ArrayLike<number>, bits: number): Float32Array {
  const out = Float32Array.from(v)
  if (bits >= 23) return out
  const u = new Uint32Array(out.buffer, out.byteOffset, out.length)
  const drop = 23 - bits
  const half = 1 << (drop - 1)
  const keep = ~((1 << drop) - 1) >>> 0
  for (let i = 0; i < u.length; i++) {
    const x = u[i]
    if ((x & 0x7f800000) === 0x7f800000) continue // NaN, ±Infinity
    let r = ((x + half) & keep) >>> 0
    if ((r & 0x7f800000) === 0x7f800000) r = (x & keep) >>> 0 // would overflow to Infinity
    u[i] = r
  }
  return out
}
