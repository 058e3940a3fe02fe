/**
 * The README's commands run as written. Every ```sh block is taken in order into one shell script
 * (so `TOKEN=$(…)` in one block is there for the next), with `npx vecgate` run as the built bin and
 * the example ports (and the example database name) replaced by the test gateway's; lines marked "# not run in tests" say why not.
 * The gateway runs from the same vecgate.yaml the commands use, in front of pgvector (PGlite) and a
 * Qdrant-protocol peer.
 */
import t from 'tap'
import { execFile } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { fileURLToPath } from 'node:url'
import pg from 'pg'
import { startPglite } from '../peers/pglite.js'
import { startQdrantServer } from '../peers/qdrant-server.js'
import { loadConfig } from '../../lib/config/load.js'
import { Gateway } from '../../lib/gateway.js'
import { createLogger } from '../../lib/log.js'

const run = promisify(execFile)
const root = fileURLToPath(new URL('../../', import.meta.url))
const bin = join(root, 'dist/bin/vecgate.js')
const readme = readFileSync(join(root, 'README.md'), 'utf8')

const blocks = [...readme.matchAll(/```sh\n([\s\S]*?)```/g)].map(m => m[1].replace(/\\\n\s*/g, ' '))
const lines = blocks.flatMap(b => b.split('\n')).map(l => l.trim()).filter(l => l !== '' && !l.startsWith('#'))
const skipped = lines.filter(l => l.includes('# not run in tests'))
const runnable = lines.filter(l => !l.includes('# not run in tests') && l !== 'npm install')

t.test('every README command is either run here or says why not', async t => {
  t.ok(blocks.length >= 5, `${blocks.length} sh blocks`)
  for (const l of skipped) t.match(l, /# not run in tests: \S/, `says why: ${l.slice(0, 60)}`)
  t.ok(runnable.length >= 5, `${runnable.length} commands to run`)
})

t.test('the runnable README commands succeed against a gateway configured as the README says', async t => {
  const lite = await startPglite()
  t.teardown(() => lite.close())
  const db = new pg.Client({ host: lite.host, port: lite.port, user: 'postgres', password: 'x', database: 'postgres' })
  await db.connect()
  await db.query("CREATE EXTENSION IF NOT EXISTS vector; CREATE TABLE items (id bigint PRIMARY KEY, title text, embedding vector(3)); INSERT INTO items VALUES (1, 'first', '[0.1,0.2,0.3]'), (2, 'second', '[1,1,1]')")
  await db.end()
  const peer = await startQdrantServer({ apiKey: 'readme-key' })
  t.teardown(() => peer.close())
  const dir = mkdtempSync(join(tmpdir(), 'vecgate-readme-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  writeFileSync(join(dir, 'vecgate.yaml'), [
    'admin: { listen: 127.0.0.1:0 }',
    'identity: { signing_key: ./data/signing.jwk }',
    'journal: { path: ./data/journal.db }',
    'backends:',
    `  - { name: qdrant, protocol: qdrant, listen: 127.0.0.1:0, upstream: ${peer.address}, credentials: { api_key: readme-key } }`,
    `  - { name: pg, protocol: postgres, listen: 127.0.0.1:0, upstream: ${lite.host}:${lite.port}, credentials: { user: postgres, password: x, database: postgres } }`,
    'policy:',
    '  rules:',
    '    - { id: analysts-read, subjects: { groups: [analysts] }, actions: [read, search], effect: allow }'
  ].join('\n') + '\n')
  const cwd = process.cwd()
  process.chdir(dir)
  const gw = await Gateway.start(loadConfig('vecgate.yaml'), { log: createLogger({ level: 'silent' }) })
  process.chdir(cwd)
  t.teardown(() => gw.stop())
  const pgPort = gw.listening.find(l => l.backend.name === 'pg')!.port
  const script = ['set -e', ...runnable.map(l => l.replace(/\bnpx vecgate\b/g, `node ${bin}`).replace(/port=16432/g, `port=${pgPort}`).replace(/dbname=vectors/g, 'dbname=postgres'))].join('\n')
  const r = await run('sh', ['-c', script], { cwd: dir, env: { ...process.env, PGCONNECT_TIMEOUT: '10' }, timeout: 120_000 }).catch((e: { stdout: string, stderr: string, code: number }) => e)
  t.equal((r as { code?: number }).code ?? 0, 0, `the README commands ran:\n${script}\n${r.stderr}`)
  t.match(r.stdout, /first/, 'the psql example found the nearest item through vecgate')
  t.match(r.stdout, /journal verified/, 'journal verify passed')
})
