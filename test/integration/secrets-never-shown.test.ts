/**
 * THREATS.md "Token in logs" and "Two credentials in one request", end to end on a whole gateway: a
 * session with good, forged, ambiguous and refused calls (the official Qdrant client, and raw HTTP/2
 * for the header combinations no client sends), the gateway logging at trace into a buffer. Afterwards
 * neither the client's grant tokens (nor their signatures alone) nor the backend's API key appear in
 * the log, the journal file, /metrics, or any error message a client received.
 */
import t from 'tap'
import { join } from 'node:path'
import { QdrantClient } from '@qdrant/js-client-grpc'
import { startQdrantServer } from '../peers/qdrant-server.js'
import { parseConfig } from '../../lib/config/load.js'
import { Gateway } from '../../lib/gateway.js'
import { createLogger } from '../../lib/log.js'
import { assertNoSecrets, journalBytes, logSink } from '../helpers/no-secrets.js'
import { qdrantSchema } from '../../decoders/qdrant/schema.js'
import { frameMessage } from '../../decoders/grpc/messages.js'
import * as F from '../../lib/http2/frames.js'
import { RawClient, status, message } from '../helpers/h2-raw.js'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'

const UPSTREAM_KEY = 'upstream-api-key-0123456789abcdef'
const peer = await startQdrantServer({ apiKey: UPSTREAM_KEY })
t.teardown(() => peer.close())

const dir = mkdtempSync(join(tmpdir(), 'vecgate-secrets-'))
t.teardown(() => rmSync(dir, { recursive: true, force: true }))
const sink = logSink()
process.env.VG_TEST_QDRANT_KEY = UPSTREAM_KEY
const config = parseConfig({
  admin: { listen: '127.0.0.1:0' },
  identity: { signing_key: join(dir, 'signing.jwk') },
  journal: { path: join(dir, 'journal.db') },
  backends: [{ name: 'qdrant', protocol: 'qdrant', listen: '127.0.0.1:0', upstream: peer.address, credentials: { api_key: '${VG_TEST_QDRANT_KEY}' } }],
  policy: {
    rules: [
      { id: 'admins', subjects: { groups: ['admins'] }, backends: ['qdrant'], effect: 'allow' },
      { id: 'analysts-read', subjects: { groups: ['analysts'] }, collections: ['docs'], actions: ['read', 'search'], effect: 'allow' }
    ]
  }
}, join(dir, 'vecgate.yaml'))
const gw = await Gateway.start(config, { log: createLogger({ level: 'trace', destination: sink.stream }) })
let stopped = false
const stop = async (): Promise<void> => { if (!stopped) { stopped = true; await gw.stop() } }
t.teardown(stop)

const port = Number(gw.address('qdrant').split(':').pop())
const issue = async (sub: string, groups: string[]): Promise<string> => (await gw.parts.grants.issue({ subject: sub, groups, ttl: 300 })).token
const adminToken = await issue('root', ['admins'])
const analystToken = await issue('alice', ['analysts'])
const otherToken = await issue('bob', ['analysts'])
// a grant with its signature changed: the token a thief would try; its parts must not be echoed either
const forged = analystToken.slice(0, -4) + (analystToken.endsWith('AAAA') ? 'BBBB' : 'AAAA')
const secrets: Array<[string, string]> = [
  ['the admin grant', adminToken], ['the analyst grant', analystToken], ['the other grant', otherToken], ['the forged grant', forged],
  ['a grant signature', analystToken.split('.')[2]], ['the forged signature', forged.split('.')[2]],
  ['the upstream API key', UPSTREAM_KEY]
]
const seenByClients: string[] = []

const client = (apiKey: string): QdrantClient => new QdrantClient({ host: '127.0.0.1', port, apiKey, https: false, checkCompatibility: false, timeout: 10_000 })
const Count = qdrantSchema().root.lookupType('qdrant.CountPoints')
const countBody = frameMessage(Count.encode({ collection_name: 'docs', exact: true }).finish())

async function raw (extra: Array<[string, string]>, apiKey?: string): Promise<{ status?: string, message?: string }> {
  const c = await RawClient.connect(port)
  try {
    const headers = [[':method', 'POST'], [':scheme', 'http'], [':path', '/qdrant.Points/Count'], [':authority', 'localhost'],
      ['content-type', 'application/grpc'], ['te', 'trailers'], ...(apiKey !== undefined ? [['api-key', apiKey]] : []), ...extra] as Array<[string, string]>
    c.write(F.headers(1, c.encoder.encode(headers), { endStream: false, maxFrameSize: 16384 }), F.data(1, countBody, true, 16384))
    const s = await c.finished(1)
    const r = { status: status(s), message: message(s) }
    seenByClients.push(JSON.stringify(r))
    return r
  } finally { c.close() }
}

t.test('a session: good calls, a refused one, a forged token, two credentials at once', async t => {
  await client(adminToken).api('collections').create({ collectionName: 'docs', vectorsConfig: { config: { case: 'params', value: { size: 4n, distance: 1 } } } })
  t.ok((await client(analystToken).api('points').count({ collectionName: 'docs', exact: true })).result !== undefined, 'an analyst counts docs')
  for (const [who, key, what] of [['analyst', analystToken, 'delete'], ['forged', forged, 'count']] as const) {
    const err = await (what === 'delete'
      ? client(key).api('collections').delete({ collectionName: 'docs' })
      : client(key).api('points').count({ collectionName: 'docs', exact: true })).then(() => undefined, (e: Error) => e)
    t.ok(err !== undefined, `${who}: refused`)
    seenByClients.push(String(err?.message), String((err as any)?.rawMessage ?? ''))
  }

  t.equal((await raw([], analystToken)).status, '0', 'the raw baseline: one api-key header passes')
  t.equal((await raw([['authorization', `Bearer ${analystToken}`]])).status, '0', 'the raw baseline: Bearer alone passes')
  const two: Array<[string, Array<[string, string]>, string | undefined]> = [
    ['api-key and authorization naming different grants', [['authorization', `Bearer ${otherToken}`]], analystToken],
    ['api-key and authorization naming the same grant', [['authorization', `Bearer ${analystToken}`]], analystToken],
    ['two api-key headers', [['api-key', otherToken]], analystToken],
    ['two authorization headers', [['authorization', `Bearer ${analystToken}`], ['authorization', `Bearer ${otherToken}`]], undefined],
    ['a good api-key beside a forged Bearer', [['authorization', `Bearer ${forged}`]], analystToken]
  ]
  for (const [name, extra, key] of two) {
    t.equal((await raw(extra, key)).status, '16', `${name}: UNAUTHENTICATED, neither is picked`)
  }
})

t.test('no secret in the log, the journal, /metrics or any error a client saw', async t => {
  const metrics = await (await fetch(`${gw.admin!.url}/metrics`)).text()
  t.match(metrics, /vecgate_/, 'metrics were served')
  await stop()
  const log = sink.bytes().toString()
  t.ok(log.length > 0, 'the gateway logged at trace')
  // the journal as stored: the database and anything SQLite keeps beside it
  const journal = journalBytes(dir)
  t.ok(journal.includes(Buffer.from('alice')), 'the journal recorded the session')
  const places: Array<[string, Buffer]> = [['log', Buffer.from(log)], ['journal', journal], ['metrics', Buffer.from(metrics)], ['client errors', Buffer.from(seenByClients.join('\n'))]]
  assertNoSecrets(t, places, secrets)
})
