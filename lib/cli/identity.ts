/**
 * Identity commands (CONTRACT.md "CLI"): `login`, `request`, `token revoke`.
 *
 * The caller's token is `--token`, else VECGATE_TOKEN, else the grant `vecgate login` stored
 * ($VECGATE_HOME/credentials.json, default ~/.vecgate/, mode 0600). The gateway is `--admin URL`, else
 * VECGATE_ADMIN, else the gateway the stored grant came from, else admin.listen of the config.
 */
import { request as httpRequest } from 'undici'
import type { RecordId } from '../../decoders/types.js'
import { VecgateError, type ErrorCode } from '../errors.js'
import { exchangeAtGateway, loginWithDeviceCode, loginWithPkce, readStoredGrant, storeGrant, credentialsPath, type StoredGrant } from '../identity/login.js'
import type { ScopeRequest } from '../identity/exchange.js'
import { parseActions, parseDuration } from './args.js'
import type { Command, CommandContext } from './commands.js'

const usage = (m: string): VecgateError => new VecgateError('VG_ERR_USAGE', m)

/** The token a command acts with: --token, VECGATE_TOKEN, or the stored grant (undefined when none). */
export function callerToken (ctx: Pick<CommandContext, 'values'>): string | undefined {
  const given = ctx.values.token ?? process.env.VECGATE_TOKEN
  if (typeof given === 'string' && given !== '') return given
  return readStoredGrant()?.token
}

/** The admin API to talk to: --admin, VECGATE_ADMIN, the stored grant's gateway, the config's admin.listen. */
export function adminBase (ctx: Pick<CommandContext, 'values' | 'config'>): string {
  const given = ctx.values.admin ?? process.env.VECGATE_ADMIN
  if (typeof given === 'string' && given !== '') return given
  const stored = readStoredGrant()?.gateway
  if (stored !== undefined) return stored
  let host: string
  let port: number
  try {
    ({ host, port } = ctx.config().admin.listen)
  } catch (e) {
    throw usage(`which gateway? pass --admin URL or set VECGATE_ADMIN (${(e as Error).message})`)
  }
  return `http://${host.includes(':') ? `[${host}]` : host}:${port}`
}

function print (ctx: CommandContext, json: unknown, text: string): void {
  ctx.out.write(ctx.values.json === true ? JSON.stringify(json) + '\n' : text + '\n')
}

/** Progress for a person, on stderr (stdout stays the answer, for `$(vecgate request ...)`). */
function say (ctx: CommandContext, line: string): void {
  if (ctx.values.json !== true) ctx.err.write(line + '\n')
}

function idsOf (s: string | undefined): RecordId[] | undefined {
  if (s === undefined) return undefined
  return s.split(',').map(x => x.trim()).filter(x => x !== '').map(x => /^\d{1,15}$/.test(x) ? Number(x) : x)
}

function positiveInt (s: string | undefined, what: string): number | undefined {
  if (s === undefined) return undefined
  const n = Number(s)
  if (!Number.isInteger(n) || n < 1) throw usage(`${what}: a whole number above 0 (got ${s})`)
  return n
}

/** The grant asked for by --backend, --collection, --actions, --ids, --ttl, --uses, --reason. */
function scopeRequestOf (v: Record<string, any>): ScopeRequest {
  const r: ScopeRequest = {}
  if (v.backend !== undefined) r.backend = v.backend
  if (v.collection !== undefined && v.collection.length > 0) r.collections = v.collection
  const actions = parseActions(v.actions)
  if (actions !== undefined && actions.length > 0) r.actions = actions
  const ids = idsOf(v.ids)
  if (ids !== undefined && ids.length > 0) r.ids = ids
  if (v.ttl !== undefined) r.ttl = parseDuration(v.ttl, '--ttl')
  const uses = positiveInt(v.uses, '--uses')
  if (uses !== undefined) r.uses = uses
  if (v.reason !== undefined) r.reason = v.reason
  return r
}

