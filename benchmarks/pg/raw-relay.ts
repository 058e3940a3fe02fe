/**
 * A floor for any Node proxy on the PostgreSQL path: a TCP relay that bypasses net.Socket's streams
 * on both sides. Each side's libuv handle reads into one reused buffer (`useUserBuffer`, its own
 * `onread`), and what was read is written straight to the other handle (`writeBuffer`); only when the
 * kernel did not take it all does the write stay queued in libuv, with reading from the writer's side
 * stopped until it completes. No 'data' events, no Writable, no tick queue.
 *
 *   node --import tsx benchmarks/pg/raw-relay.ts UPSTREAM_PORT
 *
 * Prints `{ pid, ports: { relay } }` when listening, as benchmarks/lib/gateway-process.ts does.
 */
import net from 'node:net'

interface Handle {
  onread: (ab: ArrayBuffer | undefined) => Buffer | undefined
  useUserBuffer (b: Buffer): void
  readStart (): number
  readStop (): number
  writeBuffer (req: object, b: Buffer): number
  close (cb?: () => void): void
  setNoDelay (on: boolean): number
}
interface StreamWrap { WriteWrap: new () => WriteReq, streamBaseState: Int32Array, kReadBytesOrError: number, kLastWriteWasAsync: number }
interface WriteReq { handle: Handle, oncomplete: (status: number) => void, async: boolean, buffer?: Buffer }

const sw = (process as unknown as { binding: (n: string) => StreamWrap }).binding('stream_wrap')
const { WriteWrap, streamBaseState, kReadBytesOrError, kLastWriteWasAsync } = sw
const UV_EOF = -4095
const SIZE = 64 * 1024

class Side {
  buf = Buffer.allocUnsafe(SIZE)
  peer!: Side
  closed = false
  /** bytes queued in libuv toward this side */
  pending = 0
  private readonly req: WriteReq

  constructor (readonly handle: Handle) {
    this.req = new WriteWrap()
    this.req.handle = handle
    handle.useUserBuffer(this.buf)
    handle.onread = () => this.onRead()
  }

  private onRead (): Buffer | undefined {
    const n = streamBaseState[kReadBytesOrError]
    if (n > 0) {
      const more = this.peer.write(this.buf, n)
      if (!more) {
        // the kernel kept part of it: libuv holds this buffer, reads go elsewhere, and stop until drained
        this.buf = Buffer.allocUnsafe(SIZE)
        this.handle.readStop()
        return this.buf
      }
      return undefined
    }
    if (n === 0) return undefined
    void UV_EOF
    this.close()
    return undefined
  }

  /** false when libuv keeps part of `buf` for later */
  write (buf: Buffer, n: number): boolean {
    if (this.closed) return true
    const req = this.req
    const err = this.handle.writeBuffer(req, n === buf.length ? buf : buf.subarray(0, n))
    if (err !== 0) { this.close(); return true }
    if (streamBaseState[kLastWriteWasAsync] === 0) return true
    // this req now belongs to the pending write
    const from = this.peer
    req.buffer = buf
    req.oncomplete = (status: number) => {
      if (status < 0) { this.close(); return }
      if (!from.closed) from.handle.readStart()
    }
    ;(this as { req: WriteReq }).req = new WriteWrap()
    this.req.handle = this.handle
    return false
  }

  close (): void {
    if (this.closed) return
    this.closed = true
    this.handle.close()
    this.peer.close()
  }
}

function take (s: net.Socket): Handle {
  const h = (s as unknown as { _handle: Handle })._handle
  h.readStop()
  ;(s as unknown as { _handle: Handle | null })._handle = null
  return h
}

const upstreamPort = Number(process.argv[2])
const server = net.createServer({ pauseOnConnect: true, noDelay: true }, (c) => {
  const u = net.connect({ port: upstreamPort, host: '127.0.0.1', noDelay: true })
  u.once('connect', () => {
    const a = new Side(take(c))
    const b = new Side(take(u))
    a.peer = b
    b.peer = a
    a.handle.setNoDelay(true)
    a.handle.readStart()
    b.handle.readStart()
  })
  u.once('error', () => c.destroy())
})
server.listen(0, '127.0.0.1', () => {
  process.stdout.write(JSON.stringify({ pid: process.pid, ports: { relay: (server.address() as net.AddressInfo).port } }) + '\n')
})
process.on('SIGTERM', () => process.exit(0))
process.on('SIGINT', () => process.exit(0))
