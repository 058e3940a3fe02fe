// The SHA-256 of the byte gate's Rust sources (native/gate: Cargo.toml, Cargo.lock, src/), in path
// order, each as its path, a NUL, its bytes and a NUL: the hash scripts/build-gate.mjs records in
// lib/mask/gate-wasm.ts and the test compares against the committed sources.
import { createHash } from 'node:crypto'
import { readdirSync, readFileSync } from 'node:fs'
import { join, relative, sep } from 'node:path'

/** the files that make the module, relative to the crate, `/`-separated and sorted */
export function gateSourceFiles (crate) {
  const files = ['Cargo.toml', 'Cargo.lock']
  const walk = dir => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const p = join(dir, e.name)
      if (e.isDirectory()) walk(p)
      else if (e.name.endsWith('.rs')) files.push(relative(crate, p).split(sep).join('/'))
    }
  }
  walk(join(crate, 'src'))
  return files.sort()
}

export function gateSourceHash (crate) {
  const h = createHash('sha256')
  for (const f of gateSourceFiles(crate)) {
    h.update(f).update('\0').update(readFileSync(join(crate, f))).update('\0')
  }
  return h.digest('hex')
}
