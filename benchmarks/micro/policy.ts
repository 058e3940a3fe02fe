/**
 * Policy decision cost: decisions per second and µs per decision with 50 rules, for 20 identities and
 * for 10,000 and 100,000 distinct ones with the same groups (the decision keeps no per-identity state,
 * so they should match apart from cache effects; the exfiltration limits do keep some, measured
 * beside it). The baseline is the same loop calling a decide that allows everything, so the ratio is
 * what the rules cost. Then the whole admission a request goes through (`Session.admit`: expiry, grant
 * scope, policy, limits, verdict journaled to a sink that keeps nothing) with 1 and with 10,000 open
 * sessions, against the same admission with an allow-all policy: nothing in it grows with the number
 * of sessions. Writes its section "Policy decision" of benchmarks/RESULTS.md.
 *
 *   npx tsx benchmarks/micro/policy.ts [--rounds 5] [--decisions 1000000] [--admissions 200000]
 */
import { execFileSync } from 'node:child_process'
import { cpus } from 'node:os'
import { parseArgs } from 'node:util'
import type { Action, Identity, Masker, Operation, Verdict } from '../../decoders/types.js'
import type { PolicyRuleConfig } from '../../lib/config/types.js'
import { compilePolicy } from '../../lib/policy/compile.js'
import { ExfiltrationLimits } from '../../lib/policy/limits.js'
import { Metrics } from '../../lib/admin/metrics.js'
import type { BackendConfig } from '../../lib/config/types.js'
import { nullJournal } from '../../lib/journal/types.js'
import { createLogger } from '../../lib/log.js'
import { Pipeline, type Session } from '../../lib/pipeline.js'
import { writeSection } from '../results.js'

const { values } = parseArgs({ options: { rounds: { type: 'string', default: '5' }, decisions: { type: 'string', default: '1000000' }, admissions: { type: 'string', default: '200000' } } })
const rounds = Number(values.rounds)
const N = Number(values.decisions)
const A = Number(values.admissions)

const BACKENDS = ['qdrant', 'milvus', 'pg']
const ACTIONS: Action[] = ['read', 'search', 'write', 'delete', 'admin']
const GROUPS = Array.from({ length: 20 }, (_, i) => `team-${i}`)

/** 50 rules of the kinds a real policy has: team reads with masks, writes, denies, approvals. */
function rules (): PolicyRuleConfig[] {
  const out: PolicyRuleConfig[] = []
  for (let i = 0; i < 30; i++) {
    out.push({
      id: `team-${i}-read`,
      subjects: { groups: [GROUPS[i % 20]] },
      backends: [BACKENDS[i % 3]],
      collections: [`docs_${i}`, `shared_*`, 'public.items'],
      actions: ['read', 'search'],
      when: i % 3 === 0 ? { max_limit: 1000, with_vectors: false } : undefined,
      effect: 'allow',
      mask: 'pii'
    })
  }
  for (let i = 0; i < 10; i++) {
    out.push({ id: `team-${i}-write`, subjects: { groups: [GROUPS[i]], claims: { mfa: 'true' } }, collections: [`docs_${i}`], actions: ['write', 'delete'], when: { bulk: false, max_ids: 500 }, effect: 'allow' })
  }
  for (let i = 0; i < 6; i++) {
    out.push({ id: `deny-${i}`, collections: [`secret_${i}*`, `*.secret_${i}`], effect: 'deny' })
  }
  out.push({ id: 'night-freeze', actions: ['write', 'delete', 'admin'], when: { hours: '23:00-05:00' }, effect: 'deny' })
  out.push({ id: 'bulk-delete', actions: ['delete'], when: { bulk: true }, effect: 'approve', approvers: { groups: ['security'], count: 1 } })
  out.push({ id: 'big-reads', actions: ['read', 'search'], when: { max_limit: 10_000 }, effect: 'approve', approvers: { groups: ['security'], count: 1 } })
  out.push({ id: 'dba', subjects: { groups: ['dba'] }, actions: ['admin'], effect: 'allow' })
  return out
}

const policy = compilePolicy({ rules: rules(), approval_hold: 30, approval_ttl: 900 }, { backends: BACKENDS, profiles: ['pii'], now: () => Date.UTC(2025, 2, 4, 12) })

