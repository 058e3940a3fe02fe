/**
 * THREATS.md "Slow clients … idle connections time out": an HTTP/2 connection with no call in flight
 * for limits.idle_timeout is sent GOAWAY (NO_ERROR) and closed, so idle sockets cannot pile up; a call
 * still in flight when the timer fires is not cut. Whole gateway, the Qdrant peer upstream.
 */
import t from 'tap'
import { startQdrantServer } from '../peers/qdrant-server.js'
import { startTestGateway } from '../helpers/gateway.js'
import { qdrantSchema } from '../../decoders/qdrant/schema.js'
import { frameMessage } from '../../decoders/grpc/messages.js'
import * as F from '../../lib/http2/frames.js'
import { ErrorCode } from '../../lib/http2/constants.js'
import { RawClient, status } from '../helpers/h2-raw.js'

const KEY = 'idle-upstream-key'
const peer = await startQdrantServer({ apiKey: KEY })
t.teardown(() => peer.close())
const gw = await startTestGateway({
  backends: [{ name: 'qdrant', protocol: 'qdrant', upstream: peer.address, credentials: { api_key: KEY } }],
  policy: { rules: [{ id: 'everyone', effect: 'allow' }] },
  limits: { idle_timeout: '300ms' }
})
t.teardown(() => gw.stop())
const token = await gw.token('alice')
const List = qdrantSchema().root.lookupType('qdrant.ListCollectionsRequest')

async function call (c: RawClient, id: number): Promise<string | undefined> {
  c.write(F.headers(id, c.encoder.encode(c.grpcHeaders('/qdrant.Collections/List', token)), { endStream: false, maxFrameSize: 16384 }),
    F.data(id, frameMessage(List.encode({}).finish()), true, 16384))
  return status(await c.finished(id))
}

t.test('an idle HTTP/2 connection gets GOAWAY NO_ERROR and is closed', async t => {
  const c = await RawClient.connect(gw.port('qdrant'))
  t.teardown(() => c.close())
  t.equal(await call(c, 1), '0', 'a call first')
  await c.until(() => c.goaway !== undefined && c.closed, 30_000).catch(() => {})
  t.match(c.goaway, { code: ErrorCode.NO_ERROR, debug: /idle/ }, 'GOAWAY says why')
  t.ok(c.closed, 'and the connection is closed')
})

t.test('a call slower than the idle timeout is not cut', async t => {
  // the upstream answers after several idle periods; the connection has a call in flight all along
  peer.delay.set('List', 1200)
  t.teardown(() => peer.delay.delete('List'))
  const c = await RawClient.connect(gw.port('qdrant'))
  t.teardown(() => c.close())
  t.equal(await call(c, 1), '0', 'answered')
})
