import t from 'tap'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Identity, Operation, Verdict } from '../../../decoders/types.js'
import { Approvals, type ApprovalEvent, type ApprovalsOptions, type HoldRequest } from '../../../lib/approvals/index.js'
import type { JournalEvent } from '../../../lib/journal/types.js'
import { nullJournal } from '../../../lib/journal/types.js'

const who = (subject: string, groups: string[] = []): Identity =>
  ({ subject, groups, claims: {}, source: 'grant', issuer: 'vecgate', expiresAt: 4e9, tokenId: `jti-${subject}` })
const alice = who('alice', ['analysts', 'security'])
const sam = who('sam', ['security'])
const sue = who('sue', ['security'])
const eve = who('eve', ['analysts'])

const bulkDelete = (o: Partial<Operation> = {}): Operation => ({
  backend: 'qdrant', protocol: 'qdrant', method: 'qdrant.Points/Delete', action: 'delete', collection: 'docs',
  filter: { must: [{ key: 'tenant', match: 'acme' }] }, bulk: true, summary: { filter: true }, ...o
})
const verdict = (count = 1, users?: string[]): Verdict => ({
  effect: 'approve', rule: 'bulk-delete', reason: 'rule "bulk-delete" requires approval by 1 of group security',
  approvers: { groups: ['security'], ...(users !== undefined ? { users } : {}), count }
})

function setup (t: { teardown: (fn: () => unknown) => void }, opts: ApprovalsOptions = {}) {
  const events: ApprovalEvent[] = []
  const journaled: JournalEvent[] = []
  /** ids of created approvals not yet handed out by created(), and who waits for the next one */
  const fresh: string[] = []
  let waiting: ((id: string) => void) | undefined
  const approvals = new Approvals({
    config: { approval_hold: 30, approval_ttl: 900 },
    journal: { ...nullJournal, event: e => { journaled.push(e) } },
    onEvent: e => {
      events.push(e)
      if (e.kind !== 'created') return
      if (waiting !== undefined) { const w = waiting; waiting = undefined; w(e.approval.id) } else fresh.push(e.approval.id)
    },
    ...opts
  })
  t.teardown(() => approvals.close())
  const hold = (o: Partial<HoldRequest> = {}) => approvals.hold({
    identity: alice, op: bulkDelete(), verdict: verdict(), sessionId: 'ses_test', deadline: Date.now() + 30_000, ...o
  })
  /** resolves with the next approval created (a hold measures the blast radius before it asks) */
  const created = async (): Promise<string> => fresh.length > 0 ? fresh.shift()! : await new Promise<string>(resolve => { waiting = resolve })
  return { approvals, events, journaled, hold, created, kinds: () => events.map(e => e.kind) }
}

t.test('hold → approved by another member of the group → the request is released, and the steps are journaled', async t => {
  const { approvals, hold, created, kinds, journaled } = setup(t)
  const held = hold({ reason: 'cleanup of tenant acme', blastRadius: async () => 1234 })
  const id = await created()
  t.match(id, /^apr_[a-z2-7]{10}$/)
  const a = approvals.get(id)
  t.match(a, {
    id, status: 'pending', session: 'ses_test', rule: 'bulk-delete', reason: 'cleanup of tenant acme', blastRadius: 1234,
    requester: { subject: 'alice', issuer: 'vecgate', groups: ['analysts', 'security'], tokenId: 'jti-alice' },
    op: { backend: 'qdrant', method: 'qdrant.Points/Delete', collection: 'docs', bulk: true, filter: { must: [{ key: 'tenant' }] } },
    required: { groups: ['security'], count: 1 },
    approvals: []
  })
  t.same(JSON.parse(JSON.stringify(a)), a, 'JSON-serializable as it is')
  t.same(approvals.list({ status: 'pending' }).map(x => x.id), [id])
  const after = approvals.approve(id, sam, 'ticket OPS-42')
  t.equal(after.status, 'used', 'released at once, and used up')
  t.same(await held, { approvalId: id })
  t.same(kinds(), ['created', 'approved', 'released'])
  t.same(approvals.get(id).approvals.map(v => [v.subject, v.reason]), [['sam', 'ticket OPS-42']])
  t.same(journaled.map(e => [e.kind, e.session, e.data?.step, e.data?.approval]),
    [['approval', 'ses_test', 'created', id], ['approval', 'ses_test', 'approved', id], ['approval', 'ses_test', 'released', id]])
  t.equal(journaled[1].data?.actor, 'sam')
})

