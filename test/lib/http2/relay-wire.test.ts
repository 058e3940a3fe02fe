/**
 * The relay against frames no polite client sends: CONTINUATION chains, padding, a message in 1-byte
 * DATA frames, a length prefix that lies, even stream ids, PING, bulk resets, huge header lists. Each
 * gets a protocol-native answer; refused streams never reach upstream; the gateway keeps serving.
 */
import t from 'tap'
import * as F from '../../../lib/http2/frames.js'
import { ErrorCode, Flags, FrameType } from '../../../lib/http2/constants.js'
import { qdrantSchema } from '../../../decoders/qdrant/schema.js'
import { frameMessage } from '../../../decoders/grpc/messages.js'
import { startRelay } from '../../helpers/relay.js'
import { startCannedUpstream } from '../../helpers/grpc-upstream.js'
import { RawClient, status, message } from '../../helpers/h2-raw.js'

const KEY = 'wire-upstream-key'
const upstream = await startCannedUpstream({ apiKey: KEY })
t.teardown(() => upstream.close())
const relay = await startRelay({ upstream: upstream.address, apiKey: KEY })
t.teardown(() => relay.close())
const token = await relay.parts.token('wire')
const Count = qdrantSchema().root.lookupType('qdrant.CountPoints')
const countBody = (name = 'docs'): Buffer => frameMessage(Count.encode({ collection_name: name, exact: true }).finish())
const calls = (): number => upstream.calls.length

async function client (): Promise<RawClient> {
  const c = await RawClient.connect(relay.port)
  t.teardown(() => c.close())
  return c
}

t.test('a header block in HEADERS + CONTINUATION frames, padded HEADERS and padded DATA', async t => {
  const c = await client()
  const block = c.encoder.encode(c.grpcHeaders('/qdrant.Points/Count', token))
  const a = block.subarray(0, 10); const b = block.subarray(10, 30); const rest = block.subarray(30)
  c.write(F.frame(FrameType.HEADERS, 0, 1, a), F.frame(FrameType.CONTINUATION, 0, 1, b), F.frame(FrameType.CONTINUATION, Flags.END_HEADERS, 1, rest), F.data(1, countBody(), true, 16384))
  const s1 = await c.finished(1)
  t.equal(status(s1), '0', 'CONTINUATION chain reassembled')
  const padded = Buffer.concat([Buffer.from([7]), c.encoder.encode(c.grpcHeaders('/qdrant.Points/Count', token)), Buffer.alloc(7)])
  const body = countBody()
  const paddedData = Buffer.concat([Buffer.from([20]), body, Buffer.alloc(20)])
  c.write(F.frame(FrameType.HEADERS, Flags.END_HEADERS | Flags.PADDED, 3, padded), F.frame(FrameType.DATA, Flags.END_STREAM | Flags.PADDED, 3, paddedData))
  const s3 = await c.finished(3)
  t.equal(status(s3), '0', 'padding removed on both')
  t.equal(upstream.calls.at(-1)?.request.collection_name, 'docs')
})

t.test('one message in 1-byte DATA frames reaches upstream whole', async t => {
  const c = await client()
  c.write(F.headers(1, c.encoder.encode(c.grpcHeaders('/qdrant.Points/Count', token)), { endStream: false, maxFrameSize: 16384 }))
  const body = countBody('one-byte-at-a-time')
  for (let i = 0; i < body.length; i++) c.write(F.frame(FrameType.DATA, i === body.length - 1 ? Flags.END_STREAM : 0, 1, body.subarray(i, i + 1)))
  t.equal(status(await c.finished(1)), '0')
  t.equal(upstream.calls.at(-1)?.request.collection_name, 'one-byte-at-a-time')
})

t.test('a length prefix that promises more than the stream carries is refused, never forwarded', async t => {
  const c = await client()
  const before = calls()
  const lying = Buffer.concat([Buffer.from([0, 0, 0, 0, 200]), Buffer.from('short')])
  c.write(F.headers(1, c.encoder.encode(c.grpcHeaders('/qdrant.Points/Count', token)), { endStream: false, maxFrameSize: 16384 }), F.data(1, lying, true, 16384))
  const s = await c.finished(1)
  t.equal(status(s), '13', 'INTERNAL')
  t.match(message(s), /ended inside a gRPC message/)
  t.equal(calls(), before, 'upstream never saw it')
  c.write(F.headers(3, c.encoder.encode(c.grpcHeaders('/qdrant.Points/Count', token)), { endStream: false, maxFrameSize: 16384 }), F.data(3, countBody(), true, 16384))
  t.equal(status(await c.finished(3)), '0', 'the connection still serves')
})

