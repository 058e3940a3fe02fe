// Child process for the crash test: journals a session with a finished and an unfinished call, waits
// for the commit, then SIGKILLs itself before ending the session.
import { session as _unused } from './harness.js'
import { alice, searchOp, writer } from './harness.js'
void _unused
const w = writer(process.argv[2])
w.start({ id: 'crashed', backend: 'qdrant', protocol: 'qdrant', client: 'c', tls: false, at: Date.now() })
w.event({ session: 'crashed', at: Date.now(), kind: 'auth', identity: alice })
w.event({ session: 'crashed', at: Date.now(), kind: 'request', call: 1, op: searchOp })
w.event({ session: 'crashed', at: Date.now(), kind: 'verdict', call: 1, verdict: { effect: 'allow', reason: 'r' } })
w.event({ session: 'crashed', at: Date.now(), kind: 'response', call: 1, data: { ok: true, final: true } })
w.event({ session: 'crashed', at: Date.now(), kind: 'request', call: 2, op: searchOp })
await w.flush()
process.kill(process.pid, 'SIGKILL')
