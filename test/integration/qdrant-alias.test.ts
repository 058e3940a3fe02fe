/**
 * THREATS.md "Aliases and databases": a Qdrant alias that points at a denied collection is resolved to
 * the real target before the policy decides. The alias exists upstream (made by an admin directly, or
 * before vecgate was put in front); a reader names the alias instead of the collection.
 */
import t from 'tap'
import { QdrantClient } from '@qdrant/js-client-grpc'
import { startQdrantServer } from '../peers/qdrant-server.js'
import { startTestGateway } from '../helpers/gateway.js'

const KEY = 'alias-upstream-key'
const peer = await startQdrantServer({ apiKey: KEY })
t.teardown(() => peer.close())
const direct = new QdrantClient({ host: '127.0.0.1', port: peer.port, apiKey: KEY, https: false, checkCompatibility: false })
await direct.api('collections').create({ collectionName: 'secret', vectorsConfig: { config: { case: 'params', value: { size: 3n, distance: 1 } } } })
await direct.api('points').upsert({ collectionName: 'secret', wait: true, points: [{ id: { pointIdOptions: { case: 'num', value: 1n } }, vectors: { vectorsOptions: { case: 'vector', value: { data: [1, 0, 0] } } }, payload: {} }] })
await direct.api('collections').updateAliases({ actions: [{ action: { case: 'createAlias', value: { collectionName: 'secret', aliasName: 'innocent' } } }] })

const gw = await startTestGateway({
  backends: [{ name: 'qdrant', protocol: 'qdrant', upstream: peer.address, credentials: { api_key: KEY } }],
  policy: { rules: [{ id: 'readers', actions: ['read', 'search'], effect: 'allow' }, { id: 'no-secret', collections: ['secret'], effect: 'deny' }] }
})
t.teardown(() => gw.stop())

t.test('a search through an alias of a denied collection is refused like the collection itself', async t => {
  const c = new QdrantClient({ host: '127.0.0.1', port: gw.port('qdrant'), apiKey: await gw.token('alice'), https: false, checkCompatibility: false })
  await t.rejects(c.api('points').search({ collectionName: 'secret', vector: [1, 0, 0], limit: 1n }), { code: 7 }, 'the collection by name')
  await t.rejects(c.api('points').search({ collectionName: 'innocent', vector: [1, 0, 0], limit: 1n }), { code: 7, rawMessage: /no-secret/ }, 'the same collection through its alias')
})