t.test('self-approval and non-approvers are refused', async t => {
  const { approvals, hold, created } = setup(t)
  const held = hold()
  const id = await created()
  t.throws(() => approvals.approve(id, alice), { code: 'VG_ERR_DENIED', message: /alice cannot approve apr_\w+: it is their own request/ }, 'alice is in security but asked herself')
  t.throws(() => approvals.approve(id, eve), { code: 'VG_ERR_DENIED', message: /eve may not approve apr_\w+: it needs 1 approver\(s\) from group security/ })
  t.throws(() => approvals.deny(id, eve), { code: 'VG_ERR_DENIED', message: /eve may not deny/ })
  t.throws(() => approvals.approve(id, { ...sam, expiresAt: 1 }), { code: 'VG_ERR_UNAUTHENTICATED' }, 'an expired approver token')
  t.throws(() => approvals.approve(id, undefined as unknown as Identity), { code: 'VG_ERR_UNAUTHENTICATED' })
  t.throws(() => approvals.approve('apr_aaaaaaaaaa', sam), { code: 'VG_ERR_USAGE', message: 'no approval apr_aaaaaaaaaa' })
  t.throws(() => approvals.get('../etc/passwd'), { code: 'VG_ERR_USAGE', message: /not an approval id/ })
  t.equal(approvals.get(id).status, 'pending')
  approvals.approve(id, sam)
  await held
})

t.test('approver users, not only groups', async t => {
  const { approvals, hold, created } = setup(t)
  const held = hold({ verdict: verdict(1, ['carol']) })
  const id = await created()
  approvals.approve(id, who('carol'))
  t.same(await held, { approvalId: id })
})

t.test('count: 2 needs two distinct approvers', async t => {
  const { approvals, hold, created, kinds } = setup(t)
  const held = hold({ verdict: verdict(2) })
  const id = await created()
  const one = approvals.approve(id, sam, 'looks fine')
  t.equal(one.status, 'pending')
  t.same(one.approvals.map(v => v.subject), ['sam'])
  t.throws(() => approvals.approve(id, sam), { code: 'VG_ERR_USAGE', message: /sam has already approved apr_\w+; it needs 1 more/ })
  let settled = false
  void held.then(() => { settled = true })
  await new Promise(resolve => setImmediate(resolve))
  t.notOk(settled, 'one approval is not enough')
  t.equal(approvals.approve(id, sue).status, 'used')
  t.same(await held, { approvalId: id })
  t.same(kinds(), ['created', 'vote', 'approved', 'released'])
})

t.test('deny rejects the held request with the approval and the reason; the same request is refused meanwhile', async t => {
  const { approvals, hold, created, kinds } = setup(t)
  const held = hold()
  const id = await created()
  const d = approvals.deny(id, sam, 'not during the freeze')
  t.equal(d.status, 'denied')
  t.match(d.denial, { subject: 'sam', reason: 'not during the freeze' })
  await t.rejects(held, { code: 'VG_ERR_DENIED', message: `approval ${id} was denied by sam: not during the freeze`, detail: { approvalId: id, rule: 'bulk-delete' } })
  await t.rejects(hold(), { code: 'VG_ERR_DENIED', detail: { approvalId: id } }, 'a retry gets the same answer at once')
  t.throws(() => approvals.approve(id, sue), { code: 'VG_ERR_USAGE', message: /already denied/ })
  t.same(kinds(), ['created', 'denied'])
})

t.test('the hold ends: APPROVAL_TIMEOUT with the id (Postgres 57014); a retry after approval passes once, then needs a new approval', async t => {
  const { approvals, hold, created, kinds } = setup(t)
  const first = hold({ deadline: Date.now() + 30 })
  const id = await created()
  await t.rejects(first, { code: 'VG_ERR_DEADLINE', detail: { approvalId: id } }, 'a deadline before the hold maximum is the client\'s')
  const again = hold({ deadline: Date.now() + 30, clientDeadline: Date.now() + 60_000 })
  await t.rejects(again, { code: 'VG_ERR_APPROVAL_TIMEOUT', message: new RegExp(`approval ${id} is pending.*retry once it is approved`), detail: { approvalId: id } },
    'the hold maximum passed first: the client is told to retry, on the same approval')
  t.equal(approvals.list().length, 1, 'the retry waited on the same approval')
  t.equal(approvals.approve(id, sam).status, 'approved', 'nobody held: approved, waiting for the retry')
  t.same(await hold(), { approvalId: id }, 'the retry passes at once')
  t.equal(approvals.get(id).status, 'used')
  const third = hold({ deadline: Date.now() + 30, clientDeadline: Date.now() + 60_000 })
  const next = await created()
  t.not(next, id)
  await t.rejects(third, { code: 'VG_ERR_APPROVAL_TIMEOUT', detail: { approvalId: next } }, 'used up: a new approval is needed')
  t.same(kinds(), ['created', 'timeout', 'timeout', 'approved', 'released', 'created', 'timeout'])
})

