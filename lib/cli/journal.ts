/**
 * Auditor commands: sessions list, replay, journal verify, journal who-saw.
 *
 * With a token of the caller's (--token, VECGATE_TOKEN or the grant `vecgate login` stored) they ask
 * the running gateway's admin API as that person (auditors see every session, others their own), at
 * --admin, VECGATE_ADMIN, the stored grant's gateway or the config's admin.listen. Without one, or
 * with --local, they read the journal file named in the config directly — whoever can read that file
 * on the gateway's host is already its auditor. `journal verify` always reads the file and checks
 * seals with the gateway's own key file.
 */
import { createPublicKey, type KeyObject } from 'node:crypto'
import { existsSync, readFileSync } from 'node:fs'
import type { Command, CommandContext } from './commands.js'
import { parseDuration } from './args.js'
import { adminCall } from './admin-client.js'
import { callerToken } from './identity.js'
import { VecgateError } from '../errors.js'
import { JournalReader, type EventRow, type SessionFilter, type SessionRow } from '../journal/reader.js'
import { eventLine, sessionHeader, sessionLine, time } from '../journal/format.js'
import { terminalSafe, terminalSafeDeep } from './terminal.js'

/**
 * One event whole, as replay --event prints it: the line with data escaped, then the body as JSON.
 * JSON escapes C0 controls in strings but leaves DEL and C1 (a one-character CSI) raw, so the JSON
 * text is escaped too, keeping its own line breaks.
 */
function detail (e: EventRow): string {
  return `${eventLine(terminalSafeDeep(e))}\n${terminalSafe(JSON.stringify(e.body, null, 2), true)}`
}

const usage = (m: string): VecgateError => new VecgateError('VG_ERR_USAGE', m)

const viaAdmin = (ctx: CommandContext): boolean => ctx.values.local !== true && callerToken(ctx) !== undefined

const LOCAL = { local: { type: 'boolean' as const } }
const localHelp = (who: string): string[] => [
  'With a token of yours (--token, VECGATE_TOKEN or the grant vecgate login stored) asks the running gateway',
  `(--admin, VECGATE_ADMIN, the stored grant's gateway or admin.listen): ${who}.`,
  'Without one, or with --local, reads the journal file of the config directly.'
]

function localReader (ctx: CommandContext): JournalReader {
  return new JournalReader(ctx.config().journal.path)
}

interface SessionPage { session: SessionRow, events: EventRow[], related: EventRow[] }

async function sessionPage (ctx: CommandContext, id: string, after: number): Promise<SessionPage> {
  if (viaAdmin(ctx)) {
    return await adminCall(ctx, 'GET', `/v1/sessions/${encodeURIComponent(id)}?after=${after}`) as SessionPage
  }
  const r = localReader(ctx)
  try {
    const session = r.session(id)
    if (session === undefined) throw usage(`no session ${id} in ${r.path} (vecgate sessions list shows them)`)
    return { session, events: r.events(session.id, after), related: after === 0 ? r.eventsFor(session.id) : [] }
  } finally {
    r.close()
  }
}

function out (ctx: CommandContext, s: string): void { ctx.out.write(s + '\n') }

const sleep = async (ms: number): Promise<void> => await new Promise(resolve => setTimeout(resolve, ms))

/** A progress line on a terminal's stderr; nothing when stderr is not a terminal or --json is on. */
function progressBar (ctx: CommandContext, label: string): (done: number, total: number) => void {
  const tty = (ctx.err as NodeJS.WriteStream).isTTY === true && ctx.values.json !== true
  let last = 0
  return (done, total) => {
    if (!tty) return
    const now = Date.now()
    if (now - last < 100 && done < total) return
    last = now
    const width = 30
    const filled = total === 0 ? width : Math.round(width * done / total)
    ctx.err.write(`\r${label} [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${done}/${total}${done >= total ? '\n' : ''}`)
  }
}

