/**
 * The identity commands as functions (the way bin/vecgate.ts runs them) against a whole gateway:
 * help with examples, usage mistakes named, where the caller's token and the gateway come from,
 * `request` waiting while an approver decides (and --no-wait, and a denial), `token revoke` through the
 * admin API and into the local revocation list the gateway reads.
 */
import t from 'tap'
import { rmSync } from 'node:fs'
import { join } from 'node:path'
import { Writable } from 'node:stream'
import { decodeJwt } from 'jose'
import { request as httpRequest } from 'undici'
import { startTestGateway } from '../../helpers/gateway.js'
import { isolatedCliHome } from '../../helpers/cli-home.js'
import { startKeyServer } from '../../peers/oidc.js'
import { adminBase, callerToken, identityCommands, requestGrant } from '../../../lib/cli/identity.js'
import { storeGrant } from '../../../lib/identity/login.js'
import type { Config } from '../../../lib/config/types.js'

const home = isolatedCliHome(t)

const idp = await startKeyServer()
t.teardown(() => idp.close())
const gw = await startTestGateway({
  identity: { oidc: [{ issuer: idp.issuer, audience: 'vecgate' }] },
  backends: [{ name: 'pg', protocol: 'postgres', upstream: '127.0.0.1:9', credentials: { user: 'u', password: 'p', database: 'd' } }],
  policy: {
    rules: [
      { id: 'analysts-read', subjects: { groups: ['analysts'] }, collections: ['items'], actions: ['read', 'search'], effect: 'allow' },
      { id: 'deletes-need-approval', subjects: { groups: ['analysts'] }, collections: ['items'], actions: ['delete'], effect: 'approve', approvers: { groups: ['security'], count: 1 } }
    ]
  }
})
t.teardown(() => gw.stop())
const alice = await idp.sign({ sub: 'alice', aud: 'vecgate', groups: ['analysts'] })
const bob = await idp.sign({ sub: 'bob', aud: 'vecgate', groups: ['security'] })

async function cli (name: string, values: Record<string, unknown>, positionals: string[] = [], onErr?: (s: string) => void): Promise<{ code: number, out: string, err: string }> {
  const command = identityCommands.find(c => c.name === name)!
  let out = ''
  let err = ''
  const code = await command.run({
    values,
    positionals,
    config: (): Config => gw.config,
    configPath: gw.config.file,
    out: new Writable({ write (c, _e, cb) { out += String(c); cb() } }),
    err: new Writable({ write (c, _e, cb) { err += String(c); onErr?.(String(c)); cb() } })
  })
  return { code, out, err }
}

async function admin (method: 'GET' | 'POST', path: string, token: string, body?: unknown): Promise<{ status: number, json: any }> {
  const res = await httpRequest(new URL(path, gw.adminUrl), { method, headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body) })
  return { status: res.statusCode, json: await res.body.json() }
}

t.test('every identity command has help with an example', async t => {
  t.same(identityCommands.map(c => c.name), ['login', 'request', 'token revoke'])
  for (const c of identityCommands) {
    t.match(c.help, new RegExp(`^vecgate ${c.name} `), `${c.name}: usage line`)
    t.match(c.help, /Examples?:\n {2}npx vecgate /, `${c.name}: an example`)
    t.ok(c.summary.length > 10 && c.summary.length < 100)
  }
})

