/**
 * The journal as an auditor reads it in a terminal: one line per event (time, call, kind, what
 * happened), with the full masked result of an event on request.
 */
import type { EventRow, SessionRow } from './reader.js'

const pad = (s: string, n: number): string => s.length >= n ? s : s + ' '.repeat(n - s.length)

export function time (ms: number): string {
  return new Date(ms).toISOString().replace('T', ' ').replace('Z', '')
}

function clip (s: string, n = 100): string {
  return s.length > n ? s.slice(0, n - 1) + '…' : s
}

function idList (ids: unknown, n = 5): string {
  // journals written before record ids were kept whole hold ten or more numeric ids as "<vector dim=N>"
  if (!Array.isArray(ids)) return ids === undefined ? '' : String(ids)
  if (ids.length === 0) return ''
  return ids.slice(0, n).map(String).join(',') + (ids.length > n ? `,… (${ids.length})` : '')
}

export function sessionLine (s: SessionRow): string {
  const who = s.subjects.length > 1 ? s.subjects.join('+') : s.subject ?? '(no identity)'
  const end = s.ended_at !== null ? `${Math.round((s.ended_at - s.started_at) / 100) / 10}s, ${s.end_reason ?? ''}` : 'open'
  return `${s.id}  ${time(s.started_at)}  ${pad(who, 12)} ${pad(s.backend, 10)} ${pad(s.client, 21)} ${String(s.events).padStart(5)} events  ${end}${s.sealed ? '' : s.ended_at === null ? '' : '  (unsealed)'}${s.loss === true ? '  LOSS (replay says what)' : ''}`
}

export function sessionHeader (s: SessionRow): string {
  return [
    `session ${s.id}  (#${s.seq})`,
    `  backend ${s.backend} (${s.protocol}), client ${s.client}${s.tls ? ' over TLS' : ''}`,
    `  identity ${s.subject ?? '(none)'}${s.subjects.length > 1 ? ` (also ${s.subjects.slice(1).join(', ')} on the same connection)` : ''}${s.groups.length > 0 ? ` groups ${s.groups.join(',')}` : ''}${s.token_id !== null ? ` token ${s.token_id}` : ''}`,
    `  started ${time(s.started_at)}${s.ended_at !== null ? `, ended ${time(s.ended_at)} (${s.end_reason ?? ''})` : ', still open'}${s.sealed ? ', sealed' : ''}`,
    ...(s.loss === true ? ['  LOSS: not every event of this session was recorded; its loss events say what and from when'] : [])
  ].join('\n')
}

/** What one event says, in one line. */
export function eventSummary (e: EventRow): string {
  const b = e.body
  const d = (b.data ?? {}) as Record<string, any>
  switch (e.kind) {
    case 'auth': {
      const id = b.identity ?? {}
      return `${id.subject} (${id.source}${id.groups?.length > 0 ? `, groups ${id.groups.join(',')}` : ''}${id.tokenId !== undefined ? `, token ${id.tokenId}` : ''})`
    }
    case 'request': {
      const op = b.op ?? {}
      const parts = [op.action, op.collection ?? '', op.method]
      if (typeof b.data?.subject === 'string') parts.unshift(`[${b.data.subject as string}]`)
      if (op.bulk === true) parts.push('BULK')
      if (Array.isArray(op.ids) && op.ids.length > 0) parts.push(`ids ${idList(op.ids)}`)
      if (op.limit !== undefined) parts.push(`limit ${op.limit}`)
      if (op.withVectors === true) parts.push('with vectors')
      const sql = op.summary?.sql ?? op.summary?.statement
      if (typeof sql === 'string') parts.push(clip(JSON.stringify(sql), 80))
      return parts.filter(p => p !== '').join(' ')
    }
    case 'verdict': {
      const v = b.verdict ?? {}
      return `${String(v.effect).toUpperCase()}${v.rule !== undefined ? ` by ${v.rule}` : ' (default)'}${v.mask !== undefined ? `, mask ${v.mask}` : ''} — ${v.reason ?? ''}`
    }
    case 'approval':
      return `${d.step} ${d.approval}${d.actor !== undefined ? ` by ${d.actor}` : ''}${d.reason !== undefined ? `: ${clip(String(d.reason), 60)}` : ''}${d.blastRadius !== undefined ? ` (would touch ${typeof d.blastRadius === 'object' ? JSON.stringify(d.blastRadius) : d.blastRadius})` : ''}${b.for !== undefined ? ` [session ${b.for}]` : ''}`
    case 'response':
      if (d.final === true) {
        const bits = [d.ok === true ? 'OK' : `FAILED${d.status !== undefined ? ` ${d.status}` : ''}${d.message !== undefined ? `: ${clip(String(d.message), 60)}` : ''}`]
        if (d.records > 0) bits.push(`${d.records} records`)
        if (d.vectors > 0) bits.push(`${d.vectors} vectors`)
        if (d.bytes !== undefined) bits.push(`${d.bytes} bytes`)
        if (typeof d.ms === 'number') bits.push(`${d.ms.toFixed(1)} ms`)
        // a call's last result and its end stored as one event (writer.ts)
        if (d.truncated !== undefined) bits.push(`result too big to keep whole (${d.truncated.bytes} bytes, ${d.truncated.ids} ids)`)
        else if (d.result !== undefined) bits.push(`result${b.ids !== undefined ? `: ids ${idList(b.ids)}` : ''}  (--event ${e.n} shows it)`)
        return bits.join(', ')
      }
      if (d.truncated !== undefined) return `result of ${d.truncated.bytes} bytes (too big to keep whole), ${d.truncated.ids} ids`
      return `result${b.ids !== undefined ? `: ids ${idList(b.ids)}` : ''}  (--event ${e.n} shows it)`
    case 'error':
      return `${d.code}: ${clip(String(d.message ?? ''), 90)}${d.approvalId !== undefined ? ` (approval ${d.approvalId})` : ''}`
    case 'loss':
      return `LOSS: ${d.reason ?? ''}${d.lost !== undefined ? ` ${JSON.stringify(d.lost)}` : ''}${lossWindow(d)}${Array.isArray(d.unfinished_calls) && d.unfinished_calls.length > 0 ? `; calls without a recorded end: ${d.unfinished_calls.join(',')}` : ''}${typeof d.sessions_left_open === 'number' ? `; ${d.sessions_left_open} sessions left open, each closed with its own loss event` : ''}`
    default:
      return clip(JSON.stringify(b))
  }
}

/** After an abrupt stop: from when events may be missing, as recovery recorded it. */
function lossWindow (d: Record<string, any>): string {
  if (!('missing_from' in d)) return ''
  if (typeof d.missing_from !== 'number') return '; from when events may be missing is unknown (the journal did not record it)'
  const whole = d.scope === 'journal' ? ', and sessions started from then on may be missing whole' : ''
  const trail = typeof d.reads_may_trail_ms === 'number'
    ? ` (with journal.durable: changes, reads and searches answered in the last ~${d.reads_may_trail_ms as number} ms before the stop; with durable: all, no call whose end reached the client)`
    : ''
  return `; events from ${time(d.missing_from)} on may be missing${trail}${whole}`
}

export function eventLine (e: EventRow): string {
  return `${String(e.n).padStart(4)}  ${time(e.at).slice(11)}  ${e.call !== null ? pad('call ' + String(e.call), 9) : pad('', 9)} ${pad(e.kind, 9)} ${eventSummary(e)}`
}

/** The full event, the masked result pretty-printed. */
export function eventDetail (e: EventRow): string {
  return `${eventLine(e)}\n${JSON.stringify(e.body, null, 2)}`
}
