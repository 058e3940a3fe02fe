/**
 * Collection globs of policy rules: `*` is any run of characters (dots included), `?` is one
 * character, everything else is literal. Compiled once into a Set of exact names plus anchored RegExps.
 *
 * PostgreSQL tables are schema-qualified, and decoders report them as written (`items` or
 * `public.items`). A table named without a schema is `public.<table>` (lib/policy/table-name.ts: the
 * client cannot change search_path), so `public.items` and `public.*` in a rule decide `FROM items`,
 * and `items` in a rule decides `FROM public.items`. A rule name without a schema is read the way that
 * errs on the safe side:
 *  - in an allow rule it means the table in `public`, so `items` never lets `secret.items` through;
 *  - in a deny or approve rule it means the table in any schema, so `items` stops `archive.items` too.
 * An unqualified `pg_` name may be the catalog's (pg_catalog is searched first): in a statement and in
 * an allow rule it means `pg_catalog.<name>` only, so `public.*` never admits `FROM pg_authid`; deny
 * and approve rules take a statement's `pg_` name either way.
 * Qdrant names are flat: patterns match the whole name as it is (Qdrant names may contain dots, so
 * `items` is not `public.items` there).
 * Milvus collections live in databases, and a request names its database beside the collection
 * (`db_name`, else the `dbname` metadata, else `default`). Milvus allows no dots in either name, so a
 * rule names a collection of another database as `database.collection`, and a name without a database
 * is read the safe way, as for Postgres schemas: in an allow rule the `default` database's collection
 * only (allowing `docs` never lets `hr.docs` through), in a deny or approve rule that collection in any
 * database (denying `salaries` stops `hr.salaries` too).
 */

import type { Protocol } from '../../decoders/types.js'
import { DEFAULT_SCHEMA, MILVUS_DEFAULT_DATABASE, qualifiedTable } from './table-name.js'

const BAD = /[[\]{}\\\s]/

/** Why a pattern is unusable, or undefined when it is fine. */
export function globProblem (p: unknown): string | undefined {
  if (typeof p !== 'string') return 'a collection name or glob (a string)'
  if (p === '') return 'a non-empty collection name or glob'
  if (BAD.test(p)) return `a glob using only * and ? as wildcards (no [ ] { } \\ or spaces), got "${p}"`
  if (p.startsWith('.') || p.endsWith('.') || p.includes('..')) return `a name like docs, docs_* or public.items, got "${p}"`
  return undefined
}

const isWild = (p: string): boolean => p.includes('*') || p.includes('?')

function toRegExp (p: string): RegExp {
  let s = '^'
  for (const ch of p) {
    if (ch === '*') s += '.*'
    else if (ch === '?') s += '.'
    else s += ch.replace(/[.+^$()|]/g, '\\$&')
  }
  return new RegExp(s + '$', 's')
}

/** Does the glob match the name? For compile-time use (not the hot path). */
export function globMatch (pattern: string, name: string): boolean {
  return isWild(pattern) ? toRegExp(pattern).test(name) : pattern === name
}

/**
 * One wildcard glob as the cheapest test that decides it. Globs of `*` only (nearly all) need no
 * RegExp: the text before the first star is a prefix, after the last a suffix, and the pieces between
 * are found left to right (leftmost is always right for `*`). Globs with `?` use an anchored RegExp.
 */
type Test = (name: string) => boolean

function compileWild (p: string): Test {
  if (p.includes('?')) {
    const re = toRegExp(p)
    return n => re.test(n)
  }
  const parts = p.split('*')
  const pre = parts[0]
  const suf = parts[parts.length - 1]
  const mids = parts.slice(1, -1).filter(m => m !== '')
  const min = parts.reduce((n, x) => n + x.length, 0)
  if (mids.length === 0) {
    if (suf === '') return n => n.startsWith(pre)
    if (pre === '') return n => n.endsWith(suf)
    return n => n.length >= min && n.startsWith(pre) && n.endsWith(suf)
  }
  return n => {
    if (n.length < min || !n.startsWith(pre) || !n.endsWith(suf)) return false
    const end = n.length - suf.length
    let at = pre.length
    for (let i = 0; i < mids.length; i++) {
      const k = n.indexOf(mids[i], at)
      if (k === -1 || k + mids[i].length > end) return false
      at = k + mids[i].length
    }
    return true
  }
}

/** A set of globs tested as one: exact names by hash lookup, wildcards by the tests above. */
export class GlobSet {
  private readonly exact = new Set<string>()
  private readonly wild: Test[] = []
  private any = false

  add (p: string): void {
    if (p === '*') this.any = true
    else if (isWild(p)) this.wild.push(compileWild(p))
    else this.exact.add(p)
  }

  test (name: string): boolean {
    if (this.any || this.exact.has(name)) return true
    const w = this.wild
    for (let i = 0; i < w.length; i++) if (w[i](name)) return true
    return false
  }
}

/** The globs of one rule, in the forms the protocols need (see the header comment). */
export class CollectionGlobs {
  /** Qdrant: whole names */
  private readonly flat = new GlobSet()
  /** Milvus: `database.collection` */
  private readonly inDatabase = new GlobSet()
  /** Postgres, operation names `schema.table` */
  private readonly qualified = new GlobSet()
  /** Postgres, operation names without a schema (= public) */
  private readonly unqualified = new GlobSet()

  constructor (readonly patterns: readonly string[], private readonly restrictive: boolean) {
    for (const p of patterns) {
      this.flat.add(p)
      this.inDatabase.add(p === '*' || p.includes('.') ? p : restrictive ? `*.${p}` : `${MILVUS_DEFAULT_DATABASE}.${p}`)
      if (p === '*') {
        this.qualified.add(p)
        this.unqualified.add(p)
        continue
      }
      const dot = p.indexOf('.')
      if (dot === -1) {
        this.qualified.add(restrictive ? `*.${p}` : qualifiedTable(p))
        this.unqualified.add(p)
      } else {
        this.qualified.add(p)
        if (globMatch(p.slice(0, dot), DEFAULT_SCHEMA)) this.unqualified.add(p.slice(dot + 1))
      }
    }
  }

  /** `database` is the Milvus request's database (the decoder always names one) */
  test (name: string, protocol: Protocol, database?: string): boolean {
    if (protocol === 'milvus') return this.inDatabase.test(`${database ?? MILVUS_DEFAULT_DATABASE}.${name}`)
    if (protocol !== 'postgres') return this.flat.test(name)
    if (name.includes('.')) return this.qualified.test(name)
    if (name.startsWith('pg_')) {
      // the catalog's relation when it has one, else public's: allow only what covers the catalog's,
      // deny or approve on either reading
      return this.qualified.test(qualifiedTable(name)) || (this.restrictive && this.unqualified.test(name))
    }
    return this.unqualified.test(name)
  }
}
