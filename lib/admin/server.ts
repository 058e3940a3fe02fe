/**
 * The admin API (CONTRACT.md): /healthz, /metrics, /.well-known/jwks.json, /v1/grants, /v1/approvals,
 * /v1/sessions. Callers that act as a person present a grant or IdP token as `Authorization: Bearer`.
 */
import http from 'node:http'
import type net from 'node:net'
import type { Identity } from '../../decoders/types.js'
import { VecgateError, asVecgateError } from '../errors.js'
import type { Gateway } from '../gateway.js'
import { identityRoutes } from './identity-routes.js'

export interface AdminServer {
  host: string
  port: number
  url: string
  close: () => Promise<void>
}

type Handler = (req: AdminRequest) => Promise<{ status?: number, json?: unknown, text?: string, type?: string }>

export interface AdminRequest {
  method: string
  path: string
  params: Record<string, string>
  query: URLSearchParams
  body: unknown
  rawBody: string
  headers: http.IncomingHttpHeaders
  /** the caller's address 'ip:port' (for the journal) */
  client: string
  /** the authenticated caller, when the route needs one */
  identity: () => Promise<Identity>
}

const MAX_BODY = 1024 * 1024

export async function startAdmin (gw: Gateway): Promise<AdminServer> {
  const routes: Array<{ method: string, pattern: RegExp, keys: string[], handler: Handler }> = []
  const route = (method: string, path: string, handler: Handler): void => {
    const keys: string[] = []
    const pattern = new RegExp('^' + path.replace(/:(\w+)/g, (_m, k: string) => { keys.push(k); return '([^/]+)' }) + '$')
    routes.push({ method, pattern, keys, handler })
  }

  route('GET', '/healthz', async () => ({ json: { status: 'ok', backends: gw.listening.map(l => ({ name: l.backend.name, protocol: l.backend.protocol, listen: `${l.host}:${l.port}` })) } }))
  route('GET', '/metrics', async () => ({ text: gw.metrics.render(), type: 'text/plain; version=0.0.4' }))
  route('GET', '/.well-known/jwks.json', async () => ({ json: { keys: [gw.parts.key.publicJwk] } }))

  identityRoutes(gw, route)
  for (const extra of adminExtensions) extra(gw, route)

  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = []
    let size = 0
    req.on('data', (c: Buffer) => {
      size += c.length
      if (size > MAX_BODY) { res.writeHead(413).end(); req.destroy(); return }
      chunks.push(c)
    })
    req.on('end', () => {
      void dispatch(req, Buffer.concat(chunks).toString('utf8')).then(({ status, json, text, type }) => {
        const body = text ?? JSON.stringify(json ?? {}) + '\n'
        res.writeHead(status ?? 200, { 'content-type': type ?? 'application/json', 'cache-control': 'no-store' })
        res.end(body)
      })
    })
  })

  async function dispatch (req: http.IncomingMessage, rawBody: string): Promise<{ status?: number, json?: unknown, text?: string, type?: string }> {
    const url = new URL(req.url ?? '/', 'http://admin')
    try {
      for (const r of routes) {
        if (r.method !== req.method) continue
        const m = r.pattern.exec(url.pathname)
        if (m === null) continue
        const params: Record<string, string> = {}
        r.keys.forEach((k, i) => { params[k] = decodeURIComponent(m[i + 1]) })
        let body: unknown
        if (rawBody !== '') {
          const ct = req.headers['content-type'] ?? ''
          body = ct.includes('application/x-www-form-urlencoded') ? Object.fromEntries(new URLSearchParams(rawBody)) : safeJson(rawBody)
        }
        return await r.handler({
          method: req.method,
          path: url.pathname,
          params,
          query: url.searchParams,
          body,
          rawBody,
          headers: req.headers,
          client: `${req.socket.remoteAddress ?? '?'}:${req.socket.remotePort ?? 0}`,
          identity: async () => await callerIdentity(gw, req.headers.authorization)
        })
      }
      return { status: 404, json: { error: 'not_found', message: `no route ${req.method ?? ''} ${url.pathname}` } }
    } catch (e) {
      const err = asVecgateError(e)
      const status = /^no approval /.test(err.message) ? 404 : err.code === 'VG_ERR_UNAUTHENTICATED' ? 401
        : err.code === 'VG_ERR_DENIED' ? 403
          : err.code === 'VG_ERR_USAGE' || err.code === 'VG_ERR_MALFORMED' ? 400
            : err.code === 'VG_ERR_INTERNAL' ? 500 : 409
      if (status === 500) gw.log.error({ err: (e as Error).message }, 'admin API error')
      return { status, json: { error: err.code, message: err.message, ...err.detail } }
    }
  }

  const { host, port } = gw.config.admin.listen
  await new Promise<void>((resolve, reject) => {
    server.once('error', (e: NodeJS.ErrnoException) => reject(new VecgateError('VG_ERR_CONFIG', e.code === 'EADDRINUSE'
      ? `admin.listen: ${host}:${port} is already in use; pick another admin port`
      : `admin.listen: cannot listen on ${host}:${port}: ${e.message}`)))
    server.listen(port, host, () => resolve())
  })
  const addr = server.address() as net.AddressInfo
  return {
    host: addr.address,
    port: addr.port,
    url: `http://${addr.address.includes(':') ? `[${addr.address}]` : addr.address}:${addr.port}`,
    close: async () => await new Promise<void>(resolve => { server.closeAllConnections(); server.close(() => resolve()) })
  }
}

async function callerIdentity (gw: Gateway, authorization: string | undefined): Promise<Identity> {
  const m = /^Bearer\s+(\S+)$/i.exec(authorization ?? '')
  if (m === null) throw new VecgateError('VG_ERR_UNAUTHENTICATED', 'send Authorization: Bearer <grant or IdP token>')
  return await gw.parts.verifier.verify(m[1])
}

function safeJson (s: string): unknown {
  try { return JSON.parse(s) } catch { throw new VecgateError('VG_ERR_MALFORMED', 'request body is not JSON') }
}

/** Further routes (grants, approvals, sessions) register here, so each lives beside its own module. */
export type AdminExtension = (gw: Gateway, route: (method: string, path: string, handler: Handler) => void) => void
export const adminExtensions: AdminExtension[] = []
