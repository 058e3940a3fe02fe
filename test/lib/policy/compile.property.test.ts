/**
 * Property: no request is allowed without a rule that allows it. Random rules, identities and
 * operations are checked against a naive reference written from the rule semantics in
 * lib/policy/rules.ts (regexps rebuilt per call, no index, no precompiled sets).
 */
import t from 'tap'
import type { Action, Identity, Operation } from '../../../decoders/types.js'
import { ACTIONS } from '../../../decoders/types.js'
import type { PolicyRuleConfig } from '../../../lib/config/types.js'
import { compilePolicy } from '../../../lib/policy/compile.js'

const SEED = Number(process.env.POLICY_SEED ?? 20250304)
const CASES = 4000

function mulberry32 (seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6D2B79F5) >>> 0
    let x = Math.imul(a ^ (a >>> 15), 1 | a)
    x = (x + Math.imul(x ^ (x >>> 7), 61 | x)) ^ x
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296
  }
}
const rnd = mulberry32(SEED)
const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)]
const maybe = (p = 0.5): boolean => rnd() < p
const some = <T>(xs: readonly T[], max = 3): T[] => {
  const n = 1 + Math.floor(rnd() * max)
  return [...new Set(Array.from({ length: n }, () => pick(xs)))]
}

const BACKENDS = ['qdrant', 'pg', 'milvus']
const USERS = ['alice', 'bob', 'carol', 'ops']
const GROUPS = ['analysts', 'security', 'ops', 'dba']
const NAMES = ['docs', 'docs_1', 'items', 'public.items', 'secret.items', 'secret', 'users', 'public.users']
const GLOBS = ['*', 'docs', 'docs_*', 'doc?_1', 'items', 'public.items', 'public.*', '*.items', 'secret*', 's*.items', 'users', 'p*c.users', '*s', 'hr.docs', 'hr.*', 'default.items']
const HOURS = ['08:00-18:00', '22:00-06:00', '00:00-12:00', '12:00-24:00', '06:30-07:45']

function randomRule (i: number): PolicyRuleConfig {
  const effect = pick(['allow', 'allow', 'deny', 'approve'] as const)
  const r: PolicyRuleConfig = { id: `r${i}`, effect }
  if (maybe(0.6)) {
    r.subjects = {}
    if (maybe()) r.subjects.users = some(USERS)
    if (maybe()) r.subjects.groups = some(GROUPS)
    if (maybe(0.3)) r.subjects.claims = maybe() ? { dept: some(['fin', 'eng']) } : { mfa: 'true' }
    if (Object.keys(r.subjects).length === 0) r.subjects.groups = some(GROUPS)
  }
  if (maybe()) r.backends = some(BACKENDS, 2)
  if (maybe(0.6)) r.collections = some(GLOBS)
  if (maybe(0.7)) r.actions = some(ACTIONS)
  if (maybe(0.5)) {
    r.when = {}
    if (maybe()) r.when.bulk = maybe()
    if (maybe(0.3)) r.when.max_ids = Math.floor(rnd() * 4)
    if (maybe(0.3)) r.when.max_limit = Math.floor(rnd() * 150)
    if (maybe(0.3)) r.when.with_vectors = maybe()
    if (maybe(0.3)) r.when.hours = pick(HOURS)
  }
  if (effect !== 'deny' && maybe(0.3)) r.mask = 'pii'
  if (effect === 'approve') r.approvers = { groups: ['security'], count: 1 }
  return r
}

function randomIdentity (): Identity {
  const claims: Record<string, unknown> = {}
  if (maybe()) claims.dept = pick(['fin', 'eng', 'hr'])
  if (maybe()) claims.mfa = maybe()
  return { subject: pick(USERS), groups: maybe(0.8) ? some(GROUPS) : [], claims, source: 'grant', issuer: 'vecgate', expiresAt: 4e9 }
}

function randomOp (): Operation {
  const backend = pick([...BACKENDS, 'elsewhere'])
  const op: Operation = {
    backend,
    protocol: backend === 'pg' ? 'postgres' : backend === 'milvus' ? 'milvus' : 'qdrant',
    method: 'm',
    action: pick(ACTIONS),
    bulk: maybe(),
    summary: {}
  }
  if (op.protocol === 'milvus' && maybe()) op.database = pick(['default', 'hr', 'archive'])
  if (maybe(0.85)) op.collection = pick(NAMES)
  if (maybe(0.2)) op.collections = some(NAMES)
  if (maybe()) op.ids = Array.from({ length: Math.floor(rnd() * 6) }, (_, i) => i)
  if (maybe()) op.limit = Math.floor(rnd() * 200)
  if (maybe(0.7)) op.withVectors = maybe()
  return op
}

// ---- the reference ------------------------------------------------------------------------------

const globRe = (p: string): RegExp =>
  new RegExp('^' + [...p].map(c => c === '*' ? '.*' : c === '?' ? '.' : c.replace(/[.+^$()|]/g, '\\$&')).join('') + '$', 's')

function nameMatches (pattern: string, name: string, op: Operation, restrictive: boolean): boolean {
  if (pattern === '*') return true
  if (op.protocol === 'milvus') {
    const p = pattern.includes('.') ? pattern : `${restrictive ? '*' : 'default'}.${pattern}`
    return globRe(p).test(`${op.database ?? 'default'}.${name}`)
  }
  if (op.protocol !== 'postgres') return globRe(pattern).test(name)
  const qualified = name.includes('.') ? name : `public.${name}`
  const p = pattern.includes('.') ? pattern : `${restrictive ? '*' : 'public'}.${pattern}`
  return globRe(p).test(qualified)
}

