/**
 * A whole gateway for integration tests: config built from an object (listeners and admin on port 0,
 * key and journal in a temp dir), started in-process, stopped in teardown.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseConfig } from '../../lib/config/load.js'
import type { Config } from '../../lib/config/types.js'
import { Gateway, type GatewayParts } from '../../lib/gateway.js'
import { Grants } from '../../lib/identity/grants.js'
import { createLogger } from '../../lib/log.js'
import type { Action } from '../../decoders/types.js'

export interface TestGateway {
  gw: Gateway
  config: Config
  dir: string
  /** 'host:port' of a backend's listener */
  address: (backend: string) => string
  port: (backend: string) => number
  adminUrl: string
  grants: Grants
  token: (sub: string, opts?: { groups?: string[], backend?: string, collections?: string[], actions?: Action[], ids?: Array<string | number>, ttl?: number, uses?: number }) => Promise<string>
  stop: () => Promise<void>
}

export async function startTestGateway (raw: Record<string, any>, opts: { parts?: Partial<GatewayParts> } = {}): Promise<TestGateway> {
  const dir = mkdtempSync(join(tmpdir(), 'vecgate-gw-'))
  const doc = {
    admin: { listen: '127.0.0.1:0' },
    ...raw,
    identity: { signing_key: join(dir, 'signing.jwk'), ...(raw.identity ?? {}) },
    journal: { path: join(dir, 'journal.db'), ...(raw.journal ?? {}) },
    backends: (raw.backends as Array<Record<string, unknown>>).map(b => ({ listen: '127.0.0.1:0', ...b }))
  }
  const config = parseConfig(doc, join(dir, 'vecgate.yaml'))
  const gw = await Gateway.start(config, { log: createLogger({ level: process.env.VECGATE_LOG_LEVEL ?? 'silent' }), parts: opts.parts })
  const grants = gw.parts.grants
  let stopped = false
  return {
    gw,
    config,
    dir,
    address: (b) => gw.address(b),
    port: (b) => Number(gw.address(b).split(':').pop()),
    adminUrl: gw.admin!.url,
    grants,
    token: async (sub, o = {}) => (await grants.issue({ subject: sub, ttl: o.ttl ?? 300, ...o })).token,
    stop: async () => {
      if (stopped) return
      stopped = true
      await gw.stop()
      rmSync(dir, { recursive: true, force: true })
    }
  }
}
