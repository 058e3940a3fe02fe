import { readFileSync } from 'node:fs'
import { dirname, isAbsolute, resolve } from 'node:path'
import { parse as parseYaml } from 'yaml'
import { ACTIONS, type Action, type Protocol } from '../../decoders/types.js'
import { VecgateError } from '../errors.js'
import type {
  BackendConfig, Config, HostPort, JournalConfig, LimitsConfig, MaskProfileConfig, OidcIssuerConfig,
  PolicyConfig, PolicyRuleConfig
} from './types.js'

/**
 * Loads and validates the one YAML file (CONTRACT.md "Configuration") once, at start. Every error
 * names the file, the key and what was expected. Secrets come from `${ENV}` or `file:/path`; their
 * values never appear in errors or logs.
 */
export function loadConfig (file: string, env: NodeJS.ProcessEnv = process.env): Config {
  const path = resolve(file)
  let text: string
  try {
    text = readFileSync(path, 'utf8')
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code
    throw new VecgateError('VG_ERR_CONFIG', code === 'ENOENT'
      ? `${path}: no such file (pass --config FILE or set VECGATE_CONFIG)`
      : `${path}: cannot read: ${(e as Error).message}`)
  }
  let raw: unknown
  try {
    raw = parseYaml(text)
  } catch (e) {
    throw new VecgateError('VG_ERR_CONFIG', `${path}: not valid YAML: ${(e as Error).message.split('\n')[0]}`)
  }
  return parseConfig(raw, path, env)
}

export const DEFAULT_LIMITS: LimitsConfig = {
  max_message: 64 * 1024 * 1024,
  max_header_list: 64 * 1024,
  max_streams_per_second: 100_000,
  idle_timeout: 300,
  pg_max_message: 64 * 1024 * 1024
}

