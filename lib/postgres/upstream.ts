import { readFileSync } from 'node:fs'
import net from 'node:net'
import tls from 'node:tls'
import { decodeErrorFields } from '../../decoders/postgres/messages.js'
import { Auth, B } from '../../decoders/postgres/protocol.js'
import { MessageReader } from '../../decoders/postgres/reader.js'
import { md5Password, ScramClient } from '../../decoders/postgres/scram.js'
import { serialize } from '../../decoders/postgres/writer.js'
import type { BackendConfig } from '../config/types.js'
import { VecgateError } from '../errors.js'
import type { Logger } from '../log.js'

/** An upstream connection that has authenticated and reported ReadyForQuery. */
export interface UpstreamConnection {
  socket: net.Socket
  /** where the socket's bytes go from now on (its one 'data' listener) */
  setOnData (fn: (chunk: Buffer) => void): void
  /** holds whatever the upstream sent after ReadyForQuery */
  reader: MessageReader
  pid: number
  secret: number
  /** ParameterStatus (and NoticeResponse) messages of the startup, to pass on to the client as they are */
  startup: Buffer[]
  /** ReadyForQuery status byte */
  status: number
  parameters: Map<string, string>
}

const CONNECT_TIMEOUT_MS = 15_000

/**
 * Opens one upstream connection with the backend's own credentials (never the client's), over TLS
 * when `upstream_tls` is configured (55.2.10 "SSL Session Encryption": SSLRequest first, fail closed
 * on 'N'), and answers whichever password method the server asks for: SCRAM-SHA-256, MD5, cleartext.
 */
export async function connectUpstream (backend: BackendConfig, params: Record<string, string>, maxMessage: number, log: Logger): Promise<UpstreamConnection> {
  const raw = net.connect({ host: backend.upstream.host, port: backend.upstream.port, noDelay: true })
  raw.setTimeout(CONNECT_TIMEOUT_MS)
  let socket: net.Socket = raw
  const setOnData = (fn: (chunk: Buffer) => void): void => {
    socket.removeAllListeners('data')
    socket.on('data', fn)
  }
  try {
    await once(raw, 'connect')
    if (backend.upstream_tls !== undefined) socket = await startTls(raw, backend)
    const conn = await startup(socket, backend, params, maxMessage, setOnData)
    conn.setOnData = setOnData
    return conn
  } catch (e) {
    raw.destroy()
    if (e instanceof VecgateError) {
      log.warn({ err: e.message, upstream: `${backend.upstream.host}:${backend.upstream.port}` }, 'upstream connection failed')
      throw e
    }
    log.warn({ err: (e as Error).message, upstream: `${backend.upstream.host}:${backend.upstream.port}` }, 'upstream unreachable')
    throw new VecgateError('VG_ERR_UPSTREAM', 'the database behind vecgate is unavailable', {}, { cause: e })
  } finally {
    raw.setTimeout(0)
  }
}

function once (s: net.Socket, event: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const ok = (): void => { done(); resolve() }
    const fail = (e?: Error): void => { done(); reject(e ?? new Error('connection closed')) }
    const timeout = (): void => fail(new Error('upstream timed out'))
    const done = (): void => { s.off(event, ok); s.off('error', fail); s.off('close', fail); s.off('timeout', timeout) }
    s.once(event, ok).once('error', fail).once('close', fail).once('timeout', timeout)
  })
}

async function startTls (raw: net.Socket, backend: BackendConfig): Promise<net.Socket> {
  const conf = backend.upstream_tls!
  raw.write(serialize.sslRequest())
  const answer = await new Promise<number>((resolve, reject) => {
    raw.once('data', (b: Buffer) => {
      // a server that sends more than the one byte is trying to inject plaintext (CVE-2021-23222)
      if (b.length !== 1) reject(new VecgateError('VG_ERR_UPSTREAM', 'upstream sent data after its SSL answer'))
      else resolve(b[0])
    })
    raw.once('error', reject)
  })
  if (answer !== 0x53) throw new VecgateError('VG_ERR_UPSTREAM', 'upstream does not offer TLS, and upstream_tls is configured')
  const s = tls.connect({
    socket: raw,
    servername: conf.servername ?? (net.isIP(backend.upstream.host) === 0 ? backend.upstream.host : undefined),
    ca: conf.ca !== undefined ? readFileSync(conf.ca) : undefined,
    rejectUnauthorized: conf.insecure !== true
  })
  await once(s, 'secureConnect')
  return s
}

