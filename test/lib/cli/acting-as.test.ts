/**
 * The commands that act as a person — approvals list/show/approve/deny, sessions list, replay,
 * journal who-saw — take the caller from --token, VECGATE_TOKEN or the grant `vecgate login` stored,
 * and the gateway from --admin, VECGATE_ADMIN, the stored grant's gateway or the config. The config
 * handed to the commands points at no gateway and no journal, so whatever succeeds reached the
 * gateway the stored grant (or flag, or environment) named, as the person it names.
 */
import t from 'tap'
import { rmSync } from 'node:fs'
import { join } from 'node:path'
import { startTestGateway } from '../../helpers/gateway.js'
import { isolatedCliHome } from '../../helpers/cli-home.js'
import { runCommand } from '../../helpers/run-command.js'
import { storeGrant } from '../../../lib/identity/login.js'
import type { Config } from '../../../lib/config/types.js'

const home = isolatedCliHome(t)

const gw = await startTestGateway({
  backends: [{ name: 'pg', protocol: 'postgres', upstream: '127.0.0.1:9', credentials: { user: 'u', password: 'p', database: 'd' } }],
  policy: {
    rules: [
      { id: 'analysts-read', subjects: { groups: ['analysts'] }, collections: ['items'], actions: ['read', 'search'], effect: 'allow' },
      { id: 'deletes-need-approval', subjects: { groups: ['analysts'] }, collections: ['items'], actions: ['delete'], effect: 'approve', approvers: { groups: ['security'], count: 1 } }
    ]
  }
})
t.teardown(() => gw.stop())
const alice = await gw.token('alice', { groups: ['analysts'] })
const bob = await gw.token('bob', { groups: ['security'] })
const carol = await gw.token('carol', { groups: ['auditors'] })

/** The config the commands see: its admin address answers nothing, its journal does not exist. */
const nowhere: Config = {
  ...gw.config,
  admin: { ...gw.config.admin, listen: { ...gw.config.admin.listen, host: '127.0.0.1', port: 9 } },
  journal: { ...gw.config.journal, path: join(home, 'no-such-journal.db') }
}

async function cli (name: string, values: Record<string, unknown>, positionals: string[] = [], config: Config = nowhere): Promise<{ code: number, out: string }> {
  return await runCommand(name, values, positionals, config)
}

function storeAs (token: string): void {
  storeGrant({ gateway: gw.adminUrl, token, expires_at: Math.floor(Date.now() / 1000) + 300 })
}
const forget = (): void => rmSync(join(home, 'credentials.json'), { force: true })

/** alice asks for a new delete grant without waiting: a pending approval (and an admin session in the journal) */
let asked = 0
async function pending (): Promise<string> {
  const r = await cli('request', { admin: gw.adminUrl, token: alice, backend: 'pg', collection: ['items'], actions: 'delete', ids: String(++asked), reason: 'cleanup', 'no-wait': true })
  t.equal(r.code, 3)
  return r.out.trim()
}

t.test('without any identity the commands say how to get one', async t => {
  forget()
  await t.rejects(cli('approvals list', {}), { code: 'VG_ERR_USAGE', message: /run vecgate login, or pass --token TOKEN \/ set VECGATE_TOKEN/ })
  await t.rejects(cli('approvals approve', {}, ['apr_x']), { code: 'VG_ERR_USAGE', message: /vecgate login/ })
  await t.rejects(cli('sessions list', {}), { code: 'VG_ERR_USAGE', message: /no journal at/ }, 'no token: the local journal file of the config')
})

t.test('approvals as the stored grant, at the stored grant\'s gateway', async t => {
  const id = await pending()
  storeAs(bob)
  t.teardown(forget)
  const list = await cli('approvals list', { status: 'pending', json: true })
  t.equal(list.code, 0)
  t.ok(JSON.parse(list.out).approvals.some((a: { id: string }) => a.id === id), 'bob sees alice\'s pending request')
  t.match((await cli('approvals show', {}, [id])).out, new RegExp(`${id}\\s+pending\\s+requested by alice`))
  const approved = await cli('approvals approve', { reason: 'ticket OPS-1' }, [id])
  t.match(approved.out, new RegExp(`${id}\\s+approved`))

  storeAs(alice)
  const own = await cli('approvals deny', {}, [await pending()]).catch(e => e)
  t.match(own, { code: 'VG_ERR_DENIED' }, 'the stored grant is alice\'s now: she may not decide her own request')
})

t.test('approvals with VECGATE_TOKEN and VECGATE_ADMIN, and with the flags, over a stored grant', async t => {
  const id = await pending()
  storeAs(alice)
  t.teardown(forget)
  process.env.VECGATE_TOKEN = bob
  process.env.VECGATE_ADMIN = gw.adminUrl
  t.teardown(() => { delete process.env.VECGATE_TOKEN; delete process.env.VECGATE_ADMIN })
  t.match((await cli('approvals deny', { reason: 'no ticket' }, [id])).out, new RegExp(`${id}\\s+denied`), 'the environment wins over the stored grant')
  delete process.env.VECGATE_TOKEN
  delete process.env.VECGATE_ADMIN
  const next = await pending()
  t.match((await cli('approvals approve', { token: bob, admin: gw.adminUrl }, [next])).out, new RegExp(`${next}\\s+approved`), 'the flags win')
})

t.test('sessions list, replay and who-saw as the stored grant; --local reads the file', async t => {
  await pending()
  storeAs(carol)
  t.teardown(forget)
  const list = await cli('sessions list', { json: true })
  t.equal(list.code, 0)
  const sessions = list.out.trim().split('\n').map(l => JSON.parse(l) as { id: string, subject: string })
  const mine = sessions.find(s => s.subject === 'alice')
  t.ok(mine, 'carol (an auditor) sees alice\'s session through the admin API')
  const replay = await cli('replay', {}, [mine!.id])
  t.equal(replay.code, 0)
  t.match(replay.out, /alice/)
  t.match((await cli('journal who-saw', { backend: 'pg', collection: 'items', id: '1' })).out, /no session received pg\/items\/1/)

  storeAs(alice)
  await t.rejects(cli('journal who-saw', { backend: 'pg', collection: 'items', id: '1' }), { code: 'VG_ERR_DENIED', message: /auditors/ }, 'as alice now')
  const hers = await cli('sessions list', { json: true })
  t.ok(hers.out.trim().split('\n').every(l => JSON.parse(l).subjects.includes('alice')), 'alice sees only her own')

  await t.rejects(cli('sessions list', { local: true }), { message: /no journal at/ }, '--local: the config\'s journal file, not the gateway')
  const local = await cli('sessions list', { local: true, json: true }, [], gw.config)
  t.ok(local.out.includes(mine!.id), '--local with the gateway\'s own config reads its journal')
})
