import t from 'tap'
import type { Identity, Operation } from '../../../decoders/types.js'
import type { PolicyConfig, PolicyRuleConfig } from '../../../lib/config/types.js'
import { compilePolicy } from '../../../lib/policy/compile.js'

const known = { backends: ['qdrant', 'pg', 'milvus'], profiles: ['pii', 'strict'] }
const policy = (rules: PolicyRuleConfig[], now?: () => number) =>
  compilePolicy({ rules, approval_hold: 30, approval_ttl: 900 } satisfies PolicyConfig, { ...known, now })

const who = (subject: string, groups: string[] = [], claims: Record<string, unknown> = {}): Identity =>
  ({ subject, groups, claims, source: 'grant', issuer: 'vecgate', expiresAt: 4e9 })
const op = (o: Partial<Operation> = {}): Operation => ({
  backend: 'qdrant', protocol: 'qdrant', method: 'qdrant.Points/Search', action: 'search', collection: 'docs', bulk: false, summary: {}, ...o
})
const alice = who('alice', ['analysts'])
const sec = { groups: ['security'], count: 1 }

t.test('precedence: deny > approve > allow, default deny, first rule of an effect decides', async t => {
  const cases: Array<[string, PolicyRuleConfig[], string, string | undefined]> = [
    ['no rules', [], 'deny', undefined],
    ['allow only', [{ id: 'a', effect: 'allow' }], 'allow', 'a'],
    ['allow then deny', [{ id: 'a', effect: 'allow' }, { id: 'd', effect: 'deny' }], 'deny', 'd'],
    ['deny then allow', [{ id: 'd', effect: 'deny' }, { id: 'a', effect: 'allow' }], 'deny', 'd'],
    ['allow and approve', [{ id: 'a', effect: 'allow' }, { id: 'p', effect: 'approve', approvers: sec }], 'approve', 'p'],
    ['approve and deny', [{ id: 'p', effect: 'approve', approvers: sec }, { id: 'd', effect: 'deny' }], 'deny', 'd'],
    ['all three', [{ id: 'a', effect: 'allow' }, { id: 'p', effect: 'approve', approvers: sec }, { id: 'd', effect: 'deny' }], 'deny', 'd'],
    ['two allows: first', [{ id: 'a1', effect: 'allow', mask: 'pii' }, { id: 'a2', effect: 'allow' }], 'allow', 'a1'],
    ['deny that does not match', [{ id: 'd', effect: 'deny', actions: ['delete'] }, { id: 'a', effect: 'allow' }], 'allow', 'a'],
    ['allow for another backend', [{ id: 'a', effect: 'allow', backends: ['pg'] }], 'deny', undefined],
    ['allow for another action', [{ id: 'a', effect: 'allow', actions: ['read'] }], 'deny', undefined]
  ]
  for (const [name, rules, effect, rule] of cases) {
    const v = policy(rules).decide(alice, op())
    t.equal(v.effect, effect, `${name}: effect`)
    t.equal(v.rule, rule, `${name}: rule`)
  }
})

t.test('verdicts carry a readable reason, the mask and the approvers', async t => {
  const p = policy([
    { id: 'read', effect: 'allow', actions: ['search'], mask: 'pii' },
    { id: 'no-delete', effect: 'deny', actions: ['delete'], collections: ['secret'] },
    { id: 'bulk', effect: 'approve', actions: ['delete'], when: { bulk: true }, approvers: { groups: ['security'], count: 2 } }
  ])
  const allow = p.decide(alice, op())
  t.same(allow, { effect: 'allow', rule: 'read', reason: 'allowed by rule "read"', mask: 'pii' })
  t.ok(Object.isFrozen(allow), 'prebuilt, frozen verdict')
  t.equal(p.decide(alice, op()), allow, 'the same object every time: nothing allocated on the allow path')
  const deny = p.decide(alice, op({ method: 'qdrant.Points/Delete', action: 'delete', collection: 'secret', ids: [1] }))
  t.equal(deny.reason, 'denied by rule "no-delete"')
  const approve = p.decide(alice, op({ method: 'qdrant.Points/Delete', action: 'delete', bulk: true }))
  t.equal(approve.effect, 'approve')
  t.same(approve.approvers, { groups: ['security'], count: 2 })
  t.match(approve.reason, /rule "bulk" requires approval by 2 of group security/)
  const none = p.decide(alice, op({ method: 'qdrant.Points/Delete', action: 'delete', ids: [1] }))
  t.same(none, { effect: 'deny', reason: 'no rule allows qdrant.Points/Delete on docs for alice' })
  const noColl = p.decide(alice, op({ method: 'qdrant.Collections/List', action: 'read', collection: undefined }))
  t.equal(noColl.reason, 'no rule allows qdrant.Collections/List (read, no collection) for alice')
})

