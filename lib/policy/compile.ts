/**
 * The policy, compiled once at start (ARCHITECTURE.md: "the hot path only calls functions").
 *
 * Deny overrides approve overrides allow; default deny. Within one effect the first rule in config
 * order decides (its id, mask and approvers go into the verdict). Rules are indexed by backend and
 * action, so `decide` looks only at the rules that can apply, deny rules first; the allow path returns
 * the rule's prebuilt frozen Verdict and allocates nothing.
 */
import type { Action, Identity, Operation, Verdict } from '../../decoders/types.js'
import { ACTIONS } from '../../decoders/types.js'
import type { PolicyConfig } from '../config/types.js'
import { VecgateError } from '../errors.js'
import { explainDecision, type Explanation } from './explain.js'
import { compileRule, minuteOfDay, RuleList, type CompiledRule } from './rules.js'
import { MILVUS_DEFAULT_DATABASE } from './table-name.js'
import type { Policy } from './types.js'

export type { Explanation, RuleExplanation } from './explain.js'

export interface CompiledPolicy extends Policy {
  /** every rule, matched or not and why, and the deciding rule; sends nothing anywhere */
  explain (identity: Identity, op: Operation): Explanation
  readonly rules: readonly CompiledRule[]
}

export interface PolicyKnown {
  backends: readonly string[]
  profiles: readonly string[]
  /** the config file, for error messages */
  file?: string
  /** clock for `when.hours` (epoch ms); tests pass their own */
  now?: () => number
}

/** The rules that can apply to one backend and action, by effect, in config order. */
interface Bucket {
  deny: RuleList
  approve: RuleList
  allow: RuleList
  /** some rule here has `when.hours` */
  clock: boolean
}

/** null prototype: an action string from outside can never hit Object.prototype */
const ACTION_INDEX: Readonly<Record<string, number | undefined>> = Object.freeze(
  Object.assign(Object.create(null) as Record<string, number>, Object.fromEntries(ACTIONS.map((a: Action, i) => [a, i])))
)

export function compilePolicy (cfg: PolicyConfig, known: PolicyKnown): CompiledPolicy {
  if (cfg === null || typeof cfg !== 'object' || !Array.isArray(cfg.rules)) {
    throw new VecgateError('VG_ERR_CONFIG', `${known.file !== undefined ? `${known.file}: ` : ''}policy.rules: expected a list of rules`)
  }
  const ctx = { backends: new Set(known.backends), profiles: new Set(known.profiles), file: known.file }
  const seen = new Map<string, number>()
  const rules = cfg.rules.map((r, i) => {
    const rule = compileRule(r, i, ctx)
    const before = seen.get(rule.id)
    if (before !== undefined) {
      throw new VecgateError('VG_ERR_CONFIG', `${known.file !== undefined ? `${known.file}: ` : ''}policy.rules[${i}] (id "${rule.id}").id: expected a unique rule id (policy.rules[${before}] has it too)`)
    }
    seen.set(rule.id, i)
    return rule
  })
  return new RulePolicy(rules, known.backends, known.now ?? Date.now)
}

class RulePolicy implements CompiledPolicy {
  private readonly byBackend = new Map<string, Bucket[]>()
  /** for a backend the config does not name: only rules that name no backend can apply */
  private readonly other: Bucket[]
  /** approve verdicts carrying an allow rule's mask, built on first use */
  private readonly approveMasked = new Map<string, Verdict>()

  constructor (readonly rules: readonly CompiledRule[], backends: readonly string[], private readonly now: () => number) {
    for (const b of backends) this.byBackend.set(b, buckets(rules.filter(r => r.backends === undefined || r.backends.has(b))))
    this.other = buckets(rules.filter(r => r.backends === undefined))
  }

  decide (identity: Identity, op: Operation): Verdict {
    const ai = ACTION_INDEX[op.action]
    if (ai === undefined) return this.fallthrough(identity, op)
    const b = (this.byBackend.get(op.backend) ?? this.other)[ai]
    const minute = b.clock ? minuteOfDay(this.now()) : 0
    if (b.deny.length > 0) {
      const deny = b.deny.first(identity, op, minute)
      if (deny !== undefined) return deny.verdict
    }
    if (b.approve.length > 0) {
      const approve = b.approve.first(identity, op, minute)
      if (approve !== undefined) return this.approveVerdict(approve, b, identity, op, minute)
    }
    const allow = b.allow.first(identity, op, minute)
    if (allow !== undefined) return allow.verdict
    return this.fallthrough(identity, op)
  }

  explain (identity: Identity, op: Operation): Explanation {
    const verdict = this.decide(identity, op)
    return explainDecision(this.rules, verdict, identity, op, minuteOfDay(this.now()))
  }

  /**
   * An approved request goes upstream like an allowed one, so it must not get out unmasked: when the
   * approve rule names no mask, the mask of the first allow rule that also matches applies.
   */
  private approveVerdict (rule: CompiledRule, b: Bucket, identity: Identity, op: Operation, minute: number): Verdict {
    if (rule.mask !== undefined) return rule.verdict
    const a = b.allow.first(identity, op, minute)
    if (a?.mask === undefined) return rule.verdict
    const k = `${rule.index}:${a.mask}`
    let v = this.approveMasked.get(k)
    if (v === undefined) {
      v = Object.freeze({ ...rule.verdict, mask: a.mask })
      this.approveMasked.set(k, v)
    }
    return v
  }

  private fallthrough (identity: Identity, op: Operation): Verdict {
    return { effect: 'deny', reason: `no rule allows ${describeRequest(op)} for ${identity.subject}` }
  }
}

function buckets (rules: CompiledRule[]): Bucket[] {
  return ACTIONS.map(a => {
    const here = rules.filter(r => r.actions === undefined || r.actions.has(a))
    return {
      deny: new RuleList(here.filter(r => r.effect === 'deny')),
      approve: new RuleList(here.filter(r => r.effect === 'approve')),
      allow: new RuleList(here.filter(r => r.effect === 'allow')),
      clock: here.some(r => r.hours !== undefined)
    }
  })
}

/** "qdrant.Points/Delete on docs", "SELECT on public.items, public.users" */
export function describeRequest (op: Operation): string {
  const names: string[] = []
  // a Milvus collection of another database is named as rules name it: `hr.docs`
  const db = op.protocol === 'milvus' && op.database !== undefined && op.database !== MILVUS_DEFAULT_DATABASE ? `${op.database}.` : ''
  if (op.collection !== undefined) names.push(db + op.collection)
  if (op.collections !== undefined) for (const c of op.collections) if (!names.includes(db + c)) names.push(db + c)
  return names.length > 0 ? `${op.method} on ${names.join(', ')}` : `${op.method} (${op.action}, no collection)`
}
