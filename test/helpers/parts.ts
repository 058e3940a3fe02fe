/**
 * Building blocks for tests that need a Pipeline without a whole gateway: a fresh signing key, grants,
 * a policy given as a function, a journal that keeps events in memory, and a silent logger.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Action, Identity, Masker, Operation, Verdict } from '../../decoders/types.js'
import { Metrics } from '../../lib/admin/metrics.js'
import type { BackendConfig } from '../../lib/config/types.js'
import { Grants } from '../../lib/identity/grants.js'
import { loadOrCreateSigningKey, type SigningKey } from '../../lib/identity/keys.js'
import type { JournalEvent, JournalSink, SessionStart } from '../../lib/journal/types.js'
import { createLogger } from '../../lib/log.js'
import { Pipeline, type PipelineParts } from '../../lib/pipeline.js'

export class MemoryJournal implements JournalSink {
  sessions: SessionStart[] = []
  events: JournalEvent[] = []
  ended: Array<{ session: string, reason: string }> = []
  start (s: SessionStart): void { this.sessions.push(s) }
  event (e: JournalEvent): void { this.events.push(e) }
  end (session: string, _at: number, reason: string): void { this.ended.push({ session, reason }) }
  async flush (): Promise<void> {}
  async close (): Promise<void> {}
}

export const allowAll = (): Verdict => ({ effect: 'allow', rule: 'test-allow', reason: 'allowed by rule "test-allow"' })

export interface TestParts {
  key: SigningKey
  grants: Grants
  journal: MemoryJournal
  metrics: Metrics
  dir: string
  /** a grant token for `sub` (default 'alice'), valid 5 minutes, any scope */
  token (sub?: string, extra?: { groups?: string[], actions?: Action[], collections?: string[], ids?: (string | number)[], ttl?: number, backend?: string }): Promise<string>
  pipeline (backend: BackendConfig, opts?: { decide?: (id: Identity, op: Operation) => Verdict, masks?: Map<string, Masker>, extra?: Partial<PipelineParts> }): Pipeline
  cleanup (): void
}

export async function testParts (): Promise<TestParts> {
  const dir = mkdtempSync(join(tmpdir(), 'vecgate-test-'))
  const key = await loadOrCreateSigningKey(join(dir, 'signing.jwk'))
  const grants = new Grants(key, 'vecgate', 3600)
  const journal = new MemoryJournal()
  const metrics = new Metrics()
  const log = createLogger({ level: process.env.VECGATE_LOG_LEVEL ?? 'silent' })
  return {
    key,
    grants,
    journal,
    metrics,
    dir,
    async token (sub = 'alice', extra = {}) {
      const g = await grants.issue({ subject: sub, ttl: extra.ttl ?? 300, ...extra })
      return g.token
    },
    pipeline (backend, opts = {}) {
      return new Pipeline({
        backend,
        verifier: { verify: async (t) => await grants.verify(t) },
        policy: { decide: opts.decide ?? allowAll },
        masks: opts.masks ?? new Map(),
        journal,
        metrics,
        log,
        ...opts.extra
      })
    },
    cleanup () { rmSync(dir, { recursive: true, force: true }) }
  }
}
