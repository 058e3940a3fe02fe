/**
 * pgvector through vecgate with every client the contract names — pg, postgres (porsager), psql and
 * psycopg — against PGlite + pgvector, compared with the same queries sent direct; and psycopg's
 * refusal, cancel and wrong-token handling against PostgreSQL 15.
 */
import pg from 'pg'
import postgres from 'postgres'
import t from 'tap'
import { psql, startGate } from '../lib/postgres/harness.js'
import { startPglite } from './pglite.js'
import { startPostgres } from './postgres.js'
import { runPythonJSON } from './python.js'

const lite = await startPglite()
t.teardown(() => lite.close())
const up = { host: lite.host, port: lite.port, user: 'postgres', password: 'any', database: 'postgres' }
const gate = await startGate(up)
t.teardown(() => gate.close())

const direct = new pg.Client({ ...up })
await direct.connect()
t.teardown(() => direct.end())

t.test('pg: extension, vector table, insert, KNN with <-> and <=>, same as direct', async t => {
  const c = new pg.Client({ host: '127.0.0.1', port: gate.port, user: 'alice', password: await gate.token(), database: 'postgres' })
  await c.connect()
  t.teardown(() => c.end())
  await c.query('CREATE EXTENSION IF NOT EXISTS vector')
  await c.query('CREATE TABLE docs (id bigint PRIMARY KEY, content text, embedding vector(3))')
  await c.query("INSERT INTO docs VALUES (1, 'one', '[1,0,0]'), (2, 'two', '[0,1,0]'), (3, 'three', '[0,0,1]'), (4, 'four', '[1,1,0]')")
  await c.query('INSERT INTO docs VALUES ($1, $2, $3::vector)', [5, 'five', '[1,1,1]'])
  for (const op of ['<->', '<=>']) {
    const q = `SELECT id, content, embedding <-> '[1,1,0.9]' AS d FROM docs ORDER BY embedding ${op} $1::vector LIMIT 3`
    const via = await c.query(q, ['[1,1,0.9]'])
    const dir = await direct.query(q, ['[1,1,0.9]'])
    t.same(via.rows, dir.rows, `KNN ${op}`)
    t.equal(via.rows.length, 3)
  }
  const ops = gate.parts.journal.events.filter(e => e.kind === 'request').map(e => e.op)
  t.ok(ops.some(o => o?.action === 'search' && o.collection === 'docs'), 'ORDER BY a distance operator is a search')
  const named = { name: 'knn-pg', text: 'SELECT id FROM docs ORDER BY embedding <-> $1::vector LIMIT 2', values: ['[0.1,0.1,1]'] }
  t.same((await c.query(named)).rows, [{ id: '3' }, { id: '5' }])
  t.same((await c.query({ ...named, values: ['[1,0,0]'] })).rows.map(r => r.id), ['1', '4'])
  await c.query('BEGIN')
  await c.query("UPDATE docs SET content = 'uno' WHERE id = 1")
  await c.query('COMMIT')
  t.same((await direct.query('SELECT content FROM docs WHERE id = 1')).rows, [{ content: 'uno' }])
})

t.test('postgres (porsager): KNN with parameters, transaction', async t => {
  const sql = postgres({ host: '127.0.0.1', port: gate.port, user: 'alice', password: await gate.token(), database: 'postgres', max: 1, onnotice: () => {} })
  t.teardown(() => sql.end({ timeout: 1 }))
  const rows = await sql`SELECT id FROM docs ORDER BY embedding <=> ${'[0,1,0]'}::vector LIMIT 2`
  const dir = await direct.query("SELECT id FROM docs ORDER BY embedding <=> '[0,1,0]'::vector LIMIT 2")
  t.same(rows.map(r => r.id), dir.rows.map(r => r.id))
  await sql.begin(async tx => { await tx`INSERT INTO docs VALUES (6, 'six', ${'[2,2,2]'}::vector)` })
  t.equal((await direct.query('SELECT count(*)::int AS n FROM docs')).rows[0].n, 6)
})

t.test('psql: the same KNN output as direct', async t => {
  const q = "SELECT id, content FROM docs ORDER BY embedding <-> '[1,1,1]' LIMIT 3"
  const via = await psql(gate.port, 'alice', await gate.token(), ['-At', '-c', q])
  const dir = await psql(lite.port, 'postgres', 'any', ['-At', '-c', q])
  t.equal(via.code, 0, via.stderr)
  t.equal(via.stdout, dir.stdout)
  t.equal(via.stdout.split('\n')[0], '5|five')
})

t.test('psycopg: KNN, prepared statements, transactions, same as direct', async t => {
  await direct.query("CREATE TABLE py_docs (id bigint PRIMARY KEY, content text, embedding vector(3)); INSERT INTO py_docs VALUES (1, 'a', '[1,0,0]'), (2, 'b', '[0,1,0]'), (3, 'c', '[1,1,1]')")
  const via = await runPythonJSON<Record<string, unknown>>('pg_clients.py', ['vector', '127.0.0.1', String(gate.port), 'alice', await gate.token()])
  t.same(via.l2, [[3, 'c'], [1, 'a'], [2, 'b']])
  t.same(via.cosine, [[1], [3], [2]])
  t.same(via.prepared, ['a', 'b', 'a'])
  t.equal(via.after_tx, 'tx')
  t.equal(via.rolled_back, 0)
  await direct.query('DELETE FROM py_docs WHERE id >= 100')
  const dir = await runPythonJSON<Record<string, unknown>>('pg_clients.py', ['vector', lite.host, String(lite.port), 'postgres', 'any'])
  t.same(via, dir, 'same as direct')
})

t.test('psycopg against PostgreSQL 15: refusal then reuse, cancel, wrong token', async t => {
  const pg15 = await startPostgres()
  t.teardown(() => pg15.close())
  const setup = new pg.Client({ host: pg15.host, port: pg15.port, user: pg15.user, password: pg15.password, database: pg15.database })
  await setup.connect()
  await setup.query('CREATE TABLE secret_notes (id int)')
  await setup.end()
  const g = await startGate(pg15)
  t.teardown(() => g.close())
  const out = await runPythonJSON<Record<string, unknown>>('pg_clients.py', ['control', '127.0.0.1', String(g.port), 'alice', await g.token()])
  t.same(out, { denied: '42501', after_denied: 1, cancelled: '57014', cancel_quick: true, after_cancel: 2, wrong_token: '28P01' })
})
