/**
 * THREATS.md "Request smuggling between streams": on one HTTP/2 connection every decision is made from
 * the stream's own headers and message. A good stream before it lends a later one nothing: not its
 * token, not its verdict; interleaved streams keep their own bodies; a refused stream never reaches
 * upstream while its neighbours do.
 */
import t from 'tap'
import * as F from '../../../lib/http2/frames.js'
import { qdrantSchema } from '../../../decoders/qdrant/schema.js'
import { frameMessage } from '../../../decoders/grpc/messages.js'
import { startRelay } from '../../helpers/relay.js'
import { startCannedUpstream } from '../../helpers/grpc-upstream.js'
import { RawClient, status } from '../../helpers/h2-raw.js'

const KEY = 'isolation-upstream-key'
const upstream = await startCannedUpstream({ apiKey: KEY })
t.teardown(() => upstream.close())
const relay = await startRelay({
  upstream: upstream.address,
  apiKey: KEY,
  decide: (id, op) => op.collection === 'docs' || (id.subject === 'admin' && op.collection === 'secret')
    ? { effect: 'allow', rule: 'r', reason: 'ok' }
    : { effect: 'deny', rule: 'no', reason: 'denied by rule "no"' }
})
t.teardown(() => relay.close())
const alice = await relay.parts.token('alice')
const admin = await relay.parts.token('admin')
const Count = qdrantSchema().root.lookupType('qdrant.CountPoints')
const body = (name: string): Buffer => frameMessage(Count.encode({ collection_name: name, exact: true }).finish())
const upstreamSaw = (name: string): number => upstream.calls.filter(c => c.request.collection_name === name).length

t.test('each stream is judged alone: token, verdict and body', async t => {
  const c = await RawClient.connect(relay.port)
  t.teardown(() => c.close())
  const hdr = (id: number, token?: string): Buffer => F.headers(id, c.encoder.encode(
    token === undefined ? c.grpcHeaders('/qdrant.Points/Count', '').filter(h => h[0] !== 'api-key') : c.grpcHeaders('/qdrant.Points/Count', token)),
  { endStream: false, maxFrameSize: 16384 })

  // the admin may read secret; the same connection then carries alice and a stream with no token
  c.write(hdr(1, admin), F.data(1, body('secret'), true, 16384))
  t.equal(status(await c.finished(1)), '0', 'admin reads secret')
  c.write(hdr(3, alice), F.data(3, body('secret'), true, 16384))
  t.equal(status(await c.finished(3)), '7', 'alice on the same connection does not inherit the admin\'s verdict')
  c.write(hdr(5), F.data(5, body('secret'), true, 16384))
  t.not(status(await c.finished(5)), '0', 'a stream with no token is not served as the admin')
  c.write(hdr(7, 'not-a-token'), F.data(7, body('docs'), true, 16384))
  t.equal(status(await c.finished(7)), '16', 'a bad token after good ones is UNAUTHENTICATED')

  // two streams open at once, their DATA interleaved and in the other order: each keeps its own body
  const secretBefore = upstreamSaw('secret')
  const docsBefore = upstreamSaw('docs')
  const s = body('secret'); const d = body('docs')
  c.write(hdr(9, alice), hdr(11, alice),
    F.frame(0x0, 0, 11, s.subarray(0, 3)), F.frame(0x0, 0, 9, d.subarray(0, 4)),
    F.frame(0x0, 0x1, 11, s.subarray(3)), F.frame(0x0, 0x1, 9, d.subarray(4)))
  t.equal(status(await c.finished(9)), '0', 'stream 9 (docs) served')
  t.equal(status(await c.finished(11)), '7', 'stream 11 (secret) refused')
  t.equal(upstreamSaw('docs') - docsBefore, 1, 'upstream saw the docs call once')
  t.equal(upstreamSaw('secret') - secretBefore, 0, 'and never alice\'s secret call')
})
