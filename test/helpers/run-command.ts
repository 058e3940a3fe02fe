/**
 * Runs one CLI command in this process, as `vecgate NAME` would, and returns what it printed: the
 * command table is called directly, so a test sees the exit code and the output without a process.
 * `mergeErr` sends standard error into the same text (what a person at the terminal reads).
 */
import { Writable } from 'node:stream'
import { commands } from '../../lib/cli/commands.js'
import type { Config } from '../../lib/config/types.js'

export async function runCommand (name: string, values: Record<string, unknown>, positionals: string[], config: Config, opts: { mergeErr?: boolean } = {}): Promise<{ code: number, out: string }> {
  const command = commands.find(c => c.name === name)
  if (command === undefined) throw new Error(`no command ${name}`)
  let out = ''
  const sink = new Writable({ write (c, _e, cb) { out += String(c); cb() } })
  const err = opts.mergeErr === true ? sink : new Writable({ write (_c, _e, cb) { cb() } })
  const code = await command.run({ values, positionals, config: () => config, configPath: config.file, out: sink, err })
  return { code, out }
}
