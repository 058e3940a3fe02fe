import { spawnSync } from 'node:child_process'
import { join } from 'node:path'
import t from 'tap'
import { ROOT } from '../peers/python.js'

const script = join(ROOT, 'scripts', 'peers.mjs')

t.test('check reports every peer present (npm test runs setup first)', async t => {
  const r = spawnSync(process.execPath, [script, 'check'], { encoding: 'utf8' })
  t.equal(r.status, 0, r.stdout + r.stderr)
  t.match(r.stdout, /all peers present/)
})

t.test('setup on a machine that has everything only checks', async t => {
  const r = spawnSync(process.execPath, [script, 'setup'], { encoding: 'utf8' })
  t.equal(r.status, 0, r.stdout + r.stderr)
  t.notMatch(r.stdout, /apt-get|pip install/, 'nothing installed again')
  t.match(r.stdout, /peers: ready/)
})

t.test('an unknown command fails with the usage line', async t => {
  const r = spawnSync(process.execPath, [script, 'frobnicate'], { encoding: 'utf8' })
  t.equal(r.status, 1)
  t.match(r.stderr, /usage: node scripts\/peers\.mjs setup\|check/)
})
