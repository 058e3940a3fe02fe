/**
 * One policy rule: validated and compiled once at start (CONTRACT.md "Configuration"), then matched
 * on every request by `matchCode`, which only does Set lookups and number compares.
 *
 * What a rule's parts mean (README and `vecgate policy check` explain the same):
 *  - subjects: the caller is one of `users`, or in one of `groups`; `claims`, when given, must all hold
 *    as well (a claim holds when its value, or one element of it, is one of the listed values).
 *    No subjects: any authenticated caller.
 *  - backends, actions: lists; absent means any.
 *  - collections: globs (lib/policy/glob.ts). An allow rule matches only when every collection the
 *    request touches is listed; a deny or approve rule when any one is. A rule naming collections
 *    never allows a request that names none; a deny or approve rule naming collections does apply to
 *    an `admin` request that names none, because its target is unknown (fail closed).
 *  - when.bulk, when.with_vectors: must equal the request's.
 *  - when.max_ids, when.max_limit are bounds: an allow rule allows only requests within them, a deny or
 *    approve rule applies only beyond them ("approval needed past 100 ids"). A request that names no
 *    ids or no limit is unbounded, hence beyond.
 *  - when.hours: 'HH:MM-HH:MM' in UTC, end exclusive; a range that ends before it starts runs over midnight.
 */
import type { Action, Effect, Identity, Operation, Verdict } from '../../decoders/types.js'
import { ACTIONS } from '../../decoders/types.js'
import type { PolicyRuleConfig } from '../config/types.js'
import { VecgateError } from '../errors.js'
import { CollectionGlobs, globProblem } from './glob.js'

/**
 * Why a rule does not apply (0: it does). Plain numbers rather than an enum: the hot path compares
 * them without a property lookup.
 */
export type Miss = number
export const MISS = Object.freeze({
  None: 0,
  Subject: 1,
  Claims: 2,
  Backend: 3,
  Action: 4,
  NoCollection: 5,
  Collection: 6,
  Bulk: 7,
  Ids: 8,
  Limit: 9,
  Vectors: 10,
  Hours: 11
})
const NONE = 0
const SUBJECT = 1
const CLAIMS = 2
const BACKEND = 3
const ACTION = 4
const NO_COLLECTION = 5
const COLLECTION = 6
const BULK = 7
const IDS = 8
const LIMIT = 9
const VECTORS = 10
const HOURS_MISS = 11

export interface CompiledRule {
  readonly index: number
  readonly id: string
  readonly effect: Effect
  /** true for allow: collections must all match and bounds must hold */
  readonly permissive: boolean
  readonly users?: ReadonlySet<string>
  readonly groups?: ReadonlySet<string>
  readonly claims?: ReadonlyArray<readonly [string, ReadonlySet<string>]>
  readonly backends?: ReadonlySet<string>
  readonly actions?: ReadonlySet<Action>
  readonly collections?: CollectionGlobs
  readonly bulk?: boolean
  readonly maxIds?: number
  readonly maxLimit?: number
  readonly withVectors?: boolean
  /** minutes of the UTC day, end exclusive */
  readonly hours?: { readonly from: number, readonly to: number, readonly text: string }
  readonly mask?: string
  readonly approvers?: Readonly<{ groups?: string[], users?: string[], count: number }>
  /** the verdict this rule returns, built once */
  readonly verdict: Verdict
  readonly config: PolicyRuleConfig
}

const RULE_KEYS = new Set(['id', 'subjects', 'backends', 'collections', 'actions', 'when', 'effect', 'mask', 'approvers'])
const SUBJECT_KEYS = new Set(['users', 'groups', 'claims'])
const WHEN_KEYS = new Set(['bulk', 'max_ids', 'max_limit', 'with_vectors', 'hours'])
const APPROVER_KEYS = new Set(['groups', 'users', 'count'])
const EFFECTS: readonly Effect[] = ['allow', 'deny', 'approve']
const HOURS = /^([01]\d|2[0-3]):([0-5]\d)-([01]\d|2[0-3]|24):([0-5]\d)$/

export interface RuleContext {
  backends: ReadonlySet<string>
  profiles: ReadonlySet<string>
  /** prefix for error messages, e.g. the config file */
  file?: string
}

