import { request, type Dispatcher } from 'undici'

/**
 * The few HTTP calls identity makes (OIDC discovery, JWKS, token and device endpoints, the gateway's
 * /v1/grants), with timeouts and a size cap: an identity provider is a remote party, and a slow or
 * oversized answer must not hold a connection or memory.
 */
export interface HttpOptions {
  timeoutMs?: number
  maxBytes?: number
  dispatcher?: Dispatcher
  headers?: Record<string, string>
}

export interface JsonResponse { status: number, json: unknown }

const LOOPBACK = new Set(['localhost', '127.0.0.1', '[::1]', '::1'])

/** https everywhere, plain http only on loopback (tests, a local IdP). */
export function checkSecureUrl (url: string, what: string): URL {
  let u: URL
  try { u = new URL(url) } catch { throw new Error(`${what} is not a URL: ${url}`) }
  if (u.protocol === 'https:') return u
  if (u.protocol === 'http:' && LOOPBACK.has(u.hostname)) return u
  throw new Error(`${what} must use https (plain http only on loopback): ${url}`)
}

export async function getJson (url: string, opts: HttpOptions = {}): Promise<JsonResponse> {
  return await send(url, 'GET', undefined, opts)
}

/** POSTs an application/x-www-form-urlencoded body (RFC 6749 §4.1.3, RFC 8628 §3.1, RFC 8693 §2.1). */
export async function postForm (url: string, form: Record<string, string>, opts: HttpOptions = {}): Promise<JsonResponse> {
  return await send(url, 'POST', { type: 'application/x-www-form-urlencoded', body: new URLSearchParams(form).toString() }, opts)
}

async function send (url: string, method: 'GET' | 'POST', payload: { type: string, body: string } | undefined, opts: HttpOptions): Promise<JsonResponse> {
  const timeout = opts.timeoutMs ?? 5000
  const maxBytes = opts.maxBytes ?? 256 * 1024
  const headers: Record<string, string> = { accept: 'application/json', ...opts.headers }
  if (payload !== undefined) headers['content-type'] = payload.type
  const res = await request(url, {
    method,
    headers,
    body: payload?.body,
    headersTimeout: timeout,
    bodyTimeout: timeout,
    signal: AbortSignal.timeout(timeout),
    ...(opts.dispatcher !== undefined ? { dispatcher: opts.dispatcher } : {})
  })
  const chunks: Buffer[] = []
  let size = 0
  for await (const chunk of res.body) {
    size += (chunk as Buffer).length
    if (size > maxBytes) {
      res.body.destroy()
      throw new Error(`${url}: answer larger than ${maxBytes} bytes`)
    }
    chunks.push(chunk as Buffer)
  }
  const text = Buffer.concat(chunks).toString('utf8')
  let json: unknown
  try {
    json = text === '' ? undefined : JSON.parse(text)
  } catch {
    throw new Error(`${url}: answer ${res.statusCode} is not JSON`)
  }
  return { status: res.statusCode, json }
}