export function parseConfig (raw: unknown, file: string, env: NodeJS.ProcessEnv = process.env): Config {
  const v = new Validator(file, env)
  const root = v.object(raw, '')
  const dir = dirname(file)
  const at = (p: string): string => isAbsolute(p) ? p : resolve(dir, p)

  const admin = v.object(root.admin ?? { listen: '127.0.0.1:7070' }, 'admin')
  const identityRaw = v.object(root.identity ?? {}, 'identity')
  const backendsRaw = v.array(root.backends, 'backends')
  if (backendsRaw.length === 0) v.fail('backends', 'at least one backend')

  const backends: BackendConfig[] = backendsRaw.map((b, i) => {
    const key = `backends[${i}]`
    const o = v.object(b, key)
    const protocol = v.oneOf(o.protocol, `${key}.protocol`, ['qdrant', 'milvus', 'postgres']) as Protocol
    const credentials: Record<string, string> = {}
    const creds = v.object(o.credentials ?? {}, `${key}.credentials`)
    for (const [k, val] of Object.entries(creds)) credentials[k] = v.secret(val, `${key}.credentials.${k}`)
    const backend: BackendConfig = {
      name: v.name(o.name, `${key}.name`),
      protocol,
      listen: v.hostPort(o.listen, `${key}.listen`),
      upstream: v.hostPort(o.upstream, `${key}.upstream`),
      credentials
    }
    if (o.tls !== undefined) {
      const t = v.object(o.tls, `${key}.tls`)
      backend.tls = { cert: at(v.string(t.cert, `${key}.tls.cert`)), key: at(v.string(t.key, `${key}.tls.key`)) }
      if (t.ca !== undefined) backend.tls.ca = at(v.string(t.ca, `${key}.tls.ca`))
    }
    if (o.upstream_tls !== undefined) {
      const t = o.upstream_tls === true ? {} : v.object(o.upstream_tls, `${key}.upstream_tls`)
      backend.upstream_tls = {}
      if (t.ca !== undefined) backend.upstream_tls.ca = at(v.string(t.ca, `${key}.upstream_tls.ca`))
      if (t.servername !== undefined) backend.upstream_tls.servername = v.string(t.servername, `${key}.upstream_tls.servername`)
      if (t.insecure !== undefined) backend.upstream_tls.insecure = v.bool(t.insecure, `${key}.upstream_tls.insecure`)
    }
    if (o.trusted_extensions !== undefined) {
      if (protocol !== 'postgres') v.fail(`${key}.trusted_extensions`, 'nothing: it is for postgres backends')
      backend.trusted_extensions = v.array(o.trusted_extensions, `${key}.trusted_extensions`).map((x, j) => {
        const name = v.string(x, `${key}.trusted_extensions[${j}]`)
        // extension names as pg_extension.extname holds them (PostgreSQL docs CREATE EXTENSION)
        if (!/^[A-Za-z_][A-Za-z0-9_-]*$/.test(name)) v.fail(`${key}.trusted_extensions[${j}]`, 'an extension name')
        return name
      })
    }
    return backend
  })
  const names = new Set<string>()
  const ports = new Set<string>()
  backends.forEach((b, i) => {
    if (names.has(b.name)) v.fail(`backends[${i}].name`, `a unique name (${b.name} is used twice)`)
    names.add(b.name)
    const l = `${b.listen.host}:${b.listen.port}`
    if (b.listen.port !== 0 && ports.has(l)) v.fail(`backends[${i}].listen`, `an address no other backend listens on (${l})`)
    ports.add(l)
  })

  const oidc: OidcIssuerConfig[] = v.array(identityRaw.oidc ?? [], 'identity.oidc').map((x, i) => {
    const o = v.object(x, `identity.oidc[${i}]`)
    return {
      issuer: v.string(o.issuer, `identity.oidc[${i}].issuer`),
      audience: v.string(o.audience ?? 'vecgate', `identity.oidc[${i}].audience`),
      groups_claim: v.string(o.groups_claim ?? 'groups', `identity.oidc[${i}].groups_claim`),
      algorithms: v.array(o.algorithms ?? ['RS256', 'ES256', 'PS256', 'EdDSA'], `identity.oidc[${i}].algorithms`).map((a, j) => {
        const alg = v.string(a, `identity.oidc[${i}].algorithms[${j}]`)
        if (alg === 'none' || alg.startsWith('HS')) v.fail(`identity.oidc[${i}].algorithms[${j}]`, 'an asymmetric algorithm (none and HS* are refused)')
        return alg
      }),
      ...(o.client_id !== undefined ? { client_id: v.string(o.client_id, `identity.oidc[${i}].client_id`) } : {})
    }
  })

  const tokenTtl = v.duration(identityRaw.token_ttl ?? '5m', 'identity.token_ttl')
  const maxTtl = v.duration(identityRaw.max_ttl ?? '1h', 'identity.max_ttl')
  if (tokenTtl > maxTtl) v.fail('identity.token_ttl', `at most identity.max_ttl (${maxTtl}s)`)

  const masking = v.object(root.masking ?? {}, 'masking')
  const profiles: Record<string, MaskProfileConfig> = {}
  for (const [name, p] of Object.entries(v.object(masking.profiles ?? {}, 'masking.profiles'))) {
    const key = `masking.profiles.${name}`
    const o = v.object(p, key)
    profiles[name] = {
      fields: v.array(o.fields ?? [], `${key}.fields`).map((f, i) => v.string(f, `${key}.fields[${i}]`)),
      detectors: v.array(o.detectors ?? [], `${key}.detectors`).map((f, i) => v.string(f, `${key}.detectors[${i}]`)),
      action: v.oneOf(o.action ?? 'redact', `${key}.action`, ['redact', 'hash', 'partial', 'null', 'drop']) as MaskProfileConfig['action'],
      vectors: v.oneOf(o.vectors ?? 'keep', `${key}.vectors`, ['keep', 'drop', 'round']) as MaskProfileConfig['vectors'],
      ...(o.round_bits !== undefined ? { round_bits: v.int(o.round_bits, `${key}.round_bits`, 1, 23) } : {})
    }
  }

  const policy = parsePolicy(v, v.object(root.policy ?? {}, 'policy'), new Set(backends.map(b => b.name)), new Set(Object.keys(profiles)))

  const j = v.object(root.journal ?? {}, 'journal')
  const journal: JournalConfig = {
    path: at(v.string(j.path ?? './data/journal.db', 'journal.path')),
    on_full: v.oneOf(j.on_full ?? 'hold', 'journal.on_full', ['hold', 'mark']) as JournalConfig['on_full'],
    queue: v.int(j.queue ?? 100_000, 'journal.queue', 100, 10_000_000),
    store_vectors: v.bool(j.store_vectors ?? false, 'journal.store_vectors'),
    auditors: v.strings(j.auditors ?? ['auditors'], 'journal.auditors'),
    durable: v.oneOf(j.durable ?? 'changes', 'journal.durable', ['all', 'changes']) as JournalConfig['durable']
  }
  if (j.retention !== undefined) {
    const r = v.object(j.retention, 'journal.retention')
    journal.retention = {}
    if (r.max_age !== undefined) journal.retention.max_age = v.duration(r.max_age, 'journal.retention.max_age')
    if (r.max_bytes !== undefined) journal.retention.max_bytes = v.size(r.max_bytes, 'journal.retention.max_bytes')
  }

  const l = v.object(root.limits ?? {}, 'limits')
  const limits: LimitsConfig = {
    max_message: l.max_message !== undefined ? v.size(l.max_message, 'limits.max_message') : DEFAULT_LIMITS.max_message,
    max_header_list: l.max_header_list !== undefined ? v.size(l.max_header_list, 'limits.max_header_list') : DEFAULT_LIMITS.max_header_list,
    max_streams_per_second: l.max_streams_per_second !== undefined ? v.int(l.max_streams_per_second, 'limits.max_streams_per_second', 1, 1e7) : DEFAULT_LIMITS.max_streams_per_second,
    idle_timeout: l.idle_timeout !== undefined ? v.duration(l.idle_timeout, 'limits.idle_timeout') : DEFAULT_LIMITS.idle_timeout,
    pg_max_message: l.pg_max_message !== undefined ? v.size(l.pg_max_message, 'limits.pg_max_message') : DEFAULT_LIMITS.pg_max_message
  }

  const config: Config = {
    file,
    admin: { listen: v.hostPort(admin.listen ?? '127.0.0.1:7070', 'admin.listen') },
    identity: {
      signing_key: at(v.string(identityRaw.signing_key ?? './data/signing.jwk', 'identity.signing_key')),
      token_ttl: tokenTtl,
      max_ttl: maxTtl,
      audience: v.string(identityRaw.audience ?? 'vecgate', 'identity.audience'),
      oidc
    },
    backends,
    policy,
    masking: { profiles },
    journal,
    limits
  }
  if (identityRaw.saml !== undefined) {
    const s = v.object(identityRaw.saml, 'identity.saml')
    config.identity.saml = {
      idp_cert: at(v.string(s.idp_cert, 'identity.saml.idp_cert')),
      audience: v.string(s.audience ?? 'vecgate', 'identity.saml.audience'),
      acs_url: v.string(s.acs_url, 'identity.saml.acs_url'),
      groups_attribute: v.string(s.groups_attribute ?? 'groups', 'identity.saml.groups_attribute')
    }
  }
  for (const k of Object.keys(root)) {
    if (!['admin', 'identity', 'backends', 'policy', 'masking', 'journal', 'limits'].includes(k)) {
      v.fail(k, 'one of admin, identity, backends, policy, masking, journal, limits (unknown key)')
    }
  }
  return config
}

