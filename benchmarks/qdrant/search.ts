/**
 * Unary Qdrant Search (top-10, ~10 KB responses) driven by h2load, in one run:
 * direct to the upstream, through a plain TCP relay, through vecgate with only pass-through (allow, no
 * mask, no journal), and through vecgate with policy + masking + journal on. The upstream (the test
 * peer) runs in its own process; the gateways share this one. Writes the "Qdrant Search" section
 * of benchmarks/RESULTS.md.
 *
 *   node --import tsx benchmarks/qdrant/search.ts [--seconds 8] [--rounds 2]
 */
import { parseArgs } from 'node:util'
import { fileURLToPath } from 'node:url'
import { qdrantSchema } from '../../decoders/qdrant/schema.js'
import { nullJournal } from '../../lib/journal/types.js'
import { startTestGateway } from '../../test/helpers/gateway.js'
import { machine, startPeerProcess, tcpRelay } from '../lib/env.js'
import { grpcBodyFile, h2load as runH2load, median as med } from '../lib/h2load.js'
import { writeSection } from '../results.js'

const { values } = parseArgs({ options: { seconds: { type: 'string', default: '8' }, rounds: { type: 'string', default: '2' } } })
const seconds = Number(values.seconds)
const rounds = Number(values.rounds)
const KEY = 'bench-upstream-key'

const header = machine()
const { info: peerInfo } = await startPeerProcess<{ port: number, responseBytes: number }>(fileURLToPath(new URL('./peer.ts', import.meta.url)), [KEY])
const peerPort = peerInfo.port
const respSize = peerInfo.responseBytes
const peer = { address: `127.0.0.1:${peerPort}` }

const rules = [{ id: 'bench', subjects: { users: ['bench'] }, effect: 'allow', mask: 'pii' }]
const passRules = [{ id: 'bench', subjects: { users: ['bench'] }, effect: 'allow' }]
const full = await startTestGateway({
  backends: [{ name: 'qdrant', protocol: 'qdrant', upstream: peer.address, credentials: { api_key: KEY } }],
  policy: { rules },
  masking: { profiles: { pii: { fields: ['email'], detectors: [], action: 'redact', vectors: 'keep' } } }
})
const pass = await startTestGateway({
  backends: [{ name: 'qdrant', protocol: 'qdrant', upstream: peer.address, credentials: { api_key: KEY } }],
  policy: { rules: passRules }
}, { parts: { journal: nullJournal } })
const relay = await tcpRelay(peerPort)

const Search = qdrantSchema().root.lookupType('qdrant.SearchPoints')
const req = Search.encode({ collection_name: 'bench', vector: [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8], limit: 10, with_payload: { enable: true } }).finish()
const body = grpcBodyFile(req, 'search.bin')
const tokenFull = await full.token('bench')
const tokenPass = await pass.token('bench')

interface Row { name: string, rps: number[], p50: number[], p99: number[], errors: number }
const targets = [
  { name: 'direct', port: peerPort, key: KEY },
  { name: 'tcp relay', port: relay.port, key: KEY },
  { name: 'vecgate pass-through', port: pass.port('qdrant'), key: tokenPass },
  { name: 'vecgate policy+mask+journal', port: full.port('qdrant'), key: tokenFull }
]
const results = new Map<string, Row>()
for (const conc of [{ c: 1, m: 1 }, { c: 4, m: 16 }]) {
  for (let r = 0; r < rounds; r++) {
    for (const t of targets) {
      const res = await h2load(t.port, t.key, conc.c, conc.m)
      const k = `${t.name} @ c=${conc.c * conc.m}`
      const row = results.get(k) ?? { name: k, rps: [], p50: [], p99: [], errors: 0 }
      row.rps.push(res.rps); row.p50.push(res.p50); row.p99.push(res.p99); row.errors += res.errors
      results.set(k, row)
    }
  }
}

const lines = [
  `Qdrant unary Search, top-10, ${respSize} B responses, h2load ${seconds}s per run, ${rounds} rounds alternating; ${header}`,
  '',
  '| path | req/s | vs direct | p50 µs | p99 µs | added p50 µs | errors |',
  '|---|---|---|---|---|---|---|'
]
for (const conc of ['c=1', 'c=64']) {
  const direct = results.get(`direct @ ${conc}`)!
  for (const t of targets) {
    const row = results.get(`${t.name} @ ${conc}`)!
    lines.push(`| ${row.name} | ${med(row.rps).toFixed(0)} | ${(med(row.rps) / med(direct.rps)).toFixed(2)}× | ${med(row.p50).toFixed(0)} | ${med(row.p99).toFixed(0)} | ${(med(row.p50) - med(direct.p50)).toFixed(0)} | ${row.errors} |`)
  }
}
lines.push('', '`node --import tsx benchmarks/qdrant/search.ts` (h2load over h2c with a fixed gRPC request body; medians of the rounds). "added p50" is the latency vecgate adds over direct. The gateway and the upstream share the 2 cores with h2load.')
const table = lines.join('\n')
process.stdout.write(table + '\n')
writeSection('Qdrant Search', table)

await full.stop(); await pass.stop(); relay.close()
process.exit(0)

// ----------------------------------------------------------------------------------------------

async function h2load (port: number, key: string, c: number, m: number): Promise<{ rps: number, p50: number, p99: number, errors: number }> {
  return await runH2load({ port, path: '/qdrant.Points/Search', body, key, seconds, c, m })
}