export function compileRule (cfg: PolicyRuleConfig, index: number, ctx: RuleContext): CompiledRule {
  const raw = cfg as unknown as Record<string, unknown>
  const idText = typeof raw?.id === 'string' ? ` (id "${raw.id}")` : ''
  const key = `policy.rules[${index}]${idText}`
  const fail = (k: string, expected: string): never => {
    throw new VecgateError('VG_ERR_CONFIG', `${ctx.file !== undefined ? `${ctx.file}: ` : ''}${key}${k}: expected ${expected}`)
  }
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) fail('', 'a mapping')
  if (typeof raw.id !== 'string' || raw.id === '') fail('.id', 'a rule id (a non-empty string)')
  for (const k of Object.keys(raw)) if (!RULE_KEYS.has(k)) fail(`.${k}`, `one of ${[...RULE_KEYS].join(', ')} (unknown key)`)
  if (!EFFECTS.includes(cfg.effect)) fail('.effect', `allow, deny or approve, not ${JSON.stringify(cfg.effect)}`)
  const effect = cfg.effect

  const strings = (x: unknown, k: string): string[] => {
    if (!Array.isArray(x) || x.length === 0) fail(k, 'a non-empty list of names')
    ;(x as unknown[]).forEach((s, i) => { if (typeof s !== 'string' || s === '') fail(`${k}[${i}]`, 'a non-empty string') })
    return x as string[]
  }
  const mapping = (x: unknown, k: string, keys: Set<string>): Record<string, unknown> => {
    if (x === null || typeof x !== 'object' || Array.isArray(x)) fail(k, 'a mapping')
    for (const kk of Object.keys(x as object)) if (!keys.has(kk)) fail(`${k}.${kk}`, `one of ${[...keys].join(', ')} (unknown key)`)
    return x as Record<string, unknown>
  }

  let users: Set<string> | undefined
  let groups: Set<string> | undefined
  let claims: Array<[string, Set<string>]> | undefined
  if (cfg.subjects !== undefined) {
    const s = mapping(cfg.subjects, '.subjects', SUBJECT_KEYS)
    if (s.users !== undefined) users = new Set(strings(s.users, '.subjects.users'))
    if (s.groups !== undefined) groups = new Set(strings(s.groups, '.subjects.groups'))
    if (s.claims !== undefined) {
      const c = mapping(s.claims, '.subjects.claims', new Set(Object.keys(s.claims as object)))
      // YAML turns `email_verified: true` and `level: 3` into scalars; claims compare as text
      const scalar = (x: unknown): x is string | number | boolean => typeof x === 'string' || typeof x === 'number' || typeof x === 'boolean'
      claims = Object.entries(c).map(([name, v]) => {
        const k = `.subjects.claims.${name}`
        const values = Array.isArray(v) && v.length > 0 ? v : [v]
        values.forEach((x, i) => { if (!scalar(x) || x === '') fail(Array.isArray(v) ? `${k}[${i}]` : k, 'a value or list of values (strings, numbers, true/false)') })
        return [name, new Set(values.map(String))]
      })
      if (claims.length === 0) fail('.subjects.claims', 'at least one claim')
    }
    if (users === undefined && groups === undefined && claims === undefined) fail('.subjects', 'users, groups or claims (or no subjects key to match anyone)')
  }

  let backends: Set<string> | undefined
  if (cfg.backends !== undefined) {
    backends = new Set(strings(cfg.backends, '.backends'))
    cfg.backends.forEach((b, i) => {
      if (!ctx.backends.has(b)) fail(`.backends[${i}]`, `a configured backend (${[...ctx.backends].join(', ') || 'none defined'}), not "${b}"`)
    })
  }

  let actions: Set<Action> | undefined
  if (cfg.actions !== undefined) {
    actions = new Set(strings(cfg.actions, '.actions') as Action[])
    cfg.actions.forEach((a, i) => { if (!ACTIONS.includes(a)) fail(`.actions[${i}]`, `one of ${ACTIONS.join(', ')}, not "${a}"`) })
  }

  let collections: CollectionGlobs | undefined
  if (cfg.collections !== undefined) {
    strings(cfg.collections, '.collections').forEach((p, i) => {
      const problem = globProblem(p)
      if (problem !== undefined) fail(`.collections[${i}]`, problem)
    })
    collections = new CollectionGlobs(cfg.collections, effect !== 'allow')
  }

  const w = cfg.when !== undefined ? mapping(cfg.when, '.when', WHEN_KEYS) : {}
  const bool = (k: string): boolean | undefined => {
    if (w[k] === undefined) return undefined
    if (typeof w[k] !== 'boolean') fail(`.when.${k}`, 'true or false')
    return w[k] as boolean
  }
  const count = (k: string): number | undefined => {
    if (w[k] === undefined) return undefined
    if (!Number.isSafeInteger(w[k]) || (w[k] as number) < 0) fail(`.when.${k}`, 'a whole number, 0 or more')
    return w[k] as number
  }
  let hours: CompiledRule['hours']
  if (w.hours !== undefined) {
    const m = typeof w.hours === 'string' ? HOURS.exec(w.hours) : null
    if (m === null) fail('.when.hours', `'HH:MM-HH:MM' in UTC, e.g. 08:00-18:00 or 22:00-06:00, not ${JSON.stringify(w.hours)}`)
    const from = Number(m![1]) * 60 + Number(m![2])
    const to = Number(m![3]) * 60 + Number(m![4])
    if (to > 24 * 60) fail('.when.hours', `an end no later than 24:00, not ${String(w.hours)}`)
    if (from === to) fail('.when.hours', `a start different from the end (for the whole day leave hours out), not ${String(w.hours)}`)
    hours = Object.freeze({ from, to, text: w.hours as string })
  }

  if (cfg.mask !== undefined) {
    if (typeof cfg.mask !== 'string' || !ctx.profiles.has(cfg.mask)) {
      fail('.mask', `a profile under masking.profiles (${[...ctx.profiles].join(', ') || 'none defined'}), not ${JSON.stringify(cfg.mask)}`)
    }
    if (effect === 'deny') fail('.mask', 'no mask on a deny rule (nothing is returned to mask)')
  }

  let approvers: CompiledRule['approvers']
  if (effect === 'approve') {
    if (cfg.approvers === undefined) fail('.approvers', 'approvers (groups or users, and a count) for an approve rule')
    const a = mapping(cfg.approvers, '.approvers', APPROVER_KEYS)
    const ag = a.groups !== undefined ? strings(a.groups, '.approvers.groups') : undefined
    const au = a.users !== undefined ? strings(a.users, '.approvers.users') : undefined
    if (ag === undefined && au === undefined) fail('.approvers', 'groups or users who may approve')
    const n = a.count ?? 1
    if (!Number.isSafeInteger(n) || (n as number) < 1) fail('.approvers.count', 'a whole number, 1 or more')
    if (ag === undefined && (n as number) > au!.length) fail('.approvers.count', `at most ${au!.length}, the number of approver users listed`)
    approvers = Object.freeze({ ...(ag !== undefined ? { groups: [...ag] } : {}), ...(au !== undefined ? { users: [...au] } : {}), count: n as number })
  } else if (cfg.approvers !== undefined) {
    fail('.approvers', `no approvers on an ${effect} rule (only effect: approve asks for approval)`)
  }

  const id = cfg.id
  const verdict: Verdict = Object.freeze({
    effect,
    rule: id,
    reason: effect === 'allow' ? `allowed by rule "${id}"`
      : effect === 'deny' ? `denied by rule "${id}"`
        : `rule "${id}" requires approval by ${approverText(approvers!)}`,
    ...(cfg.mask !== undefined ? { mask: cfg.mask } : {}),
    ...(approvers !== undefined ? { approvers } : {})
  })

  return Object.freeze({
    index,
    id,
    effect,
    permissive: effect === 'allow',
    users,
    groups,
    claims,
    backends,
    actions,
    collections,
    bulk: bool('bulk'),
    maxIds: count('max_ids'),
    maxLimit: count('max_limit'),
    withVectors: bool('with_vectors'),
    hours,
    mask: cfg.mask,
    approvers,
    verdict,
    config: cfg
  })
}

