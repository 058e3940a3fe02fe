/**
 * THREATS.md "Decompression bombs": a small gzip message that inflates far beyond limits.max_message,
 * sent through the relay as a real call (grpc-encoding: gzip): refused with RESOURCE_EXHAUSTED,
 * never forwarded, and the connection goes on serving. The inflate limit itself is tested in
 * test/decoders/grpc/messages.test.ts; this is the path a client actually reaches.
 */
import t from 'tap'
import * as F from '../../../lib/http2/frames.js'
import { qdrantSchema } from '../../../decoders/qdrant/schema.js'
import { frameMessage, gzipMessage } from '../../../decoders/grpc/messages.js'
import { startRelay } from '../../helpers/relay.js'
import { startCannedUpstream } from '../../helpers/grpc-upstream.js'
import { RawClient, status } from '../../helpers/h2-raw.js'

const KEY = 'bomb-upstream-key'
const MAX = 1 << 20
const upstream = await startCannedUpstream({ apiKey: KEY })
t.teardown(() => upstream.close())
const relay = await startRelay({ upstream: upstream.address, apiKey: KEY, limits: { max_message: MAX } })
t.teardown(() => relay.close())
const token = await relay.parts.token('bomber')
const Count = qdrantSchema().root.lookupType('qdrant.CountPoints')

t.test('a gzip bomb is RESOURCE_EXHAUSTED, never forwarded; the connection goes on', async t => {
  const c = await RawClient.connect(relay.port)
  t.teardown(() => c.close())
  // a valid CountPoints followed by 64 MB of an unknown field's zero bytes, gzipped to a few dozen KB
  const inner = Buffer.concat([Buffer.from(Count.encode({ collection_name: 'docs', exact: true }).finish()), Buffer.from([0xfa, 0x3f]), varint(64 << 20), Buffer.alloc(64 << 20)])
  const bomb = gzipMessage(inner)
  t.ok(bomb.length < 200_000, `the bomb is small on the wire (${bomb.length} bytes)`)
  const before = upstream.calls.length
  const headers = c.grpcHeaders('/qdrant.Points/Count', token, [['grpc-encoding', 'gzip'], ['grpc-accept-encoding', 'gzip']])
  c.write(F.headers(1, c.encoder.encode(headers), { endStream: false, maxFrameSize: 16384 }), F.data(1, bomb, true, 16384))
  const s = await c.finished(1)
  t.equal(status(s), '8', 'RESOURCE_EXHAUSTED')
  t.equal(upstream.calls.length, before, 'upstream never saw it')

  c.write(F.headers(3, c.encoder.encode(c.grpcHeaders('/qdrant.Points/Count', token)), { endStream: false, maxFrameSize: 16384 }),
    F.data(3, frameMessage(Count.encode({ collection_name: 'docs', exact: true }).finish()), true, 16384))
  t.equal(status(await c.finished(3)), '0', 'the next call on the same connection is served')
})

function varint (n: number): Buffer {
  const out: number[] = []
  while (n > 0x7f) { out.push((n & 0x7f) | 0x80); n = Math.floor(n / 128) }
  out.push(n)
  return Buffer.from(out)
}
