/**
 * The relay's own work per pgbench -S transaction, without sockets: a PgRelay between two in-memory
 * sockets, fed the bytes pgbench and PostgreSQL exchange (simple protocol: Query, then RowDescription,
 * DataRow, CommandComplete, ReadyForQuery; prepared: Bind, Describe, Execute, Sync, then BindComplete,
 * RowDescription, DataRow, CommandComplete, ReadyForQuery). Admission goes through a real Pipeline
 * (allow-all policy, a journal that keeps nothing: the "vecgate pass-through" path of pgbench.ts).
 * What the kernel and libuv cost per read and write is not in these figures; pgbench.ts measures the
 * whole. For iterating on the relay and decoders on a machine too noisy for end-to-end figures.
 *
 *   node --import tsx benchmarks/pg/relay-micro.ts [--tx 200000] [--rounds 5]
 */
import { parseArgs } from 'node:util'
import { loadClassifier } from '../../decoders/postgres/classify.js'
import { MessageReader } from '../../decoders/postgres/reader.js'
import { MessageWriter, serialize } from '../../decoders/postgres/writer.js'
import type { Identity, Masker, Operation, Verdict } from '../../decoders/types.js'
import { Metrics } from '../../lib/admin/metrics.js'
import type { BackendConfig } from '../../lib/config/types.js'
import { nullJournal } from '../../lib/journal/types.js'
import { createLogger } from '../../lib/log.js'
import { Pipeline } from '../../lib/pipeline.js'
import { catalogOf } from '../../lib/postgres/catalog.js'
import { PgRelay } from '../../lib/postgres/relay.js'
import type { Wire } from '../../lib/postgres/wire.js'

const { values } = parseArgs({ options: { tx: { type: 'string', default: '200000' }, rounds: { type: 'string', default: '5' } } })
const TX = Number(values.tx)
const ROUNDS = Number(values.rounds)

/** a Wire whose every write is taken at once */
class MemoryWire implements Wire {
  onData: (chunk: Buffer) => void = () => {}
  onDrain: () => void = () => {}
  onClose: () => void = () => {}
  written = 0
  queued = 0
  destroyed = false
  write (b: Buffer): boolean { this.written += b.length; return true }
  writev (bufs: Buffer[]): boolean { for (const b of bufs) this.written += b.length; return true }
  pause (): void {}
  resume (): void {}
  retain (): void {}
  end (): void {}
  destroy (): void { this.destroyed = true }
}

await loadClassifier()
const backend = { name: 'pg', protocol: 'postgres', listen: { host: '127.0.0.1', port: 0 }, upstream: { host: '127.0.0.1', port: 0 }, credentials: { user: 'postgres', database: 'postgres' } } as unknown as BackendConfig
const allow: Verdict = { effect: 'allow', rule: 'bench', reason: 'allowed by rule "bench"' }
const pipeline = new Pipeline({
  backend,
  verifier: { verify: async () => { throw new Error('not used') } },
  policy: { decide: (_i: Identity, _o: Operation): Verdict => allow },
  masks: new Map<string, Masker>(),
  journal: nullJournal,
  metrics: new Metrics(),
  log: createLogger({ level: 'silent' })
})
const identity = { subject: 'postgres', issuer: 'vecgate', groups: [], tokenId: 'bench', expiresAt: Date.now() / 1000 + 3600, scope: {} } as unknown as Identity

// no database to read the catalog from: one that holds nothing of the database's own, and stays fresh
await catalogOf(backend, createLogger({ level: 'silent' }), { read: async () => ({ keys: new Set() }), freshMs: Infinity }).refresh()

function relayPair (): { toRelay: (b: Buffer) => void, fromUpstream: (b: Buffer) => void, client: MemoryWire, upstream: MemoryWire } {
  const client = new MemoryWire()
  const upstream = new MemoryWire()
  const relay = new PgRelay({
    backend,
    database: 'postgres',
    session: pipeline.open({ address: '127.0.0.1:1', tls: false }),
    identity,
    client,
    upstream,
    front: new MessageReader(1 << 20),
    back: new MessageReader(1 << 20),
    status: 0x49,
    parameters: new Map([['standard_conforming_strings', 'on']]),
    onEnd: () => {}
  })
  relay.start()
  return { toRelay: b => client.onData(b), fromUpstream: b => upstream.onData(b), client, upstream }
}

const INT4 = 23
const rowDescription = new MessageWriter().int16(1).cstring('abalance').int32(0).int16(0).int32(INT4).int16(4).int32(-1).int16(0).finish(0x54)
const dataRow = new MessageWriter().int16(1).int32(1).bytes(Buffer.from('0')).finish(0x44)
const selectOne = new MessageWriter().cstring('SELECT 1').finish(0x43)
const ready = serialize.readyForQuery(0x49)
const simpleResponse = Buffer.concat([rowDescription, dataRow, selectOne, ready])
const preparedResponse = Buffer.concat([Buffer.from([0x32, 0, 0, 0, 4]), rowDescription, dataRow, selectOne, ready])
/** as pgbench sends it: a new account id every transaction */
const aids = Array.from({ length: 4096 }, (_, i) => String(1 + (i * 7919) % 1_000_000))
const queries = aids.map(aid => serialize.query(`SELECT abalance FROM pgbench_accounts WHERE aid = ${aid};`))
const executions = aids.map(aid => Buffer.concat([serialize.bind('', 'P0_1', [aid]), serialize.describe('P', ''), serialize.execute(''), serialize.sync()]))

function simple (n: number): void {
  const p = relayPair()
  for (let i = 0; i < n; i++) {
    p.toRelay(queries[i & 4095])
    p.fromUpstream(simpleResponse)
  }
}

function prepared (n: number): void {
  const p = relayPair()
  p.toRelay(Buffer.concat([serialize.parse('P0_1', 'SELECT abalance FROM pgbench_accounts WHERE aid = $1;'), serialize.sync()]))
  p.fromUpstream(Buffer.concat([Buffer.from([0x31, 0, 0, 0, 4]), ready]))
  for (let i = 0; i < n; i++) {
    p.toRelay(executions[i & 4095])
    p.fromUpstream(preparedResponse)
  }
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[xs.length >> 1]
for (const [name, run] of [['simple', simple], ['prepared', prepared]] as const) {
  run(Math.min(TX, 50_000))
  const ns: number[] = []
  for (let r = 0; r < ROUNDS; r++) {
    const t0 = process.hrtime.bigint()
    run(TX)
    ns.push(Number(process.hrtime.bigint() - t0) / TX)
  }
  process.stdout.write(`${name}: ${(median(ns) / 1000).toFixed(2)} µs/tx (median of ${ROUNDS} rounds of ${TX}; min ${(Math.min(...ns) / 1000).toFixed(2)})\n`)
}
