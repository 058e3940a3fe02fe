import { createHash, randomBytes } from 'node:crypto'
import { chmodSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs'
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import { homedir } from 'node:os'
import { join } from 'node:path'
import { decodeJwt } from 'jose'
import type { GrantScope } from '../../decoders/types.js'
import { VecgateError } from '../errors.js'
import { TOKEN_EXCHANGE, TOKEN_TYPE_JWT, scopeString, type ScopeRequest } from './exchange.js'
import { checkSecureUrl, postForm } from './http-json.js'
import { discover, type OidcMetadata } from './oidc.js'

/**
 * The client side of `vecgate login`: sign in at the IdP with the device authorization grant (RFC 8628)
 * or the authorization code grant with PKCE on a loopback redirect (RFC 7636, RFC 8252 §7.3), exchange
 * the IdP token for a grant at the gateway (RFC 8693, POST /v1/grants), and keep the grant in
 * `$VECGATE_HOME/credentials.json` (default ~/.vecgate/, mode 0600) where the other commands find it.
 */
export interface LoginOptions {
  issuer: string
  clientId: string
  /** the gateway's admin URL, e.g. http://127.0.0.1:7070 */
  gatewayUrl: string
  /** OAuth scopes asked of the IdP; default `openid profile email groups` */
  scope?: string
  /** the grant asked of the gateway; default unscoped (the policy decides each request) */
  request?: ScopeRequest
  /** which IdP token to exchange: the ID token (audience = client id) by default */
  present?: 'id_token' | 'access_token'
  /** where credentials.json goes; default $VECGATE_HOME or ~/.vecgate */
  home?: string
  /** gives up after this long (ms); default 10 minutes */
  timeoutMs?: number
  signal?: AbortSignal
}

export interface DeviceCodePrompt {
  user_code: string
  verification_uri: string
  verification_uri_complete?: string
  expires_in: number
}

export interface IdpTokens { id_token?: string, access_token?: string, token_type?: string, expires_in?: number }

export interface StoredGrant {
  gateway: string
  token: string
  jti?: string
  /** epoch seconds */
  expires_at: number
  subject?: string
  issuer?: string
  scope?: GrantScope
}

const DEVICE_GRANT = 'urn:ietf:params:oauth:grant-type:device_code'

export async function loginWithDeviceCode (opts: LoginOptions & { onPrompt: (p: DeviceCodePrompt) => void }): Promise<StoredGrant> {
  const signal = deadline(opts)
  const meta = await discover(opts.issuer)
  const tokens = await deviceFlow(meta, opts.clientId, opts.scope ?? DEFAULT_SCOPE, opts.onPrompt, signal)
  return await finish(opts, tokens)
}

export async function loginWithPkce (opts: LoginOptions & { onAuthorizationUrl: (url: string) => void }): Promise<StoredGrant> {
  const signal = deadline(opts)
  const meta = await discover(opts.issuer)
  const tokens = await pkceFlow(meta, opts.clientId, opts.scope ?? DEFAULT_SCOPE, opts.onAuthorizationUrl, signal)
  return await finish(opts, tokens)
}

const DEFAULT_SCOPE = 'openid profile email groups'

/** RFC 8628 §3.1–3.5: ask for a device code, show the user code, poll the token endpoint. */
export async function deviceFlow (meta: OidcMetadata, clientId: string, scope: string, onPrompt: (p: DeviceCodePrompt) => void, signal?: AbortSignal): Promise<IdpTokens> {
  const endpoint = meta.device_authorization_endpoint
  if (typeof endpoint !== 'string') throw failed(`${meta.issuer} does not offer the device authorization grant`)
  if (typeof meta.token_endpoint !== 'string') throw failed(`${meta.issuer} has no token endpoint`)
  checkSecureUrl(endpoint, 'device_authorization_endpoint')
  const tokenEndpoint = checkSecureUrl(meta.token_endpoint, 'token_endpoint').href
  const { status, json } = await postForm(endpoint, { client_id: clientId, scope })
  const d = json as Record<string, unknown>
  if (status !== 200 || typeof d?.device_code !== 'string' || typeof d.user_code !== 'string' || typeof d.verification_uri !== 'string') {
    throw failed(`device authorization refused: ${describe(json, status)}`)
  }
  const expiresIn = typeof d.expires_in === 'number' ? d.expires_in : 600
  onPrompt({
    user_code: d.user_code,
    verification_uri: d.verification_uri,
    ...(typeof d.verification_uri_complete === 'string' ? { verification_uri_complete: d.verification_uri_complete } : {}),
    expires_in: expiresIn
  })
  // §3.5: 5 seconds unless the server says otherwise; slow_down adds 5 seconds for good
  let interval = typeof d.interval === 'number' && d.interval > 0 ? d.interval : 5
  const until = Date.now() + expiresIn * 1000
  while (Date.now() < until) {
    await sleep(interval * 1000, signal)
    const r = await postForm(tokenEndpoint, { grant_type: DEVICE_GRANT, device_code: d.device_code, client_id: clientId })
    const body = r.json as Record<string, unknown>
    if (r.status === 200) return tokensOf(body)
    const error = body?.error
    if (error === 'authorization_pending') continue
    if (error === 'slow_down') { interval += 5; continue }
    if (error === 'access_denied') throw failed('sign-in was refused at the identity provider')
    if (error === 'expired_token') break
    throw failed(`token endpoint: ${describe(body, r.status)}`)
  }
  throw failed('the device code expired before sign-in finished; run vecgate login again')
}

/**
 * Authorization code with PKCE S256 (RFC 7636 §4.2) and a one-shot redirect listener on 127.0.0.1:0
 * (RFC 8252 §7.3: loopback redirects may use any port). `onUrl` shows or opens the authorization URL.
 */
export async function pkceFlow (meta: OidcMetadata, clientId: string, scope: string, onUrl: (url: string) => void, signal?: AbortSignal): Promise<IdpTokens> {
  if (typeof meta.authorization_endpoint !== 'string' || typeof meta.token_endpoint !== 'string') {
    throw failed(`${meta.issuer} has no authorization or token endpoint`)
  }
  if (Array.isArray(meta.code_challenge_methods_supported) && !meta.code_challenge_methods_supported.includes('S256')) {
    throw failed(`${meta.issuer} does not support PKCE S256`)
  }
  const authorize = checkSecureUrl(meta.authorization_endpoint, 'authorization_endpoint')
  const tokenEndpoint = checkSecureUrl(meta.token_endpoint, 'token_endpoint').href
  const verifier = b64url(randomBytes(32))
  const challenge = b64url(createHash('sha256').update(verifier).digest())
  const state = b64url(randomBytes(16))
  const nonce = b64url(randomBytes(16))

  const issParam = meta.authorization_response_iss_parameter_supported === true
  const { redirectUri, code } = await loopbackRedirect(state, { issuer: meta.issuer, required: issParam }, (redirect) => {
    const u = new URL(authorize.href)
    u.searchParams.set('response_type', 'code')
    u.searchParams.set('client_id', clientId)
    u.searchParams.set('redirect_uri', redirect)
    u.searchParams.set('scope', scope)
    u.searchParams.set('state', state)
    u.searchParams.set('nonce', nonce)
    u.searchParams.set('code_challenge', challenge)
    u.searchParams.set('code_challenge_method', 'S256')
    onUrl(u.href)
  }, signal)

  const r = await postForm(tokenEndpoint, { grant_type: 'authorization_code', code, redirect_uri: redirectUri, client_id: clientId, code_verifier: verifier })
  if (r.status !== 200) throw failed(`token endpoint: ${describe(r.json, r.status)}`)
  const tokens = tokensOf(r.json as Record<string, unknown>)
  // OpenID Connect Core §3.1.3.7 step 11: the ID token must carry the nonce we sent (no injected code)
  if (tokens.id_token !== undefined && decodeJwt(tokens.id_token).nonce !== nonce) throw failed('the ID token does not carry our nonce')
  return tokens
}

async function loopbackRedirect (state: string, iss: { issuer: string, required: boolean }, ready: (redirectUri: string) => void, signal?: AbortSignal): Promise<{ redirectUri: string, code: string }> {
  const server = http.createServer()
  await new Promise<void>((resolve, reject) => { server.once('error', reject); server.listen(0, '127.0.0.1', () => resolve()) })
  const redirectUri = `http://127.0.0.1:${(server.address() as AddressInfo).port}/callback`
  try {
    return await new Promise<{ redirectUri: string, code: string }>((resolve, reject) => {
      const abort = (): void => reject(failed('sign-in did not finish in time'))
      if (signal?.aborted === true) { abort(); return }
      signal?.addEventListener('abort', abort, { once: true })
      server.on('request', (req, res) => {
        const u = new URL(req.url ?? '/', redirectUri)
        if (u.pathname !== '/callback') { res.writeHead(404).end(); return }
        // another tab, a stale link or a forged redirect: not ours, keep waiting for the real one
        if (u.searchParams.get('state') !== state) { res.writeHead(400, { 'content-type': 'text/plain' }).end('state does not match; start again with vecgate login\n'); return }
        // RFC 9207 §2.4: the answer must come from the issuer we asked (mix-up attacks)
        const from = u.searchParams.get('iss')
        if ((from === null && iss.required) || (from !== null && from !== iss.issuer)) {
          res.writeHead(400, { 'content-type': 'text/plain' }).end('the answer names another issuer\n')
          signal?.removeEventListener('abort', abort)
          reject(failed('the authorization answer came from another issuer'))
          return
        }
        const error = u.searchParams.get('error')
        const code = u.searchParams.get('code')
        res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8' })
        res.end(error === null && code !== null ? 'Signed in to vecgate. You can close this window.\n' : 'Sign-in failed. You can close this window.\n')
        signal?.removeEventListener('abort', abort)
        if (error !== null) reject(failed(`the identity provider answered ${error}: ${u.searchParams.get('error_description') ?? ''}`))
        else if (code === null) reject(failed('the redirect carried no code'))
        else resolve({ redirectUri, code })
      })
      ready(redirectUri)
    })
  } finally {
    server.closeAllConnections()
    server.close()
  }
}

/** RFC 8693 token exchange at the gateway's POST /v1/grants. */
export async function exchangeAtGateway (gatewayUrl: string, subjectToken: string, request: ScopeRequest = {}): Promise<StoredGrant> {
  const url = new URL('/v1/grants', gatewayUrl).href
  const form: Record<string, string> = {
    grant_type: TOKEN_EXCHANGE,
    subject_token: subjectToken,
    subject_token_type: TOKEN_TYPE_JWT
  }
  const scope = scopeString({ ...request })
  if (scope !== '') form.scope = scope
  if (request.ttl !== undefined) form.ttl = String(request.ttl)
  if (request.reason !== undefined) form.reason = request.reason
  // a request held for approval may take as long as the approver does
  const r = await postForm(url, form, { timeoutMs: 15 * 60_000 })
  const j = r.json as Record<string, unknown>
  if (r.status !== 200 || typeof j?.access_token !== 'string') {
    const code = typeof j?.code === 'string' ? j.code : undefined
    const err = new VecgateError(code === 'VG_ERR_DENIED' || code === 'VG_ERR_UNAUTHENTICATED' || code === 'VG_ERR_APPROVAL_REQUIRED' ? code : 'VG_ERR_USAGE',
      `the gateway refused the grant: ${describe(j, r.status)}`,
      { ...(typeof j?.rule === 'string' ? { rule: j.rule } : {}), ...(typeof j?.approval_id === 'string' ? { approvalId: j.approval_id } : {}) })
    throw err
  }
  return {
    gateway: gatewayUrl,
    token: j.access_token,
    ...(typeof j.jti === 'string' ? { jti: j.jti } : {}),
    expires_at: typeof j.expires_at === 'number' ? j.expires_at : Math.floor(Date.now() / 1000) + Number(j.expires_in ?? 0),
    ...(typeof j.subject === 'string' ? { subject: j.subject } : {}),
    ...(j.grant !== undefined ? { scope: j.grant as GrantScope } : {})
  }
}

async function finish (opts: LoginOptions, tokens: IdpTokens): Promise<StoredGrant> {
  const which = opts.present ?? 'id_token'
  const idpToken = tokens[which] ?? tokens.id_token ?? tokens.access_token
  if (idpToken === undefined) throw failed('the identity provider returned no token')
  const grant = await exchangeAtGateway(opts.gatewayUrl, idpToken, opts.request)
  const stored = { ...grant, issuer: opts.issuer }
  storeGrant(stored, opts.home)
  return stored
}

export function vecgateHome (home?: string): string {
  return home ?? process.env.VECGATE_HOME ?? join(homedir(), '.vecgate')
}

export function credentialsPath (home?: string): string {
  return join(vecgateHome(home), 'credentials.json')
}

/** Writes the grant (directory 0700, file 0600), replacing the file in one rename so readers never see half. */
export function storeGrant (grant: StoredGrant, home?: string): string {
  const dir = vecgateHome(home)
  mkdirSync(dir, { recursive: true, mode: 0o700 })
  const path = credentialsPath(home)
  const tmp = `${path}.${process.pid}.tmp`
  writeFileSync(tmp, JSON.stringify({ version: 1, ...grant }, null, 2) + '\n', { mode: 0o600 })
  chmodSync(tmp, 0o600)
  renameSync(tmp, path)
  return path
}

/** The stored grant, or undefined when there is none or it has expired. */
export function readStoredGrant (home?: string): StoredGrant | undefined {
  let raw: string
  try {
    raw = readFileSync(credentialsPath(home), 'utf8')
  } catch {
    return undefined
  }
  let file: StoredGrant & { version?: number }
  try { file = JSON.parse(raw) as StoredGrant & { version?: number } } catch { return undefined }
  if (typeof file?.token !== 'string' || typeof file.expires_at !== 'number') return undefined
  if (file.expires_at <= Math.floor(Date.now() / 1000)) return undefined
  const { version: _version, ...grant } = file
  return grant
}

function tokensOf (body: Record<string, unknown>): IdpTokens {
  const t: IdpTokens = {}
  if (typeof body.id_token === 'string') t.id_token = body.id_token
  if (typeof body.access_token === 'string') t.access_token = body.access_token
  if (typeof body.token_type === 'string') t.token_type = body.token_type
  if (typeof body.expires_in === 'number') t.expires_in = body.expires_in
  return t
}

function deadline (opts: LoginOptions): AbortSignal {
  const t = AbortSignal.timeout(opts.timeoutMs ?? 10 * 60_000)
  return opts.signal !== undefined ? AbortSignal.any([opts.signal, t]) : t
}

async function sleep (ms: number, signal?: AbortSignal): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    if (signal?.aborted === true) { reject(failed('sign-in did not finish in time')); return }
    const t = setTimeout(() => { signal?.removeEventListener('abort', onAbort); resolve() }, ms)
    const onAbort = (): void => { clearTimeout(t); reject(failed('sign-in did not finish in time')) }
    signal?.addEventListener('abort', onAbort, { once: true })
  })
}

function describe (json: unknown, status: number): string {
  const j = json as Record<string, unknown> | undefined
  if (j !== undefined && j !== null && typeof j === 'object') {
    const e = j.error_description ?? j.message ?? j.error
    if (typeof e === 'string') return `${String(j.error ?? status)}: ${e}`
  }
  return `status ${status}`
}

function b64url (b: Buffer): string {
  return b.toString('base64url')
}

function failed (m: string): VecgateError {
  return new VecgateError('VG_ERR_UNAUTHENTICATED', m)
}
