/**
 * lib/mask/gate-wasm.ts is built from native/gate by scripts/build-gate.mjs and committed (installing
 * and testing need no Rust): it must come from the Rust sources as they are committed. A change to
 * native/gate without `npm run build:gate` fails here.
 */
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import t from 'tap'
import { GATE_SOURCE_SHA256, GATE_WASM_BASE64 } from '../../../lib/mask/gate-wasm.js'
// @ts-expect-error a plain ESM script without types
import { gateSourceFiles, gateSourceHash } from '../../../scripts/gate-source.mjs'

const CRATE = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'native', 'gate')

t.test('the committed module was built from the committed Rust sources', async t => {
  t.ok((gateSourceFiles(CRATE) as string[]).includes('src/lib.rs'))
  t.equal(GATE_SOURCE_SHA256, gateSourceHash(CRATE), 'native/gate changed since lib/mask/gate-wasm.ts was built: run `npm run build:gate`')
})

t.test('the module is a WebAssembly module', async t => {
  t.ok(WebAssembly.validate(Buffer.from(GATE_WASM_BASE64, 'base64')))
})
