/**
 * The blast-radius runner at its edges: which statements get one, and an upstream that never answers
 * ends the measurement with an error (the approver is then asked without a count) and a closed socket.
 */
import net from 'node:net'
import t from 'tap'
import { classify, loadClassifier } from '../../../decoders/postgres/classify.js'
import { serialize } from '../../../decoders/postgres/writer.js'
import type { BackendConfig } from '../../../lib/config/types.js'
import { createLogger } from '../../../lib/log.js'
import { pgBlastRadius, runCount } from '../../../lib/postgres/blast-radius.js'

await loadClassifier()
const log = createLogger({ level: 'silent' })
const backend = (port: number): BackendConfig => ({ name: 'pg', protocol: 'postgres', upstream: { host: '127.0.0.1', port }, credentials: { user: 'u', password: 'p', database: 'd' } }) as unknown as BackendConfig
const stmt = (sql: string) => classify(sql).statements[0]

t.test('only statements that change rows get a blast radius, and only with what they need', async t => {
  const q = serialize.query('DELETE FROM t')
  t.type(pgBlastRadius(backend(1), log, stmt('DELETE FROM t'), q), 'function')
  t.equal(pgBlastRadius(backend(1), log, stmt('SELECT 1'), serialize.query('SELECT 1')), undefined, 'a SELECT')
  t.equal(pgBlastRadius(backend(1), log, stmt('INSERT INTO t VALUES (1)'), serialize.query('INSERT INTO t VALUES (1)')), undefined, 'an INSERT')
  t.equal(pgBlastRadius(backend(1), log, stmt('DELETE FROM t'), undefined), undefined, 'no message kept')
  t.equal(pgBlastRadius(backend(1), log, stmt('DELETE FROM t WHERE a = $1'), serialize.parse('', 'DELETE FROM t WHERE a = $1')), undefined, 'a Parse without its Bind')
  t.equal(await pgBlastRadius(backend(1), log, stmt('DELETE FROM t WHERE CURRENT OF c'), serialize.query('DELETE FROM t WHERE CURRENT OF c'))!(), undefined, 'no count query: nothing asked upstream')
})

t.test('an upstream that accepts and never answers: the measurement ends with an error and the socket is closed', async t => {
  let closed: Promise<void> | undefined
  const server = net.createServer(s => { closed = new Promise(resolve => s.on('close', () => resolve())); s.on('error', () => {}); s.resume() })
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => server.close())
  const port = (server.address() as net.AddressInfo).port
  await t.rejects(runCount(backend(port), { sql: 'SELECT count(*) FROM "t"', params: [] }, undefined, log), { code: 'VG_ERR_UPSTREAM', message: /no count connection/ })
  await closed
  t.pass('the count connection was closed (by the connect timeout of lib/postgres/upstream.ts, after the measurement gave up)')
})

t.test('a parameter the Bind does not have is refused before anything is sent', async t => {
  await t.rejects(runCount(backend(1), { sql: 'SELECT count(*) FROM "t" WHERE (a = $1)', params: [2] }, { types: [0], formats: [0], values: [Buffer.from('x')] }, log), { code: 'VG_ERR_MALFORMED' })
})