t.test('mistakes are named', async t => {
  await t.rejects(cli('request', { admin: gw.adminUrl, token: alice, actions: 'read', reason: 'x' }), { code: 'VG_ERR_USAGE', message: /--backend is required/ })
  await t.rejects(cli('request', { admin: gw.adminUrl, token: alice, backend: 'pg', reason: 'x' }), { code: 'VG_ERR_USAGE', message: /--actions is required/ })
  await t.rejects(cli('request', { admin: gw.adminUrl, token: alice, backend: 'pg', actions: 'read' }), { code: 'VG_ERR_USAGE', message: /--reason is required/ })
  await t.rejects(cli('request', { admin: gw.adminUrl, token: alice, backend: 'pg', actions: 'fly', reason: 'x' }), { code: 'VG_ERR_USAGE', message: /fly is not one of/ })
  await t.rejects(cli('request', { admin: gw.adminUrl, token: alice, backend: 'pg', actions: 'read', reason: 'x', ttl: 'soon' }), { code: 'VG_ERR_USAGE', message: /--ttl/ })
  await t.rejects(cli('request', { admin: gw.adminUrl, backend: 'pg', actions: 'read', reason: 'x' }), { code: 'VG_ERR_USAGE', message: /vecgate login/ }, 'no token anywhere')
  await t.rejects(cli('login', { device: true, pkce: true }), { code: 'VG_ERR_USAGE', message: /one of --device and --pkce/ })
  await t.rejects(cli('login', { admin: gw.adminUrl }), { code: 'VG_ERR_USAGE', message: /--issuer URL --client-id ID|no client_id/ }, 'the config names the issuer but no client id')
  await t.rejects(cli('token revoke', {}), { code: 'VG_ERR_USAGE', message: /a jti or a whole token/ })
  await t.rejects(cli('token revoke', { local: true }, ['not a jti!']), { code: 'VG_ERR_USAGE', message: /not a jti/ })
})

t.test('the caller\'s token and gateway: flag, then environment, then the stored grant, then the config', async t => {
  const ctx = { values: {} as Record<string, unknown>, config: (): Config => gw.config }
  t.equal(callerToken(ctx), undefined)
  t.equal(adminBase(ctx), 'http://127.0.0.1:0', 'admin.listen of the config (port 0 in tests)')
  storeGrant({ gateway: 'http://127.0.0.1:1', token: 'stored', expires_at: Math.floor(Date.now() / 1000) + 60 })
  t.teardown(() => rmSync(join(home, 'credentials.json'), { force: true }))
  t.equal(callerToken(ctx), 'stored')
  t.equal(adminBase(ctx), 'http://127.0.0.1:1', 'the gateway the grant came from')
  process.env.VECGATE_TOKEN = 'from-env'
  process.env.VECGATE_ADMIN = 'http://127.0.0.1:2'
  t.teardown(() => { delete process.env.VECGATE_TOKEN; delete process.env.VECGATE_ADMIN })
  t.equal(callerToken(ctx), 'from-env')
  t.equal(adminBase(ctx), 'http://127.0.0.1:2')
  t.equal(callerToken({ values: { token: 'flag' } }), 'flag')
  t.equal(adminBase({ values: { admin: 'http://127.0.0.1:3' }, config: ctx.config }), 'http://127.0.0.1:3')
  storeGrant({ gateway: 'http://127.0.0.1:1', token: 'old', expires_at: Math.floor(Date.now() / 1000) - 1 })
  delete process.env.VECGATE_TOKEN
  t.equal(callerToken(ctx), undefined, 'an expired stored grant is not used')
})

t.test('request: allowed at once, the token alone on stdout', async t => {
  const r = await cli('request', { admin: gw.adminUrl, token: alice, backend: 'pg', collection: ['items'], actions: 'read,search', reason: 'INC-1', ttl: '90s' })
  t.equal(r.code, 0)
  t.match(r.out, /^ey[\w-]+\.[\w-]+\.[\w-]+\n$/)
  const claims = decodeJwt(r.out.trim())
  t.match(claims, { sub: 'alice', reason: 'INC-1', vg: { backend: 'pg', collections: ['items'], actions: ['read', 'search'] } })
  t.ok((claims.exp as number) - (claims.iat as number) <= 90)
  const denied = await cli('request', { admin: gw.adminUrl, token: alice, backend: 'pg', collection: ['other'], actions: 'read', reason: 'x' }).catch(e => e)
  t.match(denied, { code: 'VG_ERR_DENIED' })
})

