/**
 * A raw HTTP/2 client for protocol tests: frames built by hand with vecgate's own codec, so a test can
 * send what no well-behaved client would (CONTINUATION chains, padding, lying length prefixes, even
 * stream ids, resets in bulk) and see every frame that comes back.
 */
import net from 'node:net'
import tls from 'node:tls'
import { once } from 'node:events'
import * as F from '../../lib/http2/frames.js'
import { HpackDecoder, HpackEncoder, type Header } from '../../lib/http2/hpack.js'
import { CLIENT_PREFACE, Flags, FrameType } from '../../lib/http2/constants.js'

export interface StreamResult { headers: Header[][], data: Buffer, reset?: number, ended: boolean }

export class RawClient {
  readonly encoder = new HpackEncoder(new Set())
  private readonly decoder = new HpackDecoder({ maxHeaderListSize: 1 << 20 })
  private readonly reader = new F.FrameReader({ maxFrameSize: 1 << 24 })
  readonly streams = new Map<number, StreamResult>()
  readonly frames: F.Frame[] = []
  /** the first GOAWAY received */
  goaway: { lastStreamId: number, code: number, debug: string } | undefined
  closed = false
  /** set when the bytes from the server stopped parsing as HTTP/2 */
  readError: Error | undefined
  private readonly received_: Buffer[] = []
  /** every byte received, as it came */
  get bytes (): Buffer { return Buffer.concat(this.received_) }
  private waiters: Array<() => void> = []

  private constructor (readonly socket: net.Socket) {
    socket.on('data', (d: Buffer) => {
      this.received_.push(d)
      try {
        this.reader.push(d)
        for (let f = this.reader.next(); f !== undefined; f = this.reader.next()) this.onFrame({ ...f, payload: Buffer.from(f.payload), raw: Buffer.from(f.raw) })
      } catch (e) {
        // what the server sent is not HTTP/2 (an HTTP/1.1 answer, a TLS alert): kept for the test to look at
        this.readError ??= e as Error
      }
      this.wake()
    })
    socket.on('close', () => { this.closed = true; this.wake() })
    socket.on('error', () => {})
  }

  /**
   * Connects and sends the preface with `settings`. `preface: false` sends nothing (the test writes
   * what it wants first); `tls` speaks TLS (ALPN h2 unless given) with those options.
   */
  static async connect (port: number, settings: Array<[number, number]> = [], opts: { preface?: boolean, tls?: tls.ConnectionOptions } = {}): Promise<RawClient> {
    let socket: net.Socket
    if (opts.tls !== undefined) {
      const s = tls.connect({ host: '127.0.0.1', port, ALPNProtocols: ['h2'], ...opts.tls })
      await once(s, 'secureConnect')
      socket = s
    } else {
      socket = net.connect(port, '127.0.0.1')
      await once(socket, 'connect')
    }
    const c = new RawClient(socket)
    if (opts.preface !== false) socket.write(Buffer.concat([CLIENT_PREFACE, F.settings(settings)]))
    return c
  }

  /** every frame of `type` received so far */
  received (type: number): F.Frame[] { return this.frames.filter(f => f.type === type) }

  private stream (id: number): StreamResult {
    let s = this.streams.get(id)
    if (s === undefined) { s = { headers: [], data: Buffer.alloc(0), ended: false }; this.streams.set(id, s) }
    return s
  }

  private onFrame (f: F.Frame): void {
    this.frames.push(f)
    switch (f.type) {
      case FrameType.SETTINGS:
        if ((f.flags & Flags.ACK) === 0) this.socket.write(F.settingsAck())
        return
      case FrameType.HEADERS: {
        const s = this.stream(f.streamId)
        s.headers.push(this.decoder.decode(F.headersBlock(f)))
        if ((f.flags & Flags.END_STREAM) !== 0) s.ended = true
        return
      }
      case FrameType.DATA: {
        const s = this.stream(f.streamId)
        s.data = Buffer.concat([s.data, F.dataPayload(f)])
        if ((f.flags & Flags.END_STREAM) !== 0) s.ended = true
        return
      }
      case FrameType.RST_STREAM:
        this.stream(f.streamId).reset = F.parseRstStream(f.payload)
        return
      case FrameType.GOAWAY: {
        const g = F.parseGoaway(f.payload)
        // the first GOAWAY says why; a later one (e.g. "upstream lost") only follows from it
        this.goaway ??= { lastStreamId: g.lastStreamId, code: g.code, debug: g.debug.toString() }
      }
    }
  }

  private wake (): void {
    const w = this.waiters
    this.waiters = []
    for (const fn of w) fn()
  }

  /** resolves when `done()` holds (checked after every read), or rejects after `ms` */
  async until (done: () => boolean, ms = 10_000): Promise<void> {
    const end = Date.now() + ms
    while (!done()) {
      if (this.closed && !done()) throw new Error('connection closed')
      if (Date.now() > end) throw new Error('timed out waiting')
      await new Promise<void>(resolve => { this.waiters.push(resolve); setTimeout(resolve, 50) })
    }
  }

  async finished (id: number): Promise<StreamResult> {
    await this.until(() => this.streams.get(id)?.ended === true || this.streams.get(id)?.reset !== undefined)
    return this.streams.get(id)!
  }

  write (...frames: Buffer[]): void { this.socket.write(Buffer.concat(frames)) }

  /**
   * Sends `frame` in bursts of 2000, up to a million times, until the peer sends GOAWAY or closes the
   * connection; a peer that counts such frames stops this long before the end.
   */
  async flood (frame: Buffer): Promise<void> {
    const burst = Buffer.concat(Array.from({ length: 2000 }, () => frame))
    for (let i = 0; i < 500 && !this.closed && this.goaway === undefined; i++) {
      this.write(burst)
      await new Promise(resolve => setImmediate(resolve))
    }
    await this.until(() => this.closed || this.goaway !== undefined, 60_000).catch(() => {})
  }

  /** request headers of a gRPC call to `path` */
  grpcHeaders (path: string, token: string, extra: Header[] = []): Header[] {
    return [[':method', 'POST'], [':scheme', 'http'], [':path', path], [':authority', 'localhost'], ['content-type', 'application/grpc'], ['te', 'trailers'], ['api-key', token], ...extra]
  }

  close (): void { this.socket.destroy() }
}

export const status = (s: StreamResult): string | undefined => s.headers.flat().find(h => h[0] === 'grpc-status')?.[1]
export const message = (s: StreamResult): string | undefined => s.headers.flat().find(h => h[0] === 'grpc-message')?.[1]
