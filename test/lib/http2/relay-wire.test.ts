/**
 * The relay against frames no polite client sends: CONTINUATION chains, padding, a message in 1-byte
 * DATA frames, a length prefix that lies, even stream ids, PING, bulk resets, huge header lists. Each
 * gets a protocol-native answer; refused streams never reach upstream; the gateway keeps serving.
 */
import t, { type Test } from 'tap'
import * as F from '../../../lib/http2/frames.js'
import { ErrorCode, Flags, FrameType } from '../../../lib/http2/constants.js'
import { qdrantSchema } from '../../../decoders/qdrant/schema.js'
import { frameMessage } from '../../../decoders/grpc/messages.js'
import { startRelay } from '../../helpers/relay.js'
import { startCannedUpstream } from '../../helpers/grpc-upstream.js'
import { RawClient, status, message, type StreamResult } from '../../helpers/h2-raw.js'

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

// ------------------------------------------------------------------------------------------------
// Each case below: a protocol-native answer (GOAWAY with the RFC 9113 code, RST_STREAM, or gRPC
// trailers), no hang, and upstream never receives the refused stream.

const countBlock = (c: RawClient): Buffer => c.encoder.encode(c.grpcHeaders('/qdrant.Points/Count', token))
const open = (c: RawClient, id: number): Buffer => F.headers(id, countBlock(c), { endStream: false, maxFrameSize: 16384 })
const call = (c: RawClient, id: number, body = countBody()): void => c.write(open(c, id), F.data(id, body, true, 16384))

async function connectionError (t: Test, c: RawClient, code: number, label: string): Promise<void> {
  await c.until(() => c.goaway !== undefined || c.closed)
  t.equal(c.goaway?.code, code, `${label}: GOAWAY ${Object.entries(ErrorCode).find(([, v]) => v === code)?.[0] ?? code}`)
  await c.until(() => c.closed)
}

t.test('an empty-CONTINUATION flood is stopped (no size grows, the frame count must be bounded)', async t => {
  const c = await client()
  const before = calls()
  c.write(F.frame(FrameType.HEADERS, 0, 1, countBlock(c)))
  const empty = F.frame(FrameType.CONTINUATION, 0, 1)
  const burst = Buffer.concat(Array.from({ length: 2000 }, () => empty))
  for (let i = 0; i < 100 && !c.closed && c.goaway === undefined; i++) {
    c.write(burst)
    await new Promise(resolve => setImmediate(resolve))
  }
  await connectionError(t, c, ErrorCode.ENHANCE_YOUR_CALM, 'empty CONTINUATION frames')
  t.equal(calls(), before, 'upstream never saw it')
})

t.test('a header list over the limit: GOAWAY ENHANCE_YOUR_CALM, encoded large or HPACK-expanded', async t => {
  const before = calls()
  const c = await client()
  c.write(F.headers(1, c.encoder.encode(c.grpcHeaders('/qdrant.Points/Count', token, [['x-big', 'y'.repeat(70_000)]])), { endStream: false, maxFrameSize: 16384 }))
  await connectionError(t, c, ErrorCode.ENHANCE_YOUR_CALM, 'a 70 KB block')
  // small on the wire, large once decoded: one indexed entry referenced again and again (a bomb)
  const d = await client()
  const enc = d.encoder
  const first = enc.encode([['x-bomb', 'b'.repeat(1500)]]) // indexed: the next references are one byte each
  d.write(F.headers(1, Buffer.concat([enc.encode(d.grpcHeaders('/qdrant.Points/Count', token)), first, Buffer.alloc(200, 0xbe)]), { endStream: true, maxFrameSize: 16384 }))
  await connectionError(t, d, ErrorCode.ENHANCE_YOUR_CALM, 'a 2 KB block expanding to 300 KB')
  t.equal(calls(), before, 'upstream saw neither')
})

