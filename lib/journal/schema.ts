/**
 * The journal's tables. One file, versioned by `PRAGMA user_version`; each migration runs once, in
 * order, inside a transaction. Readers refuse a file newer than they know.
 *
 * - sessions: one row per client connection, numbered by `seq` in start order so a removed session
 *   shows as a gap (pruned sessions are listed in `pruned`, so retention is not mistaken for tampering).
 * - events: each session's events numbered 1..n, each carrying the hash of the one before it.
 * - identities: every subject a session carried (gRPC clients in one process share a connection, so
 *   one session may serve several tokens); `sessions.subject` is the first.
 * - journal_state: one row saying whether a gateway is writing and up to when its events are
 *   committed, so recovery after a kill can say from when events may be missing.
 * - seen: the record ids each response returned (`journal who-saw`), one B-tree keyed by
 *   (backend+collection scope, span, record id, event), where the span is the event's id >>
 *   SEEN_SPAN_BITS. Results return ids from all over a collection: keyed by record id first, every id
 *   landed on a page of its own among all the ids ever seen, and each commit rewrote one page per
 *   id (in the WAL, then again at the checkpoint), the journal's largest cost. Keyed by span first,
 *   a commit's ids land among the few pages of the current span; who-saw seeks the record in each
 *   span (version 3; before it, the key had no span).
 */
import type Database from 'better-sqlite3'
import { VecgateError } from '../errors.js'

const MIGRATIONS: string[] = [
  `CREATE TABLE sessions (
     id TEXT PRIMARY KEY,
     seq INTEGER NOT NULL UNIQUE,
     backend TEXT NOT NULL,
     protocol TEXT NOT NULL,
     client TEXT NOT NULL,
     tls INTEGER NOT NULL,
     started_at INTEGER NOT NULL,
     ended_at INTEGER,
     end_reason TEXT,
     subject TEXT,
     groups TEXT,
     token_id TEXT,
     events INTEGER NOT NULL DEFAULT 0,
     bytes INTEGER NOT NULL DEFAULT 0,
     last_hash TEXT NOT NULL,
     seal TEXT,
     key_id TEXT
   );
   CREATE INDEX sessions_started ON sessions (started_at);
   CREATE INDEX sessions_subject ON sessions (subject, started_at);
   CREATE TABLE events (
     id INTEGER PRIMARY KEY,
     session TEXT NOT NULL,
     n INTEGER NOT NULL,
     at INTEGER NOT NULL,
     kind TEXT NOT NULL,
     call INTEGER,
     body TEXT NOT NULL,
     prev TEXT NOT NULL,
     hash TEXT NOT NULL,
     UNIQUE (session, n)
   );
   CREATE TABLE scopes (
     id INTEGER PRIMARY KEY,
     backend TEXT NOT NULL,
     collection TEXT NOT NULL,
     UNIQUE (backend, collection)
   );
   CREATE TABLE seen (
     scope INTEGER NOT NULL,
     record TEXT NOT NULL,
     event INTEGER NOT NULL,
     PRIMARY KEY (scope, record, event)
   ) WITHOUT ROWID;
   CREATE TABLE identities (
     subject TEXT NOT NULL,
     session TEXT NOT NULL,
     PRIMARY KEY (subject, session)
   ) WITHOUT ROWID;
   CREATE TABLE pruned (
     session TEXT PRIMARY KEY,
     seq INTEGER NOT NULL,
     started_at INTEGER NOT NULL,
     ended_at INTEGER,
     subject TEXT,
     events INTEGER NOT NULL,
     pruned_at INTEGER NOT NULL,
     reason TEXT NOT NULL
   );
   CREATE TABLE keys (
     kid TEXT PRIMARY KEY,
     jwk TEXT NOT NULL,
     first_used INTEGER NOT NULL
   );`,
  // one row: whether a gateway is writing (set at start, cleared by a clean stop), and the time before
  // which everything its thread handed to the journal is committed — what recovery says a kill lost
  `CREATE TABLE journal_state (
     id INTEGER PRIMARY KEY CHECK (id = 1),
     running INTEGER NOT NULL,
     pid INTEGER,
     started_at INTEGER,
     committed_before INTEGER,
     commit_delay INTEGER
   );`,
  // the who-saw index keyed by span first (above); rows written before keep their ids, in their span
  `CREATE TABLE seen_by_span (
     scope INTEGER NOT NULL,
     span INTEGER NOT NULL,
     record TEXT NOT NULL,
     event INTEGER NOT NULL,
     PRIMARY KEY (scope, span, record, event)
   ) WITHOUT ROWID;
   INSERT INTO seen_by_span (scope, span, record, event) SELECT scope, event >> 8, record, event FROM seen;
   DROP TABLE seen;
   ALTER TABLE seen_by_span RENAME TO seen;`
]

/**
 * Events per span of the who-saw index, as a shift (schema version 3): 256 events, about 64 unary
 * calls, whose ids fill a few pages; who-saw costs two seeks per span of the scope. Part of the
 * file format (the migration above spells it out): never change it without a migration.
 */
export const SEEN_SPAN_BITS = 8
/** the first schema version whose who-saw index has spans */
export const SEEN_SPANS_SINCE = 3

export const SCHEMA_VERSION = MIGRATIONS.length

export function migrate (db: Database.Database): void {
  const have = db.pragma('user_version', { simple: true }) as number
  if (have > SCHEMA_VERSION) {
    throw new VecgateError('VG_ERR_JOURNAL', `journal ${db.name} has schema version ${have}, newer than this vecgate knows (${SCHEMA_VERSION})`, { hint: 'upgrade vecgate' })
  }
  for (let v = have; v < SCHEMA_VERSION; v++) {
    db.transaction(() => {
      db.exec(MIGRATIONS[v])
      db.pragma(`user_version = ${v + 1}`)
    })()
  }
}
