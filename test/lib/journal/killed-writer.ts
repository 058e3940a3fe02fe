// Child process for the crash test: journals a session with a finished and an unfinished call, waits
// for the commit, queues one more event (a read's response nobody waits for, as under
// journal.durable: changes), prints its time and SIGKILLs itself before the hand-off delay runs out.
import { alice, searchOp, writer } from './harness.js'
const w = writer(process.argv[2], { commitDelay: 60_000 })
w.start({ id: 'crashed', backend: 'qdrant', protocol: 'qdrant', client: 'c', tls: false, at: Date.now() })
w.event({ session: 'crashed', at: Date.now(), kind: 'auth', identity: alice })
w.event({ session: 'crashed', at: Date.now(), kind: 'request', call: 1, op: searchOp })
w.event({ session: 'crashed', at: Date.now(), kind: 'verdict', call: 1, verdict: { effect: 'allow', reason: 'r' } })
w.event({ session: 'crashed', at: Date.now(), kind: 'response', call: 1, data: { ok: true, final: true } })
w.event({ session: 'crashed', at: Date.now(), kind: 'request', call: 2, op: searchOp })
await w.flush()
const at = Date.now()
w.event({ session: 'crashed', at, kind: 'response', call: 2, data: { ok: true, final: true } })
process.stdout.write(String(at))
process.kill(process.pid, 'SIGKILL')