function parsePolicy (v: Validator, p: Record<string, unknown>, backends: Set<string>, profiles: Set<string>): PolicyConfig {
  const ids = new Set<string>()
  const rules: PolicyRuleConfig[] = v.array(p.rules ?? [], 'policy.rules').map((r, i) => {
    const o = v.object(r, `policy.rules[${i}]`)
    const id = v.name(o.id ?? `rule-${i + 1}`, `policy.rules[${i}].id`)
    const key = `policy.rules[${i}] (id "${id}")`
    if (ids.has(id)) v.fail(`${key}.id`, 'a unique rule id')
    ids.add(id)
    const rule: PolicyRuleConfig = { id, effect: v.oneOf(o.effect, `${key}.effect`, ['allow', 'deny', 'approve']) as PolicyRuleConfig['effect'] }
    if (o.subjects !== undefined) {
      const s = v.object(o.subjects, `${key}.subjects`)
      rule.subjects = {}
      if (s.users !== undefined) rule.subjects.users = v.strings(s.users, `${key}.subjects.users`)
      if (s.groups !== undefined) rule.subjects.groups = v.strings(s.groups, `${key}.subjects.groups`)
      if (s.claims !== undefined) rule.subjects.claims = v.object(s.claims, `${key}.subjects.claims`) as Record<string, string | string[]>
    }
    if (o.backends !== undefined) {
      rule.backends = v.strings(o.backends, `${key}.backends`)
      rule.backends.forEach((b, j) => { if (!backends.has(b)) v.fail(`${key}.backends[${j}]`, `a configured backend (${[...backends].join(', ')}), not "${b}"`) })
    }
    if (o.collections !== undefined) rule.collections = v.strings(o.collections, `${key}.collections`)
    if (o.actions !== undefined) {
      rule.actions = v.strings(o.actions, `${key}.actions`).map((a, j) => v.oneOf(a, `${key}.actions[${j}]`, ACTIONS as unknown as string[]) as Action)
    }
    if (o.when !== undefined) rule.when = v.object(o.when, `${key}.when`) as PolicyRuleConfig['when']
    if (o.mask !== undefined) {
      rule.mask = v.string(o.mask, `${key}.mask`)
      if (!profiles.has(rule.mask)) v.fail(`${key}.mask`, `a profile under masking.profiles (${[...profiles].join(', ') || 'none defined'}), not "${rule.mask}"`)
    }
    if (o.approvers !== undefined) {
      const a = v.object(o.approvers, `${key}.approvers`)
      rule.approvers = {}
      if (a.groups !== undefined) rule.approvers.groups = v.strings(a.groups, `${key}.approvers.groups`)
      if (a.users !== undefined) rule.approvers.users = v.strings(a.users, `${key}.approvers.users`)
      rule.approvers.count = v.int(a.count ?? 1, `${key}.approvers.count`, 1, 100)
    }
    if (rule.effect === 'approve' && rule.approvers === undefined) v.fail(`${key}.approvers`, 'approvers (groups or users) for an approve rule')
    return rule
  })
  const policy: PolicyConfig = {
    rules,
    approval_hold: v.duration(p.approval_hold ?? '30s', 'policy.approval_hold'),
    approval_ttl: v.duration(p.approval_ttl ?? '15m', 'policy.approval_ttl')
  }
  if (p.webhook !== undefined) {
    const w = v.object(p.webhook, 'policy.webhook')
    policy.webhook = { url: v.secret(w.url, 'policy.webhook.url') }
  }
  if (p.limits !== undefined) {
    const l = v.object(p.limits, 'policy.limits')
    policy.limits = { window: v.duration(l.window ?? '1m', 'policy.limits.window') }
    if (l.requests !== undefined) policy.limits.requests = v.int(l.requests, 'policy.limits.requests', 1, 1e9)
    if (l.records !== undefined) policy.limits.records = v.int(l.records, 'policy.limits.records', 1, 1e12)
    if (l.vectors !== undefined) policy.limits.vectors = v.int(l.vectors, 'policy.limits.vectors', 1, 1e12)
  }
  return policy
}

