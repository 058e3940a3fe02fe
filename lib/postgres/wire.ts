import net from 'node:net'

/**
 * One side of a relayed connection (the client's or the upstream's), as the relay uses it: bytes in,
 * bytes out, flow control, an end.
 *
 * On plain TCP it drives the connection's libuv handle itself (`TcpWire`): reads land in one reused
 * buffer and writes go to the handle, with no net.Socket stream machinery between (no Readable or
 * Writable state, no 'data'/'drain' events, no tick queue per write). On pgbench-style traffic
 * (one small request and one small response per round trip) that machinery is most of what a Node
 * relay spends per transaction besides the kernel: a relay written this way measured ≈ 27 µs CPU per
 * `pgbench -S` transaction against ≈ 36 µs for `socket.pipe()` and ≈ 21 µs for PgBouncer
 * (benchmarks/pg/raw-relay.ts). TLS sockets, and any socket in a state where taking the handle is not
 * safe, keep their net.Socket (`SocketWire`), with the same contract.
 */
export interface Wire {
  /**
   * Each read. The bytes may be overwritten by the next read: whoever keeps any of them past this call
   * calls `retain()` before returning.
   */
  onData: (chunk: Buffer) => void
  /** after a write returned false: everything written has now been taken by the kernel */
  onDrain: () => void
  /** the connection is gone: end of stream, an error, or `destroy()`; called once, never from within a call into the wire */
  onClose: () => void
  /**
   * false when the kernel did not take all of it: the wire keeps the bytes (the caller must not reuse
   * them) and `onDrain` follows once they are gone. Writes stay in order.
   */
  write: (b: Buffer) => boolean
  writev: (bufs: Buffer[]) => boolean
  /** bytes written and not yet taken by the kernel */
  readonly queued: number
  /** stop reading (flow control); `resume` starts again */
  pause: () => void
  resume: () => void
  /** the bytes of the current read are still needed after it: the next read goes to another buffer */
  retain: () => void
  /** close after what was written has gone out */
  end: () => void
  destroy: () => void
  readonly destroyed: boolean
}

/**
 * The connection behind `socket` as a Wire. The caller has removed its own 'data', 'error' and 'close'
 * listeners. A plain TCP socket's handle moves to a TcpWire; the socket stays behind without it and is
 * destroyed when the wire closes, so whoever watches it (the gateway's connection set, net.Server's
 * connection count) still sees it close.
 */
export function wireOf (socket: net.Socket): Wire {
  const s = socket as net.Socket & { _handle: TcpHandle | null }
  const h = s._handle
  if (stream === undefined || socket.constructor !== net.Socket || h === null || typeof h.useUserBuffer !== 'function' ||
    typeof h.writeBuffer !== 'function' || typeof h.writev !== 'function' || socket.destroyed || socket.connecting ||
    socket.readableLength > 0 || socket.writableLength > 0 || socket.listenerCount('data') > 0) return new SocketWire(socket)
  h.readStop()
  s._handle = null
  return new TcpWire(h, stream, socket)
}

// ---- plain TCP: the libuv handle --------------------------------------------------------------

/** What net.js itself uses of a TCP handle (lib/net.js, lib/internal/stream_base_commons.js). */
interface TcpHandle {
  onread: () => Buffer | undefined
  useUserBuffer: (b: Buffer) => void
  readStart: () => number
  readStop: () => number
  writeBuffer: (req: WriteReq, b: Buffer) => number
  writev: (req: WriteReq, bufs: Buffer[], allBuffers: boolean) => number
  shutdown: (req: ShutdownReq) => number
  close: (cb: () => void) => void
}
interface WriteReq {
  handle: TcpHandle
  /** called by libuv on the request object itself */
  oncomplete: ((this: WriteReq, status: number) => void) | null
  data?: Buffer | Buffer[]
  bytes?: number
  wire?: TcpWire
}
function afterWrite (this: WriteReq, status: number): void { this.wire!.written(this, status) }
interface ShutdownReq { handle: TcpHandle, oncomplete: (status: number) => void }
interface StreamBinding {
  WriteWrap: new () => WriteReq
  ShutdownWrap: new () => ShutdownReq
  /** after a read: bytes read or a negative libuv error; after a write: whether libuv kept part of it */
  streamBaseState: Int32Array
  kReadBytesOrError: number
  kLastWriteWasAsync: number
}

/**
 * The stream binding net.js is built on (also reachable as `process.binding('stream_wrap')`); undefined
 * where this Node does not offer it, and every socket keeps its net.Socket.
 */
const stream: StreamBinding | undefined = (() => {
  try {
    const b = (process as unknown as { binding: (name: string) => Partial<StreamBinding> }).binding('stream_wrap')
    if (typeof b.WriteWrap !== 'function' || typeof b.ShutdownWrap !== 'function' || !(b.streamBaseState instanceof Int32Array) ||
      typeof b.kReadBytesOrError !== 'number' || typeof b.kLastWriteWasAsync !== 'number') return undefined
    return b as StreamBinding
  } catch {
    return undefined
  }
})()

/** one read: as much as the kernel holds, up to this */
const READ_SIZE = 64 * 1024