/** Keys to check seals with: the gateway's key file (trusted), else those recorded in the journal. */
function trustedKeys (ctx: CommandContext, r: JournalReader): { keys: Map<string, KeyObject>, source: string } {
  const path = ctx.config().identity.signing_key
  if (existsSync(path)) {
    const jwk = JSON.parse(readFileSync(path, 'utf8'))
    const pub = createPublicKey({ key: jwk, format: 'jwk' })
    const kid = jwk.kid as string | undefined
    const keys = new Map<string, KeyObject>()
    // the writer records the key id; match the key file's public key against the recorded ones
    const raw = pub.export({ format: 'jwk' })
    for (const [id, k] of r.keys()) if (JSON.stringify(k.export({ format: 'jwk' })) === JSON.stringify(raw)) keys.set(id, pub)
    if (kid !== undefined) keys.set(kid, pub)
    return { keys, source: `the gateway key ${path}` }
  }
  return { keys: r.keys(), source: `keys recorded in the journal (no key file at ${path}: seals prove less)` }
}

export const journalCommands: Command[] = [
  {
    name: 'sessions list',
    summary: 'list journaled sessions (newest first)',
    help: [
      'vecgate sessions list [--user U] [--backend B] [--since 1h] [--limit N] [--local]',
      '',
      ...localHelp('auditors see every session, others their own'),
      '',
      'Example:',
      '  npx vecgate sessions list --since 1h --user alice'
    ].join('\n'),
    options: { user: { type: 'string' }, backend: { type: 'string' }, since: { type: 'string' }, limit: { type: 'string' }, ...LOCAL },
    run: async (ctx) => {
      const f: SessionFilter = {
        user: ctx.values.user,
        backend: ctx.values.backend,
        since: ctx.values.since !== undefined ? Date.now() - parseDuration(ctx.values.since, '--since') * 1000 : undefined,
        limit: ctx.values.limit !== undefined ? Number(ctx.values.limit) : undefined
      }
      let sessions: SessionRow[]
      if (viaAdmin(ctx)) {
        const q = new URLSearchParams()
        for (const [k, v] of Object.entries(f)) if (v !== undefined) q.set(k, String(v))
        sessions = (await adminCall(ctx, 'GET', `/v1/sessions?${q.toString()}`) as { sessions: SessionRow[] }).sessions
      } else {
        const r = localReader(ctx)
        try { sessions = r.sessions(f) } finally { r.close() }
      }
      if (ctx.values.json === true) { for (const s of sessions) out(ctx, JSON.stringify(s)); return 0 }
      out(ctx, sessions.length === 0 ? 'no sessions' : sessions.map(s => sessionLine(terminalSafeDeep(s))).join('\n'))
      return 0
    }
  },
  {
    name: 'replay',
    summary: "a session's timeline as an auditor reads it",
    help: [
      'vecgate replay SESSION_ID [--event N] [--follow] [--json] [--local]',
      '',
      'One line per event: time, call, kind (auth, request, verdict, approval, response, error, loss) and',
      'what happened. --event N prints that event whole, with the masked result the client received.',
      '--follow keeps printing events of a live session until it ends. --json prints NDJSON, one event per line.',
      'A unique prefix of the session id is enough.',
      ...localHelp('auditors replay every session, others their own'),
      '',
      'Example:',
      '  npx vecgate replay s_01hx3k --event 4'
    ].join('\n'),
    options: { event: { type: 'string' }, follow: { type: 'boolean', short: 'f' }, ...LOCAL },
    run: async (ctx) => {
      const id = ctx.positionals[0]
      if (id === undefined) throw usage('session id required (vecgate sessions list shows them)')
      const json = ctx.values.json === true
      const page = await sessionPage(ctx, id, 0)
      if (ctx.values.event !== undefined) {
        const e = page.events.find(x => x.n === Number(ctx.values.event))
        if (e === undefined) throw usage(`session ${page.session.id} has no event ${String(ctx.values.event)} (it has ${page.session.events})`)
        out(ctx, json ? JSON.stringify(e) : detail(e))
        return 0
      }
      if (json) out(ctx, JSON.stringify({ session: page.session }))
      else out(ctx, sessionHeader(terminalSafeDeep(page.session)) + '\n')
      const print = (e: EventRow): void => out(ctx, json ? JSON.stringify(e) : eventLine(terminalSafeDeep(e)))
      page.events.forEach(print)
      if (page.related.length > 0 && !json) {
        out(ctx, '\nrecorded in the gateway session after this one ended:')
        page.related.forEach(print)
      }
      let last = page.events.at(-1)?.n ?? 0
      let ended = page.session.ended_at !== null
      while (ctx.values.follow === true && !ended) {
        await sleep(500)
        const next = await sessionPage(ctx, page.session.id, last)
        next.events.forEach(print)
        last = next.events.at(-1)?.n ?? last
        ended = next.session.ended_at !== null
        if (ended && !json) out(ctx, `-- ended ${time(next.session.ended_at!)} (${terminalSafe(next.session.end_reason ?? '')})`)
      }
      return 0
    }
  },
  {
    name: 'journal verify',
    summary: 'check every hash chain and seal; names any edited, removed or reordered event',
    help: [
      'vecgate journal verify [--json]',
      '',
      'Recomputes each session\'s hash chain and checks its seal with the gateway\'s key (identity.signing_key).',
      'Exit code 0 when everything verifies, 1 when anything was edited, removed or reordered (each named).',
      '',
      'Example:',
      '  npx vecgate journal verify --config vecgate.yaml'
    ].join('\n'),
    options: {},
    run: async (ctx) => {
      const r = localReader(ctx)
      try {
        const { keys, source } = trustedKeys(ctx, r)
        const report = r.verify(keys, progressBar(ctx, 'verifying'))
        if (ctx.values.json === true) {
          out(ctx, JSON.stringify({ ok: report.problems.length === 0, ...report, keys: source }))
        } else {
          const lines = [`${report.sessions} sessions, ${report.events} events, ${report.sealed} sealed, ${report.open} open, ${report.pruned} pruned by retention; seals checked with ${source}`]
          for (const p of report.problems) lines.push(`TAMPERED  session ${p.session}${p.event !== undefined ? ` event #${p.event}` : ''}: ${p.problem}`)
          if (report.open > 0) lines.push(`open (not sealed yet): ${report.unsealed.slice(0, 10).join(', ')}${report.open > 10 ? ' …' : ''}`)
          lines.push(report.problems.length === 0 ? 'journal verified: no event was edited, removed or reordered' : `journal verify FAILED: ${report.problems.length} problem(s)`)
          out(ctx, lines.join('\n'))
        }
        return report.problems.length === 0 ? 0 : 1
      } finally {
        r.close()
      }
    }
  },
  {
    name: 'journal who-saw',
    summary: 'which sessions received a given point, primary key or row',
    help: [
      'vecgate journal who-saw --backend B [--collection C] --id ID [--local]',
      '',
      'Lists the sessions whose responses returned that record, with who and when. Postgres collections are',
      'tables: items and public.items find the same rows (however the statements wrote them); a table in',
      'another schema is named with it (archive.items).',
      ...localHelp('for auditors only'),
      '',
      'Example:',
      '  npx vecgate journal who-saw --backend qdrant --collection docs --id 1234'
    ].join('\n'),
    options: { backend: { type: 'string' }, collection: { type: 'string' }, id: { type: 'string' }, ...LOCAL },
    run: async (ctx) => {
      const { backend, collection = '', id } = ctx.values as { backend?: string, collection?: string, id?: string }
      if (backend === undefined || id === undefined) throw usage('--backend and --id are required (and --collection for most backends)')
      let found: Array<{ session: SessionRow, events: Array<{ n: number, at: number, call: number | null, subject: string | null }> }>
      if (viaAdmin(ctx)) {
        const q = new URLSearchParams({ backend, collection, id })
        found = (await adminCall(ctx, 'GET', `/v1/journal/who-saw?${q.toString()}`) as { sessions: typeof found }).sessions
      } else {
        const r = localReader(ctx)
        try { found = r.whoSaw(backend, collection, id) } finally { r.close() }
      }
      if (ctx.values.json === true) { for (const f of found) out(ctx, JSON.stringify(f)); return 0 }
      if (found.length === 0) { out(ctx, `no session received ${backend}/${collection}/${id}`); return 0 }
      out(ctx, found.map(terminalSafeDeep).map(f => `${sessionLine(f.session)}\n    events ${f.events.map(e => `#${e.n} (call ${e.call ?? '-'}${e.subject !== null && e.subject !== f.session.subject ? ` as ${e.subject}` : ''}, ${time(e.at)})`).join(', ')}`).join('\n'))
      return 0
    }
  }
]
