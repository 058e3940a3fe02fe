/**
 * THREATS.md "Zero-length frames in a loop" and the HTTP/2 flood CVEs beside it: a client that sends
 * PINGs without end (CVE-2019-9512, each one asks for an answer) or frames of a type nobody knows
 * (ignored by the rules, RFC 9113 §4.1 / §5.5, yet each costs a read) gets GOAWAY ENHANCE_YOUR_CALM,
 * like the empty DATA, PRIORITY and SETTINGS floods; the few PINGs a keepalive sends, and an odd
 * extension frame, still pass.
 */
import t from 'tap'
import * as F from '../../../lib/http2/frames.js'
import { ErrorCode, Flags, FrameType } from '../../../lib/http2/constants.js'
import { qdrantSchema } from '../../../decoders/qdrant/schema.js'
import { frameMessage } from '../../../decoders/grpc/messages.js'
import { startRelay } from '../../helpers/relay.js'
import { startCannedUpstream } from '../../helpers/grpc-upstream.js'
import { RawClient, status } from '../../helpers/h2-raw.js'

const KEY = 'ping-flood-upstream-key'
const upstream = await startCannedUpstream({ apiKey: KEY })
t.teardown(() => upstream.close())
const relay = await startRelay({ upstream: upstream.address, apiKey: KEY })
t.teardown(() => relay.close())
const token = await relay.parts.token('flood')
const Count = qdrantSchema().root.lookupType('qdrant.CountPoints')
const countBody = frameMessage(Count.encode({ collection_name: 'docs', exact: true }).finish())
const ping = (flags = 0): Buffer => F.frame(FrameType.PING, flags, 0, Buffer.alloc(8, 7))
/** an extension frame type no one has registered */
const unknown = (): Buffer => F.frame(0xfa as FrameType, 0, 0, Buffer.from('hello'))

t.test('PING floods and unknown-frame floods: GOAWAY ENHANCE_YOUR_CALM', async t => {
  for (const [label, frame] of [
    ['PING', ping()],
    ['unsolicited PING ACK', ping(Flags.ACK)],
    ['unknown frame type', unknown()]
  ] as const) {
    const c = await RawClient.connect(relay.port)
    await c.flood(frame)
    t.equal(c.goaway?.code, ErrorCode.ENHANCE_YOUR_CALM, `${label}: GOAWAY ENHANCE_YOUR_CALM (${JSON.stringify(c.goaway)})`)
    c.close()
  }
})

t.test('a keepalive PING and an extension frame between calls pass; the calls are served', async t => {
  const c = await RawClient.connect(relay.port)
  t.teardown(() => c.close())
  const ids: number[] = []
  for (let id = 1; id <= 39; id += 2) {
    ids.push(id)
    c.write(ping(), unknown(), F.headers(id, c.encoder.encode(c.grpcHeaders('/qdrant.Points/Count', token)), { endStream: false, maxFrameSize: 16384 }), F.data(id, countBody, true, 16384))
  }
  const statuses = await Promise.all(ids.map(async id => status(await c.finished(id))))
  t.same(new Set(statuses), new Set(['0']), `${ids.length} calls, each after a PING and an unknown frame: all served`)
  t.equal(c.goaway, undefined, 'no GOAWAY')
})
