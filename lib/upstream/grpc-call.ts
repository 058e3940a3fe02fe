/**
 * One unary gRPC call of the gateway's own to a backend, over its own short HTTP/2 connection
 * (node:http2: off the relay's hot path, used rarely) — to measure what a bulk operation would touch
 * before a person is asked to approve it. Plain or TLS as the backend's upstream is configured.
 */
import http2 from 'node:http2'
import { readFileSync } from 'node:fs'
import type { BackendConfig } from '../config/types.js'
import { frameMessage } from '../../decoders/grpc/messages.js'

export async function grpcUnary (backend: BackendConfig, path: string, message: Uint8Array, metadata: Array<[string, string]>, timeoutMs: number): Promise<Buffer> {
  const { host, port } = backend.upstream
  const t = backend.upstream_tls
  const authority = t !== undefined ? `https://${host}:${port}` : `http://${host}:${port}`
  const session = http2.connect(authority, t !== undefined
    ? { ca: t.ca !== undefined ? readFileSync(t.ca) : undefined, servername: t.servername, rejectUnauthorized: t.insecure !== true }
    : {})
  try {
    return await new Promise<Buffer>((resolve, reject) => {
      const timer = setTimeout(() => { reject(new Error(`no answer within ${timeoutMs} ms`)); session.destroy() }, timeoutMs)
      session.once('error', (e) => { clearTimeout(timer); reject(e) })
      const headers: http2.OutgoingHttpHeaders = { ':method': 'POST', ':path': path, 'content-type': 'application/grpc', te: 'trailers', 'grpc-timeout': `${Math.max(1, timeoutMs)}m` }
      for (const [k, v] of metadata) headers[k] = v
      const req = session.request(headers)
      const chunks: Buffer[] = []
      req.on('data', (d: Buffer) => chunks.push(d))
      req.once('error', (e) => { clearTimeout(timer); reject(e) })
      const onStatus = (tr: http2.IncomingHttpHeaders): void => {
        const status = tr['grpc-status']
        if (status !== undefined && String(status) !== '0') { clearTimeout(timer); reject(Object.assign(new Error(`grpc-status ${String(status)}: ${String(tr['grpc-message'] ?? '')}`), { grpcStatus: Number(status) })) }
      }
      // a trailers-only answer (an error at once) carries its status in the response headers
      req.once('response', onStatus)
      req.once('trailers', onStatus)
      req.once('end', () => {
        clearTimeout(timer)
        const all = Buffer.concat(chunks)
        if (all.length < 5) { reject(new Error('no response message')); return }
        if (all[0] !== 0) { reject(new Error('compressed response not expected')); return }
        resolve(all.subarray(5, 5 + all.readUInt32BE(1)))
      })
      req.end(frameMessage(message))
    })
  } finally {
    session.close()
  }
}