/** "1 of group security", "2 of groups security, dba or user carol" */
export function approverText (a: { groups?: string[], users?: string[], count: number }): string {
  const who: string[] = []
  if (a.groups !== undefined) who.push(`${a.groups.length === 1 ? 'group' : 'groups'} ${a.groups.join(', ')}`)
  if (a.users !== undefined) who.push(`${a.users.length === 1 ? 'user' : 'users'} ${a.users.join(', ')}`)
  return `${a.count} of ${who.join(' or ')}`
}

/** Minutes since UTC midnight. */
export const minuteOfDay = (epochMs: number): number => Math.floor((epochMs % 86_400_000) / 60_000)

const scalarIn = (v: unknown, wanted: ReadonlySet<string>): boolean =>
  typeof v === 'string' ? wanted.has(v) : (typeof v === 'number' || typeof v === 'boolean') && wanted.has(String(v))

function claimHolds (value: unknown, wanted: ReadonlySet<string>): boolean {
  if (!Array.isArray(value)) return scalarIn(value, wanted)
  for (let i = 0; i < value.length; i++) if (scalarIn(value[i], wanted)) return true
  return false
}

/** The first claim of the rule that does not hold, or undefined. */
export function failingClaim (rule: CompiledRule, identity: Identity): string | undefined {
  const c = rule.claims
  if (c === undefined) return undefined
  for (let i = 0; i < c.length; i++) if (!claimHolds(identity.claims[c[i][0]], c[i][1])) return c[i][0]
  return undefined
}

function subjectHolds (rule: CompiledRule, identity: Identity): boolean {
  if (rule.users === undefined && rule.groups === undefined) return true
  if (rule.users?.has(identity.subject) === true) return true
  const g = rule.groups
  if (g !== undefined) {
    const mine = identity.groups
    for (let i = 0; i < mine.length; i++) if (g.has(mine[i])) return true
  }
  return false
}

