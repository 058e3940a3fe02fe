/**
 * What the Milvus decoder knows of collection schemas, learned only from the upstream's own
 * DescribeCollection answers (never from client requests: a client could claim any schema in a
 * CreateCollection that then fails). Two facts matter for classification:
 *   - the primary key field: `pk in [..]` names records, `other in [..]` is a filter (bulk for Delete);
 *   - the vector fields: output fields naming one mean the request asks for vectors.
 * Unknown collections classify conservatively (no ids, vectors assumed for `*`). Entries expire, and
 * drop/rename/alter requests forget the collection at once, so a re-created collection is re-learned.
 * One instance per backend: the same names on two backends are different collections.
 */
export interface CollectionFacts {
  /** the collection's own name (differs from the key when the key is an alias) */
  name: string
  primary: string
  vectors: ReadonlySet<string>
}

export class MilvusCollections {
  private readonly known = new Map<string, { facts: CollectionFacts, until: number }>()
  private readonly pending = new Map<string, Map<string, number>>()

  constructor (private readonly ttlMs = 60_000, private readonly max = 4096) {}

  get (db: string, collection: string): CollectionFacts | undefined {
    const k = key(db, collection)
    const e = this.known.get(k)
    if (e === undefined) return undefined
    if (e.until < Date.now()) {
      this.known.delete(k)
      return undefined
    }
    return e.facts
  }

  learn (db: string, names: string[], facts: CollectionFacts): void {
    for (const n of names) {
      if (n === '') continue
      if (this.known.size >= this.max) this.known.delete(this.known.keys().next().value as string)
      this.known.set(key(db, n), { facts, until: Date.now() + this.ttlMs })
    }
  }

  forget (db: string, collection: string): void {
    this.known.delete(key(db, collection))
  }

  /**
   * DescribeCollection answers name the database (real Milvus fills `db_name`; milvus-lite leaves it
   * empty). For the empty case, the request side notes which database each pending describe is for;
   * an answer is learned only when exactly one database is pending for that name.
   */
  expectDescribe (db: string, collection: string): void {
    let dbs = this.pending.get(collection)
    if (dbs === undefined) {
      if (this.pending.size >= this.max) this.pending.delete(this.pending.keys().next().value as string)
      dbs = new Map()
      this.pending.set(collection, dbs)
    }
    dbs.set(db, Date.now() + this.ttlMs)
  }

  /** the one database a describe of `collection` is pending for, undefined when none or ambiguous */
  describedIn (collection: string): string | undefined {
    const dbs = this.pending.get(collection)
    if (dbs === undefined) return undefined
    const now = Date.now()
    for (const [db, until] of dbs) if (until < now) dbs.delete(db)
    if (dbs.size === 0) this.pending.delete(collection)
    return dbs.size === 1 ? dbs.keys().next().value : undefined
  }

  /** a database dropped or an alias moved: forget everything of that database */
  forgetDatabase (db: string): void {
    const prefix = db + '\u0000'
    for (const k of this.known.keys()) if (k.startsWith(prefix)) this.known.delete(k)
  }
}

const key = (db: string, collection: string): string => db + '\u0000' + collection
