/**
 * THREATS.md "Startup tricks … SSL downgrade": on a listener that is not loopback, the listener's TLS
 * policy decides, not the client. A client that asked for TLS and had its SSLRequest stripped by someone
 * on the path arrives with a plaintext StartupMessage: vecgate refuses it before asking for a password,
 * so the token is never sent in the clear. The gateway listens on this machine's non-loopback address.
 */
import t from 'tap'
import net from 'node:net'
import os from 'node:os'
import { execFileSync } from 'node:child_process'
import { join } from 'node:path'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import pg from 'pg'
import { serialize } from '../../decoders/postgres/writer.js'
import { startPglite } from '../peers/pglite.js'
import { startTestGateway } from '../helpers/gateway.js'
import { sqlStateIn } from '../lib/postgres/harness.js'

/** the first IPv4 address that is not loopback; the test needs one and says so */
const host = Object.values(os.networkInterfaces()).flat().find(a => a !== undefined && a.family === 'IPv4' && !a.internal)?.address
if (host === undefined) throw new Error('this test needs a non-loopback IPv4 address on the machine (any network interface)')

const lite = await startPglite()
t.teardown(() => lite.close())
const upstream = `${lite.host}:${lite.port}`
const credentials = { user: 'postgres', password: 'any', database: 'postgres' }

const certs = mkdtempSync(join(tmpdir(), 'vecgate-listener-tls-'))
t.teardown(() => rmSync(certs, { recursive: true, force: true }))
execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', join(certs, 'key.pem'), '-out', join(certs, 'cert.pem'), '-days', '1', '-subj', '/CN=localhost'], { stdio: 'ignore' })

const gw = await startTestGateway({
  backends: [
    { name: 'pg-tls', protocol: 'postgres', listen: `${host}:0`, upstream, credentials, tls: { cert: join(certs, 'cert.pem'), key: join(certs, 'key.pem') } },
    { name: 'pg-plain', protocol: 'postgres', listen: `${host}:0`, upstream, credentials }
  ],
  policy: { rules: [{ id: 'everyone', effect: 'allow' }] }
})
t.teardown(() => gw.stop())

/** what the listener answers to `bytes` until it closes the connection */
async function exchange (port: number, bytes: Buffer[]): Promise<Buffer> {
  const s = net.connect({ host, port })
  const chunks: Buffer[] = []
  s.on('data', (b: Buffer) => chunks.push(b))
  s.on('error', () => {})
  await new Promise(resolve => s.once('connect', resolve))
  for (const b of bytes) s.write(b)
  await new Promise(resolve => s.once('close', resolve))
  return Buffer.concat(chunks)
}
/** an AuthenticationCleartextPassword request: R, length 8, code 3 */
const asksPassword = (b: Buffer): boolean => b.includes(Buffer.from([0x52, 0, 0, 0, 8, 0, 0, 0, 3]))

t.test('a TLS listener: TLS works; the same startup with SSLRequest stripped is refused before any password', async t => {
  const token = await gw.token('alice')
  const c = new pg.Client({ host, port: gw.port('pg-tls'), user: 'alice', password: token, database: 'postgres', ssl: { rejectUnauthorized: false } })
  await c.connect()
  t.teardown(() => c.end())
  t.same((await c.query('SELECT 1 AS ok')).rows, [{ ok: 1 }], 'over TLS')

  const stripped = await exchange(gw.port('pg-tls'), [serialize.startupMessage({ user: 'alice', database: 'postgres' })])
  t.equal(sqlStateIn(stripped), '28P01', 'plaintext startup refused')
  t.match(stripped.toString('latin1'), /requires TLS/)
  t.notOk(asksPassword(stripped), 'the password (the token) is never asked for in the clear')

  const noSsl = new pg.Client({ host, port: gw.port('pg-tls'), user: 'alice', password: token, database: 'postgres', ssl: false })
  await t.rejects(noSsl.connect(), { code: '28P01', message: /requires TLS/ }, 'a client that does not ask for TLS is refused too')
})

t.test('a plaintext listener that is not loopback: SSLRequest answered N, then the startup refused', async t => {
  const answer = await exchange(gw.port('pg-plain'), [serialize.sslRequest(), serialize.startupMessage({ user: 'alice', database: 'postgres' })])
    .catch(() => Buffer.alloc(0))
  // either the N and a refusal, or closed for sending plaintext right after SSLRequest: never a password request
  t.notOk(asksPassword(answer), 'no password asked for')
  const c = new pg.Client({ host, port: gw.port('pg-plain'), user: 'alice', password: await gw.token('alice'), database: 'postgres', ssl: false })
  await t.rejects(c.connect(), { code: '28P01', message: /requires TLS/ })
  const s = new pg.Client({ host, port: gw.port('pg-plain'), user: 'alice', password: await gw.token('alice'), database: 'postgres', ssl: { rejectUnauthorized: false } })
  await t.rejects(s.connect(), /does not support SSL/, 'TLS is not there to be had')
})