t.test('several gRPC messages on a unary call are refused, however they arrive', async t => {
  const before = calls()
  const c = await client()
  // two messages in one DATA frame
  c.write(open(c, 1), F.data(1, Buffer.concat([countBody('a'), countBody('b')]), true, 16384))
  const s1 = await c.finished(1)
  t.equal(status(s1), '13', 'one frame, two messages')
  t.match(message(s1), /takes one request message/)
  // the first message, then a second in a later frame (after the first may already be admitted)
  c.write(open(c, 3), F.data(3, countBody('first'), false, 16384))
  await new Promise(resolve => setTimeout(resolve, 100))
  c.write(F.data(3, countBody('second'), true, 16384))
  const s3 = await c.finished(3)
  t.equal(status(s3), '13', 'a second message later: refused by the gateway, not passed upstream (which says UNIMPLEMENTED)')
  t.match(message(s3), /takes one request message/)
  // the first message and a few bytes of another, the stream left open
  c.write(open(c, 5), F.data(5, Buffer.concat([countBody('x'), Buffer.from([0, 0])]), false, 16384))
  await new Promise(resolve => setTimeout(resolve, 100))
  c.write(F.data(5, Buffer.from([0, 0, 0]), true, 16384))
  const s5 = await c.finished(5)
  t.equal(status(s5), '13', 'a message and a partial one')
  t.match(message(s5), /takes one request message|ended inside a gRPC message/)
  t.notOk(upstream.calls.slice(before).some(x => ['a', 'b', 'second', 'x'].includes(x.request.collection_name)), 'no second message was ever answered upstream')
  // many complete messages in one frame and one message across many frames in one connection still work
  call(c, 7)
  t.equal(status(await c.finished(7)), '0', 'the connection still serves')
})

t.test('a header block split into HEADERS + CONTINUATION at every offset, the dynamic table in use', async t => {
  const c = await client()
  const before = calls()
  // the client's encoder indexes every field (no sensitive names): from the second request on, most of
  // the block is references into the dynamic table the relay must keep in step
  const first = countBlock(c)
  let id = 1
  c.write(F.headers(id, first, { endStream: false, maxFrameSize: 16384 }), F.data(id, countBody(), true, 16384))
  t.equal(status(await c.finished(id)), '0')
  id += 2
  // a fresh literal each time so blocks stay long enough to split: a new value of a custom field
  const cuts = countBlock(c).length + 40
  for (let cut = 1; cut < cuts; cut++) {
    const block = c.encoder.encode(c.grpcHeaders('/qdrant.Points/Count', token, [['x-cut', `cut-${cut}-${'z'.repeat(30)}`]]))
    const at = Math.min(cut, block.length - 1)
    c.write(F.frame(FrameType.HEADERS, 0, id, block.subarray(0, at)), F.frame(FrameType.CONTINUATION, Flags.END_HEADERS, id, block.subarray(at)), F.data(id, countBody(), true, 16384))
    const s = await c.finished(id)
    if (status(s) !== '0') { t.fail(`split at ${at}: ${status(s)} ${message(s)}`); return }
    id += 2
  }
  t.equal(upstream.calls.at(-1)?.metadata['x-cut']?.toString(), `cut-${cuts - 1}-${'z'.repeat(30)}`, 'the last block arrived intact')
  // no table at all (a size update to 0 first): every block is all literals, the token included
  c.encoder.setMaxTableSize(0)
  const literal = c.encoder.encode(c.grpcHeaders('/qdrant.Points/Count', token))
  c.write(F.headers(id, literal, { endStream: false, maxFrameSize: 16384 }), F.data(id, countBody(), true, 16384))
  t.equal(status(await c.finished(id)), '0', 'a table size update to 0 is accepted')
  id += 2
  const full = c.encoder.encode(c.grpcHeaders('/qdrant.Points/Count', token))
  t.ok(full.length > 200, `a ${full.length}-byte block of literals (the token Huffman-coded)`)
  for (let at = 1; at < full.length; at++) {
    c.write(F.frame(FrameType.HEADERS, 0, id, full.subarray(0, at)), F.frame(FrameType.CONTINUATION, Flags.END_HEADERS, id, full.subarray(at)), F.data(id, countBody(), true, 16384))
    const s = await c.finished(id)
    if (status(s) !== '0') { t.fail(`literal block split at ${at}: ${status(s)} ${message(s)}`); return }
    id += 2
  }
  t.equal(calls(), before + (id - 1) / 2, `${(id - 1) / 2} calls, every one reached upstream once`)
})

t.test('a message split across DATA frames of every size, and empty DATA frames in between', async t => {
  const c = await client()
  const body = countBody('split-at-every-offset')
  let id = 1
  for (let cut = 1; cut < body.length; cut++) {
    c.write(open(c, id), F.frame(FrameType.DATA, 0, id), F.frame(FrameType.DATA, 0, id, body.subarray(0, cut)), F.frame(FrameType.DATA, 0, id), F.frame(FrameType.DATA, Flags.END_STREAM, id, body.subarray(cut)))
    const s = await c.finished(id)
    if (status(s) !== '0') { t.fail(`cut at ${cut}: ${status(s)} ${message(s)}`); return }
    id += 2
  }
  t.equal(upstream.calls.at(-1)?.request.collection_name, 'split-at-every-offset')
  t.pass(`${(id - 1) / 2} calls, each split differently`)
})

