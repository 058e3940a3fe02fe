/**
 * The WebAssembly byte gates (native/gate) must give exactly the masks of the JS loops they stand
 * in for, on any bytes: random and adversarial strings (invalid UTF-8, zero bytes, every byte value),
 * planted detector values at every offset, every length 0..300 and every split of a text, digits and
 * tokens across the module's 64-byte chunks. A module that cannot be instantiated is no gate.
 */
import t from 'tap'
import { contactGateBytesLoop, gateBytesLoop } from '../../../lib/mask/detectors.js'
import { instantiateGate, wasmGate, type WasmGate } from '../../../lib/mask/detect/wasm-gate.js'

function prng (seed: number): () => number {
  let a = seed >>> 0
  return () => { a = (a * 1664525 + 1013904223) >>> 0; return a / 4294967296 }
}

const wasm = wasmGate as WasmGate

/** the module's full gate: its recheck (the ports of `mayAssignBytes`, `mayIpv6Bytes`) is the JS loop's */
function wasmGateBytes (g: WasmGate, b: Uint8Array, start: number, end: number): number {
  return g.gate(b, start, end)
}

/** compares both gates over b[start, end); returns a failure message or '' */
function differs (b: Uint8Array, start: number, end: number): string {
  const full = wasmGateBytes(wasm, b, start, end)
  const fullLoop = gateBytesLoop(b, start, end)
  if (full !== fullLoop) return `gate ${full.toString(2)} != loop ${fullLoop.toString(2)}`
  const contact = wasm.contactGate(b, start, end)
  const contactLoop = contactGateBytesLoop(b, start, end)
  if (contact !== contactLoop) return `contact gate ${contact.toString(2)} != loop ${contactLoop.toString(2)}`
  return ''
}

const show = (b: Uint8Array, start: number, end: number): string => JSON.stringify(Buffer.from(b.subarray(start, end)).toString('latin1'))

/** pieces the gates count, the detectors' own test values, and bytes that are not UTF-8 */
const PIECES: Array<string | Uint8Array> = [
  ...'0123456789 -.()+:@=_abcefyJskrghilxonpfAIKSGZé€中😀\t"\'/,;\u00a0',
  'eyJ', 'sk', 'rk', 'gh', 'gi', 'gl', 'xo', 'hf', 'np', 'AI', 'AK', 'AS', 'SG', '--', 'AC', 'AY', 'Sk', '_sk', ' gh', '9sk',
  '2024-03-18', '+1 415 555 1000', '+44 20 7946 0958', '4111 1111 1111 1111', '123-45-6789', '1.2.3.4', '10.0.0.1', 'v2.4.1',
  'alice@example.com', 'Bob.Smith+tag@mail.example.co.uk', 'DE89 3704 0044 0532 0130 00', 'GB82WEST12345698765432', 'AB 12 34 56 C',
  'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2ln', 'AKIAIOSFODNN7EXAMPLE', 'sk-proj-abcDEF123456ghiJKL789mno', 'xoxb-123456789012-abcdefABCDEF',
  'glpat-aB3dE5gH7jK9mN1pQ3sT', 'AIzaSyA1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q', 'password=hunter22', '"api_key": "', '2001:db8::1', 'fe80::1ff:fe23:4567:890a',
  '::ffff:192.0.2.128', 'https://docs.example.com:8443/manual', '09:12:44', '12345678Z', 'QQ123456A',
  Uint8Array.of(0), Uint8Array.of(0x80), Uint8Array.of(0xff), Uint8Array.of(0xc3), Uint8Array.of(0xf3, 0x6b), Uint8Array.of(0xe1, 0xe9), Uint8Array.of(0xa0)
]
const PIECE_BYTES = PIECES.map(p => typeof p === 'string' ? Buffer.from(p) : p)

function randomText (r: () => number, n: number, pieces = PIECE_BYTES): Buffer {
  const parts: Uint8Array[] = []
  let len = 0
  while (len < n) {
    const p = pieces[Math.floor(r() * pieces.length)]
    parts.push(p)
    len += p.length
  }
  return Buffer.concat(parts).subarray(0, n)
}

t.test('the module instantiates here (Node 20 has WebAssembly SIMD128)', async t => {
  t.not(wasmGate, null)
})

t.test('the same masks for every length 0..300, random text, at several offsets in a larger buffer', async t => {
  const r = prng(20261129)
  let failures = 0
  for (let n = 0; n <= 300 && failures < 5; n++) {
    for (let k = 0; k < 40 && failures < 5; k++) {
      const text = randomText(r, n)
      const before = Math.floor(r() * 5)
      const b = Buffer.concat([randomText(r, before), text, randomText(r, 3)])
      const why = differs(b, before, before + n)
      if (why !== '') { failures++; t.fail(`${why} for ${show(b, before, before + n)}`) }
    }
  }
  t.equal(failures, 0)
})

