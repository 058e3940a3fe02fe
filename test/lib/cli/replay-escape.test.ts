/**
 * THREATS.md "Terminal injection": strings a client chose reach the journal (a collection name, a
 * SQL-looking value, the error text that names them) and are printed later by `vecgate replay` and
 * `vecgate sessions list` in an auditor's terminal. No ESC, BEL, C1 control or line break from that
 * data may reach the terminal as itself: an OSC sequence could retitle or hyperlink, CSI could clear the
 * screen or hide a line, and a newline could forge an event line that never happened.
 */
import t from 'tap'
import { QdrantClient } from '@qdrant/js-client-grpc'
import { startQdrantServer } from '../../peers/qdrant-server.js'
import { startTestGateway } from '../../helpers/gateway.js'
import { isolatedCliHome } from '../../helpers/cli-home.js'
import { runCommand } from '../../helpers/run-command.js'

isolatedCliHome(t)
const KEY = 'replay-upstream-key'
const peer = await startQdrantServer({ apiKey: KEY })
t.teardown(() => peer.close())
const gw = await startTestGateway({
  backends: [{ name: 'qdrant', protocol: 'qdrant', upstream: peer.address, credentials: { api_key: KEY } }],
  policy: { rules: [{ id: 'everyone', backends: ['qdrant'], effect: 'allow' }, { id: 'no-hidden', collections: ['hidden*'], effect: 'deny' }] }
})
t.teardown(() => gw.stop())

// each one a classic: OSC 0 (title) with BEL, OSC 8 (hyperlink) with ST, CSI clear screen, C1 CSI, a
// cursor-up that would overwrite the line before, and a newline that would start a made-up event line
const HOSTILE = [
  'docs\u001b]0;owned\u0007',
  'hidden\u001b]8;;https://evil.example\u001b\\click\u001b]8;;\u001b\\',
  'docs\u001b[2J\u001b[H',
  'docs\u009b31m',
  'docs\u001b[1A\u001b[2K',
  'hidden\n   9  00:00:00.000  call 9    verdict   ALLOW by everyone — fine'
]

const cli = runCommand

/** what reaches the terminal: nothing in C0 but the newlines the command itself puts, no DEL, no C1 */
function controls (out: string): string[] {
  return [...out.matchAll(/[\u0000-\u0009\u000b-\u001f\u007f-\u009f]/g)].map(m => JSON.stringify(m[0]))
}

t.test('hostile strings from a session are escaped by replay, replay --event and sessions list', async t => {
  const token = await gw.token('mallory')
  const client = new QdrantClient({ host: '127.0.0.1', port: gw.port('qdrant'), apiKey: token, https: false, checkCompatibility: false, timeout: 10_000 })
  for (const name of HOSTILE) {
    await client.api('points').count({ collectionName: name, exact: true }).catch(() => {})
  }
  await gw.gw.parts.journal.flush()
  const list = await cli('sessions list', { local: true, json: true }, [], gw.config)
  const session = list.out.trim().split('\n').map(l => JSON.parse(l) as { id: string, subject: string }).find(s => s.subject === 'mallory')
  t.ok(session, 'the session is in the journal')

  const replay = await cli('replay', { local: true }, [session!.id], gw.config)
  t.equal(replay.code, 0)
  t.match(replay.out, /docs\\u001b\]0;owned\\u0007/, 'the OSC title sequence is shown as escapes')
  t.same(controls(replay.out), [], 'replay prints no control character from the data')
  const lines = replay.out.split('\n')
  t.notOk(lines.some(l => /^\s+9 {2}00:00:00\.000/.test(l)), 'a newline in the data starts no line of its own')

  const events = (await cli('replay', { local: true, json: true }, [session!.id], gw.config)).out.trim().split('\n').slice(1).map(l => JSON.parse(l) as { n: number })
  t.ok(events.length > HOSTILE.length, 'every call was journaled')
  for (const e of events) {
    const one = await cli('replay', { local: true, event: String(e.n) }, [session!.id], gw.config)
    t.same(controls(one.out), [], `replay --event ${e.n} prints no control character from the data`)
  }
  const text = await cli('sessions list', { local: true }, [], gw.config)
  t.same(controls(text.out), [], 'sessions list prints no control character')
})