t.test('SETTINGS with bad values: the RFC 9113 §6.5.2 connection errors', async t => {
  const cases: Array<[string, Buffer, number]> = [
    ['ENABLE_PUSH 2', F.settings([[2, 2]]), ErrorCode.PROTOCOL_ERROR],
    ['INITIAL_WINDOW_SIZE 2^31', F.settings([[4, 2 ** 31]]), ErrorCode.FLOW_CONTROL_ERROR],
    ['MAX_FRAME_SIZE 100', F.settings([[5, 100]]), ErrorCode.PROTOCOL_ERROR],
    ['MAX_FRAME_SIZE 2^24', F.settings([[5, 2 ** 24]]), ErrorCode.PROTOCOL_ERROR],
    ['length not a multiple of 6', F.frame(FrameType.SETTINGS, 0, 0, Buffer.alloc(7)), ErrorCode.FRAME_SIZE_ERROR],
    ['SETTINGS on a stream', F.frame(FrameType.SETTINGS, 0, 1, Buffer.alloc(0)), ErrorCode.PROTOCOL_ERROR],
    ['an ACK with a payload', F.frame(FrameType.SETTINGS, Flags.ACK, 0, Buffer.alloc(6)), ErrorCode.FRAME_SIZE_ERROR]
  ]
  for (const [label, frame, code] of cases) {
    const c = await client()
    c.write(frame)
    await connectionError(t, c, code, label)
  }
  // unknown settings are ignored (§6.5.2), and a growing INITIAL_WINDOW_SIZE works
  const c = await client()
  c.write(F.settings([[0x99, 1], [4, 1 << 20], [1, 0]]))
  call(c, 1)
  t.equal(status(await c.finished(1)), '0', 'unknown ids ignored; a table size of 0 for the answers')
})

t.test('WINDOW_UPDATE of 0 and window overflow (§6.9)', async t => {
  const c = await client()
  c.write(F.frame(FrameType.WINDOW_UPDATE, 0, 0, Buffer.alloc(4)))
  await connectionError(t, c, ErrorCode.PROTOCOL_ERROR, 'increment 0 on the connection')
  const d = await client()
  d.write(open(d, 1), F.frame(FrameType.WINDOW_UPDATE, 0, 1, Buffer.alloc(4)))
  await d.until(() => d.goaway !== undefined || d.streams.get(1)?.reset !== undefined)
  t.equal(d.goaway?.code ?? d.streams.get(1)?.reset, ErrorCode.PROTOCOL_ERROR, 'increment 0 on a stream: PROTOCOL_ERROR (stream or connection)')
  const e = await client()
  e.write(F.windowUpdate(0, 2 ** 31 - 1))
  await connectionError(t, e, ErrorCode.FLOW_CONTROL_ERROR, 'the connection window beyond 2^31-1')
  const f = await client()
  f.write(open(f, 1), F.windowUpdate(1, 2 ** 31 - 1))
  await f.until(() => f.streams.get(1)?.reset !== undefined || f.goaway !== undefined)
  t.equal(f.streams.get(1)?.reset ?? f.goaway?.code, ErrorCode.FLOW_CONTROL_ERROR, 'a stream window beyond 2^31-1: that stream reset')
  const g = await client()
  g.write(F.frame(FrameType.WINDOW_UPDATE, 0, 0, Buffer.alloc(3, 1)))
  await connectionError(t, g, ErrorCode.FRAME_SIZE_ERROR, 'a 3-byte WINDOW_UPDATE')
})

t.test('stream ids: reuse, going backwards, even, DATA on idle streams, HEADERS on stream 0 (§5.1.1)', async t => {
  const before = calls()
  const a = await client()
  call(a, 1)
  t.equal(status(await a.finished(1)), '0')
  call(a, 1)
  await connectionError(t, a, ErrorCode.PROTOCOL_ERROR, 'stream 1 reused')
  const b = await client()
  call(b, 7)
  t.equal(status(await b.finished(7)), '0')
  const valid = calls()
  call(b, 5)
  await connectionError(t, b, ErrorCode.PROTOCOL_ERROR, 'stream 5 after 7')
  const c = await client()
  c.write(F.data(9, countBody(), true, 16384))
  await connectionError(t, c, ErrorCode.PROTOCOL_ERROR, 'DATA on an idle stream')
  const d = await client()
  d.write(F.frame(FrameType.HEADERS, Flags.END_HEADERS | Flags.END_STREAM, 0, countBlock(d)))
  await connectionError(t, d, ErrorCode.PROTOCOL_ERROR, 'HEADERS on stream 0')
  const e = await client()
  e.write(F.frame(FrameType.PUSH_PROMISE, Flags.END_HEADERS, 1, Buffer.from([0, 0, 0, 2, 0x82])))
  await connectionError(t, e, ErrorCode.PROTOCOL_ERROR, 'a client PUSH_PROMISE')
  const f = await client()
  f.write(F.frame(FrameType.DATA, 0, 0, Buffer.from('x')))
  await connectionError(t, f, ErrorCode.PROTOCOL_ERROR, 'DATA on stream 0')
  t.equal(calls(), valid, 'only the valid calls reached upstream')
  t.equal(valid, before + 2, 'stream 1 of the first connection and stream 7 of the second')
})

