/**
 * One error base with stable codes. Protocol edges turn a VecgateError into a grpc-status or a
 * SQLSTATE (see `grpcStatusOf` / `sqlStateOf`); nothing else in the gateway looks at those numbers.
 */
export type ErrorCode =
  | 'VG_ERR_CONFIG'
  | 'VG_ERR_UNAUTHENTICATED'
  | 'VG_ERR_DENIED'
  | 'VG_ERR_APPROVAL_REQUIRED'
  | 'VG_ERR_APPROVAL_TIMEOUT'
  | 'VG_ERR_DEADLINE'
  | 'VG_ERR_LIMIT'
  | 'VG_ERR_MALFORMED'
  | 'VG_ERR_OVERSIZE'
  | 'VG_ERR_UNKNOWN_METHOD'
  | 'VG_ERR_UPSTREAM'
  | 'VG_ERR_JOURNAL'
  | 'VG_ERR_INTERNAL'
  | 'VG_ERR_USAGE'

export class VecgateError extends Error {
  readonly code: ErrorCode
  /** extra protocol-neutral detail: rule id, approval id, hint for a person */
  readonly detail: { rule?: string; approvalId?: string; hint?: string }
  constructor (code: ErrorCode, message: string, detail: VecgateError['detail'] = {}, options?: { cause?: unknown }) {
    super(message, options)
    this.name = 'VecgateError'
    this.code = code
    this.detail = detail
  }
}

export const isVecgateError = (e: unknown): e is VecgateError => e instanceof VecgateError

/** Anything thrown that is not ours becomes an internal error; its message is kept for logs only. */
export function asVecgateError (e: unknown): VecgateError {
  if (e instanceof VecgateError) return e
  return new VecgateError('VG_ERR_INTERNAL', 'internal error', {}, { cause: e })
}

/** gRPC status codes (https://grpc.github.io/grpc/core/md_doc_statuscodes.html). */
export const GrpcStatus = {
  OK: 0,
  CANCELLED: 1,
  UNKNOWN: 2,
  INVALID_ARGUMENT: 3,
  DEADLINE_EXCEEDED: 4,
  PERMISSION_DENIED: 7,
  RESOURCE_EXHAUSTED: 8,
  INTERNAL: 13,
  UNAVAILABLE: 14,
  UNAUTHENTICATED: 16
} as const

/** CONTRACT.md "Refusals": never UNIMPLEMENTED (the Milvus SDK turns it into success). */
export function grpcStatusOf (e: VecgateError): number {
  switch (e.code) {
    case 'VG_ERR_UNAUTHENTICATED': return GrpcStatus.UNAUTHENTICATED
    case 'VG_ERR_DENIED':
    case 'VG_ERR_APPROVAL_REQUIRED':
    case 'VG_ERR_APPROVAL_TIMEOUT':
    case 'VG_ERR_UNKNOWN_METHOD': return GrpcStatus.PERMISSION_DENIED
    case 'VG_ERR_LIMIT': return GrpcStatus.RESOURCE_EXHAUSTED
    case 'VG_ERR_DEADLINE': return GrpcStatus.DEADLINE_EXCEEDED
    case 'VG_ERR_OVERSIZE': return GrpcStatus.RESOURCE_EXHAUSTED
    case 'VG_ERR_UPSTREAM':
    case 'VG_ERR_JOURNAL': return GrpcStatus.UNAVAILABLE
    default: return GrpcStatus.INTERNAL
  }
}

/** SQLSTATEs (PostgreSQL docs, Appendix A). */
export function sqlStateOf (e: VecgateError): string {
  switch (e.code) {
    case 'VG_ERR_UNAUTHENTICATED': return '28P01'
    case 'VG_ERR_DENIED':
    case 'VG_ERR_APPROVAL_REQUIRED':
    case 'VG_ERR_UNKNOWN_METHOD':
    case 'VG_ERR_LIMIT': return '42501'
    case 'VG_ERR_APPROVAL_TIMEOUT':
    case 'VG_ERR_DEADLINE': return '57014'
    case 'VG_ERR_MALFORMED':
    case 'VG_ERR_OVERSIZE': return '08P01'
    case 'VG_ERR_UPSTREAM': return '08006'
    case 'VG_ERR_JOURNAL': return '58000'
    default: return 'XX000'
  }
}