t.test('PING is answered; a client GOAWAY is accepted', async t => {
  const c = await client()
  c.write(F.ping(Buffer.from('12345678'), false))
  await c.until(() => c.frames.some(f => f.type === FrameType.PING && (f.flags & Flags.ACK) !== 0))
  t.equal(c.frames.find(f => f.type === FrameType.PING)!.payload.toString(), '12345678')
  c.write(F.goaway(0, ErrorCode.NO_ERROR))
  await c.until(() => c.closed || c.goaway !== undefined)
  t.pass('closed cleanly')
})

t.test('an even stream id is a connection error: GOAWAY PROTOCOL_ERROR', async t => {
  const c = await client()
  c.write(F.headers(2, c.encoder.encode(c.grpcHeaders('/qdrant.Points/Count', token)), { endStream: true, maxFrameSize: 16384 }))
  await c.until(() => c.goaway !== undefined)
  t.equal(c.goaway!.code, ErrorCode.PROTOCOL_ERROR)
})

t.test('a header block interrupted by another frame, and CONTINUATION without HEADERS: GOAWAY', async t => {
  const c = await client()
  const block = c.encoder.encode(c.grpcHeaders('/qdrant.Points/Count', token))
  c.write(F.frame(FrameType.HEADERS, 0, 1, block.subarray(0, 5)), F.ping(Buffer.alloc(8), false))
  await c.until(() => c.goaway !== undefined)
  t.equal(c.goaway!.code, ErrorCode.PROTOCOL_ERROR)
  const d = await client()
  d.write(F.frame(FrameType.CONTINUATION, Flags.END_HEADERS, 1, Buffer.from([0x82])))
  await d.until(() => d.goaway !== undefined)
  t.equal(d.goaway!.code, ErrorCode.PROTOCOL_ERROR)
})

t.test('endless CONTINUATION and oversized header lists are stopped', async t => {
  const c = await client()
  const before = calls()
  c.write(F.frame(FrameType.HEADERS, 0, 1, c.encoder.encode(c.grpcHeaders('/qdrant.Points/Count', token))))
  const junk = Buffer.alloc(16000, 0x41)
  for (let i = 0; i < 10 && !c.closed && c.goaway === undefined; i++) {
    c.write(F.frame(FrameType.CONTINUATION, 0, 1, junk))
    await new Promise(resolve => setTimeout(resolve, 5))
  }
  await c.until(() => c.goaway !== undefined || c.closed || c.streams.get(1)?.ended === true)
  t.ok(c.goaway !== undefined || c.closed || status(c.streams.get(1)!) !== '0', 'refused')
  t.equal(calls(), before)
  const d = await client()
  const huge = d.grpcHeaders('/qdrant.Points/Count', token, [['x-big', 'y'.repeat(100_000)]])
  d.write(F.headers(1, d.encoder.encode(huge), { endStream: false, maxFrameSize: 16384 }), F.data(1, countBody(), true, 16384))
  await d.until(() => d.goaway !== undefined || d.closed || d.streams.get(1)?.ended === true || d.streams.get(1)?.reset !== undefined)
  t.equal(calls(), before, 'upstream never saw the oversized request')
})

t.test('rapid reset: streams opened and reset in bulk get GOAWAY; others are served', async t => {
  const c = await client()
  const frames: Buffer[] = []
  for (let id = 1; id < 2 * 1500; id += 2) {
    frames.push(F.headers(id, c.encoder.encode(c.grpcHeaders('/qdrant.Points/Count', token)), { endStream: false, maxFrameSize: 16384 }), F.rstStream(id, ErrorCode.CANCEL))
  }
  c.write(...frames)
  await c.until(() => c.goaway !== undefined)
  t.equal(c.goaway!.code, ErrorCode.ENHANCE_YOUR_CALM)
  const d = await client()
  d.write(F.headers(1, d.encoder.encode(d.grpcHeaders('/qdrant.Points/Count', token)), { endStream: false, maxFrameSize: 16384 }), F.data(1, countBody(), true, 16384))
  t.equal(status(await d.finished(1)), '0', 'a well-behaved client on another connection is served')
})
