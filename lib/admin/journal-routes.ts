/**
 * Admin routes for auditors: sessions, a session's events (polled by `vecgate replay --follow`),
 * and who-saw. Members of `journal.auditors` groups see every session; anyone else only their own.
 */
import { VecgateError } from '../errors.js'
import type { Gateway } from '../gateway.js'
import { JournalReader } from '../journal/reader.js'
import { adminExtensions } from './server.js'
import type { Identity } from '../../decoders/types.js'

const readers = new WeakMap<Gateway, JournalReader>()

function reader (gw: Gateway): JournalReader {
  let r = readers.get(gw)
  if (r === undefined) {
    r = new JournalReader(gw.config.journal.path)
    readers.set(gw, r)
    gw.onStop(() => { r!.close(); readers.delete(gw) })
  }
  return r
}

const isAuditor = (gw: Gateway, who: Identity): boolean => who.groups.some(g => gw.config.journal.auditors.includes(g))

function num (s: string | null, what: string): number | undefined {
  if (s === null || s === '') return undefined
  const n = Number(s)
  if (!Number.isFinite(n)) throw new VecgateError('VG_ERR_USAGE', `${what}: expected a number`)
  return n
}

adminExtensions.push((gw, route) => {
  route('GET', '/v1/sessions', async (req) => {
    const who = await req.identity()
    const auditor = isAuditor(gw, who)
    const user = req.query.get('user') ?? undefined
    if (!auditor && user !== undefined && user !== who.subject) {
      throw new VecgateError('VG_ERR_DENIED', `${who.subject} may list only their own sessions; auditors (groups ${gw.config.journal.auditors.join(', ')}) may list everyone's`)
    }
    await gw.parts.journal.flush()
    const sessions = reader(gw).sessions({
      user: auditor ? user : who.subject,
      backend: req.query.get('backend') ?? undefined,
      since: num(req.query.get('since'), 'since'),
      limit: num(req.query.get('limit'), 'limit')
    })
    return { json: { sessions } }
  })
  route('GET', '/v1/sessions/:id', async (req) => {
    const who = await req.identity()
    await gw.parts.journal.flush()
    const r = reader(gw)
    const session = r.session(req.params.id)
    if (session === undefined || (!isAuditor(gw, who) && !session.subjects.includes(who.subject))) {
      return { status: 404, json: { error: 'not_found', message: `no session ${req.params.id}` } }
    }
    const after = num(req.query.get('after'), 'after') ?? 0
    return { json: { session, events: r.events(session.id, after), related: after === 0 ? r.eventsFor(session.id) : [] } }
  })
  route('GET', '/v1/journal/who-saw', async (req) => {
    const who = await req.identity()
    if (!isAuditor(gw, who)) throw new VecgateError('VG_ERR_DENIED', `who-saw is for auditors (groups ${gw.config.journal.auditors.join(', ')})`)
    const backend = req.query.get('backend')
    const id = req.query.get('id')
    if (backend === null || id === null) throw new VecgateError('VG_ERR_USAGE', 'who-saw needs backend, collection and id')
    await gw.parts.journal.flush()
    return { json: { sessions: reader(gw).whoSaw(backend, req.query.get('collection') ?? '', id) } }
  })
})
