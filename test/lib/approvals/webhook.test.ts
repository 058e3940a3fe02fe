import t from 'tap'
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import type { Identity } from '../../../decoders/types.js'
import { Approvals, WebhookNotifier, slackMessage, type Approval } from '../../../lib/approvals/index.js'

interface Received { body: any, type: string | undefined }

/** A local webhook receiver answering with the given statuses in turn (then 200). */
async function receiver (t: { teardown: (fn: () => unknown) => void }, statuses: number[]) {
  const got: Received[] = []
  let next: (() => void) | undefined
  const server = http.createServer((req, res) => {
    let raw = ''
    req.on('data', (c: Buffer) => { raw += c.toString() })
    req.on('end', () => {
      got.push({ body: JSON.parse(raw), type: req.headers['content-type'] })
      res.writeHead(statuses.shift() ?? 200).end('ok')
      next?.()
    })
  })
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  t.teardown(async () => await new Promise(resolve => { server.closeAllConnections(); server.close(resolve) }))
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hooks/T000/B000/secret`
  const calls = async (n: number): Promise<Received[]> => {
    while (got.length < n) await new Promise<void>(resolve => { next = resolve })
    return got
  }
  return { url, got, calls }
}

const approval = (o: Partial<Approval> = {}): Approval => ({
  id: 'apr_abcdefghij',
  status: 'pending',
  requester: { subject: 'alice', issuer: 'vecgate', source: 'grant', groups: ['analysts'] },
  session: 'ses_x',
  op: { backend: 'qdrant', protocol: 'qdrant', method: 'qdrant.Points/Delete', action: 'delete', collection: 'docs', bulk: true, summary: {} },
  rule: 'bulk-delete',
  verdict: 'rule "bulk-delete" requires approval by 1 of group security',
  reason: 'cleanup <!channel> & <https://evil.example|click>',
  blastRadius: 12345,
  required: { groups: ['security'], count: 1 },
  approvals: [],
  createdAt: Date.UTC(2025, 2, 4, 12),
  expiresAt: Date.UTC(2025, 2, 4, 12, 15),
  fingerprint: 'f'.repeat(64),
  ...o
})

t.test('the message says who, what, how much, the id and the approve command; data cannot make links or mentions', async t => {
  const m = slackMessage(approval())
  t.match(m.text, /\*alice\* asks to run `qdrant\.Points\/Delete on qdrant\/docs \(bulk\)`/)
  t.match(m.text, /Touches about \*12,345\* records/)
  t.match(m.text, /Needs 1 approval from group security \(rule bulk-delete\)/)
  t.match(m.text, /Approval `apr_abcdefghij`, expires 2025-03-04T12:15:00\.000Z/)
  t.match(m.text, /Approve: `vecgate approvals approve apr_abcdefghij`/)
  t.match(m.text, /Reason: cleanup &lt;!channel&gt; &amp; &lt;https:\/\/evil\.example\|click&gt;/)
  t.notMatch(m.text, /<!channel>|<https:/)
  t.equal((m.blocks[0] as any).type, 'section')
  t.match((m.blocks[1] as any).elements[0].text, /vecgate approvals deny apr_abcdefghij/)
})

t.test('a Postgres approval shows the statement as the journal keeps it; it cannot close the code span or make links', async t => {
  const m = slackMessage(approval({ op: { backend: 'pg', protocol: 'postgres', method: 'DELETE', action: 'delete', collection: 'docs', bulk: false, summary: { sql: 'DELETE FROM docs WHERE grp = $1 AND note <> `<!here>`' } } }))
  t.match(m.text, /Statement: `DELETE FROM docs WHERE grp = \$1 AND note &lt;&gt; ˋ&lt;!here&gt;ˋ`/)
  t.match(m.text, /`DELETE on pg\/docs`/)
  t.notMatch(slackMessage(approval()).text, /Statement:/, 'no statement line for gRPC')
})

t.test('delivered to a local server, retried after a first 500', async t => {
  const r = await receiver(t, [500])
  const n = new WebhookNotifier({ url: r.url, backoffMs: 10 })
  t.equal(await n.notify(approval()), true)
  t.equal(r.got.length, 2, 'one failure, one success')
  t.equal(r.got[1].type, 'application/json')
  t.match(r.got[1].body, { text: /apr_abcdefghij/, blocks: Array })
})

t.test('gives up after three tries, and says so without throwing', async t => {
  const r = await receiver(t, [500, 502, 503, 504])
  const n = new WebhookNotifier({ url: r.url, backoffMs: 5 })
  t.equal(await n.notify(approval()), false)
  t.equal(r.got.length, 3)
})

t.test('an unreachable webhook is a logged failure, not an exception', async t => {
  const server = http.createServer()
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  const port = (server.address() as AddressInfo).port
  await new Promise(resolve => server.close(resolve))
  const n = new WebhookNotifier({ url: `http://127.0.0.1:${port}/x`, backoffMs: 5, tries: 2 })
  t.equal(await n.notify(approval()), false)
})

t.test('Approvals posts the webhook from the config when an approval is created', async t => {
  const r = await receiver(t, [])
  const approvals = new Approvals({ config: { approval_hold: 30, approval_ttl: 900, webhook: { url: r.url } } })
  t.teardown(() => approvals.close())
  const alice: Identity = { subject: 'alice', groups: [], claims: {}, source: 'grant', issuer: 'vecgate', expiresAt: 4e9 }
  const held = approvals.hold({
    identity: alice,
    op: { backend: 'pg', protocol: 'postgres', method: 'DELETE', action: 'delete', collection: 'public.items', bulk: true, summary: {} },
    verdict: { effect: 'approve', rule: 'r', reason: 'needs approval', approvers: { groups: ['security'], count: 1 } },
    sessionId: 'ses_y',
    reason: 'quarterly purge',
    blastRadius: async () => 77,
    deadline: Date.now() + 30_000
  })
  const [call] = await r.calls(1)
  const id = /apr_[a-z2-7]{10}/.exec(call.body.text)![0]
  t.match(call.body.text, /\*alice\* asks to run `DELETE on pg\/public\.items \(bulk\)`/)
  t.match(call.body.text, /Touches about \*77\* records/)
  t.match(call.body.text, /Reason: quarterly purge/)
  approvals.approve(id, { ...alice, subject: 'sam', groups: ['security'] })
  t.same(await held, { approvalId: id })
})

t.test('a webhook URL that is not http(s) is a config error that does not repeat it', async t => {
  t.throws(() => new WebhookNotifier({ url: 'ftp://hooks.example/T0/secret' }), { code: 'VG_ERR_CONFIG', message: 'policy.webhook.url: expected an http:// or https:// URL' })
  t.throws(() => new WebhookNotifier({ url: 'not a url secret' }), { code: 'VG_ERR_CONFIG' })
})
