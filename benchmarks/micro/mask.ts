/**
 * Masking throughput, one core: `document()` on Qdrant-like payloads (~20 keys) and `scalar()` over
 * column values, each with and without hits; and JSON decode + mask + encode against decode + encode
 * alone (the path of a Milvus JSON field or a jsonb column), as a ratio measured in the same run.
 *
 *   npx tsx benchmarks/micro/mask.ts [--seconds 3]   (per case, best of 3 rounds)
 */
import { execFileSync } from 'node:child_process'
import { cpus, loadavg } from 'node:os'
import { parseArgs } from 'node:util'
import type { Masker } from '../../decoders/types.js'
import { compileMasking } from '../../lib/mask/index.js'

const { values } = parseArgs({ options: { seconds: { type: 'string', default: '3' } } })
const SECONDS = Number(values.seconds)
const ROUNDS = 3
const KEY = Buffer.alloc(32, 1)

const profiles = compileMasking({
  // the CONTRACT.md example profile
  pii: { fields: ['email', 'customer.phone'], detectors: ['email', 'phone', 'credit_card'], action: 'redact', vectors: 'drop' },
  // every detector
  all: { fields: ['email', 'customer.phone', 'contacts.email'], detectors: ['all'], action: 'redact', vectors: 'drop' },
  hash: { fields: ['email', 'customer.phone'], detectors: ['email', 'phone', 'credit_card'], action: 'hash', vectors: 'drop' },
  fields: { fields: ['email', 'customer.phone', 'contacts.email'], detectors: [], action: 'redact', vectors: 'drop' }
}, { hashKey: KEY })

const TEXT = 'Vector databases index embeddings for approximate nearest neighbour search; this chunk was ' +
  'split from a product manual, section 4.2, revision 2024-03-18, and scored 0.8731 by the reranker.'

function payload (i: number, hits: boolean): Record<string, unknown> {
  return {
    doc_id: `doc-${i}`,
    chunk: i % 50,
    title: 'Installing the gateway behind a load balancer',
    text: hits ? TEXT + ' Contact ops at ops.team@example.com or +44 20 7946 0958; card 4111 1111 1111 1111.' : TEXT,
    source: 'https://docs.example.com/manual/install#load-balancer',
    lang: 'en',
    tags: ['install', 'networking', 'tls', 'operations'],
    created_at: '2024-03-18T09:12:44Z',
    updated_at: 1710753164000,
    version: 'v2.4.1',
    score: 0.87314,
    views: 1822,
    public: true,
    author: hits ? { name: 'Ann Lee', email: 'ann.lee@example.com' } : { name: 'Ann Lee', team: 'docs' },
    customer: hits ? { id: 4411, phone: '+1 415 555 2671', tier: 'gold' } : { id: 4411, tier: 'gold' },
    region: 'eu-west-1',
    category: 'guides',
    checksum: 'b3f1c9e2a4d5',
    parent: null,
    ...(hits ? { email: 'someone@example.org' } : { owner: 'platform-team' })
  }
}

const machine = `${cpus()[0]?.model ?? 'cpu'} (${cpus().length} cores), node ${process.version}`
let commit = 'unknown'
try { commit = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { encoding: 'utf8' }).trim() } catch {}

/** best of ROUNDS runs of SECONDS each (the machine is shared: the best run is the least disturbed); MB/s */
function measure (bytesPerCall: number, fn: (i: number) => void): number {
  for (let i = 0; i < 2000; i++) fn(i) // warm up
  let best = 0
  for (let r = 0; r < ROUNDS; r++) {
    let calls = 0
    const start = process.hrtime.bigint()
    const budget = BigInt(Math.round(SECONDS * 1e9 / ROUNDS))
    let now = start
    while (now - start < budget) {
      for (let k = 0; k < 256; k++) fn(calls++)
      now = process.hrtime.bigint()
    }
    best = Math.max(best, bytesPerCall * calls / (Number(now - start) / 1e9) / 1e6)
  }
  return best
}

const rows: Array<[string, string]> = []
const row = (name: string, mbs: number, extra = ''): void => { rows.push([name, `${mbs.toFixed(0)} MB/s${extra}`]) }

// ---- document() ----
/** a payload without hits is left as it is, so one copy serves every call */
function documentBench (m: Masker): number {
  const doc = payload(1, false)
  return measure(Buffer.byteLength(JSON.stringify(doc)), () => { if (m.document(doc)) throw new Error('no-hit payload changed') })
}

/** masking changes the payload: each call gets a fresh one, built outside the timed loop; best of ROUNDS */
function documentHitsNet (m: Masker): number {
  const bytes = Buffer.byteLength(JSON.stringify(payload(1, true)))
  const N = 20000
  const build = (): Array<Record<string, unknown>> => Array.from({ length: N }, (_, i) => payload(i, true))
  for (let w = 0; w < 3; w++) { const p = build(); for (const d of p) m.document(d) }
  let best = 0
  for (let r = 0; r < ROUNDS; r++) {
    let total = 0n
    let calls = 0
    const end = Date.now() + SECONDS * 1000 / ROUNDS
    while (Date.now() < end) {
      const p = build()
      const t0 = process.hrtime.bigint()
      for (let i = 0; i < N; i++) m.document(p[i])
      total += process.hrtime.bigint() - t0
      calls += N
    }
    best = Math.max(best, bytes * calls / (Number(total) / 1e9) / 1e6)
  }
  return best
}