t.test('an approved request keeps the mask of the allow rule when the approve rule names none', async t => {
  const p = policy([
    { id: 'read', effect: 'allow', mask: 'pii' },
    { id: 'big', effect: 'approve', when: { max_limit: 100 }, approvers: sec }
  ])
  const v = p.decide(alice, op({ limit: 5000 }))
  t.equal(v.effect, 'approve')
  t.equal(v.rule, 'big')
  t.equal(v.mask, 'pii')
  t.equal(p.decide(alice, op({ limit: 5000 })), v, 'built once')
  const own = policy([{ id: 'read', effect: 'allow', mask: 'pii' }, { id: 'big', effect: 'approve', mask: 'strict', approvers: sec }])
  t.equal(own.decide(alice, op()).mask, 'strict')
})

t.test('subjects: users, groups, claims', async t => {
  const cases: Array<[string, PolicyRuleConfig['subjects'], Identity, boolean]> = [
    ['no subjects: anyone', undefined, who('x'), true],
    ['user listed', { users: ['alice'] }, who('alice'), true],
    ['user not listed', { users: ['bob'] }, who('alice', ['bob']), false],
    ['group listed', { groups: ['analysts'] }, who('alice', ['x', 'analysts']), true],
    ['group not listed', { groups: ['analysts'] }, who('analysts', ['x']), false],
    ['user or group: user', { users: ['alice'], groups: ['g'] }, who('alice'), true],
    ['user or group: group', { users: ['alice'], groups: ['g'] }, who('bob', ['g']), true],
    ['user or group: neither', { users: ['alice'], groups: ['g'] }, who('bob', ['h']), false],
    ['claim string', { claims: { dept: 'fin' } }, who('a', [], { dept: 'fin' }), true],
    ['claim string differs', { claims: { dept: 'fin' } }, who('a', [], { dept: 'eng' }), false],
    ['claim missing', { claims: { dept: 'fin' } }, who('a', [], {}), false],
    ['claim one of a list', { claims: { dept: ['fin', 'ops'] } }, who('a', [], { dept: 'ops' }), true],
    ['claim array value', { claims: { roles: 'admin' } }, who('a', [], { roles: ['user', 'admin'] }), true],
    ['claim number', { claims: { level: '3' } }, who('a', [], { level: 3 }), true],
    ['claim boolean', { claims: { email_verified: 'true' } }, who('a', [], { email_verified: true }), true],
    ['claim written as YAML scalars', { claims: { email_verified: true, level: 3 } as any }, who('a', [], { email_verified: true, level: '3' }), true],
    ['claim object never matches', { claims: { x: '[object Object]' } }, who('a', [], { x: {} }), false],
    ['all claims must hold', { claims: { a: '1', b: '2' } }, who('a', [], { a: '1', b: '3' }), false],
    ['group and claim', { groups: ['g'], claims: { mfa: 'true' } }, who('a', ['g'], { mfa: true }), true],
    ['group but claim fails', { groups: ['g'], claims: { mfa: 'true' } }, who('a', ['g'], { mfa: false }), false],
    ['claim named like a prototype key', { claims: { toString: 'x' } }, who('a', [], {}), false]
  ]
  for (const [name, subjects, id, allowed] of cases) {
    const rule: PolicyRuleConfig = { id: 'r', effect: 'allow' }
    if (subjects !== undefined) rule.subjects = subjects
    t.equal(policy([rule]).decide(id, op()).effect, allowed ? 'allow' : 'deny', name)
  }
})

