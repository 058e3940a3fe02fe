import { Socket } from 'node:net'

/**
 * The buffer the upstream socket reads into (net `onread`), reused from one read to the next unless
 * something still points into it. Node otherwise allocates a fresh 64 KiB buffer for every read;
 * on pgbench-style traffic that is two allocations per query for nothing.
 *
 * Whoever keeps a slice past the read callback (a partial message kept by the reader, a write the
 * kernel did not take at once) calls `retain()`, and the next read gets a new buffer.
 */
const SIZE = 64 * 1024

export class ReadBuffer {
  private buf = Buffer.allocUnsafe(SIZE)
  private retained = false

  /** for net.connect({ onread: { buffer } }) */
  readonly next = (): Buffer => {
    if (this.retained) {
      this.buf = Buffer.allocUnsafe(SIZE)
      this.retained = false
    }
    return this.buf
  }

  retain (): void { this.retained = true }
}

interface StreamHandle { readStop (): number, reading: boolean, useUserBuffer?: unknown }

/**
 * An accepted plain-TCP client connection moved onto a socket that reads into a ReadBuffer.
 *
 * Node offers `onread` only to sockets built with it (net.connect, `new net.Socket`), never to the ones
 * a server accepts; those allocate a buffer per read and pass it through the Readable machinery, a
 * measurable share of a pgbench transaction. The connection's handle is therefore handed to a new
 * `net.Socket` built with `onread`. The accepted socket stays behind without a handle and is destroyed
 * when the new one closes, so whoever watches it (the gateway's connection set) still sees 'close'.
 *
 * Returns undefined, leaving the socket as it is, when it is not a plain TCP socket in a state where
 * the move is safe (TLS, bytes buffered either way, already closing).
 */
export function adoptForReads (accepted: Socket): { socket: Socket, readBuffer: ReadBuffer, setOnData: (fn: (chunk: Buffer) => void) => void } | undefined {
  const s = accepted as Socket & { _handle: StreamHandle | null }
  const handle = s._handle
  if (accepted.constructor !== Socket || handle === null || typeof handle.useUserBuffer !== 'function' ||
    accepted.destroyed || accepted.readableLength > 0 || accepted.writableLength > 0 || accepted.listenerCount('data') > 0) return undefined
  handle.readStop()
  // the new socket starts reading itself, unless the handle still says it is (net.js `_read`)
  handle.reading = false
  s._handle = null
  const readBuffer = new ReadBuffer()
  let onData: (chunk: Buffer) => void = () => {}
  const socket = new Socket({
    handle,
    readable: true,
    writable: true,
    onread: { buffer: readBuffer.next, callback: (n: number, b: Uint8Array) => { onData((b as Buffer).subarray(0, n)); return true } }
  } as ConstructorParameters<typeof Socket>[0])
  socket.once('close', () => accepted.destroy())
  return { socket, readBuffer, setOnData: (fn) => { onData = fn } }
}
