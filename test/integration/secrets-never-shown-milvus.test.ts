/**
 * THREATS.md "Token in logs", the Milvus side: a session through a whole gateway with the grant as the
 * token and as the password, a forged grant and a refused call, the gateway logging at trace into a
 * buffer. Milvus clients send base64("user:password") in `authorization`, so each secret is looked
 * for as itself and in that base64 form. Afterwards none is in the log, the journal file, /metrics or
 * any error the client received, and the backend's password is in none of them either.
 */
import t from 'tap'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { MilvusClient } from '@zilliz/milvus2-sdk-node'
import { startMilvus } from '../peers/milvus.js'
import { parseConfig } from '../../lib/config/load.js'
import { Gateway } from '../../lib/gateway.js'
import { createLogger } from '../../lib/log.js'
import { assertNoSecrets, journalBytes, logSink } from '../helpers/no-secrets.js'
import { milvusClients, type MilvusAuth } from '../helpers/milvus-sdk.js'

// milvus-lite accepts any credentials, so the backend's password can be one that is easy to find
const BACKEND_PASSWORD = 'milvus-backend-password-9d3a'
const milvus = await startMilvus()
t.teardown(() => milvus.close())
const dir = mkdtempSync(join(tmpdir(), 'vecgate-secrets-milvus-'))
t.teardown(() => rmSync(dir, { recursive: true, force: true }))
const sink = logSink()
const config = parseConfig({
  admin: { listen: '127.0.0.1:0' },
  identity: { signing_key: join(dir, 'signing.jwk') },
  journal: { path: join(dir, 'journal.db') },
  backends: [{ name: 'milvus', protocol: 'milvus', listen: '127.0.0.1:0', upstream: milvus.address, credentials: { username: 'root', password: '${VG_TEST_MILVUS_PW}' } }],
  policy: { rules: [{ id: 'readers', actions: ['read', 'search'], effect: 'allow' }] }
}, join(dir, 'vecgate.yaml'), { VG_TEST_MILVUS_PW: BACKEND_PASSWORD })
const gw = await Gateway.start(config, { log: createLogger({ level: 'trace', destination: sink.stream }) })
let stopped = false
const stop = async (): Promise<void> => { if (!stopped) { stopped = true; await gw.stop() } }
t.teardown(stop)

const token = (await gw.parts.grants.issue({ subject: 'alice', ttl: 300 })).token
const forged = token.slice(0, -4) + (token.endsWith('AAAA') ? 'BBBB' : 'AAAA')
const b64 = (s: string): string => Buffer.from(s).toString('base64')
const secrets: Array<[string, string]> = [
  ['the grant', token], ['the forged grant', forged], ['the grant signature', token.split('.')[2]],
  ['the grant as a Milvus token (base64)', b64(token)], ['the grant as alice\'s password (base64)', b64(`alice:${token}`)],
  ['the backend password', BACKEND_PASSWORD], ['the backend credentials (base64)', b64(`root:${BACKEND_PASSWORD}`)]
]
const seenByClient: string[] = []
const sdk = milvusClients()
const client = (auth: MilvusAuth): MilvusClient => sdk(gw.address('milvus'), auth)
const record = (r: unknown): void => { seenByClient.push(r instanceof Error ? r.message : JSON.stringify(r)) }

t.test('a session: the grant as token and as password, a forged grant, a refused call', async t => {
  const asToken = client({ token })
  t.equal((await asToken.listCollections()).status.error_code, 'Success', 'the grant as token lists collections')
  const asPassword = client({ username: 'alice', password: token })
  t.equal((await asPassword.listCollections()).status.error_code, 'Success', 'the grant as password too')
  await asToken.createCollection({ collection_name: 'nope', dimension: 2 } as any).then(record, record)
  await client({ token: forged }).listCollections().then(record, record)
  await client({ username: 'alice', password: forged }).listCollections().then(record, record)
  t.ok(seenByClient.length >= 3, 'the refusals reached the client')
})

t.test('no secret in the log, the journal, /metrics or any error the client saw', async t => {
  const metrics = await (await fetch(`${gw.admin!.url}/metrics`)).text()
  await stop()
  const log = sink.bytes()
  t.ok(log.length > 0, 'the gateway logged at trace')
  const journal = journalBytes(dir)
  t.ok(journal.includes(Buffer.from('alice')), 'the journal recorded the sessions')
  const places: Array<[string, Buffer]> = [['log', log], ['journal', journal], ['metrics', Buffer.from(metrics)], ['client errors', Buffer.from(seenByClient.join('\n'))]]
  assertNoSecrets(t, places, secrets)
})
