/**
 * The journal worker's cost alone: the store writing batches shaped like the gateway's under load
 * (unary Search top-10: request, verdict, a 10-point result with its ids, the final response; one
 * batch per `calls` calls, one transaction each), on this thread. Prints CPU µs per call and the
 * rows per call. Each result returns 10 ids drawn from `records` (a collection of that many points:
 * who-saw rows land all over their index, as real results do) and `text` characters of payload per
 * point (the Qdrant Search benchmark's results are ~9 KB: 800). Run it under the benchmark lock:
 *   flock /tmp/vecgate-bench.lock node --import tsx benchmarks/journal/store.ts [batches] [calls per batch] [records] [text]
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir, loadavg } from 'node:os'
import { join } from 'node:path'
import { generateKeyPairSync } from 'node:crypto'
import { JournalStore } from '../../lib/journal/store.js'
import { Arena, pushEnd, pushEvent, pushStart, type Batch } from '../../lib/journal/batch.js'
import { EventSerializer } from '../../lib/journal/serialize.js'

const [batchesArg = '1000', callsArg = '26', recordsArg = '100000', textArg = '800'] = process.argv.slice(2)
const dir = mkdtempSync(join(tmpdir(), 'vecgate-bench-store-'))
const { privateKey } = generateKeyPairSync('ed25519')
const store = new JournalStore({ path: join(dir, 'j.db'), signingKey: privateKey, keyId: 'k', log: { info () {}, warn () {}, error () {} } })
const ser = new EventSerializer(false)
const op = { backend: 'qdrant', protocol: 'qdrant' as const, method: 'qdrant.Points/Search', action: 'search' as const, collection: 'docs', bulk: false, limit: 10, summary: { vector: '<vector dim=128>', limit: 10 } }
const records = Number(recordsArg)
const text = 'lorem ipsum dolor sit amet '.repeat(Math.ceil(Number(textArg) / 27)).slice(0, Number(textArg))
// a small deterministic generator: the same ids in every run
let seed = 1
const nextId = (): number => { seed = (seed * 48271) % 2147483647; return seed % records }
const resultOf = (): Array<{ id: number, score: number, payload: object }> => Array.from({ length: 10 }, (_, i) => { const id = nextId(); return { id, score: 0.9 - i / 100, payload: { title: `doc ${id}`, email: '[redacted]', text } } })
const event = (b: Batch, arena: Arena, session: string, call: number, kind: 'request' | 'verdict' | 'response', e: { ids?: number[] }): void => {
  const start = arena.pos
  ser.write({ session, at: 0, kind, call, ...e }, arena)
  pushEvent(b.items, { session, at: Date.now(), kind, call, collection: 'docs', ids: e.ids !== undefined ? e.ids.map(String) : null, subject: null, groups: null, tokenId: null }, start, arena.pos)
}
const NONE = Buffer.alloc(0)
const batches = Number(batchesArg)
const calls = Number(callsArg)
let call = 0
const session = 'bench-session'
const first: Batch = { items: [], bodies: NONE }
pushStart(first.items, { id: session, backend: 'qdrant', protocol: 'qdrant', client: '127.0.0.1:1', tls: false, at: Date.now() })
store.write([first], Date.now())
const made: Batch[] = []
for (let i = 0; i < batches; i++) {
  const arena = new Arena()
  const b: Batch = { items: [], bodies: NONE }
  for (let c = 0; c < calls; c++) {
    call++
    event(b, arena, session, call, 'request', { op, data: { subject: 'alice' } })
    event(b, arena, session, call, 'verdict', { verdict: { effect: 'allow', rule: 'r', reason: 'allowed', mask: 'pii' } })
    const points = resultOf()
    event(b, arena, session, call, 'response', { collection: 'docs', ids: points.map(p => p.id), data: { result: { toJSON: () => ({ points }) } } })
    event(b, arena, session, call, 'response', { data: { ok: true, status: '0', records: 10, vectors: 0, final: true, ms: 0.2, bytes: 900 } })
  }
  b.bodies = arena.buf.subarray(0, arena.pos)
  made.push(b)
}
const cpu0 = process.cpuUsage()
const t0 = process.hrtime.bigint()
for (const b of made) store.write([b], Date.now())
const wall = Number(process.hrtime.bigint() - t0) / 1e3
const cpu = process.cpuUsage(cpu0)
const last: Batch = { items: [], bodies: NONE }
pushEnd(last.items, session, Date.now(), 'done')
store.write([last], Date.now())
store.close()
rmSync(dir, { recursive: true, force: true })
const n = batches * calls
console.log(`store: ${n} calls in ${batches} batches: CPU ${((cpu.user + cpu.system) / n).toFixed(1)} µs/call (user ${(cpu.user / n).toFixed(1)}, system ${(cpu.system / n).toFixed(1)}), wall ${(wall / n).toFixed(1)} µs/call; load average ${loadavg()[0].toFixed(2)}`)
