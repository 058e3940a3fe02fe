/** A journal writer in a temp dir, with a key, for the journal tests. */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { generateKeyPairSync, type KeyObject } from 'node:crypto'
import { JournalWriter, type JournalWriterOptions } from '../../../lib/journal/writer.js'
import { createLogger } from '../../../lib/log.js'
import type { Identity, Operation } from '../../../decoders/types.js'

export const key = generateKeyPairSync('ed25519')
export const trusted = (): Map<string, KeyObject> => new Map([['k1', key.publicKey]])

export function tempDir (t: { teardown: (fn: () => void) => void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'vecgate-journal-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  return dir
}

export function writer (path: string, o: Partial<JournalWriterOptions> = {}): JournalWriter {
  return new JournalWriter({ path, onFull: 'hold', queue: 10_000, storeVectors: false, signingKey: key.privateKey, keyId: 'k1', log: createLogger({ level: 'silent' }), ...o })
}

export const alice: Identity = { subject: 'alice', groups: ['analysts'], source: 'grant', issuer: 'vecgate', tokenId: 'jti-1', expiresAt: 2e9, claims: { secret: 'x' } }

export const searchOp: Operation = { backend: 'qdrant', protocol: 'qdrant', method: 'qdrant.Points/Search', action: 'search', collection: 'docs', bulk: false, limit: 3, summary: { vector: '<vector dim=4>' } }

/** One whole session: auth, a search returning ids 1..3 (its result and end given together: one event), end. */
export function session (w: JournalWriter, id: string, at = Date.now()): void {
  w.start({ id, backend: 'qdrant', protocol: 'qdrant', client: '127.0.0.1:5000', tls: false, at })
  w.event({ session: id, at, kind: 'auth', identity: alice })
  w.event({ session: id, at, kind: 'request', call: 1, op: searchOp })
  w.event({ session: id, at, kind: 'verdict', call: 1, verdict: { effect: 'allow', rule: 'analysts-read', reason: 'analysts may search docs', mask: 'pii' } })
  w.event({ session: id, at, kind: 'response', call: 1, collection: 'docs', ids: [1, 2, 3], data: { result: { toJSON: () => [{ id: 1, payload: { email: '<redacted>' }, vector: [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8] }] } } })
  w.event({ session: id, at, kind: 'response', call: 1, data: { ok: true, status: '0', records: 3, vectors: 0, final: true, ms: 1.5, bytes: 300 } })
  w.end(id, at + 10, 'client closed')
}
