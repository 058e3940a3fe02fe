/**
 * The command line as a person uses it: `token issue` prints a grant the gateway accepts, `policy check`
 * explains which rule decides, `--help` shows an example, and mistakes end in one line naming what to
 * fix, with a non-zero exit and no stack trace.
 */
import t from 'tap'
import { spawnSync } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { startCannedUpstream } from '../helpers/grpc-upstream.js'
import { startTestGateway } from '../helpers/gateway.js'
import { RawClient, status, message } from '../helpers/h2-raw.js'
import * as F from '../../lib/http2/frames.js'
import { qdrantSchema } from '../../decoders/qdrant/schema.js'
import { frameMessage } from '../../decoders/grpc/messages.js'

const bin = fileURLToPath(new URL('../../dist/bin/vecgate.js', import.meta.url))
const dir = mkdtempSync(join(tmpdir(), 'vecgate-cli-'))
t.teardown(() => rmSync(dir, { recursive: true, force: true }))
const cli = (...args: string[]): { code: number | null, stdout: string, stderr: string } => {
  const r = spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8', cwd: dir, timeout: 30_000 })
  return { code: r.status, stdout: r.stdout, stderr: r.stderr }
}

const upstream = await startCannedUpstream({ apiKey: 'cli-key' })
t.teardown(() => upstream.close())
const rules = [
  { id: 'analysts-read', subjects: { groups: ['analysts'] }, collections: ['docs*'], actions: ['read', 'search'], effect: 'allow' },
  { id: 'no-secret', collections: ['secret'], effect: 'deny' }
]
const gw = await startTestGateway({ backends: [{ name: 'qdrant', protocol: 'qdrant', upstream: upstream.address, credentials: { api_key: 'cli-key' } }], policy: { rules } })
t.teardown(() => gw.stop())
const configPath = join(dir, 'vecgate.yaml')
writeFileSync(configPath, JSON.stringify({
  identity: { signing_key: gw.config.identity.signing_key },
  journal: { path: join(dir, 'journal.db') },
  backends: [{ name: 'qdrant', protocol: 'qdrant', listen: '127.0.0.1:0', upstream: upstream.address, credentials: { api_key: 'cli-key' } }],
  policy: { rules }
}))

t.test('token issue prints a grant the running gateway accepts, scoped as asked', async t => {
  const r = cli('token', 'issue', '--config', configPath, '--sub', 'alice', '--groups', 'analysts', '--backend', 'qdrant', '--collection', 'docs', '--actions', 'read,search', '--ttl', '5m')
  t.equal(r.code, 0, r.stderr)
  const token = r.stdout.trim()
  t.match(token, /^ey[\w-]+\.[\w-]+\.[\w-]+$/)
  const claims = JSON.parse(Buffer.from(token.split('.')[1], 'base64url').toString())
  t.match(claims, { sub: 'alice', groups: ['analysts'] })
  t.ok(claims.exp - claims.iat <= 300)
  const c = await RawClient.connect(gw.port('qdrant'))
  t.teardown(() => c.close())
  const Count = qdrantSchema().root.lookupType('qdrant.CountPoints')
  const call = (id: number, collection: string): void => c.write(
    F.headers(id, c.encoder.encode(c.grpcHeaders('/qdrant.Points/Count', token)), { endStream: false, maxFrameSize: 16384 }),
    F.data(id, frameMessage(Count.encode({ collection_name: collection }).finish()), true, 16384))
  call(1, 'docs')
  t.equal(status(await c.finished(1)), '0', 'in scope: allowed')
  call(3, 'docs_archive')
  const out = await c.finished(3)
  t.equal(status(out), '7', 'policy would allow docs*, but the grant says docs only')
  t.match(message(out), /docs_archive|scope/)
  const json = cli('token', 'issue', '--config', configPath, '--sub', 'bob', '--backend', 'qdrant', '--json')
  t.match(JSON.parse(json.stdout), { token: /^ey/ })
})

