/**
 * The newcomer path, scripted exactly as `vecgate demo` tells a person: run the printed psql line (the
 * email comes back masked, embeddings rounded), start a bulk DELETE that waits, approve it from "a
 * second terminal" with the printed commands, see the DELETE complete, replay the session; then Ctrl-C
 * stops everything and leaves nothing listening.
 */
import t from 'tap'
import { spawn, execFile } from 'node:child_process'
import net from 'node:net'
import { once } from 'node:events'
import { promisify } from 'node:util'
import { fileURLToPath } from 'node:url'

const run = promisify(execFile)
const bin = fileURLToPath(new URL('../../dist/bin/vecgate.js', import.meta.url))
const demo = spawn(process.execPath, [bin, 'demo'], { stdio: ['ignore', 'pipe', 'pipe'] })
t.teardown(() => { if (demo.exitCode === null) demo.kill('SIGKILL') })
let out = ''
let err = ''
demo.stdout.on('data', (d: Buffer) => { out += d.toString() })
demo.stderr.on('data', (d: Buffer) => { err += d.toString() })
const started = Date.now()
while (!out.includes('npx vecgate replay SESSION_ID')) {
  if (demo.exitCode !== null) throw new Error(`vecgate demo exited ${demo.exitCode}: ${err}`)
  if (Date.now() - started > 120_000) throw new Error(`vecgate demo did not print its instructions: ${out}${err}`)
  await new Promise(resolve => setTimeout(resolve, 100))
}
const lines = out.split('\n').map(l => l.trim())
const psqlLine = lines.find(l => l.startsWith('PGPASSWORD='))!
const exportLine = lines.find(l => l.startsWith('export VECGATE_ADMIN='))!
const env: Record<string, string> = { ...process.env as Record<string, string> }
for (const m of exportLine.replace(/^export /, '').matchAll(/(\w+)=(\S+)/g)) env[m[1]] = m[2]
const port = Number(/port=(\d+)/.exec(psqlLine)![1])
// the printed commands, with `npx vecgate` run as the built bin (what npx resolves to)
const vecgate = async (args: string): Promise<string> => (await run(process.execPath, [bin, ...args.split(' ')], { env })).stdout
const psql = (sql: string): ReturnType<typeof run> => run('sh', ['-c', `${psqlLine} -At -c "${sql}"`])

t.test('the printed psql line connects; emails masked, embeddings rounded', async t => {
  const r = await psql("SELECT id, title, owner_email, embedding FROM documents ORDER BY embedding <-> '[1,0,0,0,0,0,0,0]' LIMIT 3")
  const rows = r.stdout.trim().split('\n').map(l => l.split('|'))
  t.equal(rows.length, 3, r.stderr)
  // the same rows straight from the upstream the demo printed, to compare with
  const upstream = Number(/upstream 127\.0\.0\.1:(\d+)/.exec(out)![1])
  const direct = (await run('psql', ['-At', '-h', '127.0.0.1', '-p', String(upstream), '-U', 'postgres', '-d', 'postgres', '-c', "SELECT id, owner_email, embedding FROM documents ORDER BY embedding <-> '[1,0,0,0,0,0,0,0]' LIMIT 3"], { env: { ...process.env, PGPASSWORD: 'x' } })).stdout
  const raw = new Map(direct.trim().split('\n').map(l => l.split('|')).map(([id, email, emb]) => [id, { email, emb: JSON.parse(emb) as number[] }]))
  for (const [id, title, email, embedding] of rows) {
    t.ok(title.length > 0)
    t.match(raw.get(id)?.email, /@example\.com$/, 'the upstream has the real email')
    t.notMatch(email, /@/, `email masked for alice: ${email}`)
    const v = JSON.parse(embedding) as number[]
    const w = raw.get(id)!.emb
    t.equal(v.length, 8)
    t.notSame(v, w, 'embedding changed')
    t.ok(v.every((x, i) => Math.abs(x - w[i]) <= Math.abs(w[i]) / 8 + 1e-9), 'rounded, close to the original')
  }
})

t.test('a bulk DELETE waits for bob, who approves it with the printed commands; then the replay shows it', async t => {
  const del = psql('DELETE FROM documents')
  let id: string | undefined
  for (let i = 0; i < 100 && id === undefined; i++) {
    id = /(apr_\w+)\s+pending/.exec(await vecgate('approvals list'))?.[1]
    if (id === undefined) await new Promise(resolve => setTimeout(resolve, 100))
  }
  t.ok(id, 'the held DELETE is listed for bob')
  t.match(await vecgate(`approvals show ${id!}`), /sql: +DELETE FROM documents\n\s+touches: 12 records/, 'with its statement and blast radius (count(*) upstream)')
  t.match(await vecgate(`approvals approve ${id!}`), /approved|used/)
  const done = await del
  t.equal(done.stdout.trim(), 'DELETE 12', 'the DELETE completed in the same call')
  const sessions = await vecgate('sessions list --json')
  const ids = sessions.trim().split('\n').map(l => JSON.parse(l).id as string)
  t.ok(ids.length >= 2)
  const replays = await Promise.all(ids.map(async s => await vecgate(`replay ${s}`)))
  const replay = replays.find(r => r.includes('DELETE FROM documents'))!
  t.match(replay, /APPROVE by bulk-delete-needs-approval/)
  t.match(replay, /approved apr_\w+ by bob/)
  t.match(replay, /response\s+OK/)
})

t.test('Ctrl-C stops everything and leaves nothing listening', async t => {
  demo.kill('SIGINT')
  const [code] = await once(demo, 'exit') as [number]
  t.equal(code, 0)
  const open = await new Promise<boolean>(resolve => {
    const s = net.connect(port, '127.0.0.1')
    s.once('connect', () => { s.destroy(); resolve(true) })
    s.once('error', () => resolve(false))
  })
  t.notOk(open, 'the demo port is closed')
})