function collectionsMiss (rule: CompiledRule, op: Operation): Miss {
  const globs = rule.collections!
  const { protocol, database } = op
  const c = op.collection
  const more = op.collections
  if (c === undefined && (more === undefined || more.length === 0)) {
    return !rule.permissive && op.action === 'admin' ? NONE : NO_COLLECTION
  }
  if (rule.permissive) {
    if (c !== undefined && !globs.test(c, protocol, database)) return COLLECTION
    if (more !== undefined) for (let i = 0; i < more.length; i++) if (!globs.test(more[i], protocol, database)) return COLLECTION
    return NONE
  }
  if (c !== undefined && globs.test(c, protocol, database)) return NONE
  if (more !== undefined) for (let i = 0; i < more.length; i++) if (globs.test(more[i], protocol, database)) return NONE
  return COLLECTION
}

/** A bound holds when the count is known and within it; allow rules need it to, others apply past it. */
const within = (n: number | undefined, max: number): boolean => n !== undefined && n <= max

/**
 * Why the rule does not apply to the request, or NONE when it does. `minute` is the UTC
 * minute of the day (only read when the rule has hours).
 */
export function matchCode (rule: CompiledRule, identity: Identity, op: Operation, minute: number): Miss {
  if (rule.backends !== undefined && !rule.backends.has(op.backend)) return BACKEND
  if (rule.actions !== undefined && !rule.actions.has(op.action)) return ACTION
  if (!subjectHolds(rule, identity)) return SUBJECT
  if (rule.claims !== undefined && failingClaim(rule, identity) !== undefined) return CLAIMS
  if (rule.collections !== undefined) {
    const m = collectionsMiss(rule, op)
    if (m !== NONE) return m
  }
  if (rule.bulk !== undefined && op.bulk !== rule.bulk) return BULK
  if (rule.withVectors !== undefined && (op.withVectors === true) !== rule.withVectors) return VECTORS
  if (rule.maxIds !== undefined && within(op.ids?.length, rule.maxIds) !== rule.permissive) return IDS
  if (rule.maxLimit !== undefined && within(op.limit, rule.maxLimit) !== rule.permissive) return LIMIT
  if (rule.hours !== undefined) {
    const { from, to } = rule.hours
    const inside = from < to ? minute >= from && minute < to : minute >= from || minute < to
    if (!inside) return HOURS_MISS
  }
  return NONE
}

/**
 * The rules of one effect for one backend and action, indexed by subject: a caller only meets the
 * rules that name no users or groups, name them, or name one of their groups. `first` finds the
 * earliest applicable rule in config order by scanning each of those sorted lists up to the best
 * index found so far, without allocating.
 */
export class RuleList {
  private readonly open: CompiledRule[] = []
  private readonly byUser = new Map<string, CompiledRule[]>()
  private readonly byGroup = new Map<string, CompiledRule[]>()

  constructor (readonly all: readonly CompiledRule[]) {
    const into = (m: Map<string, CompiledRule[]>, k: string, r: CompiledRule): void => {
      const l = m.get(k)
      if (l === undefined) m.set(k, [r])
      else if (l[l.length - 1] !== r) l.push(r)
    }
    for (const r of all) {
      if (r.users === undefined && r.groups === undefined) { this.open.push(r); continue }
      for (const u of r.users ?? []) into(this.byUser, u, r)
      for (const g of r.groups ?? []) into(this.byGroup, g, r)
    }
  }

  get length (): number { return this.all.length }

  first (identity: Identity, op: Operation, minute: number): CompiledRule | undefined {
    let best = firstIn(this.open, identity, op, minute, Infinity)
    let below = best !== undefined ? best.index : Infinity
    if (this.byUser.size > 0) {
      const l = this.byUser.get(identity.subject)
      if (l !== undefined) {
        const r = firstIn(l, identity, op, minute, below)
        if (r !== undefined) { best = r; below = r.index }
      }
    }
    if (this.byGroup.size > 0) {
      const groups = identity.groups
      for (let i = 0; i < groups.length; i++) {
        const l = this.byGroup.get(groups[i])
        if (l === undefined) continue
        const r = firstIn(l, identity, op, minute, below)
        if (r !== undefined) { best = r; below = r.index }
      }
    }
    return best
  }
}

function firstIn (rules: readonly CompiledRule[], identity: Identity, op: Operation, minute: number, below: number): CompiledRule | undefined {
  for (let i = 0; i < rules.length; i++) {
    const r = rules[i]
    if (r.index >= below) return undefined
    if (matchCode(r, identity, op, minute) === NONE) return r
  }
  return undefined
}
