/**
 * For the "Token in logs" tests (THREATS.md): a log sink that keeps what the gateway wrote, the journal
 * as stored on disk, and the check that no secret appears anywhere a person or a collector can read.
 */
import { readFileSync, readdirSync } from 'node:fs'
import { join } from 'node:path'
import { Writable } from 'node:stream'
import type { Test } from 'tap'

export function logSink (): { stream: Writable, bytes: () => Buffer } {
  const kept: Buffer[] = []
  const stream = new Writable({ write (chunk: Buffer, _enc, done) { kept.push(Buffer.from(chunk)); done() } })
  return { stream, bytes: () => Buffer.concat(kept) }
}

/** the journal database in `dir` and whatever SQLite keeps beside it (WAL, shared memory) */
export function journalBytes (dir: string, name = 'journal.db'): Buffer {
  return Buffer.concat(readdirSync(dir).filter(f => f.startsWith(name)).map(f => readFileSync(join(dir, f))))
}

/** one assertion per place and secret: `what` is not in `where` */
export function assertNoSecrets (t: Test, places: Array<[string, Buffer]>, secrets: Array<[string, string]>): void {
  for (const [where, bytes] of places) {
    for (const [what, secret] of secrets) t.notOk(bytes.includes(Buffer.from(secret)), `${what} is not in the ${where}`)
  }
}
