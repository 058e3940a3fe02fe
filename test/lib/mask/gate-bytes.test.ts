/**
 * Values read off the wire are gated on their UTF-8 bytes before anything decodes them: the byte
 * gate must never be stricter than the gate on the decoded string, or a value a detector would mask
 * could pass undecoded. Random strings over the characters the gate counts, mixed with non-ASCII.
 */
import t from 'tap'
import { gate, gateBytes } from '../../../lib/mask/detectors.js'

function prng (seed: number): () => number {
  let a = seed >>> 0
  return () => { a = (a * 1664525 + 1013904223) >>> 0; return a / 4294967296 }
}
const ALPHABET = [...'0123456789 -.()+:@=_abcskghxoAIKSGZé€ü中😀\u00a0\u2028\t"\'/', 'sk-', 'eyJ', 'gh', 'xo', 'AKIA', '--']

t.test('gateBytes ⊇ gate for random strings', async t => {
  const r = prng(20261129)
  let checked = 0
  for (let i = 0; i < 20000; i++) {
    let s = ''
    const n = Math.floor(r() * 40)
    for (let j = 0; j < n; j++) s += ALPHABET[Math.floor(r() * ALPHABET.length)]
    const b = Buffer.from(`xx${s}yy`)
    const g = gate(s)
    const gb = gateBytes(b, 2, b.length - 2)
    if ((g & ~gb) !== 0) t.fail(`gate ${g.toString(2)} vs bytes ${gb.toString(2)} for ${JSON.stringify(s)}`)
    checked++
  }
  t.equal(checked, 20000)
})

t.test('the same answer for ASCII text', async t => {
  for (const s of ['ann.lee@example.com', '+44 20 7946 0958', '4111 1111 1111 1111', 'plain words only', 'a=b:c', 'eyJhbGciOiJIUzI1NiJ9.e30.sig']) {
    t.equal(gateBytes(Buffer.from(s), 0, s.length), gate(s), s)
  }
})
