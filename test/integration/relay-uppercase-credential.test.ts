/**
 * THREATS.md "Two credentials in one request … duplicated headers → refuse ambiguity" and "tokens never
 * reach … upstream". HTTP/2 field names are lower case; a request with an upper-case name is malformed
 * (RFC 9113 §8.2.1, §8.1.1). Today lib/http2/relay.ts decides on `authorization` (alice) and forwards
 * `Authorization` (bob's grant) upstream untouched: secretHeaders is matched case-sensitively.
 * field names (or lower-cases them before the decoder and the secret filter see them).
 */
import t from 'tap'
import * as F from '../../lib/http2/frames.js'
import { milvusSchema } from '../../decoders/milvus/schema.js'
import { frameMessage } from '../../decoders/grpc/messages.js'
import { startMilvus } from '../peers/milvus.js'
import { startTestGateway } from '../helpers/gateway.js'
import { startH2Tap } from '../helpers/h2-tap.js'
import { RawClient, status } from '../helpers/h2-raw.js'

const milvus = await startMilvus()
t.teardown(() => milvus.close())
const tap = await startH2Tap(milvus.address)
t.teardown(() => tap.close())
const gw = await startTestGateway({
  backends: [{ name: 'milvus', protocol: 'milvus', upstream: tap.address, credentials: { username: 'root', password: 'Milvus' } }],
  policy: { rules: [{ id: 'people', subjects: { users: ['alice', 'bob'] }, effect: 'allow' }] }
})
t.teardown(() => gw.stop())
const alice = await gw.token('alice')
const bob = await gw.token('bob')
const b64 = (s: string): string => Buffer.from(s).toString('base64')

t.test('an upper-case Authorization beside authorization is refused and never forwarded', async t => {
  const c = await RawClient.connect(gw.port('milvus'))
  t.teardown(() => c.close())
  const Has = milvusSchema().root.lookupType('milvus.proto.milvus.HasCollectionRequest')
  const body = frameMessage(Has.encode({ collection_name: 'none' }).finish())
  const before = tap.requests.length
  const block = c.encoder.encode([[':method', 'POST'], [':scheme', 'http'], [':path', '/milvus.proto.milvus.MilvusService/HasCollection'],
    [':authority', 'milvus'], ['content-type', 'application/grpc'], ['te', 'trailers'], ['authorization', b64(alice)], ['Authorization', b64(bob)]])
  c.write(F.headers(1, block, { endStream: false, maxFrameSize: 16384 }), F.data(1, body, true, 16384))
  const s = await c.finished(1)
  t.ok(s.reset !== undefined || ['13', '16'].includes(String(status(s))), 'refused at the gateway (malformed or two credentials)')
  t.equal(tap.requests.length, before, 'nothing reached the server')
  const upstream = JSON.stringify(tap.requests)
  t.notOk(upstream.includes(b64(bob)) || upstream.includes(bob), 'bob\'s grant never went upstream')
})
