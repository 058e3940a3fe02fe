/**
 * Approvals as the admin API, the CLI, the webhook and the journal see them: plain JSON-serializable
 * objects (GET /v1/approvals, GET /v1/approvals/:id, POST /v1/approvals/:id/approve|deny).
 */
import type { Action, Identity, Protocol, RecordId } from '../../decoders/types.js'

/**
 * pending → approved → used (released one request), or → denied, or → expired (nobody decided within
 * approval_ttl, or an approval was not used within approval_ttl of being given).
 */
export type ApprovalStatus = 'pending' | 'approved' | 'denied' | 'expired' | 'used'
export const APPROVAL_STATUSES: readonly ApprovalStatus[] = ['pending', 'approved', 'denied', 'expired', 'used']

/** The held operation as an approver sees it. */
export interface ApprovalOp {
  backend: string
  protocol: Protocol
  method: string
  action: Action
  database?: string
  collection?: string
  collections?: string[]
  /** the first ids the request names (at most 100); idCount says how many in all */
  ids?: RecordId[]
  idCount?: number
  filter?: unknown
  bulk: boolean
  limit?: number
  withVectors?: boolean
  summary: Record<string, unknown>
}

export interface ApprovalVote {
  subject: string
  issuer: string
  /** epoch ms */
  at: number
  reason?: string
}

export interface Approval {
  /** 'apr_' + 10 base32 characters */
  id: string
  status: ApprovalStatus
  requester: { subject: string, issuer: string, source: Identity['source'], groups: string[], tokenId?: string }
  /** the session that asked (journal) */
  session: string
  op: ApprovalOp
  /** the approve rule and its one-line reason */
  rule?: string
  verdict: string
  /** why the requester says they need it */
  reason?: string
  /** records a bulk operation would touch, measured before asking */
  blastRadius?: number
  required: { groups?: string[], users?: string[], count: number }
  /** approvers so far */
  approvals: ApprovalVote[]
  denial?: ApprovalVote
  /** epoch ms */
  createdAt: number
  expiresAt: number
  decidedAt?: number
  usedAt?: number
  fingerprint: string
}

/**
 * One step, for the journal: created, vote (one of several approvers), approved (enough votes),
 * denied, released (a held or retried request went upstream on it), timeout (a held request gave
 * up; the approval stays pending), abandoned (the client went away; it stays pending), expired.
 */
export type ApprovalEventKind = 'created' | 'vote' | 'approved' | 'denied' | 'released' | 'timeout' | 'abandoned' | 'expired'

export interface ApprovalEvent {
  kind: ApprovalEventKind
  approval: Approval
  /** the approver for vote/approved/denied */
  actor?: Identity
  /** epoch ms */
  at: number
}
