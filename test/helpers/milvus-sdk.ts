/**
 * Node SDK clients for the Milvus tests, closed when the test file ends. The SDK calls Connect from its
 * constructor; a refused Connect must not become an unhandled rejection, so it is caught here and the
 * test looks at `connectPromise` or the next call instead.
 */
import t from 'tap'
import { MilvusClient } from '@zilliz/milvus2-sdk-node'

export interface MilvusAuth { token?: string, username?: string, password?: string }

export function milvusClients (): (address: string, auth: MilvusAuth) => MilvusClient {
  const clients: MilvusClient[] = []
  t.teardown(async () => { for (const c of clients) await c.closeConnection().catch(() => {}) })
  return (address, auth) => {
    const c = new MilvusClient({ address, ...auth, timeout: 20_000 })
    c.connectPromise.catch(() => {})
    clients.push(c)
    return c
  }
}
