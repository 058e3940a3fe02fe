/**
 * THREATS.md "Length lies … zero-length frames in a loop → protocol errors, not hangs": a stream fed
 * empty DATA frames without end (the CVE-2019-9518 "empty frames flood") is stopped with a refusal or
 * GOAWAY, upstream never sees a call, and the relay keeps serving a well-behaved client.
 */
import t from 'tap'
import * as F from '../../../lib/http2/frames.js'
import { ErrorCode, Flags, FrameType } from '../../../lib/http2/constants.js'
import { qdrantSchema } from '../../../decoders/qdrant/schema.js'
import { frameMessage } from '../../../decoders/grpc/messages.js'
import { startRelay } from '../../helpers/relay.js'
import { startCannedUpstream } from '../../helpers/grpc-upstream.js'
import { RawClient, status } from '../../helpers/h2-raw.js'

const KEY = 'empty-frames-upstream-key'
const upstream = await startCannedUpstream({ apiKey: KEY })
t.teardown(() => upstream.close())
const relay = await startRelay({ upstream: upstream.address, apiKey: KEY })
t.teardown(() => relay.close())
const token = await relay.parts.token('flood')
const Count = qdrantSchema().root.lookupType('qdrant.CountPoints')
const countBody = frameMessage(Count.encode({ collection_name: 'docs', exact: true }).finish())

t.test('a flood of empty DATA frames on an open stream is stopped, never forwarded', async t => {
  const c = await RawClient.connect(relay.port)
  t.teardown(() => c.close())
  const before = upstream.calls.length
  c.write(F.headers(1, c.encoder.encode(c.grpcHeaders('/qdrant.Points/Count', token)), { endStream: false, maxFrameSize: 16384 }))
  const burst = Buffer.concat(Array.from({ length: 2000 }, () => F.frame(FrameType.DATA, 0, 1)))
  // up to a million empty frames: a relay that counts them stops this long before the end
  for (let i = 0; i < 500 && !c.closed && c.goaway === undefined && c.streams.get(1)?.reset === undefined && c.streams.get(1)?.ended !== true; i++) {
    c.write(burst)
    await new Promise(resolve => setImmediate(resolve))
  }
  await c.until(() => c.closed || c.goaway !== undefined || c.streams.get(1)?.reset !== undefined || c.streams.get(1)?.ended === true, 60_000)
    .catch(() => {})
  const s = c.streams.get(1)
  t.ok(c.goaway !== undefined || c.closed || s?.reset !== undefined || (s?.ended === true && status(s) !== '0'), `stopped (goaway ${JSON.stringify(c.goaway)}, reset ${s?.reset}, status ${s !== undefined ? status(s) : undefined})`)
  t.equal(upstream.calls.length, before, 'upstream never saw the call')
})

t.test('empty DATA frames on a stream already forwarded upstream: GOAWAY ENHANCE_YOUR_CALM (RFC 9113 §10.5)', async t => {
  const c = await RawClient.connect(relay.port)
  t.teardown(() => c.close())
  // a first call makes the token known on this connection, so the next is forwarded in the same read
  c.write(F.headers(1, c.encoder.encode(c.grpcHeaders('/qdrant.Points/Count', token)), { endStream: false, maxFrameSize: 16384 }), F.data(1, countBody, true, 16384))
  t.equal(status(await c.finished(1)), '0')
  const before = upstream.calls.length
  c.write(F.headers(3, c.encoder.encode(c.grpcHeaders('/qdrant.Points/Count', token)), { endStream: false, maxFrameSize: 16384 }), F.data(3, countBody, false, 16384))
  await c.flood(F.frame(FrameType.DATA, 0, 3))
  t.equal(c.goaway?.code, ErrorCode.ENHANCE_YOUR_CALM, `GOAWAY ENHANCE_YOUR_CALM (${JSON.stringify(c.goaway)})`)
  t.equal(upstream.calls.length, before, 'the call never completed upstream')
})

t.test('PRIORITY and SETTINGS floods: GOAWAY ENHANCE_YOUR_CALM', async t => {
  for (const [label, frame] of [
    ['PRIORITY', F.frame(FrameType.PRIORITY, 0, 1, Buffer.from([0, 0, 0, 0, 16]))],
    ['empty SETTINGS', F.frame(FrameType.SETTINGS, 0, 0)]
  ] as const) {
    const c = await RawClient.connect(relay.port)
    await c.flood(frame)
    t.equal(c.goaway?.code, ErrorCode.ENHANCE_YOUR_CALM, `${label}: GOAWAY ENHANCE_YOUR_CALM (${JSON.stringify(c.goaway)})`)
    c.close()
  }
})

t.test('legitimate empty frames pass: a few per stream, and the empty DATA that ends each stream', async t => {
  const c = await RawClient.connect(relay.port)
  t.teardown(() => c.close())
  const frames: Buffer[] = []
  const ids: number[] = []
  for (let id = 1; id <= 399; id += 2) {
    ids.push(id)
    frames.push(
      F.headers(id, c.encoder.encode(c.grpcHeaders('/qdrant.Points/Count', token)), { endStream: false, maxFrameSize: 16384 }),
      F.frame(FrameType.DATA, 0, id),
      F.data(id, countBody, false, 16384),
      F.frame(FrameType.DATA, 0, id),
      F.frame(FrameType.DATA, Flags.END_STREAM, id)
    )
  }
  c.write(...frames)
  const statuses = await Promise.all(ids.map(async id => status(await c.finished(id))))
  t.same(new Set(statuses), new Set(['0']), `${ids.length} calls, each with two empty DATA frames and an empty END_STREAM: all served`)
  t.equal(c.goaway, undefined, 'no GOAWAY')
})

t.test('after the flood the relay serves a well-behaved client', async t => {
  const c = await RawClient.connect(relay.port)
  t.teardown(() => c.close())
  c.write(F.headers(1, c.encoder.encode(c.grpcHeaders('/qdrant.Points/Count', token)), { endStream: false, maxFrameSize: 16384 }), F.data(1, countBody, true, 16384))
  t.equal(status(await c.finished(1)), '0')
})