const identities: Identity[] = Array.from({ length: 100_000 }, (_, i) => ({
  subject: `user-${i}`,
  groups: [GROUPS[i % 20], GROUPS[(i * 7) % 20]],
  claims: { mfa: i % 2 === 0 },
  source: 'grant',
  issuer: 'vecgate',
  expiresAt: 4e9
}))

/**
 * 64 requests per team, the way a team's clients send them: mostly searches and reads of its own
 * collections, some writes, a bulk delete (approval), a secret collection (deny), another team's
 * collection and an admin call (default deny).
 */
function teamOp (team: number, k: number): Operation {
  const rule = team + 20 < 30 && k % 2 === 1 ? team + 20 : team
  const backend = BACKENDS[rule % 3]
  const kind = k % 16
  const action: Action = kind < 9 ? 'search' : kind < 11 ? 'read' : kind === 11 ? 'write' : kind === 12 ? 'delete' : kind === 15 ? 'admin' : 'search'
  const collection = kind === 13 ? `secret_${k % 6}x`
    : kind === 14 ? `docs_${(rule + 1) % 30}`
      : backend === 'pg' ? 'public.items' : k % 5 === 0 ? `shared_${k}` : `docs_${rule}`
  return {
    backend,
    protocol: backend === 'pg' ? 'postgres' : backend === 'milvus' ? 'milvus' : 'qdrant',
    method: `${backend}/${action}`,
    action,
    collection,
    ids: action === 'write' ? [k, k + 1] : undefined,
    bulk: action === 'delete',
    limit: action === 'search' ? 10 : action === 'read' ? 100 : undefined,
    withVectors: false,
    summary: {}
  }
}
const opsByTeam: Operation[][] = GROUPS.map((_, team) => Array.from({ length: 64 }, (_, k) => teamOp(team, k)))

const allowAll: Verdict = Object.freeze({ effect: 'allow', reason: 'allowed' })
const baseline = { decide: (_i: Identity, _o: Operation): Verdict => allowAll }

let sink = 0
/** ns per call, median of the rounds */
function measure (run: (n: number) => void): number {
  run(Math.min(N, 100_000)) // warm up (JIT)
  const times: number[] = []
  for (let r = 0; r < rounds; r++) {
    const t0 = process.hrtime.bigint()
    run(N)
    times.push(Number(process.hrtime.bigint() - t0) / N)
  }
  times.sort((a, b) => a - b)
  return times[Math.floor(times.length / 2)]
}

/**
 * Request i comes from identity j (spread over all of `ids`, the same stride whatever their number)
 * and is one of its team's requests.
 */
const decide = (p: { decide: (i: Identity, o: Operation) => Verdict }, ids: Identity[]) => (n: number): void => {
  for (let i = 0; i < n; i++) {
    const j = (i * 7919) % ids.length
    const v = p.decide(ids[j], opsByTeam[j % 20][i & 63])
    if (v.effect === 'allow') sink++
  }
}

// identities i and i + 20 have the same groups, so 20 identities see the same verdict mix as 100,000
const few = identities.slice(0, 20)
const tenThousand = identities.slice(0, 10_000)
const results: Array<[string, number]> = [
  ['baseline: allow-all function, 10,000 identities', measure(decide(baseline, tenThousand))],
  ['policy decide, 50 rules, 20 identities', measure(decide(policy, few))],
  ['policy decide, 50 rules, 10,000 identities', measure(decide(policy, tenThousand))],
  ['policy decide, 50 rules, 100,000 identities', measure(decide(policy, identities))]
]

const limited = (ids: Identity[]) => (n: number): void => {
  const limits = new ExfiltrationLimits({ window: 60, requests: 1e9, records: 1e12, vectors: 1e12 })
  for (let i = 0; i < n; i++) {
    const id = ids[(i * 7919) % ids.length]
    limits.admit(id)
    limits.account(id, { records: 10, vectors: 0 })
  }
}
results.push(['limits admit + account, 20 identities', measure(limited(few))])
results.push(['limits admit + account, 10,000 identities', measure(limited(tenThousand))])

const verdicts = { allow: 0, deny: 0, approve: 0 }
for (let i = 0; i < 10_000; i++) verdicts[policy.decide(identities[(i * 7919) % 10_000], opsByTeam[((i * 7919) % 10_000) % 20][i & 63]).effect]++

