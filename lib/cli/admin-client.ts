import { request } from 'undici'
import { VecgateError } from '../errors.js'
import type { CommandContext } from './commands.js'

/** Calls the admin API of a running gateway as the person whose token is in --token / VECGATE_TOKEN. */
export async function adminCall (ctx: CommandContext, method: 'GET' | 'POST', path: string, body?: unknown): Promise<unknown> {
  let base: string = ctx.values.admin ?? process.env.VECGATE_ADMIN
  if (base === undefined) {
    const { host, port } = ctx.config().admin.listen
    base = `http://${host.includes(':') ? `[${host}]` : host}:${port}`
  }
  const token: string | undefined = ctx.values.token ?? process.env.VECGATE_TOKEN
  if (token === undefined || token === '') {
    throw new VecgateError('VG_ERR_USAGE', 'this command acts as you: pass --token TOKEN or set VECGATE_TOKEN (vecgate login gives you one)')
  }
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
