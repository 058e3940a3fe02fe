/**
 * Seeded randomness for property and fuzz tests: the same seed gives the same cases, so a failure
 * can be replayed by its seed. mulberry32, 32 bits of state.
 */
export type Rand = () => number

export function prng (seed: number): Rand {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let x = a
    x = Math.imul(x ^ (x >>> 15), x | 1)
    x ^= x + Math.imul(x ^ (x >>> 7), x | 61)
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296
  }
}

export const pick = <T>(r: Rand, xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]