t.test('collections: globs, Postgres schemas, several collections, none', async t => {
  const pg = (collection: string | undefined, collections?: string[], action: Operation['action'] = 'read'): Operation =>
    op({ backend: 'pg', protocol: 'postgres', method: 'SELECT', action, collection, collections })
  const cases: Array<[string, string, string[], Operation, boolean]> = [
    ['exact', 'allow', ['docs'], op(), true],
    ['other name', 'allow', ['docs'], op({ collection: 'docs2' }), false],
    ['star', 'allow', ['*'], op({ collection: 'anything.at.all' }), true],
    ['prefix glob', 'allow', ['docs_*'], op({ collection: 'docs_2024' }), true],
    ['prefix glob, no suffix', 'allow', ['docs_*'], op({ collection: 'docs_' }), true],
    ['prefix glob misses', 'allow', ['docs_*'], op({ collection: 'doc_2024' }), false],
    ['question mark', 'allow', ['v?'], op({ collection: 'v1' }), true],
    ['question mark: one char only', 'allow', ['v?'], op({ collection: 'v10' }), false],
    ['regexp characters are literal', 'allow', ['a+b'], op({ collection: 'aab' }), false],
    ['regexp characters are literal (match)', 'allow', ['a+b'], op({ collection: 'a+b' }), true],
    ['dot is literal', 'allow', ['a.b'], op({ collection: 'axb' }), false],
    ['qdrant names are flat', 'allow', ['items'], op({ collection: 'public.items' }), false],
    ['pg: qualified rule, qualified table', 'allow', ['public.items'], pg('public.items'), true],
    ['pg: qualified rule, unqualified table', 'allow', ['public.items'], pg('items'), true],
    ['pg: unqualified rule, public table', 'allow', ['items'], pg('public.items'), true],
    ['pg: unqualified rule, unqualified table', 'allow', ['items'], pg('items'), true],
    ['pg: unqualified allow never reaches another schema', 'allow', ['items'], pg('secret.items'), false],
    ['pg: unqualified deny reaches every schema', 'deny', ['items'], pg('secret.items'), true],
    ['pg: schema glob', 'allow', ['public.*'], pg('public.items'), true],
    ['pg: schema glob, unqualified table', 'allow', ['public.*'], pg('items'), true],
    ['pg: schema glob, other schema', 'allow', ['public.*'], pg('secret.items'), false],
    ['pg: any schema', 'allow', ['*.items'], pg('items'), true],
    ['pg: other schema rule, unqualified table', 'allow', ['secret.items'], pg('items'), false],
    ['pg: star', 'allow', ['*'], pg('secret.items'), true],
    ['several: allow needs all', 'allow', ['public.items'], pg('public.items', ['public.users']), false],
    ['several: allow with all listed', 'allow', ['public.items', 'users'], pg('public.items', ['public.users']), true],
    ['several: deny needs one', 'deny', ['users'], pg('public.items', ['public.users']), true],
    ['several: deny needs one (none)', 'deny', ['orders'], pg('public.items', ['public.users']), false],
    ['only collections[]', 'allow', ['a', 'b'], op({ collection: undefined, collections: ['a', 'b'] }), true],
    ['no collection: allow with collections never', 'allow', ['*'], op({ collection: undefined, action: 'read' }), false],
    ['no collection: deny with collections skips reads', 'deny', ['secret'], op({ collection: undefined, action: 'read' }), false],
    ['no collection: deny with collections covers admin (target unknown)', 'deny', ['secret'], pg(undefined, undefined, 'admin'), true],
    ['no collection: approve with collections covers admin', 'approve', ['secret'], op({ collection: undefined, action: 'admin' }), true]
  ]
  for (const [name, effect, collections, o, matches] of cases) {
    const rule = { id: 'r', effect, collections, ...(effect === 'approve' ? { approvers: sec } : {}) } as PolicyRuleConfig
    const ex = policy([rule]).explain(alice, o)
    t.equal(ex.rules[0].matched, matches, `${name}: ${ex.rules[0].why}`)
    t.equal(ex.verdict.effect, matches ? effect : 'deny', `${name}: verdict`)
  }
  t.equal(policy([{ id: 'r', effect: 'allow' }]).decide(alice, op({ collection: undefined })).effect, 'allow', 'a rule without collections matches a request without one')
})

