/**
 * `vecgate demo`: everything a newcomer needs to watch vecgate work, in one process and offline —
 * pgvector (PGlite, PostgreSQL in WASM) with sample documents that include personal data, vecgate in
 * front of it with a demo policy (emails masked, embeddings rounded, a bulk delete held for a person's
 * approval), the admin API, and tokens for an analyst and an approver. Everything lives in a temporary
 * directory that is removed when the demo stops.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import net from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { PGlite } from '@electric-sql/pglite'
import { vector } from '@electric-sql/pglite-pgvector'
import { PGLiteSocketServer } from '@electric-sql/pglite-socket'
import { parseConfig } from '../config/load.js'
import { Gateway } from '../gateway.js'
import { createLogger } from '../log.js'
import { VecgateError } from '../errors.js'

export interface DemoOptions {
  /** vecgate's PostgreSQL listener (default 16432, or a free port when taken) */
  port?: number
  /** admin API (default 17070, or a free port when taken) */
  adminPort?: number
}

export interface Demo {
  pgPort: number
  upstreamPort: number
  admin: string
  tokens: { analyst: string, approver: string }
  psql: string
  stop: () => Promise<void>
}

const PEOPLE = ['Ada Lovelace', 'Alan Turing', 'Grace Hopper', 'Edsger Dijkstra', 'Barbara Liskov', 'Donald Knuth', 'Frances Allen', 'Ken Thompson', 'Margaret Hamilton', 'John McCarthy', 'Radia Perlman', 'Leslie Lamport']
const TOPICS = ['quarterly revenue forecast', 'customer churn analysis', 'incident postmortem', 'hiring plan', 'vector index tuning', 'privacy review', 'roadmap draft', 'support ticket summary', 'board meeting notes', 'pricing experiment', 'security audit', 'onboarding guide']

async function portOr (preferred: number): Promise<number> {
  const free = async (p: number): Promise<number | undefined> => await new Promise(resolve => {
    const s = net.createServer()
    s.once('error', () => resolve(undefined))
    s.listen(p, '127.0.0.1', () => { const got = (s.address() as net.AddressInfo).port; s.close(() => resolve(got)) })
  })
  return (await free(preferred)) ?? (await free(0))!
}

export async function startDemo (opts: DemoOptions = {}): Promise<Demo> {
  const dir = mkdtempSync(join(tmpdir(), 'vecgate-demo-'))
  let db: PGlite | undefined
  let socket: PGLiteSocketServer | undefined
  let gw: Gateway | undefined
  const stop = async (): Promise<void> => {
    await gw?.stop().catch(() => {})
    await socket?.stop().catch(() => {})
    await db?.close().catch(() => {})
    rmSync(dir, { recursive: true, force: true })
  }
  try {
    db = new PGlite('memory://', { extensions: { vector } })
    await db.waitReady
    await db.exec(`
      CREATE EXTENSION IF NOT EXISTS vector;
      CREATE TABLE documents (id bigint PRIMARY KEY, title text NOT NULL, owner_name text, owner_email text, embedding vector(8));`)
    for (let i = 0; i < PEOPLE.length; i++) {
      const [first, last] = PEOPLE[i].toLowerCase().split(' ')
      const emb = Array.from({ length: 8 }, (_, j) => Number(Math.sin(i * 8 + j + 1).toFixed(6)))
      await db.query('INSERT INTO documents VALUES ($1, $2, $3, $4, $5)', [i + 1, TOPICS[i], PEOPLE[i], `${first}.${last}@example.com`, `[${emb.join(',')}]`])
    }
    const upstreamPort = await portOr(0)
    socket = new PGLiteSocketServer({ db, port: upstreamPort, host: '127.0.0.1', maxConnections: 16 } as ConstructorParameters<typeof PGLiteSocketServer>[0])
    await socket.start()

    const pgPort = opts.port ?? await portOr(16432)
    const adminPort = opts.adminPort ?? await portOr(17070)
    const config = parseConfig({
      admin: { listen: `127.0.0.1:${adminPort}` },
      identity: { signing_key: join(dir, 'signing.jwk'), max_ttl: '8h' },
      journal: { path: join(dir, 'journal.db'), durable: 'all' },
      backends: [{ name: 'pg', protocol: 'postgres', listen: `127.0.0.1:${pgPort}`, upstream: `127.0.0.1:${upstreamPort}`, credentials: { user: 'postgres', password: 'postgres', database: 'postgres' } }],
      policy: {
        approval_hold: '10m',
        rules: [
          { id: 'analysts-read', subjects: { groups: ['analysts'] }, backends: ['pg'], collections: ['documents', 'public.documents'], actions: ['read', 'search'], effect: 'allow', mask: 'pii' },
          { id: 'bulk-delete-needs-approval', subjects: { groups: ['analysts'] }, backends: ['pg'], actions: ['delete'], when: { bulk: true }, effect: 'approve', approvers: { groups: ['approvers'], count: 1 } }
        ]
      },
      masking: { profiles: { pii: { fields: ['owner_email'], detectors: ['email', 'phone', 'credit_card'], action: 'redact', vectors: 'round', round_bits: 4 } } }
    }, join(dir, 'vecgate.yaml'))
    gw = await Gateway.start(config, { log: createLogger({ level: 'warn', destination: process.stderr }) })
    const grants = gw.parts.grants
    const analyst = (await grants.issue({ subject: 'alice', groups: ['analysts'], ttl: 8 * 3600 })).token
    const approver = (await grants.issue({ subject: 'bob', groups: ['approvers', 'auditors'], ttl: 8 * 3600 })).token
    return {
      pgPort,
      upstreamPort,
      admin: gw.admin!.url,
      tokens: { analyst, approver },
      psql: `PGPASSWORD=${analyst} psql "host=127.0.0.1 port=${pgPort} user=alice dbname=postgres sslmode=disable"`,
      stop
    }
  } catch (e) {
    await stop()
    if (e instanceof VecgateError) throw e
    throw new VecgateError('VG_ERR_INTERNAL', `the demo could not start: ${(e as Error).message}`, { hint: 'is `npm install` complete?' }, { cause: e })
  }
}

/** What the demo prints: the commands to try, in order. */
export function demoText (d: Demo): string {
  return [
    'vecgate demo is running — Ctrl-C stops everything and removes its files.',
    '',
    `  pgvector (PGlite) with 12 documents, owners' names and emails   upstream 127.0.0.1:${d.upstreamPort}`,
    `  vecgate, PostgreSQL protocol                                     127.0.0.1:${d.pgPort}`,
    `  admin API                                                        ${d.admin}`,
    '',
    '1. Connect as the analyst alice (her vecgate token is the password):',
    '',
    `   ${d.psql}`,
    '',
    '   Then try:',
    "     SELECT id, title, owner_email, embedding FROM documents ORDER BY embedding <-> '[1,0,0,0,0,0,0,0]' LIMIT 3;",
    '         -> owner_email comes back masked and embeddings rounded',
    '     DELETE FROM documents;',
    '         -> a bulk delete: held until an approver decides (psql waits)',
    '',
    '2. In a second terminal, be bob (approver and auditor) and approve it:',
    '',
    `   export VECGATE_ADMIN=${d.admin} VECGATE_TOKEN=${d.tokens.approver}`,
    '   npx vecgate approvals list',
    '   npx vecgate approvals approve APPROVAL_ID',
    '',
    '3. Then replay what happened:',
    '',
    '   npx vecgate sessions list',
    '   npx vecgate replay SESSION_ID'
  ].join('\n')
}
