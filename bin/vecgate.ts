#!/usr/bin/env node
/**
 * The vecgate command line (CONTRACT.md "CLI"). Every command takes --config FILE (default
 * ./vecgate.yaml or VECGATE_CONFIG), --json and --help, and fails with one line and a non-zero exit.
 */
import { parseArgs, type ParseArgsConfig } from 'node:util'
import { loadConfig } from '../lib/config/load.js'
import type { Config } from '../lib/config/types.js'
import { VecgateError, isVecgateError } from '../lib/errors.js'
import { commands, type Command } from '../lib/cli/commands.js'

const GLOBAL_OPTIONS = {
  config: { type: 'string', short: 'c' },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
  verbose: { type: 'boolean', short: 'v' },
  admin: { type: 'string' },
  token: { type: 'string' }
} as const satisfies ParseArgsConfig['options']

function usage (): string {
  const width = Math.max(...commands.map(c => c.name.length))
  return [
    'vecgate — just-in-time access gateway for vector databases',
    '',
    'Usage: vecgate <command> [options]',
    '',
    'Commands:',
    ...commands.map(c => `  ${c.name.padEnd(width)}  ${c.summary}`),
    '',
    'Options for every command:',
    '  -c, --config FILE   configuration file (default ./vecgate.yaml, or VECGATE_CONFIG)',
    '      --json          machine-readable output',
    '      --admin URL     admin API of a running gateway (default: admin.listen of the config)',
    '      --token TOKEN   your grant or IdP token (or VECGATE_TOKEN) for commands that act as you',
    '  -v, --verbose       stack traces on errors',
    '  -h, --help          help for a command: vecgate <command> --help',
    '',
    'Example:',
    '  npx vecgate demo',
    '  npx vecgate start --config vecgate.yaml',
    '  npx vecgate token issue --sub analyst --backend qdrant --collection docs --actions read,search --ttl 5m'
  ].join('\n')
}

function findCommand (argv: string[]): { command: Command, rest: string[] } | undefined {
  // longest match first: "token issue", "approvals list", "journal verify" …
  const words = argv.filter(a => !a.startsWith('-'))
  for (let n = Math.min(3, words.length); n > 0; n--) {
    const name = words.slice(0, n).join(' ')
    const command = commands.find(c => c.name === name)
    if (command !== undefined) {
      const rest = [...argv]
      for (const w of name.split(' ')) rest.splice(rest.indexOf(w), 1)
      return { command, rest }
    }
  }
  return undefined
}

async function main (argv: string[]): Promise<number> {
  const found = findCommand(argv)
  if (found === undefined) {
    if (argv.length === 0 || argv.includes('--help') || argv.includes('-h') || argv[0] === 'help') {
      process.stdout.write(usage() + '\n')
      return argv.length === 0 ? 2 : 0
    }
    process.stderr.write(`vecgate: unknown command "${argv.filter(a => !a.startsWith('-')).join(' ')}" (see vecgate --help)\n`)
    return 2
  }
  const { command, rest } = found
  let parsed
  try {
    parsed = parseArgs({ args: rest, options: { ...GLOBAL_OPTIONS, ...command.options }, allowPositionals: true, strict: true })
  } catch (e) {
    process.stderr.write(`vecgate ${command.name}: ${(e as Error).message.split('\n')[0]} (see vecgate ${command.name} --help)\n`)
    return 2
  }
  const values = parsed.values as Record<string, any>
  if (values.help === true) {
    process.stdout.write(command.help + '\n')
    return 0
  }
  const verbose = values.verbose === true
  try {
    const configPath = values.config ?? process.env.VECGATE_CONFIG ?? './vecgate.yaml'
    let config: Config | undefined
    const getConfig = (): Config => { config ??= loadConfig(configPath); return config }
    return await command.run({ values, positionals: parsed.positionals, config: getConfig, configPath, out: process.stdout, err: process.stderr })
  } catch (e) {
    const message = isVecgateError(e) ? e.message : (e as Error).message
    const hint = isVecgateError(e) && e.detail.hint !== undefined ? ` (${e.detail.hint})` : ''
    process.stderr.write(`vecgate ${command.name}: ${message}${hint}\n`)
    if (verbose) process.stderr.write(((e as Error).stack ?? '') + '\n')
    return isVecgateError(e) && e.code === 'VG_ERR_USAGE' ? 2 : 1
  }
}

main(process.argv.slice(2)).then(
  (code) => { if (code !== -1) process.exitCode = code },
  (e) => { process.stderr.write(`vecgate: ${(e as Error).message}\n`); process.exitCode = 1 }
)

export { VecgateError }
