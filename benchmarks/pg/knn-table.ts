/**
 * The pgvector KNN workload of the PostgreSQL benchmarks (pgbench.ts, profile.ts): 2000 16-dimensional
 * vectors in `items`, and a pgbench script asking for the 10 nearest to a random one of them.
 */
import { execFileSync } from 'node:child_process'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

/** creates the table through psql on the server at `port` (user postgres, any password: PGlite) */
export function seedKnnTable (port: number): void {
  const seed = join(mkdtempSync(join(tmpdir(), 'vg-knn-')), 'seed.sql')
  writeFileSync(seed, [
    'CREATE EXTENSION IF NOT EXISTS vector;',
    'CREATE TABLE items (id bigint PRIMARY KEY, embedding vector(16));',
    'INSERT INTO items SELECT i, (SELECT array_agg(((i * 7 + j * 13) % 101) / 101.0)::vector(16) FROM generate_series(1, 16) j) FROM generate_series(1, 2000) i;',
    ''
  ].join('\n'))
  execFileSync('psql', ['-q', '-h', '127.0.0.1', '-p', String(port), '-U', 'postgres', '-d', 'postgres', '-f', seed], { env: { ...process.env, PGPASSWORD: 'any' }, stdio: 'ignore' })
}

/** the pgbench script file (`-f`) of the KNN query */
export function knnScript (): string {
  const f = join(mkdtempSync(join(tmpdir(), 'vg-knn-')), 'knn.sql')
  writeFileSync(f, '\\set q random(1, 2000)\nSELECT id FROM items ORDER BY embedding <-> (SELECT embedding FROM items WHERE id = :q) LIMIT 10;\n')
  return f
}
