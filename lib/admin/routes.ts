/**
 * Admin routes that act as a person: approvals (list/show/approve/deny), grant exchange, revocation.
 * Each maps 1:1 onto a method of the module that owns the logic.
 */
import { VecgateError } from '../errors.js'
import type { Gateway } from '../gateway.js'
import { adminExtensions, type AdminRequest } from './server.js'

interface ApprovalsApi {
  list: (f: { status?: any, for?: any, limit?: number }) => unknown[]
  get: (id: string) => unknown
  approve: (id: string, who: any, reason?: string) => unknown
  deny: (id: string, who: any, reason?: string) => unknown
}

function approvals (gw: Gateway): ApprovalsApi {
  const a = gw.parts.approvals as unknown as ApprovalsApi | undefined
  if (a === undefined || typeof a.list !== 'function') throw new VecgateError('VG_ERR_USAGE', 'approvals are not enabled on this gateway')
  return a
}

const reasonOf = (req: AdminRequest): string | undefined => {
  const b = req.body as { reason?: unknown } | undefined
  return typeof b?.reason === 'string' && b.reason !== '' ? b.reason : undefined
}

adminExtensions.push((gw, route) => {
  route('GET', '/v1/approvals', async (req) => {
    const who = await req.identity()
    const status = req.query.get('status') ?? undefined
    return { json: { approvals: approvals(gw).list({ status, for: who, limit: Number(req.query.get('limit') ?? 100) }) } }
  })
  route('GET', '/v1/approvals/:id', async (req) => {
    await req.identity()
    return { json: approvals(gw).get(req.params.id) }
  })
  route('POST', '/v1/approvals/:id/approve', async (req) => {
    const who = await req.identity()
    return { json: approvals(gw).approve(req.params.id, who, reasonOf(req)) }
  })
  route('POST', '/v1/approvals/:id/deny', async (req) => {
    const who = await req.identity()
    return { json: approvals(gw).deny(req.params.id, who, reasonOf(req)) }
  })
})