class Validator {
  constructor (private readonly file: string, private readonly env: NodeJS.ProcessEnv) {}

  fail (key: string, expected: string): never {
    throw new VecgateError('VG_ERR_CONFIG', `${this.file}: ${key === '' ? 'the file' : key}: expected ${expected}`)
  }

  object (x: unknown, key: string): Record<string, any> {
    if (x === null || typeof x !== 'object' || Array.isArray(x)) this.fail(key, 'a mapping')
    return x as Record<string, any>
  }

  array (x: unknown, key: string): unknown[] {
    if (!Array.isArray(x)) this.fail(key, 'a list')
    return x
  }

  string (x: unknown, key: string): string {
    if (typeof x !== 'string' || x === '') this.fail(key, 'a non-empty string')
    return x
  }

  strings (x: unknown, key: string): string[] {
    return this.array(x, key).map((s, i) => this.string(s, `${key}[${i}]`))
  }

  name (x: unknown, key: string): string {
    const s = this.string(x, key)
    if (!/^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/.test(s)) this.fail(key, 'a name of letters, digits, _ . - (at most 63)')
    return s
  }

  bool (x: unknown, key: string): boolean {
    if (typeof x !== 'boolean') this.fail(key, 'true or false')
    return x
  }

  int (x: unknown, key: string, min: number, max: number): number {
    if (typeof x !== 'number' || !Number.isInteger(x) || x < min || x > max) this.fail(key, `a whole number from ${min} to ${max}`)
    return x
  }

