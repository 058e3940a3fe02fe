import { request } from 'undici'
import { VecgateError } from '../errors.js'
import type { CommandContext } from './commands.js'
import { adminBase, callerToken } from './identity.js'

/**
 * Calls the admin API of a running gateway as the caller: the token is --token, VECGATE_TOKEN or the
 * grant `vecgate login` stored; the gateway is --admin, VECGATE_ADMIN, the stored grant's gateway or
 * the config's admin.listen (lib/cli/identity.ts), as for every command that acts as a person.
 */
export async function adminCall (ctx: CommandContext, method: 'GET' | 'POST', path: string, body?: unknown): Promise<unknown> {
  const token = callerToken(ctx)
  if (token === undefined) {
    throw new VecgateError('VG_ERR_USAGE', 'this command acts as you: run vecgate login, or pass --token TOKEN / set VECGATE_TOKEN')
  }
  const base = adminBase(ctx)
  let res
  try {
    res = await request(new URL(path, base), {
      method,
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: body !== undefined ? JSON.stringify(body) : undefined,
      headersTimeout: 120_000,
      bodyTimeout: 120_000
    })
  } catch (e) {
    throw new VecgateError('VG_ERR_UPSTREAM', `cannot reach the gateway's admin API at ${base}: ${(e as Error).message}`, { hint: 'is `vecgate start` running? pass --admin URL' })
  }
  const text = await res.body.text()
  let json: any
  try { json = JSON.parse(text) } catch { json = { message: text } }
  if (res.statusCode >= 400) {
    const code = res.statusCode === 401 ? 'VG_ERR_UNAUTHENTICATED' : res.statusCode === 403 ? 'VG_ERR_DENIED' : res.statusCode === 400 ? 'VG_ERR_USAGE' : 'VG_ERR_INTERNAL'
    throw new VecgateError(code, String(json.message ?? `admin API answered ${res.statusCode}`))
  }
  return json
}
