/**
 * The upstream side: the backend's own credentials with whichever method the server asks for
 * (SCRAM-SHA-256, MD5, cleartext), and TLS to the upstream when configured.
 */
import { writeFileSync, mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import pg from 'pg'
import t from 'tap'
import { loadClassifier } from '../../../decoders/postgres/classify.js'
import type { BackendConfig } from '../../../lib/config/types.js'
import { createLogger } from '../../../lib/log.js'
import { connectUpstream } from '../../../lib/postgres/upstream.js'
import { startPostgres } from '../../peers/postgres.js'
import { startGate } from './harness.js'

await loadClassifier()
const log = createLogger({ level: 'silent' })

for (const auth of ['scram-sha-256', 'md5', 'password'] as const) {
  t.test(`upstream asks for ${auth}`, async t => {
    const peer = await startPostgres({ auth })
    t.teardown(() => peer.close())
    const gate = await startGate(peer)
    t.teardown(() => gate.close())
    const c = new pg.Client({ host: '127.0.0.1', port: gate.port, user: 'alice', password: await gate.token(), database: 'postgres' })
    await c.connect()
    t.teardown(() => c.end())
    t.same((await c.query('SELECT current_user AS u')).rows, [{ u: 'postgres' }], 'runs as the backend\'s own user')
    const backend: BackendConfig = { ...gate.backend, credentials: { ...gate.backend.credentials, password: 'wrong' } }
    await t.rejects(connectUpstream(backend, {}, 1 << 20, log), { code: 'VG_ERR_UPSTREAM', message: /28P01/ }, 'a wrong upstream password is an upstream error')
  })
}

t.test('TLS to the upstream when configured, verified against its CA', async t => {
  const peer = await startPostgres({ ssl: true })
  t.teardown(() => peer.close())
  const ca = join(mkdtempSync(join(tmpdir(), 'vg-ca-')), 'ca.pem')
  writeFileSync(ca, peer.cert!)
  const backend: BackendConfig = {
    name: 'pg', protocol: 'postgres', listen: { host: '127.0.0.1', port: 0 }, upstream: { host: peer.host, port: peer.port },
    upstream_tls: { ca, servername: 'localhost' }, credentials: { user: peer.user, password: peer.password, database: peer.database }
  }
  const up = await connectUpstream(backend, { application_name: 'vecgate:test' }, 1 << 20, log)
  t.ok('encrypted' in up.socket && (up.socket as { encrypted?: boolean }).encrypted, 'TLS socket')
  up.socket.destroy()
  const gate = await startGate(peer)
  t.teardown(() => gate.close())
  gate.backend.upstream_tls = { ca, servername: 'localhost' }
  const c = new pg.Client({ host: '127.0.0.1', port: gate.port, user: 'alice', password: await gate.token(), database: 'postgres' })
  await c.connect()
  t.teardown(() => c.end())
  t.same((await c.query('SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()')).rows, [{ ssl: true }], 'the upstream sees TLS')
  const untrusted: BackendConfig = { ...backend, upstream_tls: {} }
  await t.rejects(connectUpstream(untrusted, {}, 1 << 20, log), { code: 'VG_ERR_UPSTREAM' }, 'an unverified certificate is refused')
  const plainPeer = await startPostgres()
  t.teardown(() => plainPeer.close())
  const noTls: BackendConfig = { ...backend, upstream: { host: plainPeer.host, port: plainPeer.port }, credentials: { user: 'postgres', password: plainPeer.password, database: 'postgres' } }
  await t.rejects(connectUpstream(noTls, {}, 1 << 20, log), { code: 'VG_ERR_UPSTREAM', message: /does not offer TLS/ }, 'fail closed when the upstream offers no TLS')
})

t.test('upstream down: 08006 to the client', async t => {
  const peer = await startPostgres()
  const gate = await startGate(peer)
  t.teardown(() => gate.close())
  await peer.close()
  const c = new pg.Client({ host: '127.0.0.1', port: gate.port, user: 'alice', password: await gate.token(), database: 'postgres' })
  await t.rejects(c.connect(), { code: '08006' })
})