function refMatches (r: PolicyRuleConfig, id: Identity, op: Operation, minute: number): boolean {
  const restrictive = r.effect !== 'allow'
  if (r.backends !== undefined && !r.backends.includes(op.backend)) return false
  if (r.actions !== undefined && !r.actions.includes(op.action)) return false
  const s = r.subjects
  if (s?.users !== undefined || s?.groups !== undefined) {
    if (!(s.users ?? []).includes(id.subject) && !id.groups.some(g => (s.groups ?? []).includes(g))) return false
  }
  for (const [k, want] of Object.entries(s?.claims ?? {})) {
    const have = id.claims[k]
    const values = (Array.isArray(have) ? have : [have]).filter(v => ['string', 'number', 'boolean'].includes(typeof v)).map(String)
    if (!values.some(v => (Array.isArray(want) ? want : [want]).includes(v))) return false
  }
  if (r.collections !== undefined) {
    const names = [...(op.collection !== undefined ? [op.collection] : []), ...(op.collections ?? [])]
    if (names.length === 0) {
      if (!(restrictive && op.action === 'admin')) return false
    } else {
      const hit = (n: string): boolean => r.collections!.some(p => nameMatches(p, n, op, restrictive))
      if (restrictive ? !names.some(hit) : !names.every(hit)) return false
    }
  }
  const w = r.when ?? {}
  if (w.bulk !== undefined && w.bulk !== op.bulk) return false
  if (w.with_vectors !== undefined && w.with_vectors !== (op.withVectors === true)) return false
  if (w.max_ids !== undefined) {
    const within = op.ids !== undefined && op.ids.length <= w.max_ids
    if (within === restrictive) return false
  }
  if (w.max_limit !== undefined) {
    const within = op.limit !== undefined && op.limit <= w.max_limit
    if (within === restrictive) return false
  }
  if (w.hours !== undefined) {
    const [a, b] = w.hours.split('-').map(x => Number(x.slice(0, 2)) * 60 + Number(x.slice(3)))
    if (!(a < b ? minute >= a && minute < b : minute >= a || minute < b)) return false
  }
  return true
}

// ---- the property -------------------------------------------------------------------------------

t.test(`${CASES} random policies and requests (seed ${SEED})`, async t => {
  let allowed = 0
  let checked = 0
  for (let c = 0; c < CASES; c++) {
    const rules = Array.from({ length: 1 + Math.floor(rnd() * 8) }, (_, i) => randomRule(i))
    const now = Date.UTC(2025, 2, 4) + Math.floor(rnd() * 86_400_000)
    const minute = Math.floor((now % 86_400_000) / 60_000)
    const policy = compilePolicy({ rules, approval_hold: 30, approval_ttl: 900 }, { backends: BACKENDS, profiles: ['pii'], now: () => now })
    for (let k = 0; k < 5; k++) {
      const id = randomIdentity()
      const op = randomOp()
      const v = policy.decide(id, op)
      const matching = rules.filter(r => refMatches(r, id, op, minute))
      const first = (e: string) => matching.find(r => r.effect === e)
      const expected = first('deny') ?? first('approve') ?? first('allow')
      const context = () => JSON.stringify({ rules, id, op, minute, verdict: v })
      checked++
      if (v.effect === 'allow') {
        allowed++
        if (!matching.some(r => r.effect === 'allow') || matching.some(r => r.effect !== 'allow')) {
          t.fail(`allowed without a sole allowing rule: ${context()}`)
          return
        }
      }
      if (v.effect !== (expected?.effect ?? 'deny') || v.rule !== expected?.id) {
        t.fail(`verdict differs from the reference (${expected?.effect ?? 'deny'} ${expected?.id ?? ''}): ${context()}`)
        return
      }
      if (v.effect === 'allow' && v.mask !== expected?.mask) {
        t.fail(`allow carries the wrong mask: ${context()}`)
        return
      }
      if (v.effect === 'approve' && v.mask !== (expected?.mask ?? first('allow')?.mask)) {
        t.fail(`approve carries the wrong mask: ${context()}`)
        return
      }
      const ex = policy.explain(id, op)
      const explained = ex.rules.filter(r => r.matched).map(r => r.id)
      if (explained.join() !== matching.map(r => r.id).join()) {
        t.fail(`explain disagrees with the reference (${explained.join()} vs ${matching.map(r => r.id).join()}): ${context()}`)
        return
      }
    }
  }
  t.pass(`${checked} decisions agree with the reference; ${allowed} allowed`)
  t.ok(allowed > checked / 50, 'the generator produces enough allows to mean something')
})

t.test('an action outside the model is never allowed, whatever the rules', async t => {
  const policy = compilePolicy({ rules: [{ id: 'all', effect: 'allow' }], approval_hold: 30, approval_ttl: 900 }, { backends: BACKENDS, profiles: [] })
  for (const action of ['', 'READ', 'constructor', '__proto__', 'drop'] as unknown as Action[]) {
    t.equal(policy.decide(randomIdentity(), { ...randomOp(), action }).effect, 'deny', JSON.stringify(action))
  }
})
