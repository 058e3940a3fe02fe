import type { Wire } from './wire.js'

/**
 * Byte ranges in order, adjacent ranges of the same buffer merged into one: untouched messages
 * leave as the bytes they arrived in, usually as a single slice of the chunk that was read, and
 * rows masked one after another into the same slab (result-view.ts `RowSlab`) as one slice of it
 * rather than one Buffer per row.
 */
export class Slices {
  protected bufs: Buffer[] = []
  private lastBuf: Buffer | undefined
  private lastStart = 0
  private lastEnd = 0

  /** `buf[start, end)`, after what was added before */
  slice (buf: Buffer, start: number, end: number): void {
    if (this.lastBuf === buf && this.lastEnd === start) { this.lastEnd = end; return }
    this.seal()
    this.lastBuf = buf
    this.lastStart = start
    this.lastEnd = end
  }

  add (b: Buffer): void {
    this.seal()
    this.bufs.push(b)
  }

  protected seal (): void {
    if (this.lastBuf === undefined) return
    this.bufs.push(this.lastStart === 0 && this.lastEnd === this.lastBuf.length ? this.lastBuf : this.lastBuf.subarray(this.lastStart, this.lastEnd))
    this.lastBuf = undefined
  }

  get empty (): boolean { return this.lastBuf === undefined && this.bufs.length === 0 }

  /** everything added so far, as Buffers in order; this then starts empty */
  take (): Buffer[] {
    this.seal()
    const bufs = this.bufs
    this.bufs = []
    return bufs
  }
}

/**
 * What one read burst sends to one socket, written at the end of the burst in one go (one write or
 * one writev) — pgbench-style traffic is many tiny round trips, and every syscall shows.
 */
export class Burst extends Slices {
  /** Writes everything; returns what the last write returned (false = the socket's buffer is full). */
  flush (wire: Wire): boolean {
    this.seal()
    const bufs = this.bufs
    if (bufs.length === 0) return true
    if (bufs.length === 1) {
      // pop, not `length = 0`: setting an array's length is a runtime call, and this runs on every read
      return wire.write(bufs.pop()!)
    }
    // the wire may keep the array until the kernel takes it all
    this.bufs = []
    return wire.writev(bufs)
  }
}