t.test('frames the relay must refuse or ignore: oversize, bad padding, unknown types, DATA after END_STREAM', async t => {
  const before = calls()
  const a = await client()
  a.write(open(a, 1), F.frame(FrameType.DATA, 0, 1, Buffer.alloc(16385)))
  await connectionError(t, a, ErrorCode.FRAME_SIZE_ERROR, 'a frame over SETTINGS_MAX_FRAME_SIZE')
  const b = await client()
  b.write(open(b, 1), F.frame(FrameType.DATA, Flags.PADDED | Flags.END_STREAM, 1, Buffer.from([10, 1, 2, 3])))
  await connectionError(t, b, ErrorCode.PROTOCOL_ERROR, 'DATA pad length beyond the payload')
  const c = await client()
  c.write(F.frame(FrameType.HEADERS, Flags.END_HEADERS | Flags.PADDED, 1, Buffer.concat([Buffer.from([200]), Buffer.from([0x82, 0x86, 0x84])])))
  await connectionError(t, c, ErrorCode.PROTOCOL_ERROR, 'HEADERS pad length beyond the payload')
  const d = await client()
  const block = countBlock(d)
  d.write(F.frame(FrameType.HEADERS, 0, 1, block.subarray(0, 4)), F.frame(0xfa, 0, 1, Buffer.from('x')), F.frame(FrameType.CONTINUATION, Flags.END_HEADERS, 1, block.subarray(4)))
  await connectionError(t, d, ErrorCode.PROTOCOL_ERROR, 'an unknown frame type inside a header block (§6.10)')
  t.equal(calls(), before, 'none reached upstream')
  const e = await client()
  e.write(F.frame(0xfa, 0, 0, Buffer.from('ext')), F.frame(0xfb, 0xff, 1, Buffer.alloc(100)), F.frame(FrameType.PRIORITY, 0, 1, Buffer.from([0, 0, 0, 0, 16])))
  call(e, 1)
  t.equal(status(await e.finished(1)), '0', 'unknown frame types and PRIORITY are ignored')
  e.write(F.data(1, Buffer.from('late'), true, 16384))
  await e.until(() => e.goaway !== undefined || e.streams.get(1)?.reset !== undefined || e.closed, 10_000).catch(() => {})
  t.ok(e.goaway?.code === ErrorCode.STREAM_CLOSED || e.streams.get(1)?.reset === ErrorCode.STREAM_CLOSED || e.goaway?.code === ErrorCode.PROTOCOL_ERROR, 'DATA on a closed stream: STREAM_CLOSED')
})

t.test('PING is answered with the same payload, PING ACKs are not answered, PING on a stream is refused', async t => {
  const c = await client()
  for (let i = 0; i < 5; i++) c.write(F.ping(Buffer.from(`ping-00${i}`), false))
  await c.until(() => c.received(FrameType.PING).filter(f => (f.flags & Flags.ACK) !== 0).length === 5)
  t.same(c.received(FrameType.PING).filter(f => (f.flags & Flags.ACK) !== 0).map(f => f.payload.toString()), ['ping-000', 'ping-001', 'ping-002', 'ping-003', 'ping-004'], 'every PING answered in order')
  c.write(F.ping(Buffer.from('ackackak'), true))
  call(c, 1) // a request after it: its answer proves the ACK was read, and nothing answered it
  await c.finished(1)
  t.notOk(c.received(FrameType.PING).some(f => f.payload.toString() === 'ackackak'), 'an ACK is never answered')
  const d = await client()
  d.write(F.frame(FrameType.PING, 0, 1, Buffer.alloc(8)))
  await connectionError(t, d, ErrorCode.PROTOCOL_ERROR, 'PING on stream 1')
  const e = await client()
  e.write(F.frame(FrameType.PING, 0, 0, Buffer.alloc(7)))
  await connectionError(t, e, ErrorCode.FRAME_SIZE_ERROR, 'a 7-byte PING')
})