const until = (epochSeconds: number): string => new Date(epochSeconds * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z')

const sleep = async (ms: number, signal?: AbortSignal): Promise<void> => await new Promise((resolve, reject) => {
  if (signal?.aborted === true) { reject(usage('stopped waiting')); return }
  const t = setTimeout(() => { signal?.removeEventListener('abort', onAbort); resolve() }, ms)
  const onAbort = (): void => { clearTimeout(t); reject(usage('stopped waiting')) }
  signal?.addEventListener('abort', onAbort, { once: true })
})

async function adminJson (base: string, method: 'GET' | 'POST', path: string, token: string, body?: Record<string, unknown>): Promise<{ status: number, json: Record<string, any> }> {
  let res
  try {
    res = await httpRequest(new URL(path, base), {
      method,
      headers: { authorization: `Bearer ${token}`, accept: 'application/json', ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
      body: body !== undefined ? JSON.stringify(body) : undefined,
      headersTimeout: 30_000,
      bodyTimeout: 30_000
    })
  } catch (e) {
    throw new VecgateError('VG_ERR_UPSTREAM', `cannot reach the gateway's admin API at ${base}: ${(e as Error).message}`, { hint: 'is `vecgate start` running? pass --admin URL' })
  }
  const text = await res.body.text()
  let json: Record<string, any>
  try { json = JSON.parse(text) } catch { json = { message: text } }
  return { status: res.statusCode, json }
}

/** A refusal from the admin API as the VecgateError the CLI reports (exit 1, one line). */
function refusal (status: number, json: Record<string, any>): VecgateError {
  const message = String(json.error_description ?? json.message ?? `admin API answered ${status}`)
  const code: ErrorCode = typeof json.code === 'string' && json.code.startsWith('VG_ERR_') ? json.code as ErrorCode
    : status === 401 ? 'VG_ERR_UNAUTHENTICATED' : status === 403 ? 'VG_ERR_DENIED' : status === 400 ? 'VG_ERR_USAGE' : 'VG_ERR_INTERNAL'
  return new VecgateError(code, message, { ...(typeof json.rule === 'string' ? { rule: json.rule } : {}), ...(typeof json.approval_id === 'string' ? { approvalId: json.approval_id } : {}) })
}

export interface RequestGrantOptions {
  /** admin API base URL */
  gateway: string
  /** the caller's token: an IdP token or a grant (exchanged for a narrower one) */
  token: string
  request: ScopeRequest
  /** keep asking while the request is pending approval; default true */
  wait?: boolean
  /** overrides the server's polling interval (ms) */
  intervalMs?: number
  /** give up waiting after this long (ms); default 15 minutes */
  timeoutMs?: number
  signal?: AbortSignal
  /** called once when the request turns out to need approval */
  onPending?: (approvalId: string, message: string) => void
}

export type RequestGrantResult =
  | { status: 'granted', grant: StoredGrant, approvalId?: string }
  | { status: 'pending', approvalId: string, message: string }

/**
 * `vecgate request`: POST /v1/grants, and while the answer is 202 (pending approval) poll
 * GET /v1/grants/requests/ID at the interval the gateway names (RFC 8628 §3.5 style) until the grant
 * comes, the request is denied or expires, or `timeoutMs` passes (the approval then stays pending).
 */
export async function requestGrant (opts: RequestGrantOptions): Promise<RequestGrantResult> {
  let approvalId: string | undefined
  let message = ''
  try {
    return { status: 'granted', grant: await exchangeAtGateway(opts.gateway, opts.token, opts.request) }
  } catch (e) {
    if (!(e instanceof VecgateError) || e.code !== 'VG_ERR_APPROVAL_REQUIRED' || e.detail.approvalId === undefined) throw e
    approvalId = e.detail.approvalId
    message = e.message.replace(/^the gateway refused the grant: (authorization_pending: )?/, '')
  }
  opts.onPending?.(approvalId, message)
  if (opts.wait === false) return { status: 'pending', approvalId, message }
  const deadline = Date.now() + (opts.timeoutMs ?? 15 * 60_000)
  let interval = opts.intervalMs ?? 2000
  while (true) {
    if (Date.now() + interval > deadline) {
      throw new VecgateError('VG_ERR_APPROVAL_TIMEOUT', `gave up waiting; grant request ${approvalId} stays pending`, { approvalId, hint: `ask again later with the same arguments, or: vecgate approvals show ${approvalId}` })
    }
    await sleep(interval, opts.signal)
    const { status, json } = await adminJson(opts.gateway, 'GET', `/v1/grants/requests/${encodeURIComponent(approvalId)}`, opts.token)
    if (status === 202) {
      if (opts.intervalMs === undefined && typeof json.interval === 'number' && json.interval > 0) interval = json.interval * 1000
      continue
    }
    if (status === 200 && typeof json.access_token === 'string') {
      return {
        status: 'granted',
        approvalId,
        grant: {
          gateway: opts.gateway,
          token: json.access_token,
          ...(typeof json.jti === 'string' ? { jti: json.jti } : {}),
          expires_at: typeof json.expires_at === 'number' ? json.expires_at : Math.floor(Date.now() / 1000) + Number(json.expires_in ?? 0),
          ...(typeof json.subject === 'string' ? { subject: json.subject } : {}),
          ...(json.grant !== undefined ? { scope: json.grant } : {})
        }
      }
    }
    if (status === 401) {
      throw new VecgateError('VG_ERR_UNAUTHENTICATED', `${String(json.message ?? 'your token was refused')} while waiting for grant request ${approvalId}`, { approvalId, hint: 'sign in again (vecgate login) and run the same request: it finds the approval' })
    }
    throw refusal(status, json)
  }
}

const loginCommand: Command = {
  name: 'login',
  summary: 'sign in with OIDC (device code or browser + PKCE); stores a grant for the other commands',
  help: [
    'vecgate login [--issuer URL --client-id ID] [--device | --pkce] [--backend NAME --collection C --actions read,search --ttl 5m]',
    '',
    'Signs you in at the identity provider and exchanges the IdP token for a vecgate grant at the gateway',
    '(POST /v1/grants). --device (the default) shows a code to enter on any device (RFC 8628); --pkce',
    'prints a URL to open in a browser on this machine, which redirects back to a one-shot listener on',
    '127.0.0.1 (RFC 7636, RFC 8252). Issuer and client id default to the first identity.oidc entry of the',
    'config (client_id); the gateway to --admin, VECGATE_ADMIN or admin.listen. Without --backend etc. the',
    'grant is unscoped: the policy decides each request. The grant is stored in $VECGATE_HOME/credentials.json',
    '(default ~/.vecgate/, mode 0600), where request, approvals, sessions and token revoke find it;',
    '--token or VECGATE_TOKEN override it. --print-token prints only the token.',
    '',
    'Examples:',
    '  npx vecgate login --issuer https://idp.example.com --client-id vecgate-cli --admin http://127.0.0.1:7070',
    '  npx vecgate login --pkce',
    '  export VECGATE_TOKEN=$(npx vecgate login --print-token --backend pg --actions read,search)'
  ].join('\n'),
  options: {
    issuer: { type: 'string' },
    'client-id': { type: 'string' },
    device: { type: 'boolean' },
    pkce: { type: 'boolean' },
    'idp-scope': { type: 'string' },
    present: { type: 'string' },
    backend: { type: 'string' },
    collection: { type: 'string', multiple: true },
    actions: { type: 'string' },
    ttl: { type: 'string' },
    timeout: { type: 'string' },
    'print-token': { type: 'boolean' }
  },
  run: async (ctx) => {
    const v = ctx.values
    if (v.device === true && v.pkce === true) throw usage('choose one of --device and --pkce')
    let issuer: string | undefined = v.issuer
    let clientId: string | undefined = v['client-id']
    if (issuer === undefined || clientId === undefined) {
      let oidc
      try { oidc = ctx.config().identity.oidc } catch (e) { throw usage(`pass --issuer URL --client-id ID (no config to take them from: ${(e as Error).message})`) }
      const entry = issuer !== undefined ? oidc.find(o => o.issuer === issuer) : oidc[0]
      issuer ??= entry?.issuer
      clientId ??= entry?.client_id
      if (issuer === undefined) throw usage(`no identity.oidc issuer in ${ctx.configPath}: pass --issuer URL --client-id ID`)
      if (clientId === undefined) throw usage(`no client_id for ${issuer} in ${ctx.configPath}: pass --client-id ID`)
    }
    if (v.present !== undefined && v.present !== 'id_token' && v.present !== 'access_token') throw usage('--present: id_token or access_token')
    const request = scopeRequestOf(v)
    const common = {
      issuer,
      clientId,
      gatewayUrl: adminBase(ctx),
      request,
      ...(v['idp-scope'] !== undefined ? { scope: v['idp-scope'] as string } : {}),
      ...(v.present !== undefined ? { present: v.present as 'id_token' | 'access_token' } : {}),
      ...(v.timeout !== undefined ? { timeoutMs: parseDuration(v.timeout, '--timeout') * 1000 } : {})
    }
    const grant = v.pkce === true
      ? await loginWithPkce({ ...common, onAuthorizationUrl: (url) => ctx.err.write(`Open this URL in a browser to sign in:\n  ${url}\nWaiting for the sign-in to finish...\n`) })
      : await loginWithDeviceCode({
        ...common,
        onPrompt: (p) => ctx.err.write([
          `To sign in, open ${p.verification_uri} and enter the code ${p.user_code}`,
          ...(p.verification_uri_complete !== undefined ? [`(or open ${p.verification_uri_complete})`] : []),
          `Waiting for the sign-in to finish (the code is valid ${Math.round(p.expires_in / 60)} min)...`
        ].join('\n') + '\n')
      })
    const path = credentialsPath()
    if (v['print-token'] === true) { ctx.out.write(grant.token + '\n'); return 0 }
    print(ctx, { ...grant, stored: path }, `Signed in as ${grant.subject ?? '?'} at ${issuer}; grant valid until ${until(grant.expires_at)}, stored in ${path}`)
    return 0
  }
}

const requestCommand: Command = {
  name: 'request',
  summary: 'ask for just-in-time access with a reason; waits for approval; prints the token',
  help: [
    'vecgate request --backend NAME --actions read,search [--collection C]... [--ids 1,2] --reason TEXT [--ttl 5m] [--uses N]',
    '                [--no-wait] [--timeout 15m] [--store]',
    '',
    'Exchanges your token (--token, VECGATE_TOKEN, or the grant vecgate login stored) for a grant scoped as',
    'asked, for --ttl (capped by identity.max_ttl). The policy decides: allowed requests print the token at',
    'once; requests a rule sends for approval wait until an approver decides (vecgate approvals approve ID),',
    'or --timeout passes (the request stays pending: run the same command again to pick it up). --no-wait',
    'prints the approval id and exits 3. --store keeps the new grant as your stored one. The token is the',
    'only thing on stdout; use it where the client sends its secret (Qdrant api-key, Milvus token, the',
    'Postgres password).',
    '',
    'Examples:',
    '  npx vecgate request --backend qdrant --collection docs --actions read,search --reason "INC-1234 triage" --ttl 15m',
    '  PGPASSWORD=$(npx vecgate request --backend pg --collection public.items --actions delete --reason "GDPR erasure #88") \\',
    '    psql "host=127.0.0.1 port=16432 user=alice dbname=vectors"'
  ].join('\n'),
  options: {
    backend: { type: 'string' },
    collection: { type: 'string', multiple: true },
    actions: { type: 'string' },
    ids: { type: 'string' },
    reason: { type: 'string' },
    ttl: { type: 'string' },
    uses: { type: 'string' },
    'no-wait': { type: 'boolean' },
    timeout: { type: 'string' },
    store: { type: 'boolean' }
  },
  run: async (ctx) => {
    const v = ctx.values
    if (v.backend === undefined) throw usage('--backend is required (the backend you need access to)')
    if (v.actions === undefined) throw usage('--actions is required, e.g. --actions read,search')
    if (v.reason === undefined || String(v.reason).trim() === '') throw usage('--reason is required: say why you need access (approvers and the journal see it)')
    const token = callerToken(ctx)
    if (token === undefined) throw usage('this command acts as you: run vecgate login, or pass --token TOKEN / set VECGATE_TOKEN')
    const gateway = adminBase(ctx)
    const stop = new AbortController()
    const onSignal = (): void => stop.abort()
    process.once('SIGINT', onSignal)
    try {
      const r = await requestGrant({
        gateway,
        token,
        request: scopeRequestOf(v),
        wait: v['no-wait'] !== true,
        ...(v.timeout !== undefined ? { timeoutMs: parseDuration(v.timeout, '--timeout') * 1000 } : {}),
        signal: stop.signal,
        onPending: (id, message) => say(ctx, `Request ${id} needs approval: ${message}\nAn approver runs: vecgate approvals approve ${id}${v['no-wait'] === true ? '' : '\nWaiting (Ctrl-C stops waiting; the request stays pending)...'}`)
      })
      if (r.status === 'pending') {
        print(ctx, { status: 'pending', approval_id: r.approvalId, message: r.message }, r.approvalId)
        return 3
      }
      if (v.store === true) storeGrant(r.grant)
      say(ctx, `Granted${r.approvalId !== undefined ? ` (approval ${r.approvalId})` : ''}: ${r.grant.scope !== undefined ? JSON.stringify(r.grant.scope) : 'unscoped'}, valid until ${until(r.grant.expires_at)}`)
      print(ctx, { status: 'granted', ...r.grant, ...(r.approvalId !== undefined ? { approval_id: r.approvalId } : {}) }, r.grant.token)
      return 0
    } finally {
      process.off('SIGINT', onSignal)
    }
  }
}

const revokeCommand: Command = {
  name: 'token revoke',
  summary: 'revoke a grant by jti or token: refused from its next request on',
  help: [
    'vecgate token revoke JTI|TOKEN [--local]',
    '',
    'Revokes a grant: every later request made with it is refused, also on connections already open.',
    'With a token of yours (--token, VECGATE_TOKEN or the stored grant) it asks the running gateway',
    '(POST /v1/tokens/revoke): you may revoke your own grants, and others\' when the policy gives you the',
    'admin action on the grant\'s backend. Without one, or with --local, it writes the revocation list',
    'beside the journal in the config (identity files, like token issue): the gateway reads it on the next request.',
    '',
    'Examples:',
    '  npx vecgate token revoke 3f0c9a1e-5b7d-4c2a-9e8f-1a2b3c4d5e6f',
    '  npx vecgate token revoke "$LEAKED_TOKEN" --admin http://127.0.0.1:7070',
    '  npx vecgate token revoke 3f0c9a1e-5b7d-4c2a-9e8f-1a2b3c4d5e6f --local --config vecgate.yaml'
  ].join('\n'),
  options: { local: { type: 'boolean' } },
  run: async (ctx) => {
    const arg = ctx.positionals[0]
    if (arg === undefined || arg === '') throw usage('what to revoke: a jti or a whole token')
    const token = ctx.values.local === true ? undefined : callerToken(ctx)
    if (token === undefined) {
      const { RevocationStore, revocationTarget } = await import('../identity/revocations.js')
      const { revocationsPath } = await import('../identity/verifier.js')
      let target
      try { target = revocationTarget(arg) } catch (e) { throw usage((e as Error).message) }
      const path = revocationsPath(ctx.config())
      const store = new RevocationStore({ path, pruneEvery: 0 })
      try { store.revoke(target.jti, target.expiresAt) } finally { store.close() }
      print(ctx, { revoked: target.jti, ...(target.expiresAt !== undefined ? { expires_at: target.expiresAt } : {}), store: path }, `revoked ${target.jti} (in ${path})`)
      return 0
    }
    const { status, json } = await adminJson(adminBase(ctx), 'POST', '/v1/tokens/revoke', token, { token: arg })
    if (status !== 200) throw refusal(status, json)
    print(ctx, json, `revoked ${String(json.revoked)}${typeof json.subject === 'string' ? ` (a grant of ${json.subject})` : ''}`)
    return 0
  }
}

export const identityCommands: Command[] = [loginCommand, requestCommand, revokeCommand]
