/**
 * Tells approvers a request is waiting: a POST of Slack-compatible JSON (`text` plus `blocks`, see
 * https://api.slack.com/messaging/webhooks), which Mattermost, Rocket.Chat and most chat tools accept
 * too. Delivery is retried with backoff and never blocks the held request; failures are logged with
 * the host only (a webhook URL usually carries its secret in the path).
 */
import { request } from 'undici'
import { VecgateError } from '../errors.js'
import type { Logger } from '../log.js'
import type { Approval } from './types.js'

export interface Notifier {
  /** resolves true when delivered; never rejects */
  notify (a: Approval): Promise<boolean>
}

export interface WebhookOptions {
  url: string
  log?: Logger
  /** attempts in all (default 3) */
  tries?: number
  /** wait before the second attempt, doubled for each further one (default 500 ms) */
  backoffMs?: number
  /** per attempt (default 5 s) */
  timeoutMs?: number
}

/** Slack mrkdwn: &, < and > are control characters; escaping them keeps data from making links or mentions. */
const esc = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;')

/** Text for a person: who, what, how much, the id and the command that approves it. */
export function slackMessage (a: Approval): { text: string, blocks: unknown[] } {
  const op = a.op
  const names = [op.collection, ...(op.collections ?? [])].filter((c, i, all): c is string => c !== undefined && all.indexOf(c) === i)
  const what = `${op.method} on ${op.backend}${names.length > 0 ? `/${names.join(', ')}` : ''}${op.bulk ? ' (bulk)' : ''}`
  const lines = [
    `*${esc(a.requester.subject)}* asks to run \`${esc(what)}\``,
    // the statement as the journal keeps it (literal values taken out); a backtick would end the code span
    typeof op.summary.sql === 'string' ? `Statement: \`${esc(op.summary.sql.slice(0, 500)).replace(/`/g, 'ˋ')}\`` : '',
    a.blastRadius !== undefined ? `Touches about *${a.blastRadius.toLocaleString('en-US')}* records` : '',
    op.idCount !== undefined ? `Names ${op.idCount} ids` : '',
    a.reason !== undefined ? `Reason: ${esc(a.reason)}` : '',
    `Needs ${a.required.count} approval${a.required.count === 1 ? '' : 's'} from ${esc([...(a.required.groups ?? []).map(g => `group ${g}`), ...(a.required.users ?? []).map(u => `user ${u}`)].join(' or '))}` +
      (a.rule !== undefined ? ` (rule ${esc(a.rule)})` : ''),
    `Approval \`${a.id}\`, expires ${new Date(a.expiresAt).toISOString()}`
  ].filter(l => l !== '')
  const approve = `vecgate approvals approve ${a.id}`
  const deny = `vecgate approvals deny ${a.id} --reason "..."`
  return {
    text: `${lines.join('\n')}\nApprove: \`${approve}\``,
    blocks: [
      { type: 'section', text: { type: 'mrkdwn', text: lines.join('\n') } },
      { type: 'context', elements: [{ type: 'mrkdwn', text: `Approve: \`${approve}\`  Deny: \`${deny}\`` }] }
    ]
  }
}

export class WebhookNotifier implements Notifier {
  private readonly tries: number
  private readonly backoffMs: number
  private readonly timeoutMs: number
  private readonly host: string

  constructor (private readonly opts: WebhookOptions) {
    this.tries = opts.tries ?? 3
    this.backoffMs = opts.backoffMs ?? 500
    this.timeoutMs = opts.timeoutMs ?? 5000
    let url: URL | undefined
    try { url = new URL(opts.url) } catch {}
    if (url === undefined || (url.protocol !== 'https:' && url.protocol !== 'http:')) {
      // the URL itself is a secret (Slack puts the token in the path): never repeat it
      throw new VecgateError('VG_ERR_CONFIG', 'policy.webhook.url: expected an http:// or https:// URL')
    }
    this.host = url.host
  }

  async notify (a: Approval): Promise<boolean> {
    const body = JSON.stringify(slackMessage(a))
    let wait = this.backoffMs
    for (let attempt = 1; attempt <= this.tries; attempt++) {
      let problem: string
      try {
        const res = await request(this.opts.url, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body,
          headersTimeout: this.timeoutMs,
          bodyTimeout: this.timeoutMs
        })
        await res.body.dump()
        if (res.statusCode >= 200 && res.statusCode < 300) {
          this.opts.log?.debug({ approval: a.id, host: this.host, attempt }, 'approval webhook delivered')
          return true
        }
        problem = `HTTP ${res.statusCode}`
      } catch (e) {
        problem = (e as Error).message
      }
      this.opts.log?.warn({ approval: a.id, host: this.host, attempt, tries: this.tries, problem }, 'approval webhook failed')
      if (attempt < this.tries) {
        await new Promise(resolve => setTimeout(resolve, wait))
        wait *= 2
      }
    }
    this.opts.log?.error({ approval: a.id, host: this.host }, `approval webhook gave up after ${this.tries} tries; approvers must look at vecgate approvals list`)
    return false
  }
}
