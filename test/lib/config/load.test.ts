import t from 'tap'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { loadConfig, parseConfig } from '../../../lib/config/load.js'

const dir = mkdtempSync(join(tmpdir(), 'vg-config-'))
const file = join(dir, 'vecgate.yaml')
const base = () => ({
  backends: [{ name: 'qdrant', protocol: 'qdrant', listen: '127.0.0.1:16334', upstream: '127.0.0.1:6334', credentials: { api_key: '${QKEY}' } }],
  policy: { rules: [{ id: 'r1', subjects: { groups: ['a'] }, backends: ['qdrant'], actions: ['read'], effect: 'allow' }] }
})

t.test('a valid file loads with defaults and relative paths resolved against it', async t => {
  writeFileSync(file, `
admin: { listen: 127.0.0.1:7070 }
identity: { signing_key: ./keys/signing.jwk, token_ttl: 5m, max_ttl: 1h }
backends:
  - name: qdrant
    protocol: qdrant
    listen: 127.0.0.1:16334
    upstream: 127.0.0.1:6334
    credentials: { api_key: "\${QKEY}" }
policy:
  rules:
    - { id: analysts-read, subjects: { groups: [analysts] }, backends: [qdrant], actions: [read, search], effect: allow, mask: pii }
masking:
  profiles:
    pii: { fields: [email], detectors: [email], action: redact, vectors: drop }
journal: { path: ./data/journal.db }
`)
  const c = loadConfig(file, { QKEY: 's3cret' })
  t.equal(c.backends[0].credentials.api_key, 's3cret')
  t.equal(c.identity.signing_key, join(dir, 'keys/signing.jwk'))
  t.equal(c.identity.token_ttl, 300)
  t.equal(c.journal.path, join(dir, 'data/journal.db'))
  t.equal(c.limits.max_message, 64 * 1024 * 1024)
  t.same(c.backends[0].listen, { host: '127.0.0.1', port: 16334 })
})

t.test('file: secrets', async t => {
  writeFileSync(join(dir, 'key.txt'), 'from-file\n')
  const raw = base()
  raw.backends[0].credentials.api_key = 'file:key.txt'
  t.equal(parseConfig(raw, file, {}).backends[0].credentials.api_key, 'from-file')
})

t.test('errors name the file, the key and what was expected; secrets never echoed', async t => {
  const cases: Array<[string, (r: any) => void, RegExp]> = [
    ['missing env', () => {}, /backends\[0\]\.credentials\.api_key: expected the environment variable QKEY to be set/],
    ['bad protocol', r => { r.backends[0].protocol = 'redis' }, /backends\[0\]\.protocol: expected one of qdrant, milvus, postgres, not "redis"/],
    ['bad listen', r => { r.backends[0].listen = 'nowhere' }, /backends\[0\]\.listen: expected host:port/],
    ['unknown backend in rule', r => { r.policy.rules[0].backends = ['pg'] }, /policy\.rules\[0\] \(id "r1"\)\.backends\[0\]: expected a configured backend/],
    ['unknown action', r => { r.policy.rules[0].actions = ['fly'] }, /actions\[0\]: expected one of read, search, write, delete, admin/],
    ['approve without approvers', r => { r.policy.rules[0].effect = 'approve' }, /approvers: expected approvers/],
    ['unknown mask', r => { r.policy.rules[0].mask = 'pii' }, /mask: expected a profile under masking\.profiles/],
    ['unknown top key', r => { r.polcy = {} }, /polcy: expected one of admin/],
    ['duplicate names', r => { r.backends.push({ ...r.backends[0], listen: '127.0.0.1:1' }) }, /a unique name/],
    ['no backends', r => { r.backends = [] }, /backends: expected at least one backend/]
  ]
  for (const [label, mutate, re] of cases) {
    const raw = base()
    mutate(raw)
    const env = label === 'missing env' ? {} : { QKEY: 'TOPSECRET' }
    t.throws(() => parseConfig(raw, file, env), { code: 'VG_ERR_CONFIG', message: re }, label)
    try { parseConfig(raw, file, env) } catch (e) { t.notMatch((e as Error).message, /TOPSECRET/, `${label}: no secret in the message`) }
  }
})

t.test('a missing file says how to point at one', async t => {
  t.throws(() => loadConfig(join(dir, 'nope.yaml')), { code: 'VG_ERR_CONFIG', message: /no such file \(pass --config FILE or set VECGATE_CONFIG\)/ })
})

t.test('trusted_extensions: names of extensions, for postgres backends only', async t => {
  const pgBackend = (extra: Record<string, unknown>) => ({ ...base(), backends: [{ name: 'pg', protocol: 'postgres', listen: '127.0.0.1:16432', upstream: '127.0.0.1:5432', credentials: { user: 'u' }, ...extra }], policy: { rules: [] } })
  t.same(parseConfig(pgBackend({ trusted_extensions: ['vector', 'postgis'] }), file).backends[0].trusted_extensions, ['vector', 'postgis'])
  t.equal(parseConfig(pgBackend({}), file).backends[0].trusted_extensions, undefined, 'default: lib/postgres/catalog.ts TRUSTED_EXTENSIONS')
  t.throws(() => parseConfig(pgBackend({ trusted_extensions: ["x') OR true --"] }), file), /trusted_extensions\[0\]/)
  t.throws(() => parseConfig({ ...base(), backends: [{ ...base().backends[0], trusted_extensions: ['vector'] }] }, file, { QKEY: 'k' }), /trusted_extensions: expected nothing: it is for postgres backends/)
})