t.test('a different request does not ride on an approval', async t => {
  const { approvals, hold, created } = setup(t)
  const first = hold({ deadline: Date.now() + 20, clientDeadline: Date.now() + 60_000 })
  const id = await created()
  await t.rejects(first)
  approvals.approve(id, sam)
  const other = hold({ op: bulkDelete({ filter: { must: [{ key: 'tenant', match: 'globex' }] } }), deadline: Date.now() + 20, clientDeadline: Date.now() + 60_000 })
  const otherId = await created()
  t.not(otherId, id)
  await t.rejects(other, { code: 'VG_ERR_APPROVAL_TIMEOUT' })
  await t.rejects(hold({ identity: eve, deadline: Date.now() + 20, clientDeadline: Date.now() + 60_000 }), { code: 'VG_ERR_APPROVAL_TIMEOUT' }, 'nor another person')
  t.same(await hold({ op: bulkDelete({ filter: { must: [{ match: 'acme', key: 'tenant' }] } }) }), { approvalId: id }, 'the same filter with keys in another order is the same request')
})

t.test('values the Operation leaves out bind the approval too: SQL literals and bound parameters, never shown', async t => {
  const { approvals, hold, created } = setup(t)
  const short = { deadline: Date.now() + 20, clientDeadline: Date.now() + 60_000 }
  const first = hold({ bound: { literals: ['initech'], parameters: Buffer.from([1, 2, 3]) }, ...short })
  const id = await created()
  await t.rejects(first, { code: 'VG_ERR_APPROVAL_TIMEOUT', detail: { approvalId: id } })
  t.notMatch(JSON.stringify(approvals.get(id)), /initech/, 'the values are hashed into the fingerprint, not kept')
  approvals.approve(id, sam)
  for (const bound of [{ literals: ['globex'], parameters: Buffer.from([1, 2, 3]) }, { literals: ['initech'], parameters: Buffer.from([1, 2, 4]) }, { literals: ['initech'] }, undefined]) {
    const other = hold({ bound, deadline: Date.now() + 20, clientDeadline: Date.now() + 60_000 })
    t.not(await created(), id, `another value is another request: ${JSON.stringify(bound)}`)
    await t.rejects(other, { code: 'VG_ERR_APPROVAL_TIMEOUT' })
  }
  t.same(await hold({ bound: { literals: ['initech'], parameters: Buffer.from([1, 2, 3]) } }), { approvalId: id }, 'the same values: the approved request')
})

t.test('the client goes away: the hold rejects and the approval stays pending', async t => {
  const { approvals, hold, created, kinds } = setup(t)
  const ac = new AbortController()
  const held = hold({ signal: ac.signal })
  const id = await created()
  ac.abort()
  await t.rejects(held, { code: 'VG_ERR_APPROVAL_REQUIRED', message: /client went away/, detail: { approvalId: id } })
  t.equal(approvals.get(id).status, 'pending')
  const gone = new AbortController()
  gone.abort()
  await t.rejects(hold({ signal: gone.signal }), { code: 'VG_ERR_APPROVAL_REQUIRED' }, 'already gone: waits on nothing')
  t.same(kinds(), ['created', 'abandoned', 'abandoned'])
  approvals.approve(id, sam)
  t.same(await hold(), { approvalId: id }, 'the retry passes')
})

t.test('two identical requests held at once: one is released, the other asks again', async t => {
  const { approvals, hold, created } = setup(t)
  const a = hold()
  const id = await created()
  const b = hold()
  await new Promise(resolve => setImmediate(resolve))
  approvals.approve(id, sam)
  t.same(await a, { approvalId: id })
  await t.rejects(b, { code: 'VG_ERR_APPROVAL_REQUIRED', message: /released an identical request/ })
})

t.test('blast radius: measured before asking, bounded in time, failures tolerated', async t => {
  const { approvals, hold, created } = setup(t, { blastRadiusMs: 30 })
  const slow = hold({ blastRadius: async () => await new Promise<number>(resolve => setTimeout(() => resolve(5), 10_000).unref()) })
  const id1 = await created()
  t.equal(approvals.get(id1).blastRadius, undefined, 'asked without it')
  const broken = hold({ op: bulkDelete({ collection: 'other' }), blastRadius: async () => { throw new Error('count failed') } })
  const id2 = await created()
  t.equal(approvals.get(id2).blastRadius, undefined)
  approvals.deny(id1, sam)
  approvals.deny(id2, sam)
  await t.rejects(slow)
  await t.rejects(broken)
})