t.test('a client GOAWAY: calls in flight finish, new streams are refused, then the connection closes', async t => {
  upstream.delay.set('Count', 300)
  t.teardown(() => upstream.delay.delete('Count'))
  const c = await client()
  call(c, 1)
  await new Promise(resolve => setTimeout(resolve, 50))
  c.write(F.goaway(0, ErrorCode.NO_ERROR))
  const before = calls()
  call(c, 3)
  const s3 = await c.finished(3)
  t.equal(status(s3), '14', 'a stream opened after GOAWAY: UNAVAILABLE, retry elsewhere')
  t.equal(status(await c.finished(1)), '0', 'the call in flight completed')
  t.equal(calls(), before, 'the late stream never reached upstream')
  await c.until(() => c.closed)
  t.pass('closed once idle')
})

t.test('a request before the preface, and a preface cut short: closed, nothing reaches upstream', async t => {
  const before = calls()
  const a = await RawClient.connect(relay.port, [], { preface: false })
  t.teardown(() => a.close())
  a.write(F.settings([]), F.headers(1, countBlock(a), { endStream: false, maxFrameSize: 16384 }), F.data(1, countBody(), true, 16384))
  await a.until(() => a.closed)
  t.notOk(a.frames.some(f => f.type === FrameType.HEADERS), 'no answer in HTTP/2 to a client that never spoke it')
  const b = await RawClient.connect(relay.port, [], { preface: false })
  t.teardown(() => b.close())
  b.write(Buffer.from('PRI * HTTP/2.0\r\n\r\n'))
  b.socket.end()
  await b.until(() => b.closed)
  const h = await RawClient.connect(relay.port, [], { preface: false })
  t.teardown(() => h.close())
  h.write(Buffer.from('POST /qdrant.Points/Count HTTP/1.1\r\nhost: x\r\ncontent-type: application/grpc\r\n\r\n'))
  await h.until(() => h.closed)
  t.match(h.bytes.toString(), /^HTTP\/1\.1 505 /, 'an HTTP/1.1 request gets an HTTP/1.1 answer')
  t.equal(calls(), before)
})

t.test('fuzz: mutated request streams never crash the relay, every connection ends once the client does', async t => {
  const { CLIENT_PREFACE } = await import('../../../lib/http2/constants.js')
  const enc = new (await import('../../../lib/http2/hpack.js')).HpackEncoder(new Set())
  const base = Buffer.concat([
    F.settings([[4, 1 << 20]]),
    F.headers(1, enc.encode([[':method', 'POST'], [':scheme', 'http'], [':path', '/qdrant.Points/Count'], [':authority', 'x'], ['content-type', 'application/grpc'], ['api-key', token]]), { endStream: false, maxFrameSize: 16384 }),
    F.data(1, countBody(), true, 16384),
    F.ping(Buffer.alloc(8), false),
    F.windowUpdate(0, 1000)
  ])
  const before = calls()
  let answered = 0
  let refused = 0
  const rounds = 150
  for (let i = 0; i < rounds; i++) {
    const c = await RawClient.connect(relay.port, [], { preface: false })
    const input = Buffer.from(base)
    for (let k = 0; k < 1 + (i % 5); k++) input[Math.floor(Math.random() * input.length)] = Math.floor(Math.random() * 256)
    c.write(CLIENT_PREFACE, input)
    // an answer, a GOAWAY or a close; a mutation that makes a frame longer leaves the relay rightly
    // waiting for bytes that never come: then the client hangs up and the relay must let go
    const s1 = (): StreamResult | undefined => c.streams.get(1)
    await c.until(() => c.closed || c.goaway !== undefined || s1()?.ended === true || s1()?.reset !== undefined, 1000).catch(() => {})
    if (s1()?.ended === true || s1()?.reset !== undefined) answered++
    if (c.goaway !== undefined) refused++
    c.socket.end()
    await c.until(() => c.closed, 10_000)
    c.close()
  }
  t.pass(`${rounds} mutated connections all closed: ${answered} answered in gRPC, ${refused} with GOAWAY`)
  t.ok(calls() - before <= rounds, 'at most one upstream call per connection')
})

t.test('after all of the above the relay serves a well-behaved client', async t => {
  const c = await client()
  for (let id = 1; id <= 19; id += 2) call(c, id)
  for (let id = 1; id <= 19; id += 2) t.equal(status(await c.finished(id)), '0', `stream ${id}`)
})
