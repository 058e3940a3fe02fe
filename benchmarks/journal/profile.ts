/**
 * Profiling aid for the journal's cost on the request path: one gateway (journal on, or off with
 * `off`) in this process, the upstream and the load generator in their own, unary Search at the
 * given concurrency. Run it under `node --cpu-prof --import tsx` and read the profile of this process.
 *   node --cpu-prof --cpu-prof-dir=/tmp/prof --import tsx benchmarks/journal/profile.ts [on|off|all] [calls] [concurrency]
 */
import { spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { nullJournal } from '../../lib/journal/types.js'
import { startTestGateway } from '../../test/helpers/gateway.js'

const [mode = 'on', callsArg = '20000', concArg = '16'] = process.argv.slice(2)
const here = (f: string): string => fileURLToPath(new URL(f, import.meta.url))
const child = (script: string, args: string[] = []): ReturnType<typeof spawn> =>
  spawn(process.execPath, ['--import', 'tsx', here(script), ...args], { stdio: ['ignore', 'pipe', 'inherit'] })

const up = child('./upstream.ts')
const port = await new Promise<string>(resolve => up.stdout!.once('data', (d: Buffer) => resolve(d.toString().trim())))
const gw = await startTestGateway({
  ...(mode === 'all' ? { journal: { durable: 'all' } } : {}),
  backends: [{ name: 'b', protocol: 'qdrant', upstream: `127.0.0.1:${port}`, credentials: { api_key: 'bench-key' } }],
  policy: { rules: [{ id: 'analysts', subjects: { groups: ['analysts'] }, actions: ['read', 'search'], effect: 'allow' }] }
}, mode === 'off' ? { parts: { journal: nullJournal } } : {})
const token = await gw.token('alice', { groups: ['analysts'], ttl: 3600 })
await new Promise(resolve => setTimeout(resolve, 1000)) // the journal worker's start-up is not the journal's cost per call
const cpu0 = process.cpuUsage()
const load = child('./load.ts', [gw.address('b'), token, callsArg, concArg])
let out = ''
load.stdout!.on('data', (d: Buffer) => { out += d.toString() })
await new Promise(resolve => load.on('exit', resolve))
const cpu = process.cpuUsage(cpu0)
// the gateway process's CPU (all its threads) per call, warm-up calls included: steadier than latency on a shared machine
process.stdout.write(`${mode}: ${out.trim()} cpu/call ${Math.round((cpu.user + cpu.system) / (Number(callsArg) + 200))} µs (user ${Math.round(cpu.user / (Number(callsArg) + 200))})\n`)
await gw.stop()
up.kill('SIGKILL')
process.exit(0)