t.test('a changed policy asks anew: an approval binds to the rule and approvers that required it', async t => {
  const { approvals, hold, created } = setup(t)
  const held = hold({ deadline: Date.now() + 20, clientDeadline: Date.now() + 60_000 })
  const id = await created()
  await t.rejects(held)
  approvals.approve(id, sam)
  const stricter = hold({ verdict: verdict(2), deadline: Date.now() + 20, clientDeadline: Date.now() + 60_000 })
  const id2 = await created()
  t.not(id2, id)
  await t.rejects(stricter, { code: 'VG_ERR_APPROVAL_TIMEOUT', detail: { approvalId: id2 } })
})

t.test('expiry: pending and approved-unused approvals expire after approval_ttl', async t => {
  let now = Date.now()
  const { approvals, hold, created, kinds } = setup(t, { config: { approval_hold: 30, approval_ttl: 60 }, now: () => now })
  const held = hold({ deadline: now + 20, clientDeadline: now + 60_000 })
  const id = await created()
  await t.rejects(held)
  now += 61_000
  t.equal(approvals.get(id).status, 'expired')
  t.throws(() => approvals.approve(id, sam), { code: 'VG_ERR_APPROVAL_TIMEOUT', message: /has expired; the requester must ask again/ })

  const held2 = hold({ deadline: now + 20, clientDeadline: now + 60_000 })
  const id2 = await created()
  await t.rejects(held2)
  approvals.approve(id2, sam)
  now += 61_000
  t.equal(approvals.list({ status: 'expired' }).length, 2, 'approved but never used: expired too')
  const held3 = hold({ deadline: now + 20, clientDeadline: now + 60_000 })
  const id3 = await created()
  t.not(id3, id2, 'an expired approval does not release the retry')
  await t.rejects(held3)
  t.same(kinds().filter(k => k === 'expired').length, 2)
})

t.test('approvals survive a restart', async t => {
  const path = join(mkdtempSync(join(tmpdir(), 'vg-approvals-')), 'data', 'approvals.db') // the folder is created
  const one = setup(t, { path })
  const held = one.hold()
  const id = await one.created()
  one.approvals.close()
  await t.rejects(held, { code: 'VG_ERR_APPROVAL_REQUIRED', message: /gateway is stopping/, detail: { approvalId: id } })
  const two = setup(t, { path })
  t.equal(two.approvals.get(id).status, 'pending')
  t.equal(two.approvals.get(id).op.collection, 'docs')
  two.approvals.approve(id, sam)
  t.same(await two.hold(), { approvalId: id }, 'the client\'s retry after the restart passes')
})

t.test('list: filters by status and by who may see it', async t => {
  const { approvals, hold, created } = setup(t)
  const h1 = hold({ deadline: Date.now() + 20, clientDeadline: Date.now() + 60_000 })
  const id1 = await created()
  await t.rejects(h1)
  const h2 = hold({ identity: eve, deadline: Date.now() + 20, clientDeadline: Date.now() + 60_000 })
  const id2 = await created()
  await t.rejects(h2)
  approvals.deny(id2, sam)
  t.same(approvals.list().map(a => a.id), [id1, id2], 'pending first')
  t.same(approvals.list({ status: 'denied' }).map(a => a.id), [id2])
  t.same(approvals.list({ for: eve }).map(a => a.id), [id2], 'a requester sees their own')
  t.same(approvals.list({ for: sam }).map(a => a.id).sort(), [id1, id2].sort(), 'an approver sees what they may decide')
  t.same(approvals.list({ for: who('mallory') }), [], 'others see nothing')
  t.throws(() => approvals.list({ status: 'nope' as any }), { code: 'VG_ERR_USAGE' })
})

t.test('hold refuses a verdict that is not approve', async t => {
  const { hold } = setup(t)
  await t.rejects(hold({ verdict: { effect: 'allow', reason: 'x' } }), { code: 'VG_ERR_INTERNAL' })
})

t.test('the webhook is told about each new approval, without blocking the hold', async t => {
  const told: string[] = []
  let release: () => void = () => {}
  const slow = new Promise<void>(resolve => { release = resolve })
  const { approvals, hold, created } = setup(t, { notifier: { notify: async a => { told.push(a.id); await slow; return true } } })
  const held = hold()
  const id = await created()
  t.same(told, [id])
  approvals.approve(id, sam)
  t.same(await held, { approvalId: id }, 'released while the webhook still hangs')
  release()
})