class TcpWire implements Wire {
  onData: (chunk: Buffer) => void = () => {}
  onDrain: () => void = () => {}
  onClose: () => void = () => {}
  destroyed = false
  /** bytes of writes libuv still holds */
  queued = 0
  /** the buffer reads land in; libuv holds a raw pointer to it, so it is kept referenced here */
  private buf = Buffer.allocUnsafe(READ_SIZE)
  private retained = false
  private paused = false
  private ending = false
  /** reused while writes complete at once; one that libuv keeps belongs to that write */
  private req: WriteReq
  private readonly state: Int32Array
  private readonly kRead: number
  private readonly kAsync: number

  constructor (private readonly handle: TcpHandle, private readonly binding: StreamBinding, private readonly owner: net.Socket) {
    this.state = binding.streamBaseState
    this.kRead = binding.kReadBytesOrError
    this.kAsync = binding.kLastWriteWasAsync
    this.req = this.newReq()
    handle.useUserBuffer(this.buf)
    handle.onread = () => this.read()
    handle.readStart()
  }

  private newReq (): WriteReq {
    const req = new this.binding.WriteWrap()
    req.handle = this.handle
    req.oncomplete = null
    return req
  }

  /** libuv's read callback: returning a buffer makes it the one the next read lands in */
  private read (): Buffer | undefined {
    const n = this.state[this.kRead]
    if (n > 0) {
      if (this.destroyed) return undefined
      this.onData(this.buf.subarray(0, n))
      if (!this.retained) return undefined
      this.retained = false
      this.buf = Buffer.allocUnsafe(READ_SIZE)
      return this.buf
    }
    // 0: nothing this time (EAGAIN); below: end of stream or an error
    if (n < 0) this.destroy()
    return undefined
  }

  retain (): void { this.retained = true }

  write (b: Buffer): boolean {
    if (this.destroyed) return true
    const req = this.req
    return this.dispatched(req, this.handle.writeBuffer(req, b), b)
  }

  writev (bufs: Buffer[]): boolean {
    if (this.destroyed) return true
    const req = this.req
    return this.dispatched(req, this.handle.writev(req, bufs, true), bufs)
  }

  private dispatched (req: WriteReq, err: number, data: Buffer | Buffer[]): boolean {
    if (err !== 0) {
      // EPIPE, ECONNRESET: the connection is gone; the close says so, after this call
      this.destroy()
      return true
    }
    if (this.state[this.kAsync] === 0) return this.queued === 0
    // libuv keeps the rest, pointing into `data`, until the socket is writable again
    req.data = data
    req.bytes = Array.isArray(data) ? data.reduce((n, b) => n + b.length, 0) : data.length
    req.wire = this
    req.oncomplete = afterWrite
    this.queued += req.bytes
    this.req = this.newReq()
    return false
  }

  /** a write libuv kept is done (or failed, or was cancelled by the close) */
  written (req: WriteReq, status: number): void {
    this.queued -= req.bytes!
    req.data = undefined
    if (this.destroyed) return
    if (status < 0) { this.destroy(); return }
    if (this.queued === 0) this.onDrain()
  }

  pause (): void {
    if (this.paused) return
    this.paused = true
    if (!this.destroyed) this.handle.readStop()
  }

  resume (): void {
    if (!this.paused) return
    this.paused = false
    if (!this.destroyed) this.handle.readStart()
  }

  end (): void {
    if (this.destroyed || this.ending) return
    this.ending = true
    const req = new this.binding.ShutdownWrap()
    req.handle = this.handle
    // FIN after the queued writes; the connection closes when the peer's end of stream is read
    req.oncomplete = (status) => { if (status < 0) this.destroy() }
    if (this.handle.shutdown(req) !== 0) { this.destroy(); return }
    this.resume()
  }

  destroy (): void {
    if (this.destroyed) return
    this.destroyed = true
    this.handle.readStop()
    this.handle.close(() => {
      this.owner.destroy()
      this.onClose()
    })
  }
}

// ---- anything else (TLS): the net.Socket ------------------------------------------------------

class SocketWire implements Wire {
  onData: (chunk: Buffer) => void = () => {}
  onDrain: () => void = () => {}
  onClose: () => void = () => {}

  constructor (private readonly socket: net.Socket) {
    socket.on('data', (c: Buffer) => this.onData(c))
    socket.on('drain', () => this.onDrain())
    socket.on('close', () => this.onClose())
    // 'close' follows
    socket.on('error', () => {})
  }

  get queued (): number { return this.socket.writableLength }
  get destroyed (): boolean { return this.socket.destroyed }

  write (b: Buffer): boolean { return this.socket.write(b) }

  writev (bufs: Buffer[]): boolean {
    const s = this.socket
    s.cork()
    let ok = true
    for (const b of bufs) ok = s.write(b)
    s.uncork()
    return ok
  }

  // every 'data' chunk is a buffer of its own
  retain (): void {}
  pause (): void { this.socket.pause() }
  resume (): void { this.socket.resume() }
  end (): void { this.socket.end() }
  destroy (): void { this.socket.destroy() }
}
