// A Qdrant-protocol upstream in its own process for the journal benchmark; prints its port.
import { startCannedUpstream } from '../../test/helpers/grpc-upstream.js'
const up = await startCannedUpstream({ apiKey: 'bench-key' })
up.calls.push = () => 0 // keep memory flat over long runs
process.stdout.write(`${up.port}\n`)
process.on('SIGTERM', () => { void up.close().then(() => process.exit(0)) })
