/**
 * `journal who-saw` on a long journal: one gateway-sized session of `calls` unary Search calls
 * (request, verdict, a 10-point result, the final response each; ids drawn from `records`), then
 * who-saw for a few records, timed. What it measures is the query (the reader's SQL), not the writer.
 *   node --import tsx benchmarks/journal/who-saw.ts [calls] [records]
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { generateKeyPairSync } from 'node:crypto'
import { JournalStore } from '../../lib/journal/store.js'
import { JournalReader } from '../../lib/journal/reader.js'
import { pushEnd, pushEvent, pushStart, type Batch } from '../../lib/journal/batch.js'
import { EventSerializer } from '../../lib/journal/serialize.js'

const [callsArg = '50000', recordsArg = '2000'] = process.argv.slice(2)
const dir = mkdtempSync(join(tmpdir(), 'vecgate-bench-who-saw-'))
const path = join(dir, 'j.db')
const { privateKey } = generateKeyPairSync('ed25519')
const store = new JournalStore({ path, signingKey: privateKey, keyId: 'k', log: { info () {}, warn () {}, error () {} } })
const ser = new EventSerializer(false)
const op = { backend: 'qdrant', protocol: 'qdrant' as const, method: 'qdrant.Points/Search', action: 'search' as const, collection: 'docs', bulk: false, limit: 10, summary: { limit: 10 } }
const records = Number(recordsArg)
let seed = 1
const nextId = (): number => { seed = (seed * 48271) % 2147483647; return seed % records }
const session = 'long-session'
const first: Batch = []
pushStart(first, { id: session, backend: 'qdrant', protocol: 'qdrant', client: '127.0.0.1:1', tls: false, at: Date.now() })
store.write([first], Date.now())
const event = (b: Batch, call: number, kind: 'request' | 'verdict' | 'response', e: { ids?: number[] }): void =>
  pushEvent(b, { session, at: Date.now(), kind, call, body: ser.body({ session, at: 0, kind, call, ...e }), collection: 'docs', ids: e.ids !== undefined ? e.ids.map(String) : null, subject: null, groups: null, tokenId: null })
const calls = Number(callsArg)
let b: Batch = []
for (let call = 1; call <= calls; call++) {
  event(b, call, 'request', { op, data: { subject: call % 2 === 0 ? 'alice' : 'bob' } } as never)
  event(b, call, 'verdict', { verdict: { effect: 'allow', rule: 'r', reason: 'allowed' } } as never)
  const ids = Array.from({ length: 10 }, nextId)
  event(b, call, 'response', { collection: 'docs', ids, data: { result: { toJSON: () => ({ points: ids.map(id => ({ id })) }) } } } as never)
  event(b, call, 'response', { data: { ok: true, final: true } } as never)
  if (call % 200 === 0) { store.write([b], Date.now()); b = [] }
}
pushEnd(b, session, Date.now(), 'done')
store.write([b], Date.now())
store.close()
const reader = new JournalReader(path)
const times: number[] = []
let hits = 0
for (const record of ['1', '17', '523', '1999']) {
  const t0 = process.hrtime.bigint()
  const r = reader.whoSaw('qdrant', 'docs', record)
  times.push(Number(process.hrtime.bigint() - t0) / 1e6)
  hits += r.reduce((n, s) => n + s.events.length, 0)
}
reader.close()
rmSync(dir, { recursive: true, force: true })
console.log(`who-saw over one session of ${calls} calls (${calls * 4} events), ${records} records: ${times.map(t => t.toFixed(1)).join(' / ')} ms per record (${hits} hits in all)`)