t.test("CONTRACT.md's example rule decides Postgres tables however the statement writes them", async t => {
  const p = policy([
    { id: 'analysts-read', subjects: { groups: ['analysts'] }, backends: ['qdrant', 'pg'], collections: ['docs', 'public.items'], actions: ['read', 'search'], effect: 'allow', mask: 'pii' },
    { id: 'no-archive', collections: ['archive.*'], effect: 'deny' },
    { id: 'users-need-approval', collections: ['public.users'], actions: ['read'], effect: 'approve', approvers: sec }
  ])
  const pg = (collection: string, collections?: string[]): Operation =>
    op({ backend: 'pg', protocol: 'postgres', method: 'SELECT', action: 'read', collection, ...(collections !== undefined ? { collections } : {}) })
  const cases: Array<[string, Operation, string, string | undefined]> = [
    ['FROM items', pg('items'), 'allow', 'analysts-read'],
    ['FROM public.items', pg('public.items'), 'allow', 'analysts-read'],
    ['FROM other.items', pg('other.items'), 'deny', undefined],
    ['FROM archive.items', pg('archive.items'), 'deny', 'no-archive'],
    ['FROM users (approval on public.users)', pg('users'), 'approve', 'users-need-approval'],
    ['FROM items JOIN users', pg('items', ['items', 'users']), 'approve', 'users-need-approval'],
    ['qdrant docs', op({ collection: 'docs', action: 'read' }), 'allow', 'analysts-read'],
    ['qdrant items (a Qdrant name is whole)', op({ collection: 'items', action: 'read' }), 'deny', undefined]
  ]
  for (const [name, o, effect, rule] of cases) {
    const v = p.decide(alice, o)
    t.equal(v.effect, effect, `${name}: ${v.reason}`)
    t.equal(v.rule, rule, `${name}: rule`)
  }
})

t.test('conditions: bulk, max_ids, max_limit, with_vectors', async t => {
  const cases: Array<[string, PolicyRuleConfig['when'], 'allow' | 'deny' | 'approve', Partial<Operation>, boolean]> = [
    ['bulk wanted, bulk', { bulk: true }, 'allow', { bulk: true }, true],
    ['bulk wanted, targeted', { bulk: true }, 'allow', { bulk: false }, false],
    ['targeted wanted, targeted', { bulk: false }, 'allow', { bulk: false }, true],
    ['targeted wanted, bulk', { bulk: false }, 'deny', { bulk: true }, false],
    ['allow max_ids: within', { max_ids: 3 }, 'allow', { ids: [1, 2, 3] }, true],
    ['allow max_ids: beyond', { max_ids: 3 }, 'allow', { ids: [1, 2, 3, 4] }, false],
    ['allow max_ids: no ids is unbounded', { max_ids: 3 }, 'allow', {}, false],
    ['approve max_ids: within does not apply', { max_ids: 3 }, 'approve', { ids: [1, 2] }, false],
    ['approve max_ids: beyond applies', { max_ids: 3 }, 'approve', { ids: [1, 2, 3, 4] }, true],
    ['approve max_ids: no ids applies', { max_ids: 3 }, 'approve', {}, true],
    ['deny max_ids: beyond applies', { max_ids: 0 }, 'deny', { ids: [1] }, true],
    ['allow max_limit: within', { max_limit: 100 }, 'allow', { limit: 100 }, true],
    ['allow max_limit: beyond', { max_limit: 100 }, 'allow', { limit: 101 }, false],
    ['allow max_limit: no limit', { max_limit: 100 }, 'allow', {}, false],
    ['deny max_limit: beyond', { max_limit: 100 }, 'deny', { limit: 1000 }, true],
    ['deny max_limit: within', { max_limit: 100 }, 'deny', { limit: 10 }, false],
    ['with_vectors false, none', { with_vectors: false }, 'allow', { withVectors: false }, true],
    ['with_vectors false, unknown', { with_vectors: false }, 'allow', {}, true],
    ['with_vectors false, vectors', { with_vectors: false }, 'allow', { withVectors: true }, false],
    ['with_vectors true, vectors', { with_vectors: true }, 'deny', { withVectors: true }, true],
    ['with_vectors true, none', { with_vectors: true }, 'deny', { withVectors: false }, false],
    ['all conditions', { bulk: false, max_ids: 2, max_limit: 2, with_vectors: false }, 'allow', { ids: [1], limit: 1, withVectors: false }, true]
  ]
  for (const [name, when, effect, o, matches] of cases) {
    const rule = { id: 'r', effect, when, ...(effect === 'approve' ? { approvers: sec } : {}) } as PolicyRuleConfig
    const ex = policy([rule]).explain(alice, op(o))
    t.equal(ex.rules[0].matched, matches, `${name}: ${ex.rules[0].why}`)
  }
})

