/**
 * Argument parsing shared by the command files. Kept apart from commands.ts so a command file can be
 * imported on its own (tests) without a cycle through the command list.
 */
import { ACTIONS, type Action } from '../../decoders/types.js'
import { VecgateError } from '../errors.js'

const usage = (m: string): VecgateError => new VecgateError('VG_ERR_USAGE', m)

export function parseDuration (s: string, what: string): number {
  const m = /^(\d+)(s|m|h|d)?$/.exec(s)
  if (m === null) throw usage(`${what}: expected a duration like 90s, 5m, 1h (got ${JSON.stringify(s)})`)
  const n = Number(m[1])
  return m[2] === 'm' ? n * 60 : m[2] === 'h' ? n * 3600 : m[2] === 'd' ? n * 86400 : n
}

export function parseActions (s: string | undefined): Action[] | undefined {
  if (s === undefined) return undefined
  return s.split(',').map(a => a.trim()).filter(a => a !== '').map(a => {
    if (!(ACTIONS as readonly string[]).includes(a)) throw usage(`--actions: ${a} is not one of ${ACTIONS.join(', ')}`)
    return a as Action
  })
}

