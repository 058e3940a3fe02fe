/**
 * One thing under test in its own process, so its CPU time and memory can be read from /proc (and a
 * profile taken with `--cpu-prof`) without the benchmark driver's own work mixed in:
 *
 *   node .bench-build/benchmarks/lib/gateway-process.js '<json spec>'   (compiled by benchmarks/lib/env.ts; or through tsx from here)
 *
 * spec `{ "relay": 1234 }` starts a plain TCP relay to 127.0.0.1:1234; otherwise `{ "config": {...},
 * "nullJournal": true?, "token": "bench"? }` starts a gateway from that config (as the tests do:
 * listeners on port 0, key and journal in a temp dir) and issues a token for the subject. Prints one
 * JSON line `{ pid, ports: { backend: port }, token }` when ready; SIGTERM stops it (writing the
 * profile, when one was asked for).
 */
import { nullJournal } from '../../lib/journal/types.js'
import { startTestGateway } from '../../test/helpers/gateway.js'
import { tcpRelay } from './env.js'

interface Spec { relay?: number, config?: Record<string, any>, nullJournal?: boolean, token?: string }
const spec = JSON.parse(process.argv[2] ?? '{}') as Spec

let stop: () => Promise<void>
if (spec.relay !== undefined) {
  const relay = await tcpRelay(spec.relay)
  process.stdout.write(JSON.stringify({ pid: process.pid, ports: { relay: relay.port } }) + '\n')
  stop = async () => relay.close()
} else {
  const gw = await startTestGateway(spec.config!, spec.nullJournal === true ? { parts: { journal: nullJournal } } : {})
  const ports: Record<string, number> = {}
  for (const b of gw.config.backends) ports[b.name] = gw.port(b.name)
  const token = spec.token !== undefined ? await gw.token(spec.token, { ttl: 3600 }) : undefined
  process.stdout.write(JSON.stringify({ pid: process.pid, ports, token }) + '\n')
  stop = async () => await gw.stop()
}
// process.exit after stop: --cpu-prof writes its profile on a normal exit
process.on('SIGTERM', () => { void stop().finally(() => process.exit(0)) })
process.on('SIGINT', () => { void stop().finally(() => process.exit(0)) })