function startup (socket: net.Socket, backend: BackendConfig, params: Record<string, string>, maxMessage: number,
  setOnData: (fn: (chunk: Buffer) => void) => void): Promise<UpstreamConnection> {
  const creds = backend.credentials
  const user = creds.user ?? ''
  const password = creds.password ?? ''
  const reader = new MessageReader(maxMessage)
  const conn: UpstreamConnection = { socket, reader, pid: 0, secret: 0, startup: [], status: 0x49, parameters: new Map(), setOnData }
  let scram: ScramClient | undefined
  socket.write(serialize.startupMessage({ ...params, user, database: creds.database ?? user }))

  return new Promise((resolve, reject) => {
    // until the relay takes over, whatever arrives waits in the reader
    const cleanup = (): void => { setOnData(c => reader.push(c)); socket.off('error', onError); socket.off('close', onClose); socket.off('timeout', onTimeout) }
    const fail = (e: unknown): void => { cleanup(); reject(e) }
    const onError = (e: Error): void => fail(e)
    const onClose = (): void => fail(new Error('upstream closed the connection during startup'))
    const onTimeout = (): void => fail(new Error('upstream startup timed out'))
    const onData = (chunk: Buffer): void => {
      try {
        reader.push(chunk)
        while (reader.next()) {
          const { buf, body, end } = reader
          switch (reader.code) {
            case B.Authentication: {
              const kind = buf.readInt32BE(body)
              if (kind === Auth.Ok) break
              if (kind === Auth.CleartextPassword) {
                socket.write(serialize.password(password))
              } else if (kind === Auth.MD5Password) {
                socket.write(serialize.password(md5Password(user, password, buf.subarray(body + 4, body + 8))))
              } else if (kind === Auth.SASL) {
                const mechanisms = buf.toString('utf8', body + 4, end).split('\0')
                if (!mechanisms.includes(ScramClient.mechanism)) throw new VecgateError('VG_ERR_UPSTREAM', `upstream offers no SASL mechanism vecgate speaks (${mechanisms.filter(Boolean).join(', ')})`)
                scram = new ScramClient(password)
                socket.write(serialize.saslInitialResponse(ScramClient.mechanism, scram.first()))
              } else if (kind === Auth.SASLContinue && scram !== undefined) {
                socket.write(serialize.saslResponse(scram.final(buf.toString('utf8', body + 4, end))))
              } else if (kind === Auth.SASLFinal && scram !== undefined) {
                scram.verify(buf.toString('utf8', body + 4, end))
              } else {
                throw new VecgateError('VG_ERR_UPSTREAM', `upstream asks for an authentication method vecgate does not speak (${kind})`)
              }
              break
            }
            case B.ErrorResponse: {
              const f = decodeErrorFields(buf, body, end)
              throw new VecgateError('VG_ERR_UPSTREAM', `upstream refused the connection: ${f.get('C') ?? ''} ${f.get('M') ?? ''}`.trim())
            }
            case B.ParameterStatus: {
              const name = buf.toString('utf8', body, buf.indexOf(0, body))
              const value = buf.toString('utf8', body + Buffer.byteLength(name) + 1, end - 1)
              conn.parameters.set(name, value)
              conn.startup.push(reader.message())
              break
            }
            case B.NoticeResponse:
              conn.startup.push(reader.message())
              break
            case B.BackendKeyData:
              conn.pid = buf.readInt32BE(body)
              conn.secret = buf.readInt32BE(body + 4)
              break
            case B.NegotiateProtocolVersion:
              break
            case B.ReadyForQuery:
              conn.status = buf[body]
              cleanup()
              resolve(conn)
              return
            default:
              throw new VecgateError('VG_ERR_UPSTREAM', `unexpected message '${String.fromCharCode(reader.code)}' from upstream during startup`)
          }
        }
      } catch (e) {
        fail(e)
      }
    }
    setOnData(onData)
    socket.on('error', onError).on('close', onClose).on('timeout', onTimeout)
  })
}

/** Sends a CancelRequest to the upstream on a connection of its own (55.2.7), best effort. */
export function sendCancel (target: { upstream: { host: string, port: number }, pid: number, secret: number }): void {
  const s = net.connect({ host: target.upstream.host, port: target.upstream.port })
  s.on('connect', () => { s.end(serialize.cancelRequest(target.pid, target.secret)) })
  s.on('error', () => { s.destroy() })
  s.setTimeout(CONNECT_TIMEOUT_MS, () => s.destroy())
}
