/**
 * Staged texts (`stageBytes`, `gateStagedBytes` in detectors.ts; `WasmGate.stage`, `gateAt`): a
 * text copied into the module's memory once and gated part by part in place must give exactly the
 * masks of the JS loop for every part, whatever bytes surround the part there (the rest of the
 * document), at every offset and length, staged at odd offsets, with texts staged after it (nested)
 * and gated by copy in between, and across the memory growing. Without a stage (-1) the loop serves.
 */
import t from 'tap'
import { gateBytesLoop, gateStagedBytes, stageBytes, unstageBytes } from '../../../lib/mask/detectors.js'
import { wasmGate, type WasmGate } from '../../../lib/mask/detect/wasm-gate.js'

function prng (seed: number): () => number {
  let a = seed >>> 0
  return () => { a = (a * 1664525 + 1013904223) >>> 0; return a / 4294967296 }
}

const wasm = wasmGate as WasmGate

const PIECES = [
  ...'0123456789 -.()+:@=_abcefyJskrghilxonpfAIKSGZé€😀\t"\\/,;{}[]',
  'eyJ', 'sk', 'gh', 'xo', 'AK', 'SG', '--', '": "', '","', '4111 1111 1111 1111', '+44 20 7946 0958', '123-45-6789', '10.0.0.1',
  'alice@example.com', 'DE89 3704 0044 0532 0130 00', 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2ln', 'AKIAIOSFODNN7EXAMPLE',
  'sk-proj-abcDEF123456ghiJKL789mno', 'password=hunter22', '2001:db8::1', 'https://docs.example.com:8443/x', '09:12:44', 'AB 12 34 56 C'
].map(p => Buffer.from(p)).concat([Uint8Array.of(0), Uint8Array.of(0x80), Uint8Array.of(0xff), Uint8Array.of(0xc3)].map(b => Buffer.from(b)))

function randomText (r: () => number, n: number): Buffer {
  const parts: Buffer[] = []
  let len = 0
  while (len < n) { const p = PIECES[Math.floor(r() * PIECES.length)]; parts.push(p); len += p.length }
  return Buffer.concat(parts).subarray(0, n)
}

/** the module's gate on the staged bytes at `at`, at any length (below `gateStagedBytes`'s threshold too) */
function rawStaged (b: Uint8Array, start: number, end: number, at: number): number {
  return wasm.gateAt(at, end - start)
}

/** every part [s, e) of the staged b[from, to) with e - s <= maxLen: the failures (at most 5) */
function checkParts (t: { fail: (message: string) => void }, b: Uint8Array, from: number, to: number, at: number, maxLen: number): number {
  let failures = 0
  for (let s = from; s <= to && failures < 5; s++) {
    for (let e = s; e <= Math.min(to, s + maxLen) && failures < 5; e++) {
      const want = gateBytesLoop(b, s, e)
      const raw = rawStaged(b, s, e, at + s - from)
      const staged = gateStagedBytes(b, s, e, at + s - from)
      if (raw !== want || staged !== want) {
        failures++
        t.fail(`[${s - from}, ${e - from}) of ${JSON.stringify(Buffer.from(b.subarray(s, e)).toString('latin1'))}: module ${raw.toString(2)}, staged ${staged.toString(2)}, loop ${want.toString(2)}`)
      }
    }
  }
  return failures
}

t.test('every part of a staged text, staged from odd offsets of a larger buffer', async t => {
  const r = prng(20261129)
  let failures = 0
  for (let k = 0; k < 12 && failures === 0; k++) {
    const n = 40 + Math.floor(r() * 200)
    const pad = Math.floor(r() * 7)
    const b = Buffer.concat([randomText(r, pad), randomText(r, n), randomText(r, 5)])
    const at = stageBytes(b, pad, pad + n)
    t.ok(at >= 0)
    try {
      failures += checkParts(t, b, pad, pad + n, at, 160)
    } finally {
      unstageBytes(at)
    }
  }
  t.equal(failures, 0)
})