t.test('conditions: hours in UTC, ranges over midnight', async t => {
  const at = (hhmm: string) => () => Date.parse(`2025-03-04T${hhmm}:00Z`)
  const cases: Array<[string, string, string, boolean]> = [
    ['inside', '08:00-18:00', '12:00', true],
    ['at the start', '08:00-18:00', '08:00', true],
    ['at the end (exclusive)', '08:00-18:00', '18:00', false],
    ['before', '08:00-18:00', '07:59', false],
    ['over midnight: late', '22:00-06:00', '23:30', true],
    ['over midnight: early', '22:00-06:00', '05:59', true],
    ['over midnight: midnight', '22:00-06:00', '00:00', true],
    ['over midnight: day', '22:00-06:00', '12:00', false],
    ['over midnight: at the end', '22:00-06:00', '06:00', false],
    ['until 24:00', '20:00-24:00', '23:59', true],
    ['until 24:00, not after midnight', '20:00-24:00', '00:00', false]
  ]
  for (const [name, hours, now, matches] of cases) {
    const ex = policy([{ id: 'r', effect: 'allow', when: { hours } }], at(now)).explain(alice, op())
    t.equal(ex.rules[0].matched, matches, `${name}: ${ex.rules[0].why}`)
    t.equal(ex.verdict.effect, matches ? 'allow' : 'deny', `${name}: decide agrees`)
  }
})

t.test('rules are indexed by backend: a backend the config does not name gets only backend-free rules', async t => {
  const p = policy([{ id: 'q', effect: 'allow', backends: ['qdrant'] }, { id: 'any', effect: 'allow', actions: ['read'] }])
  t.equal(p.decide(alice, op({ backend: 'qdrant' })).rule, 'q')
  t.equal(p.decide(alice, op({ backend: 'pg' })).effect, 'deny')
  t.equal(p.decide(alice, op({ backend: 'unknown', action: 'read' })).rule, 'any')
  t.equal(p.decide(alice, op({ backend: 'unknown' })).effect, 'deny')
  t.equal(p.decide(alice, op({ action: 'toString' as any })).effect, 'deny', 'an action outside the model is denied')
})

t.test('explain lists every rule, why, and the deciding rule', async t => {
  const p = policy([
    { id: 'analysts-read', subjects: { groups: ['analysts'] }, backends: ['qdrant'], collections: ['docs'], actions: ['read', 'search'], effect: 'allow', mask: 'pii' },
    { id: 'ops-only', subjects: { users: ['ops'] }, effect: 'allow' },
    { id: 'no-secret', collections: ['secret*'], effect: 'deny' }
  ])
  const ex = p.explain(alice, op())
  t.equal(ex.decidedBy, 'analysts-read')
  t.same(ex.rules.map(r => [r.id, r.matched, r.decides]), [['analysts-read', true, true], ['ops-only', false, false], ['no-secret', false, false]])
  t.match(ex.rules[1].why, /alice \(groups \[analysts\]\) is not in users \[ops\]/)
  t.match(ex.rules[2].why, /none of \[docs\] is in \[secret\*\]/)
  t.match(ex.lines.join('\n'), /\+ analysts-read \(allow\): matches {2}<- decides/)
  t.match(ex.lines.join('\n'), /mask: pii/)
  const bob = p.explain(who('bob'), op({ action: 'delete', method: 'qdrant.Points/Delete' }))
  t.equal(bob.decidedBy, undefined)
  t.match(bob.lines.at(-1), /default deny/)
  t.match(bob.rules[0].why, /action delete is not in \[read, search\]/)
  t.doesNotThrow(() => JSON.stringify(ex), 'JSON for --json')
})