/** the floor: one plain pass over every string's characters, nothing else (what any detector must at least do) */
function stringsOf (v: unknown, out: string[] = []): string[] {
  if (typeof v === 'string') out.push(v)
  else if (Array.isArray(v)) for (const x of v) stringsOf(x, out)
  else if (v !== null && typeof v === 'object') for (const x of Object.values(v)) stringsOf(x, out)
  return out
}
let sink = 0
function onePass (strings: string[]): void {
  let d = 0
  for (const s of strings) for (let i = 0; i < s.length; i++) { const c = s.charCodeAt(i); if (c >= 48 && c <= 57) d++ }
  sink += d
}

const pii = profiles.get('pii')!
const all = profiles.get('all')!
const hash = profiles.get('hash')!
const fields = profiles.get('fields')!
const docBytes = Buffer.byteLength(JSON.stringify(payload(1, false)))
const docHitBytes = Buffer.byteLength(JSON.stringify(payload(1, true)))

const floor = measure(docBytes, () => onePass(stringsOf(payload(1, false))))
const floorStrings = stringsOf(payload(1, false))
const floorScan = measure(docBytes, () => onePass(floorStrings))
row(`floor: collect the payload's strings + one charCodeAt pass (${docBytes} B)`, floor)
row('floor: one charCodeAt pass over the strings only', floorScan)
row(`document(), no hits, fields only (${docBytes} B, 20 keys)`, documentBench(fields))
row(`document(), no hits, pii profile (email, phone, credit_card)`, documentBench(pii))
row('document(), no hits, every detector', documentBench(all))
row(`document(), 5 hits (${docHitBytes} B), pii profile, redact`, documentHitsNet(pii))
row('document(), 5 hits, pii profile, hash', documentHitsNet(hash))
row('document(), 5 hits, every detector, redact', documentHitsNet(all))

// ---- decode + mask + encode (JSON), against decode + encode alone ----
for (const [label, hits] of [['no hits', false], ['5 hits', true]] as const) {
  const json = JSON.stringify(payload(1, hits))
  const bytes = Buffer.byteLength(json)
  const base = measure(bytes, () => { JSON.stringify(JSON.parse(json)) })
  const masked = measure(bytes, () => {
    const doc = JSON.parse(json) as Record<string, unknown>
    if (pii.document(doc)) JSON.stringify(doc)
  })
  const maskedAll = measure(bytes, () => {
    const doc = JSON.parse(json) as Record<string, unknown>
    if (all.document(doc)) JSON.stringify(doc)
  })
  row(`JSON decode+encode only, ${label}`, base)
  row(`JSON decode+mask(pii)+encode, ${label}`, masked, ` (${(masked / base).toFixed(2)}× decode+encode)`)
  row(`JSON decode+mask(every detector)+encode, ${label}`, maskedAll, ` (${(maskedAll / base).toFixed(2)}× decode+encode)`)
}

// ---- scalar() over column values ----
const CLEAN = ['Ann Lee', 'Oslo', 'gold', 'Installing the gateway behind a load balancer', '2024-03-18', 'eu-west-1',
  'A short description of a product with a few words in it.', 'v2.4.1', 'platform-team', 'b3f1c9e2a4d5']
const DIRTY = ['ann.lee@example.com', '+1 415 555 2671', 'card 4111 1111 1111 1111', 'Oslo', 'gold',
  'call (415) 555-2671 after 5', '2024-03-18', 'A short description of a product with a few words in it.', 'eu-west-1', 'x@example.net']
for (const [label, vals] of [['no hits', CLEAN], ['5 of 10 hit', DIRTY]] as const) {
  const bytes = vals.reduce((n, v) => n + Buffer.byteLength(v), 0) / vals.length
  const cols = vals.map((_, i) => `col${i}`)
  row(`scalar() over text columns, ${label}, pii profile`, measure(bytes, i => { const k = i % vals.length; pii.scalar(cols[k], vals[k]) }))
  row(`scalar() over text columns, ${label}, every detector`, measure(bytes, i => { const k = i % vals.length; all.scalar(cols[k], vals[k]) }))
}
row('scalar() on a configured column (email), redact', measure(19, () => { pii.scalar('email', 'ann.lee@example.com') }))

// ---- vectors ----
const vec = Float32Array.from({ length: 768 }, (_, i) => Math.sin(i))
const roundP = compileMasking({ r: { fields: [], detectors: [], action: 'redact', vectors: 'round' } }, { hashKey: KEY }).get('r')!
row('vector() round to 8 bits, 768-d float32', measure(768 * 4, () => { roundP.vector(vec) }))

process.stdout.write(`# mask micro-benchmark (one core)\n${machine}, load average ${loadavg().map(x => x.toFixed(1)).join(' ')}\n${new Date().toISOString()}  commit ${commit}\n\n`)
process.stdout.write('| case | throughput |\n|---|---|\n')
for (const [a, b] of rows) process.stdout.write(`| ${a} | ${b} |\n`)
if (sink < 0) process.stdout.write('')