// ---- the whole admission, with many sessions open ----------------------------------------------
const backend: BackendConfig = { name: 'pg', protocol: 'postgres', listen: { host: '127.0.0.1', port: 0 }, upstream: { host: '127.0.0.1', port: 0 }, credentials: {} } as unknown as BackendConfig
/** each identity's requests that its policy allows (a refusal's cost is its error, not the decision) */
const allowedOps: Operation[][] = GROUPS.map((_, team) => opsByTeam[team].filter(op => policy.decide(identities[team], op).effect === 'allow'))
const pipelineWith = (p: { decide: (i: Identity, o: Operation) => Verdict }): Pipeline => new Pipeline({
  backend,
  verifier: { verify: async () => { throw new Error('not used') } },
  policy: p,
  // admission only looks the profile up; masking results is measured in benchmarks/micro/mask.ts
  masks: new Map([['pii', { name: 'pii' } as unknown as Masker]]),
  journal: nullJournal,
  limits: new ExfiltrationLimits({ window: 60, requests: 1e9, records: 1e12, vectors: 1e12 }),
  metrics: new Metrics(),
  log: createLogger({ level: 'silent' })
})
const sessionsOf = (pl: Pipeline, n: number): Session[] => Array.from({ length: n }, (_, i) => pl.open({ address: `127.0.0.1:${10_000 + i}`, tls: false }))
/** ns per admission, median of the rounds; request i on session i mod S by the identity of that session */
async function admissions (sessions: Session[]): Promise<number> {
  const run = async (n: number): Promise<void> => {
    for (let i = 0; i < n; i++) {
      const k = (i * 7919) % sessions.length
      const id = identities[k % identities.length]
      const ops = allowedOps[k % 20]
      const call = await sessions[k].admit(id, ops[i % ops.length])
      if (call.verdict.effect === 'allow') sink++
    }
  }
  await run(Math.min(A, 50_000))
  const times: number[] = []
  for (let r = 0; r < rounds; r++) {
    const t0 = process.hrtime.bigint()
    await run(A)
    times.push(Number(process.hrtime.bigint() - t0) / A)
  }
  times.sort((a, b) => a - b)
  return times[Math.floor(times.length / 2)]
}
const admitBaseline = await admissions(sessionsOf(pipelineWith(baseline), 1))
const admitted: Array<[string, number]> = [
  ['baseline: Session.admit with an allow-all policy, 1 session', admitBaseline],
  ['Session.admit, 50 rules, 1 open session', await admissions(sessionsOf(pipelineWith(policy), 1))],
  ['Session.admit, 50 rules, 10,000 open sessions (10,000 identities)', await admissions(sessionsOf(pipelineWith(policy), 10_000))]
]

const base = results[0][1]
const row = ([name, ns]: [string, number], against: number): string =>
  `| ${name} | ${Math.round(1e9 / ns).toLocaleString('en-US')} | ${(ns / 1000).toFixed(3)} | ${(ns / against).toFixed(2)} |`
const lines = [
  `Run ${new Date().toISOString().slice(0, 16)}Z, commit ${commit()}, ${cpus().length} × ${cpus()[0].model}; node ${process.version}.`,
  `\`node --import tsx benchmarks/micro/policy.ts\` — 50 rules; ${N.toLocaleString('en-US')} decisions per round, median of ${rounds} rounds; verdict mix ${JSON.stringify(verdicts)}.`,
  '',
  '| decision alone | decisions/s | µs per decision | × allow-all |',
  '|---|---:|---:|---:|',
  ...results.map(r => row(r, base)),
  '',
  `The whole admission of an allowed request (expiry, grant scope, policy, limits, verdict to a journal sink that keeps nothing), ${A.toLocaleString('en-US')} per round:`,
  '',
  '| admission | admissions/s | µs per admission | × allow-all |',
  '|---|---:|---:|---:|',
  ...admitted.map(r => row(r, admitBaseline)),
  '',
  `Growth: a decision with 100,000 identities costs ${(results[3][1] / results[1][1]).toFixed(2)}× one with 20; an admission with 10,000 open sessions ${(admitted[2][1] / admitted[1][1]).toFixed(2)}× one with 1. ` +
    'The decision keeps no state per identity or session (what differs is CPU cache: the identities and sessions touched no longer fit in it); only the exfiltration limits keep a window per identity, one Map lookup.'
]
process.stdout.write(lines.join('\n') + `\n<!-- ${sink} -->\n`)
writeSection('Policy decision', lines.join('\n'))

function commit (): string {
  try { return execFileSync('git', ['rev-parse', '--short', 'HEAD'], { encoding: 'utf8' }).trim() } catch { return 'unknown' }
}