t.test('invalid rules stop the start with an error naming the rule and the key', async t => {
  const cases: Array<[string, unknown, RegExp]> = [
    ['unknown backend', { id: 'x', effect: 'allow', backends: ['nope'] }, /policy\.rules\[0\] \(id "x"\)\.backends\[0\]: expected a configured backend \(qdrant, pg, milvus\), not "nope"/],
    ['unknown profile', { id: 'x', effect: 'allow', mask: 'gone' }, /\(id "x"\)\.mask: expected a profile under masking\.profiles \(pii, strict\), not "gone"/],
    ['unknown action', { id: 'x', effect: 'allow', actions: ['drop'] }, /\(id "x"\)\.actions\[0\]: expected one of read, search, write, delete, admin, not "drop"/],
    ['unknown effect', { id: 'x', effect: 'permit' }, /\(id "x"\)\.effect: expected allow, deny or approve, not "permit"/],
    ['approve without approvers', { id: 'x', effect: 'approve' }, /\(id "x"\)\.approvers: expected approvers/],
    ['approvers without anyone', { id: 'x', effect: 'approve', approvers: { count: 1 } }, /\.approvers: expected groups or users/],
    ['count beyond the users', { id: 'x', effect: 'approve', approvers: { users: ['a'], count: 2 } }, /\.approvers\.count: expected at most 1/],
    ['count zero', { id: 'x', effect: 'approve', approvers: { groups: ['g'], count: 0 } }, /\.approvers\.count: expected a whole number, 1 or more/],
    ['approvers on allow', { id: 'x', effect: 'allow', approvers: { groups: ['g'] } }, /\.approvers: expected no approvers on an allow rule/],
    ['mask on deny', { id: 'x', effect: 'deny', mask: 'pii' }, /\.mask: expected no mask on a deny rule/],
    ['bad glob', { id: 'x', effect: 'allow', collections: ['docs[0-9]'] }, /\(id "x"\)\.collections\[0\]: expected a glob using only \* and \?/],
    ['empty glob', { id: 'x', effect: 'allow', collections: [''] }, /\.collections\[0\]: expected a non-empty/],
    ['dotted glob', { id: 'x', effect: 'allow', collections: ['public..items'] }, /\.collections\[0\]: expected a name like/],
    ['empty list', { id: 'x', effect: 'allow', collections: [] }, /\.collections: expected a non-empty list/],
    ['bad hours', { id: 'x', effect: 'allow', when: { hours: '25:00-26:00' } }, /\(id "x"\)\.when\.hours: expected 'HH:MM-HH:MM' in UTC/],
    ['hours, one time only', { id: 'x', effect: 'allow', when: { hours: '08:00' } }, /\.when\.hours: expected 'HH:MM-HH:MM'/],
    ['hours, empty range', { id: 'x', effect: 'allow', when: { hours: '08:00-08:00' } }, /\.when\.hours: expected a start different from the end/],
    ['hours after 24:00', { id: 'x', effect: 'allow', when: { hours: '08:00-24:30' } }, /\.when\.hours: expected an end no later than 24:00/],
    ['unknown condition', { id: 'x', effect: 'allow', when: { weekdays: 'mon' } }, /\.when\.weekdays: expected one of bulk, max_ids/],
    ['bad max_ids', { id: 'x', effect: 'allow', when: { max_ids: -1 } }, /\.when\.max_ids: expected a whole number/],
    ['bad bulk', { id: 'x', effect: 'allow', when: { bulk: 'yes' } }, /\.when\.bulk: expected true or false/],
    ['unknown rule key', { id: 'x', effect: 'allow', collection: ['docs'] }, /\(id "x"\)\.collection: expected one of id, subjects/],
    ['unknown subjects key', { id: 'x', effect: 'allow', subjects: { user: ['a'] } }, /\.subjects\.user: expected one of users, groups, claims/],
    ['empty subjects', { id: 'x', effect: 'allow', subjects: {} }, /\.subjects: expected users, groups or claims/],
    ['claim of an object', { id: 'x', effect: 'allow', subjects: { claims: { level: { a: 1 } } } }, /\.subjects\.claims\.level: expected a value or list of values/],
    ['claim list with an object', { id: 'x', effect: 'allow', subjects: { claims: { level: ['a', {}] } } }, /\.subjects\.claims\.level\[1\]: expected a value or list/],
    ['no id', { effect: 'allow' }, /policy\.rules\[0\]\.id: expected a rule id/]
  ]
  for (const [name, rule, message] of cases) {
    t.throws(() => policy([rule as PolicyRuleConfig]), { code: 'VG_ERR_CONFIG', message }, name)
  }
  t.throws(() => policy([{ id: 'x', effect: 'allow' }, { id: 'y', effect: 'allow' }, { id: 'x', effect: 'deny' }]),
    { code: 'VG_ERR_CONFIG', message: /policy\.rules\[2\] \(id "x"\)\.id: expected a unique rule id \(policy\.rules\[0\] has it too\)/ }, 'duplicate ids')
  t.throws(() => compilePolicy({ rules: [{ id: 'x', effect: 'allow', backends: ['b'] }], approval_hold: 1, approval_ttl: 1 }, { backends: [], profiles: [], file: '/etc/vecgate.yaml' }),
    { message: /^\/etc\/vecgate\.yaml: policy\.rules\[0\]/ }, 'the file is named when known')
})
