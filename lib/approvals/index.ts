/** Approvals: hold requests for a person's decision (./approvals.ts), notify approvers (./webhook.ts). */
export { Approvals, newApprovalId, type ApprovalsOptions, type HoldRequest, type ListFilter } from './approvals.js'
export { fingerprint, stableJson } from './fingerprint.js'
export { WebhookNotifier, slackMessage, type Notifier, type WebhookOptions } from './webhook.js'
export { APPROVAL_STATUSES, type Approval, type ApprovalEvent, type ApprovalEventKind, type ApprovalOp, type ApprovalStatus, type ApprovalVote } from './types.js'