t.test('policy check explains the deciding rule without sending anything', async t => {
  const allow = cli('policy', 'check', '--config', configPath, '--as', 'alice', '--groups', 'analysts', '--backend', 'qdrant', '--action', 'search', '--collection', 'docs')
  t.equal(allow.code, 0, allow.stderr)
  t.match(allow.stdout, /ALLOW/)
  t.match(allow.stdout, /analysts-read/)
  const deny = cli('policy', 'check', '--config', configPath, '--as', 'alice', '--groups', 'analysts', '--backend', 'qdrant', '--action', 'read', '--collection', 'secret')
  t.match(deny.stdout, /DENY/)
  t.match(deny.stdout, /no-secret/)
  const none = cli('policy', 'check', '--config', configPath, '--as', 'mallory', '--backend', 'qdrant', '--action', 'delete', '--collection', 'docs', '--json')
  t.match(JSON.parse(none.stdout), { verdict: { effect: 'deny' } })
})

t.test('help shows every command with an example', async t => {
  const r = cli('--help')
  t.equal(r.code, 0)
  for (const c of ['start', 'token issue', 'policy check', 'approvals list', 'sessions list', 'replay', 'journal verify', 'journal who-saw']) t.match(r.stdout, c)
  t.match(r.stdout, /Example/)
  const h = cli('replay', '--help')
  t.match(h.stdout, /Example:\n\s+npx vecgate replay/)
  const { commands } = await import('../../lib/cli/commands.js')
  for (const c of commands) {
    const r = cli(...c.name.split(' '), '--help')
    t.equal(r.code, 0, `${c.name} --help`)
    t.match(r.stdout, new RegExp(`Examples?:\\n\\s+(VECGATE_TOKEN=\\S+ )?npx vecgate ${c.name}`), `${c.name} --help shows an example`)
  }
})

t.test('mistakes: one line that says what to fix, non-zero exit, no stack trace', async t => {
  const missing = cli('token', 'issue', '--config', join(dir, 'nope.yaml'), '--sub', 'a', '--backend', 'qdrant')
  t.not(missing.code, 0)
  t.equal(missing.stderr.trim().split('\n').length, 1, missing.stderr)
  t.match(missing.stderr, /nope\.yaml/)
  const badKey = join(dir, 'bad.yaml')
  writeFileSync(badKey, 'backends:\n  - name: q\n    protocol: qdrantt\n    upstream: 127.0.0.1:1\n')
  const bad = cli('policy', 'check', '--config', badKey, '--as', 'a', '--backend', 'q', '--action', 'read')
  t.not(bad.code, 0)
  t.match(bad.stderr, /backends\[0\]\.protocol/)
  t.notMatch(bad.stderr, /\n\s+at /, 'no stack trace')
  const unknown = cli('frobnicate')
  t.equal(unknown.code, 2)
  t.match(unknown.stderr, /unknown command "frobnicate"/)
  const taken = join(dir, 'taken.yaml')
  writeFileSync(taken, JSON.stringify({
    identity: { signing_key: join(dir, 'k2.jwk') },
    journal: { path: join(dir, 'j2.db') },
    backends: [{ name: 'qdrant', protocol: 'qdrant', listen: `127.0.0.1:${gw.port('qdrant')}`, upstream: upstream.address }],
    admin: { listen: '127.0.0.1:0' }
  }))
  const busy = cli('start', '--config', taken)
  t.equal(busy.code, 1)
  t.match(busy.stderr, /already in use; pick another listen port or stop what holds it/)
  t.equal(busy.stderr.trim().split('\n').length, 1, 'one line')
  const badFlag = cli('token', 'issue', '--config', configPath, '--sub', 'a', '--backend', 'qdrant', '--ttl', 'forever')
  t.equal(badFlag.code, 2)
  t.match(badFlag.stderr, /--ttl: expected a duration/)
})