t.test('request: waits while pending, an approver approves, the token is printed', async t => {
  let approving: Promise<unknown> | undefined
  const r = await cli('request', { admin: gw.adminUrl, token: alice, backend: 'pg', collection: ['items'], actions: 'delete', ids: '7,8', reason: 'GDPR erasure #88' }, [], chunk => {
    const id = /Request (apr_\w+) needs approval/.exec(chunk)?.[1]
    if (id !== undefined) approving = admin('POST', `/v1/approvals/${id}/approve`, bob, { reason: 'ok' })
  })
  t.match(await approving, { status: 200 })
  t.equal(r.code, 0, r.err)
  t.match(r.err, /needs approval[\s\S]*vecgate approvals approve apr_[\s\S]*Waiting[\s\S]*Granted \(approval apr_/)
  const claims = decodeJwt(r.out.trim())
  t.match(claims, { sub: 'alice', approval: /^apr_/, vg: { actions: ['delete'], ids: [7, 8] } })
})

t.test('request --no-wait prints the approval id and exits 3; asking again picks up the approval', async t => {
  const args = { admin: gw.adminUrl, token: alice, backend: 'pg', collection: ['items'], actions: 'delete', reason: 'cleanup', 'no-wait': true }
  const r = await cli('request', args)
  t.equal(r.code, 3)
  const id = r.out.trim()
  t.match(id, /^apr_\w+$/)
  t.match(await admin('POST', `/v1/approvals/${id}/approve`, bob), { status: 200 })
  const again = await cli('request', { ...args, 'no-wait': undefined, json: true })
  t.equal(again.code, 0)
  t.match(JSON.parse(again.out), { status: 'granted', scope: { actions: ['delete'] } })
  t.equal(decodeJwt(JSON.parse(again.out).token).approval, id)
})

t.test('request: a denial while waiting ends the command with the approver\'s reason', async t => {
  let denying: Promise<unknown> | undefined
  const e = await requestGrant({
    gateway: gw.adminUrl,
    token: alice,
    request: { backend: 'pg', collections: ['items'], actions: ['delete'], reason: 'drop it all' },
    intervalMs: 50,
    onPending: id => { denying = admin('POST', `/v1/approvals/${id}/deny`, bob, { reason: 'not without a ticket' }) }
  }).catch(err => err)
  await denying
  t.match(e, { code: 'VG_ERR_DENIED', message: /denied by bob: not without a ticket/ })
  const gaveUp = await requestGrant({
    gateway: gw.adminUrl,
    token: alice,
    request: { backend: 'pg', collections: ['items'], actions: ['delete'], ids: [99], reason: 'later' },
    intervalMs: 20,
    timeoutMs: 100
  }).catch(err => err)
  t.match(gaveUp, { code: 'VG_ERR_APPROVAL_TIMEOUT', message: /stays pending/ })
})

t.test('token revoke: through the admin API, and locally into the list the gateway reads', async t => {
  const mine = await gw.token('alice', { groups: ['analysts'] })
  const other = await gw.token('alice', { groups: ['analysts'] })
  const r = await cli('token revoke', { admin: gw.adminUrl, token: other }, [mine])
  t.equal(r.code, 0)
  t.match(r.out, new RegExp(`revoked ${decodeJwt(mine).jti as string} \\(a grant of alice\\)`))
  await t.rejects(gw.gw.parts.verifier.verify(mine), { message: /revoked/ })
  const carol = await gw.token('carol', { groups: ['analysts'] })
  await t.rejects(cli('token revoke', { admin: gw.adminUrl, token: other }, [carol]), { code: 'VG_ERR_DENIED', message: /only their own/ })

  const jti = decodeJwt(carol).jti as string
  const local = await cli('token revoke', { json: true }, [jti])
  t.equal(local.code, 0)
  t.match(JSON.parse(local.out), { revoked: jti, store: /-revocations\.db$/ })
  // the gateway looks at the shared file at most every 10 ms (RevocationStore recheckAfter); the CLI
  // ran in this process, far sooner than a real `vecgate token revoke` process ends
  await new Promise(resolve => setTimeout(resolve, 20))
  await t.rejects(gw.gw.parts.verifier.verify(carol), { message: /revoked/ }, 'the running gateway sees the local revocation')
})