t.test('planted values at every offset of a staged document, the bytes around them being the document\'s', async t => {
  const values = ['4111 1111 1111 1111', 'alice@example.com', 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2ln', 'sk-proj-abcDEF123456ghiJKL789mno',
    'J0.abc.defghijklmnopqrstuvwxyz', 'k-proj-abcDEF123456ghiJKL789mno', 'yJ.aaaa.bbbbbbbbbbbbbbbbbbb',
    '123-45-6789', '+44 20 7946 0958', 'password=hunter22', 'fe80::1ff:fe23:4567:890a', '10.0.0.1', 'GB82WEST12345698765432', 'AB 12 34 56 C', '1234567']
  // neighbours that would complete a value, a pair or an eyJ if they were read as the text's own
  const around = ['9999999999', 'ey', 'e', 'sk', '--', '@x.', 'AK', 'eyJ', ':=:', '...1.2.3']
  let failures = 0
  for (const value of values) {
    for (const left of around) {
      for (const right of around) {
        for (let filler = 0; filler < 80 && failures < 5; filler += 7) {
          const text = 'w'.repeat(filler) + value + ' x'.repeat(filler % 5)
          const b = Buffer.from(left + text + right)
          const at = stageBytes(b, 0, b.length)
          try {
            const s = left.length; const e = s + Buffer.byteLength(text)
            const want = gateBytesLoop(b, s, e)
            for (const [got, how] of [[rawStaged(b, s, e, at + s), 'module'], [gateStagedBytes(b, s, e, at + s), 'staged']] as const) {
              if (got !== want) { failures++; t.fail(`${how} ${got.toString(2)} != loop ${want.toString(2)} for ${left}|${text}|${right}`) }
            }
          } finally {
            unstageBytes(at)
          }
        }
      }
    }
  }
  t.equal(failures, 0)
})

t.test('a staged text stays as it is while texts are gated by copy and staged after it, and when the memory grows', async t => {
  const r = prng(5)
  const doc = randomText(r, 300)
  const at = stageBytes(doc, 0, doc.length)
  let failures = 0
  try {
    failures += checkParts(t, doc, 0, doc.length, at, 70)
    // copied texts go after the staged one
    for (let k = 0; k < 50; k++) {
      const other = randomText(r, 128 + Math.floor(r() * 400))
      wasm.gate(other, 0, other.length)
      wasm.contactGate(other, 0, other.length)
    }
    failures += checkParts(t, doc, 0, doc.length, at, 70)
    // a nested stage, large enough to grow the memory, then given back
    for (const n of [1000, 300000, 70000]) {
      const big = randomText(r, n)
      const inner = stageBytes(big, 0, n)
      t.ok(inner > at, 'staged after the outer text')
      try {
        failures += checkParts(t, big, 0, 200, inner, 70)
        failures += checkParts(t, big, n - 200, n, inner + n - 200, 70)
        const big2 = randomText(r, 2 * n) // a copied gate past both
        t.equal(wasm.gate(big2, 0, big2.length), gateBytesLoop(big2, 0, big2.length))
        failures += checkParts(t, doc, 0, doc.length, at, 70)
      } finally {
        unstageBytes(inner)
      }
    }
    failures += checkParts(t, doc, 0, doc.length, at, 300)
  } finally {
    unstageBytes(at)
  }
  t.equal(failures, 0)
  // given back: the next stage reuses the memory
  const again = stageBytes(doc, 0, 10)
  unstageBytes(again)
  t.equal(again, at)
})

t.test('not staged (no WebAssembly gate): the JS loop', async t => {
  const r = prng(3)
  for (let n = 0; n < 300; n += 7) {
    const b = randomText(r, n)
    t.equal(gateStagedBytes(b, 0, n, -1), gateBytesLoop(b, 0, n))
  }
  unstageBytes(-1) // nothing staged: nothing happens
})
