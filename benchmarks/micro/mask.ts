/**
 * The masking micro-benchmark (cases and measuring in mask-cases.ts), run as production runs the
 * code: plain JavaScript, with no TypeScript loader in the process. Under `node --import tsx` the
 * same masking code measured 15–20 % fewer MB/s per CPU second than as plain JavaScript, by the
 * CPU clock and by the wall clock alike (PostgreSQL rows with paths only: 1,350–1,400 ns a row
 * against 1,120–1,180), and read up to 1.6× apart from run to run. So this file bundles the cases
 * with esbuild into benchmarks/.mask-bench.mjs (beside RESULTS.md, which it writes) and runs that
 * bundle with plain `node`, passing the arguments on:
 *
 *   node --import tsx benchmarks/micro/mask.ts [--seconds 3] [--no-write] [--only rounded]
 */
import { spawnSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { build } from 'esbuild'

const bundle = fileURLToPath(new URL('../.mask-bench.mjs', import.meta.url))
await build({
  entryPoints: [fileURLToPath(new URL('./mask-cases.ts', import.meta.url))],
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'es2022', // tsconfig.json's target, as `npm run build` compiles the gateway
  packages: 'external',
  outfile: bundle,
  logLevel: 'error'
})
const r = spawnSync(process.execPath, [bundle, ...process.argv.slice(2)], { stdio: 'inherit' })
process.exit(r.status ?? 1)
