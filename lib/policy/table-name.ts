/**
 * PostgreSQL table names as grant scopes, policy rules and `journal who-saw` compare them.
 *
 * The decoder reports a table as the statement wrote it: `items` or `public.items`. Both name the same
 * table, because vecgate refuses a client's `SET search_path` unless an admin rule allows it
 * (decoders/postgres/classify.ts GUARDED_SETTINGS), so an unqualified name resolves through the
 * server's default path, `"$user", public`. A name in any other schema is only ever that schema's
 * table: `items` never means `other.items`. (An upstream role with a schema of its own name, or an
 * `ALTER ROLE ... SET search_path`, would make unqualified names land elsewhere: the upstream
 * credentials must not have one.)
 *
 * One exception: `pg_catalog` is searched before the path unless the path names it (PostgreSQL docs,
 * "The Schema Search Path"), so an unqualified `pg_authid` is the catalog's. Whether `pg_foo` is a
 * catalog relation depends on the server, so an unqualified `pg_` name is taken as `pg_catalog`'s:
 * `public.*` then never admits `FROM pg_authid`.
 *
 * Qdrant collection names may contain dots (`docs.v2` is one collection; Qdrant refuses only
 * `< > : " / \ | ? *`), so none of this applies to them: their names compare whole. Milvus names carry
 * their database separately and allow no dots; policy and grants write another database's collection
 * `database.collection` and an unqualified name means the `default` database's (lib/policy/glob.ts).
 */
export const DEFAULT_SCHEMA = 'public'
export const MILVUS_DEFAULT_DATABASE = 'default'
export const CATALOG_SCHEMA = 'pg_catalog'

/** `items` → `public.items`, `pg_class` → `pg_catalog.pg_class`; a schema-qualified name as it is. */
export function qualifiedTable (name: string): string {
  if (name.includes('.')) return name
  return (name.startsWith('pg_') ? CATALOG_SCHEMA : DEFAULT_SCHEMA) + '.' + name
}

/**
 * Every spelling a statement may have used for the table, for looking up what was recorded as
 * written: `items` and `public.items` (asked either way), only `other.items` for another schema.
 * An unqualified `pg_` name adds both schemas it can resolve to (an auditor wants every candidate).
 */
export function tableSpellings (name: string): string[] {
  const dot = name.indexOf('.')
  if (dot === -1) return name.startsWith('pg_') ? [name, `${DEFAULT_SCHEMA}.${name}`, `${CATALOG_SCHEMA}.${name}`] : [name, `${DEFAULT_SCHEMA}.${name}`]
  const schema = name.slice(0, dot)
  const table = name.slice(dot + 1)
  if (table.includes('.')) return [name]
  if (schema === DEFAULT_SCHEMA || (schema === CATALOG_SCHEMA && table.startsWith('pg_'))) return [name, table]
  return [name]
}
