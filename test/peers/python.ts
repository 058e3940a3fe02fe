/**
 * The Python peers (official Python clients, milvus-lite) live in the project's virtualenv `.venv/`,
 * which `node scripts/peers.mjs setup` creates (npm's `pretest` runs it). Tests drive Python clients
 * through small scripts in test/peers/*.py that print one JSON document on stdout.
 */
import { spawn } from 'node:child_process'
import { statSync } from 'node:fs'
import { dirname, isAbsolute, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const HERE = dirname(fileURLToPath(import.meta.url))
export const ROOT = join(HERE, '..', '..')
export const VENV = join(ROOT, '.venv')

/** a program installed into the venv (python, milvus-lite, ...); throws with the fix when missing */
export function venvBin (name: string): string {
  const p = join(VENV, 'bin', name)
  let ok = false
  try { ok = statSync(p).isFile() } catch {}
  if (!ok) throw new Error(`${p} is missing: run \`node scripts/peers.mjs setup\` (installs the Python peers into .venv/)`)
  return p
}

/** path of the venv's python */
export function python (): string {
  return venvBin('python')
}

export interface PythonResult {
  code: number | null
  signal: NodeJS.Signals | null
  stdout: string
  stderr: string
}

export interface RunPythonOptions {
  /** kill the script after this many ms (default 60 s); the result then says so in stderr */
  timeout?: number
  env?: Record<string, string>
  /** written to the script's stdin, then closed */
  input?: string
}

/**
 * Runs `test/peers/<script>` (or an absolute path) with the venv's python. Never rejects for a
 * non-zero exit: the caller asserts on code/stdout/stderr so a failure shows the script's own words.
 */
export async function runPython (script: string, args: string[] = [], opts: RunPythonOptions = {}): Promise<PythonResult> {
  const file = isAbsolute(script) ? script : join(HERE, script)
  const child = spawn(python(), [file, ...args], {
    cwd: ROOT,
    env: { ...process.env, PYTHONUNBUFFERED: '1', PYTHONDONTWRITEBYTECODE: '1', ...opts.env },
    stdio: ['pipe', 'pipe', 'pipe']
  })
  const out: Buffer[] = []
  const err: Buffer[] = []
  child.stdout.on('data', (b: Buffer) => out.push(b))
  child.stderr.on('data', (b: Buffer) => err.push(b))
  child.stdin.end(opts.input ?? '')
  let timedOut = false
  const timer = setTimeout(() => { timedOut = true; child.kill('SIGKILL') }, opts.timeout ?? 60_000)
  const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve, reject) => {
    child.once('error', reject)
    child.once('close', (c, s) => resolve([c, s]))
  }).finally(() => clearTimeout(timer))
  let stderr = Buffer.concat(err).toString('utf8')
  if (timedOut) stderr += `\n[runPython: ${script} killed after ${opts.timeout ?? 60_000} ms]`
  return { code, signal, stdout: Buffer.concat(out).toString('utf8'), stderr }
}

/** runs a script that prints one JSON document; throws with its stderr when it fails */
export async function runPythonJSON<T = unknown> (script: string, args: string[] = [], opts: RunPythonOptions = {}): Promise<T> {
  const r = await runPython(script, args, opts)
  if (r.code !== 0) throw new Error(`${script} exited ${r.code ?? r.signal}: ${r.stderr.trim().split('\n').slice(-8).join('\n')}`)
  try {
    return JSON.parse(r.stdout) as T
  } catch (e) {
    throw new Error(`${script} printed no JSON: ${r.stdout.slice(0, 500)}`, { cause: e })
  }
}
