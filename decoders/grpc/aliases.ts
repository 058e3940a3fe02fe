import type { Operation } from '../types.js'

/** one read-only unary call to the backend with its own credentials (lib/upstream/grpc-call.ts) */
export type SideCall = (path: string, request: Uint8Array) => Promise<Buffer>

/** how a protocol reads the aliases of one database from its backend: alias → collection */
export type AliasLister = (database: string, call: SideCall) => Promise<Map<string, string>>

/**
 * The aliases of one backend, learned from the backend itself (THREATS.md: an alias that points at a
 * denied collection is resolved to the real target before the policy decides). Per database, a map
 * alias → collection, fresh for `freshMs` after it was read and forgotten at once when a call that can
 * change aliases passes through the gateway. While fresh, resolution is synchronous; when stale the
 * request waits for one refresh (shared by all requests of that database), and a refresh that fails
 * refuses the request: a name is never let through unresolved.
 *
 * The resolved Operation names both: `collection` is the target (what the data is), `collections`
 * keeps the alias. A deny on either refuses; an allow must cover both (lib/policy/rules.ts), and so
 * must a grant's collections (lib/identity/scope.ts).
 */
export class AliasMap {
  private readonly maps = new Map<string, { aliases: Map<string, string>, until: number }>()
  private readonly refreshing = new Map<string, Promise<void>>()
  private generation = 0

  constructor (private readonly list: AliasLister, private readonly freshMs = 1000, private readonly max = 1024) {}

  /** resolves `op` in place and returns true when its database's map is fresh; false: refresh first */
  resolve (op: Operation): boolean {
    if (op.collection === undefined && (op.collections === undefined || op.collections.length === 0)) return true
    const e = this.maps.get(op.database ?? '')
    if (e === undefined || e.until < Date.now()) return false
    if (e.aliases.size === 0) return true // the common case: nothing to resolve, nothing allocated
    const names = namesOf(op)
    const targets: string[] = []
    for (const n of names) {
      const t = e.aliases.get(n)
      if (t !== undefined && !names.includes(t) && !targets.includes(t)) targets.push(t)
    }
    if (targets.length === 0) return true
    // the data is the target's: it becomes `collection`; the names the client used stay in `collections`
    const all = [...targets, ...names]
    op.collection = all[0]
    op.collections = all.slice(1)
    op.summary = { ...op.summary, aliases_resolved: targets }
    return true
  }

  /** reads the map of `database` from the backend again (one read at a time per database) */
  async refresh (database: string, call: SideCall): Promise<void> {
    const running = this.refreshing.get(database)
    if (running !== undefined) return await running
    const generation = this.generation
    const read = async (): Promise<void> => {
      try {
        const aliases = await this.list(database, call)
        // an alias change that passed while this read ran may not be in it: leave the map stale
        if (generation !== this.generation) return
        if (this.maps.size >= this.max && !this.maps.has(database)) this.maps.delete(this.maps.keys().next().value as string)
        this.maps.set(database, { aliases, until: Date.now() + this.freshMs })
      } finally {
        if (this.refreshing.get(database) === p) this.refreshing.delete(database)
      }
    }
    const p = read()
    this.refreshing.set(database, p)
    return await p
  }

  /** a call that can change aliases passed (or ended): every database's map is stale */
  invalidate (): void {
    this.generation++
    this.maps.clear()
    this.refreshing.clear()
  }
}

function namesOf (op: Operation): string[] {
  const out: string[] = []
  if (op.collection !== undefined) out.push(op.collection)
  if (op.collections !== undefined) for (const c of op.collections) if (!out.includes(c)) out.push(c)
  return out
}
