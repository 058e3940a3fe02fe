#!/usr/bin/env node
// Installs the real peers the tests run against (PEERS.md), so a fresh machine needs only `npm test`:
//   Debian packages: PostgreSQL 15 server and client, PgBouncer, nghttp2-client (h2load, nghttp);
//   a Python virtualenv .venv/ with the official Python clients and milvus-lite (a Milvus-protocol server).
// `node scripts/peers.mjs setup` installs what is missing (idempotent; a stamp under .peers/ makes a
// second run a few file checks), `node scripts/peers.mjs check` only reports what is missing.
// Plain Node ESM with built-ins only: it runs before anything else is known to work.
import { spawnSync } from 'node:child_process'
import { mkdirSync, readFileSync, writeFileSync, statSync } from 'node:fs'
import { delimiter, dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..')
const VENV = join(ROOT, '.venv')
const VENV_PYTHON = join(VENV, 'bin', 'python')
const STAMP = join(ROOT, '.peers', 'stamp.json')

/**
 * Python peers, pinned. milvus-lite 3.2.x is a Python re-implementation of the Milvus 3.0 gRPC API on
 * top of pymilvus' generated stubs (it imports pymilvus.grpc_gen without declaring it), so pymilvus 3.0.x
 * is the matching client — and @zilliz/milvus2-sdk-node 3.0.x the matching Node SDK.
 */
const PYTHON_PINS = [
  'pymilvus==3.0.2',
  'milvus-lite==3.2.2',
  'qdrant-client==1.20.0',
  'psycopg[binary]==3.3.9'
]
/** modules that must import once installed (catches a broken wheel, not only a missing one) */
const PYTHON_IMPORTS = ['pymilvus', 'milvus_lite', 'qdrant_client', 'psycopg', 'grpc']

/** Debian packages, each present when its file is. */
const DEBIAN = [
  { pkg: 'postgresql-15', file: '/usr/lib/postgresql/15/bin/initdb' },
  { pkg: 'postgresql-client-15', command: 'psql' },
  { pkg: 'pgbouncer', command: 'pgbouncer', also: ['/usr/sbin/pgbouncer'] },
  { pkg: 'nghttp2-client', command: 'h2load' },
  { pkg: 'nghttp2-client', command: 'nghttp' }
]

const say = (line) => process.stdout.write(`peers: ${line}\n`)
const fail = (line) => {
  process.stderr.write(`peers: ${line}\n`)
  process.exit(1)
}

function onPath (command) {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (dir !== '' && isFile(join(dir, command))) return true
  }
  return false
}

function isFile (p) {
  try { return statSync(p).isFile() } catch { return false }
}

function missingDebian () {
  const missing = new Set()
  for (const d of DEBIAN) {
    const present = d.file !== undefined
      ? isFile(d.file)
      : onPath(d.command) || (d.also ?? []).some(isFile)
    if (!present) missing.add(d.pkg)
  }
  return [...missing]
}

function readStamp () {
  try { return JSON.parse(readFileSync(STAMP, 'utf8')) } catch { return undefined }
}

/** the venv is current when its python exists and the stamp records exactly these pins */
function venvCurrent () {
  const stamp = readStamp()
  return isFile(VENV_PYTHON) && stamp !== undefined &&
    JSON.stringify(stamp.pythonPins) === JSON.stringify(PYTHON_PINS)
}

function run (cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, { stdio: opts.capture ? 'pipe' : ['ignore', 'inherit', 'inherit'], encoding: 'utf8', env: { ...process.env, ...opts.env } })
  if (r.error !== undefined) return { ok: false, out: '', err: r.error.message }
  return { ok: r.status === 0, out: r.stdout ?? '', err: r.stderr ?? '' }
}

/** apt's own words on failure, without its progress chatter */
const lastLines = (r) => (r.err.trim() || r.out.trim()).split('\n').slice(-3).join(' | ')

function setupDebian () {
  const missing = missingDebian()
  if (missing.length === 0) {
    say('debian packages present')
    return
  }
  if (process.getuid?.() !== 0) {
    fail(`missing Debian packages (${missing.join(', ')}): run as root, or: sudo apt-get install -y --no-install-recommends ${missing.join(' ')}`)
  }
  const env = { DEBIAN_FRONTEND: 'noninteractive' }
  say('apt-get update')
  const update = run('apt-get', ['update', '-q'], { env, capture: true })
  if (!update.ok) fail(`apt-get update failed: ${lastLines(update)}`)
  say(`apt-get install ${missing.join(' ')}`)
  const install = run('apt-get', ['install', '-y', '-q', '--no-install-recommends', ...missing], { env, capture: true })
  if (!install.ok) fail(`apt-get install ${missing.join(' ')} failed: ${lastLines(install)}`)
  const still = missingDebian()
  if (still.length > 0) fail(`still missing after apt-get install: ${still.join(', ')}`)
}

function setupPython () {
  if (venvCurrent()) {
    say('python venv current')
    return
  }
  if (!isFile(VENV_PYTHON)) {
    say('python3 -m venv .venv')
    let r = run('python3', ['-m', 'venv', VENV], { capture: true })
    if (!r.ok && process.getuid?.() === 0) {
      // Debian's python3 ships venv without ensurepip until python3-venv is installed
      say('apt-get install python3-venv')
      const env = { DEBIAN_FRONTEND: 'noninteractive' }
      run('apt-get', ['update', '-q'], { env, capture: true })
      const inst = run('apt-get', ['install', '-y', '-q', '--no-install-recommends', 'python3-venv'], { env, capture: true })
      if (!inst.ok) fail(`apt-get install python3-venv failed: ${lastLines(inst)}`)
      run('rm', ['-rf', VENV])
      r = run('python3', ['-m', 'venv', VENV], { capture: true })
    }
    if (!r.ok) {
      fail(`python3 -m venv failed (${r.err.trim().split('\n').pop()}); on Debian: apt-get install -y python3-venv`)
    }
  }
  say(`pip install ${PYTHON_PINS.join(' ')}`)
  const pip = run(VENV_PYTHON, ['-m', 'pip', 'install', '-q', '--disable-pip-version-check', ...PYTHON_PINS])
  if (!pip.ok) fail('pip install into .venv failed (see above)')
  const imp = run(VENV_PYTHON, ['-c', `import ${PYTHON_IMPORTS.join(', ')}`], { capture: true })
  if (!imp.ok) fail(`the Python peers do not import: ${imp.err.trim().split('\n').pop()}`)
  mkdirSync(dirname(STAMP), { recursive: true })
  writeFileSync(STAMP, JSON.stringify({ pythonPins: PYTHON_PINS, at: new Date().toISOString() }, null, 2) + '\n')
  say('python venv ready')
}

function check () {
  const problems = []
  const deb = missingDebian()
  if (deb.length > 0) problems.push(`Debian packages: ${deb.join(' ')}`)
  if (!isFile(VENV_PYTHON)) problems.push('python venv .venv/')
  else if (!venvCurrent()) problems.push(`python packages (pins changed or never installed): ${PYTHON_PINS.join(' ')}`)
  if (problems.length === 0) {
    say('all peers present')
    return 0
  }
  for (const p of problems) say(`missing ${p}`)
  say('run `node scripts/peers.mjs setup` to install them')
  return 1
}

const cmd = process.argv[2]
if (cmd === 'setup') {
  setupDebian()
  setupPython()
  say('ready')
} else if (cmd === 'check') {
  process.exit(check())
} else {
  fail('usage: node scripts/peers.mjs setup|check')
}
