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
  // a Float32Array is copied as memory; anything else value by value
  const out = v instanceof Float32Array ? new Float32Array(v) : Float32Array.from(v)
  if (bits >= 23) return out
  const u = new Uint32Array(out.buffer, out.byteOffset, out.length)
  for (let i = 0; i < u.length; i++) u[i] = roundFloat32Bits(u[i], bits)
  return out
}

/**
 * One float32 as its binary32 bit pattern (an unsigned 32-bit integer), rounded as `roundVector`
 * rounds it. Decoders reading vectors off the wire round the bytes in place with it, never building
 * numbers (protobuf and pgvector write float32s as their bit patterns).
 */
export function roundFloat32Bits (x: number, bits: number): number {
  if (bits >= 23) return x >>> 0
  const drop = 23 - bits
  return roundWith(x, ~((1 << drop) - 1) >>> 0, 1 << (drop - 1))
}

/** `roundFloat32Bits` with its masks worked out: `keep` clears the dropped bits, `half` is half their weight */
export function roundWith (x: number, keep: number, half: number): number {
  if ((x & 0x7f800000) === 0x7f800000) return x >>> 0 // NaN, ±Infinity
  const r = ((x + half) & keep) >>> 0
  return (r & 0x7f800000) === 0x7f800000 ? (x & keep) >>> 0 : r // would overflow to Infinity
}