t.test('the same masks for random bytes of every value', async t => {
  const r = prng(7)
  let failures = 0
  for (let k = 0; k < 20000 && failures < 5; k++) {
    const n = Math.floor(r() * 200)
    const b = Buffer.alloc(n)
    // mostly a few values so that chains, runs and pairs form; sometimes any byte
    const few = [...'0 9-.a(+:eyJsk_@=A'].map(c => c.charCodeAt(0))
    for (let i = 0; i < n; i++) b[i] = r() < 0.3 ? Math.floor(r() * 256) : few[Math.floor(r() * few.length)]
    const why = differs(b, 0, n)
    if (why !== '') { failures++; t.fail(`${why} for ${show(b, 0, n)}`) }
  }
  t.equal(failures, 0)
})

t.test('a planted value at every offset of filler text, across the 64-byte chunks', async t => {
  const fillers = ['The quick brown fox jumps over the lazy dog and keeps running through the night. '.repeat(4), 'x'.repeat(300), ' '.repeat(300), '1'.repeat(300), '.-'.repeat(150), 'é'.repeat(150)]
  const planted = PIECES.filter(p => typeof p === 'string' && p.length > 1) as string[]
  let failures = 0; let checked = 0
  for (const filler of fillers) {
    for (const value of planted) {
      for (let at = 0; at + value.length <= 200 && failures < 5; at++) {
        const b = Buffer.from(filler.slice(0, at) + value + filler.slice(0, 200 - at - value.length))
        const why = differs(b, 0, b.length)
        if (why !== '') { failures++; t.fail(`${why} for ${value} at ${at} in ${JSON.stringify(filler.slice(0, 10))}…`) }
        checked++
      }
    }
  }
  t.equal(failures, 0)
  t.ok(checked > 10000)
})

t.test('every split of a text: each prefix and each suffix', async t => {
  const r = prng(11)
  let failures = 0
  for (let k = 0; k < 30 && failures < 5; k++) {
    const b = randomText(r, 150 + Math.floor(r() * 150))
    for (let cut = 0; cut <= b.length && failures < 5; cut++) {
      for (const [s, e] of [[0, cut], [cut, b.length]]) {
        const why = differs(b, s, e)
        if (why !== '') { failures++; t.fail(`${why} for ${show(b, s, e)}`) }
      }
    }
  }
  t.equal(failures, 0)
})

t.test('digit chains, runs and spaced runs of every length at every chunk position', async t => {
  let failures = 0
  for (const sep of ['', ' ', '-', '.', '(', ')', '+', ' - ', 'a', ':', '_', '\u00e9']) {
    for (let len = 1; len <= 16 && failures < 5; len++) {
      for (let at = 0; at < 140 && failures < 5; at++) {
        let digits = ''
        for (let i = 0; i < len; i++) digits += (i > 0 && i % 3 === 0 ? sep : '') + String(i % 10)
        const b = Buffer.from('w'.repeat(at) + digits + ' tail of the text')
        for (const plus of ['', '+']) {
          const c = Buffer.concat([Buffer.from(plus), b])
          const why = differs(c, 0, c.length)
          if (why !== '') { failures++; t.fail(`${why} for ${show(c, 0, c.length)}`) }
        }
      }
    }
  }
  t.equal(failures, 0)
})

t.test('long texts: the module grows its memory, and the answers stay the same', async t => {
  const r = prng(13)
  for (const n of [1000, 65536, 200000, 70000]) {
    const b = randomText(r, n)
    t.equal(differs(b, 0, n), '', `${n} bytes`)
    const quiet = Buffer.alloc(n, 'quiet words ')
    t.equal(differs(quiet, 0, n), '', `${n} quiet bytes`)
  }
})

t.test('the recheck (assigned secrets, IPv6) ported into the module: texts of colons, equals signs, hex and names', async t => {
  const r = prng(17)
  const pieces = [...':::=.._ \t"\'afAF09gx-', '::', 'fe80', 'db8', '2001', '1.2.3.4', 'token', 'pwd', 'key', 'Secret', 'passwd', 'time',
    '09:12:44', 'http://a:80', '_x', 'é'].map(p => Buffer.from(p))
  let failures = 0
  for (let k = 0; k < 30000 && failures < 5; k++) {
    const n = Math.floor(r() * 200)
    const b = randomText(r, n, pieces)
    const why = differs(b, 0, n)
    if (why !== '') { failures++; t.fail(`${why} for ${show(b, 0, n)}`) }
  }
  t.equal(failures, 0)
})

t.test('a module that does not instantiate is no gate', async t => {
  t.equal(instantiateGate(new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0, 5])), null, 'a broken module')
  t.equal(instantiateGate(new Uint8Array(8)), null, 'not a module')
})
