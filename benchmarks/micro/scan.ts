/**
 * The detectors' hit path on one core: `Scanner.scan` over the strings of benchmarks/micro/mask.ts
 * that reach the detectors (text with an address, a phone number and a card number; an address; a
 * phone number), with the gate computed by the scan and with a byte gate handed in, the result
 * written as UTF-8 the way the callers write it. Figures are ns per call, best of 5 rounds.
 *
 *   node --import tsx benchmarks/micro/scan.ts [--seconds 1]
 */
import { parseArgs } from 'node:util'
import { Hasher } from '../../lib/mask/actions.js'
import { DETECTORS } from '../../lib/mask/detectors.js'
import { Scanner } from '../../lib/mask/scanner.js'

const { values } = parseArgs({ options: { seconds: { type: 'string', default: '1' } } })
const SECONDS = Number(values.seconds)
const ROUNDS = 5

const hasher = new Hasher(Buffer.alloc(32, 1))
const TYPICAL = new Set(['email', 'phone', 'credit_card'])
const typical = new Scanner(DETECTORS.filter(d => TYPICAL.has(d.name)), 'redact', hasher)
const every = new Scanner(DETECTORS, 'redact', hasher)

/** point 3's text in mask.ts (one in ten points carries HITS) */
const TEXT = 'Vector databases index embeddings for approximate nearest neighbour search; chunk 3 covers ' +
  'index rebuilds, split from a product manual, section 4.3, revision 2024-03-13, scored 0.8752 by the reranker.'
const HITS = ' Contact ops at ops.team@example.com or +44 20 7946 0958; card 4111 1111 1111 1111.'
const CASES: Array<[string, string]> = [
  ['text with hits', TEXT + HITS],
  ['address', 'user42@example.com'],
  ['phone', '+1 415 555 1042'],
  ['text', TEXT],
  ['title', 'Installing the gateway behind a load balancer'],
  ['url', 'https://docs.example.com/manual/install#load-balancer'],
  ['date', '2024-03-18T09:12:44Z']
]

const scratch = Buffer.alloc(4096)
let sink = 0

function measure (fn: () => void): number {
  const warm = Date.now() + 200
  while (Date.now() < warm) fn()
  let best = Infinity
  for (let r = 0; r < ROUNDS; r++) {
    let calls = 0
    const start = process.hrtime.bigint()
    const budget = BigInt(Math.round(SECONDS * 1e9 / ROUNDS))
    let now = start
    while (now - start < budget) {
      for (let k = 0; k < 256; k++) fn()
      calls += 256
      now = process.hrtime.bigint()
    }
    best = Math.min(best, Number(now - start) / calls)
  }
  return best
}

for (const [pname, sc] of [['typical', typical], ['every', every]] as const) {
  for (const [what, text] of CASES) {
    const bytes = Buffer.from(text)
    const s = bytes.toString() // flat, as decoded off the wire
    const g = sc.gateOf(bytes, 0, bytes.length)
    const own = measure(() => {
      const out = sc.scan(s)
      if (typeof out === 'string') sink += scratch.write(out)
    })
    const given = measure(() => {
      const out = sc.scan(s, g)
      if (typeof out === 'string') sink += scratch.write(out)
    })
    process.stdout.write(`${pname.padEnd(8)} ${what.padEnd(15)} scan(s): ${own.toFixed(0).padStart(5)} ns   scan(s, byte gate): ${given.toFixed(0).padStart(5)} ns\n`)
  }
}
if (sink === 0) process.stdout.write('\n')
