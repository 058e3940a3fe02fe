import type { Identity, Operation, Verdict } from '../../decoders/types.js'

/** A compiled policy: a plain function call on the hot path. */
export interface Policy {
  decide (identity: Identity, op: Operation): Verdict
}
