/**
 * benchmarks/RESULTS.md is shared by every benchmark: each one rewrites only its own section (a
 * `## Name` heading up to the next one), so runs of different scenarios never clobber each other.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'

const FILE = fileURLToPath(new URL('./RESULTS.md', import.meta.url))
const HEADER = '# Benchmark results\n\nEach section is written by its benchmark (`npm run bench` runs them all); figures are ratios against the direct connection measured in the same run on this 2-core machine.\n'

export function writeSection (name: string, body: string): void {
  let text = existsSync(FILE) ? readFileSync(FILE, 'utf8') : HEADER
  const heading = `## ${name}\n`
  const section = `${heading}\n${body.trim()}\n\n`
  const start = text.indexOf(heading)
  if (start < 0) {
    text = text.trimEnd() + '\n\n' + section
  } else {
    const next = text.indexOf('\n## ', start + heading.length)
    text = text.slice(0, start) + section + (next < 0 ? '' : text.slice(next + 1))
  }
  writeFileSync(FILE, text.trimEnd() + '\n')
}
