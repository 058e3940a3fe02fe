import { randomInt } from 'node:crypto'
import type { HostPort } from '../config/types.js'

/** Where a client's CancelRequest must go: the upstream backend serving that client, with its own key. */
export interface UpstreamKey { upstream: HostPort, pid: number, secret: number }

/**
 * BackendKeyData that vecgate hands to clients, mapped to the upstream's (PostgreSQL docs 55.2.7
 * "Canceling Requests in Progress"). Clients never see upstream keys, and a key only cancels the
 * query of the connection it was given to (THREATS.md "Cancel requests for someone else's backend").
 */
export class CancelKeys {
  private readonly keys = new Map<string, UpstreamKey>()

  /** A fresh random (pid, secret) for a client connection. */
  issue (target: UpstreamKey): { pid: number, secret: number } {
    for (;;) {
      const pid = randomInt(1, 0x7fffffff)
      const secret = randomInt(-0x80000000, 0x7fffffff)
      const k = `${pid}:${secret}`
      if (this.keys.has(k)) continue
      this.keys.set(k, target)
      return { pid, secret }
    }
  }

  lookup (pid: number, secret: number): UpstreamKey | undefined { return this.keys.get(`${pid}:${secret}`) }

  revoke (pid: number, secret: number): void { this.keys.delete(`${pid}:${secret}`) }

  get size (): number { return this.keys.size }
}

/** One map per process: a CancelRequest arrives on a new connection, maybe on another listener. */
export const cancelKeys = new CancelKeys()