  oneOf (x: unknown, key: string, options: string[]): string {
    if (typeof x !== 'string' || !options.includes(x)) this.fail(key, `one of ${options.join(', ')}${x === undefined ? '' : `, not ${JSON.stringify(x)}`}`)
    return x
  }

  hostPort (x: unknown, key: string): HostPort {
    const s = typeof x === 'number' ? `127.0.0.1:${x}` : this.string(x, key)
    const m = /^(?:\[([0-9a-fA-F:]+)\]|([^:]+)):(\d{1,5})$/.exec(s)
    if (m === null || Number(m[3]) > 65535) this.fail(key, `host:port (e.g. 127.0.0.1:16334), not ${JSON.stringify(s)}`)
    return { host: m[1] ?? m[2], port: Number(m[3]) }
  }

  /** "90", "90s", "5m", "1h", "2d" → seconds */
  duration (x: unknown, key: string): number {
    if (typeof x === 'number' && x >= 0) return x
    const m = typeof x === 'string' ? /^(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?$/.exec(x) : null
    if (m === null) this.fail(key, 'a duration like 30s, 5m, 1h')
    const n = Number(m[1])
    const unit = m[2] ?? 's'
    return unit === 'ms' ? n / 1000 : unit === 's' ? n : unit === 'm' ? n * 60 : unit === 'h' ? n * 3600 : n * 86400
  }

  /** 1048576, "64MB", "512KiB" → bytes */
  size (x: unknown, key: string): number {
    if (typeof x === 'number' && Number.isInteger(x) && x > 0) return x
    const m = typeof x === 'string' ? /^(\d+)\s*(B|KB|KiB|MB|MiB|GB|GiB)?$/i.exec(x) : null
    if (m === null) this.fail(key, 'a size like 64MB')
    const mult: Record<string, number> = { b: 1, kb: 1024, kib: 1024, mb: 1024 ** 2, mib: 1024 ** 2, gb: 1024 ** 3, gib: 1024 ** 3 }
    return Number(m[1]) * mult[(m[2] ?? 'b').toLowerCase()]
  }

  /** a secret: literal, "${ENV}", or "file:/path" — resolved now, never echoed */
  secret (x: unknown, key: string): string {
    if (typeof x === 'number' || typeof x === 'boolean') return String(x)
    const s = this.string(x, key)
    const env = /^\$\{([A-Za-z_][A-Za-z0-9_]*)\}$/.exec(s)
    if (env !== null) {
      const value = this.env[env[1]]
      if (value === undefined || value === '') this.fail(key, `the environment variable ${env[1]} to be set`)
      return value
    }
    if (s.startsWith('file:')) {
      const p = s.slice(5)
      try {
        return readFileSync(isAbsolute(p) ? p : resolve(dirname(this.file), p), 'utf8').trim()
      } catch {
        this.fail(key, `a readable secret file at ${p}`)
      }
    }
    return s
  }
}
