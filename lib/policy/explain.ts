/**
 * `vecgate policy check`: why the policy decides what it decides. Uses the same `matchCode` as
 * `decide`, so the explanation cannot drift from the decision; only the wording lives here.
 */
import type { Effect, Identity, Operation, Verdict } from '../../decoders/types.js'
import { failingClaim, matchCode, MISS, type CompiledRule, type Miss } from './rules.js'

export interface RuleExplanation {
  id: string
  effect: Effect
  matched: boolean
  /** one line: 'matches' or the first reason it does not */
  why: string
  /** this rule decided the verdict */
  decides: boolean
}

export interface Explanation {
  verdict: Verdict
  /** id of the deciding rule; undefined when nothing matched (default deny) */
  decidedBy?: string
  rules: RuleExplanation[]
  /** the same, as lines for a terminal */
  lines: string[]
}

const list = (s: Iterable<string> | undefined): string => `[${[...(s ?? [])].join(', ')}]`
const hhmm = (m: number): string => `${String(Math.floor(m / 60)).padStart(2, '0')}:${String(m % 60).padStart(2, '0')}`

function why (code: Miss, r: CompiledRule, identity: Identity, op: Operation, minute: number): string {
  switch (code) {
    case MISS.None: return 'matches'
    case MISS.Backend: return `backend ${op.backend} is not in ${list(r.backends)}`
    case MISS.Action: return `action ${op.action} is not in ${list(r.actions)}`
    case MISS.Subject: {
      const wanted = [r.users !== undefined ? `users ${list(r.users)}` : '', r.groups !== undefined ? `groups ${list(r.groups)}` : ''].filter(Boolean).join(' or ')
      return `${identity.subject} (groups ${list(identity.groups)}) is not in ${wanted}`
    }
    case MISS.Claims: {
      const name = failingClaim(r, identity)!
      const want = r.claims!.find(c => c[0] === name)![1]
      return `claim ${name} is ${JSON.stringify(identity.claims[name]) ?? 'missing'}, not one of ${list(want)}`
    }
    case MISS.NoCollection: return `the request names no collection; the rule covers only ${list(r.collections!.patterns)}`
    case MISS.Collection: {
      const names = [op.collection, ...(op.collections ?? [])].filter((c): c is string => c !== undefined)
      return r.permissive
        ? `not every collection of ${list(names)} is in ${list(r.collections!.patterns)}`
        : `none of ${list(names)} is in ${list(r.collections!.patterns)}`
    }
    case MISS.Bulk: return `the request is ${op.bulk ? '' : 'not '}bulk; the rule wants bulk: ${String(r.bulk)}`
    case MISS.Vectors: return `the request ${op.withVectors === true ? 'returns' : 'does not return'} vectors; the rule wants with_vectors: ${String(r.withVectors)}`
    case MISS.Ids: {
      const n = op.ids?.length
      const names = n === undefined ? 'names no ids (unbounded)' : `names ${n} ids`
      return r.permissive ? `the request ${names}; the rule allows at most ${r.maxIds!}` : `the request ${names}, within max_ids ${r.maxIds!}; the rule applies only beyond it`
    }
    case MISS.Limit: {
      const l = op.limit === undefined ? 'has no limit (unbounded)' : `has limit ${op.limit}`
      return r.permissive ? `the request ${l}; the rule allows at most ${r.maxLimit!}` : `the request ${l}, within max_limit ${r.maxLimit!}; the rule applies only beyond it`
    }
    case MISS.Hours: return `${hhmm(minute)} UTC is outside ${r.hours!.text}`
    default: return `does not match (${code})`
  }
}

export function explainDecision (rules: readonly CompiledRule[], verdict: Verdict, identity: Identity, op: Operation, minute: number): Explanation {
  const out: RuleExplanation[] = rules.map(r => {
    const code = matchCode(r, identity, op, minute)
    return { id: r.id, effect: r.effect, matched: code === MISS.None, why: why(code, r, identity, op, minute), decides: r.id === verdict.rule }
  })
  const lines = out.map(r => `  ${r.matched ? '+' : '-'} ${r.id} (${r.effect}): ${r.why}${r.decides ? '  <- decides' : ''}`)
  if (verdict.rule === undefined) lines.push('  no rule matched: default deny')
  if (verdict.mask !== undefined) lines.push(`  mask: ${verdict.mask}`)
  return { verdict, ...(verdict.rule !== undefined ? { decidedBy: verdict.rule } : {}), rules: out, lines }
}
