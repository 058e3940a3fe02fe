import type { Wire } from '../net/wire.js'

/**
 * Frames smaller than this are copied as they are written; larger ones are written from where they
 * are (a view, which the caller keeps valid until the write). A copy of a few hundred bytes costs less
 * than the iovec, and it frees the read buffer the bytes came from for the next read (Wire.retain).
 */
export const COPY_MAX = 16384 + 9
/** the buffer small writes are copied into; a write larger than it gets a buffer of its own size */
const ARENA = 64 * 1024
const EMPTY = Buffer.alloc(0)

/**
 * What the relay sends one side during one event-loop turn, written with one write (or writev) at the
 * end of the turn, or as soon as a full buffer (64 KB) waits. Small writes are copied into that buffer,
 * reused from turn to turn while the wire says each write was done with it at once (a plain TCP
 * connection whose kernel buffer had room): a busy connection allocates nothing per write.
 */
export class Out {
  /**
   * @param early writes what waits now, when the buffer is full and the side can take it (true when it
   * did): the buffer is then reused rather than a new one started
   */
  constructor (private readonly early: () => boolean) {}

  private arena: Buffer = EMPTY
  private len = 0
  /** where the bytes not yet in `list` start in `arena` */
  private start = 0
  private list: Buffer[] = []
  /** the size of the next buffer: smaller after a write the wire kept, so a wire that keeps every write gets buffers near their size */
  private next = ARENA
  /** bytes waiting for the next write */
  size = 0

  /** copies `b`: the caller may reuse it once this returns */
  copy (b: Buffer): void {
    const n = b.length
    if (this.len + n > this.arena.length) this.makeRoom(n)
    this.arena.set(b, this.len)
    this.len += n
    this.size += n
  }

  /**
   * Room for `n` bytes written in place: returns the offset in `buf`, which must be read after this
   * call (it may be a new buffer).
   */
  reserve (n: number): number {
    if (this.len + n > this.arena.length) this.makeRoom(n)
    const at = this.len
    this.len += n
    this.size += n
    return at
  }

  get buf (): Buffer { return this.arena }

  /** `b` written as it is: it must not change until the write */
  view (b: Buffer): void {
    this.seal()
    this.list.push(b)
    this.size += b.length
  }

  /** the bytes copied since the last view or write become one entry of the list */
  private seal (): void {
    if (this.len > this.start) {
      this.list.push(this.arena.subarray(this.start, this.len))
      this.start = this.len
    }
  }

  private makeRoom (n: number): void {
    // a full-size buffer is written out and reused, rather than followed by another one
    if (this.arena.length >= ARENA && this.size > 0 && this.early() && this.len + n <= this.arena.length) return
    this.grow(n)
  }

  private grow (n: number): void {
    this.seal()
    this.arena = Buffer.allocUnsafe(Math.max(this.next, n))
    this.len = 0
    this.start = 0
  }

  /** Writes what waits (nothing when nothing does): false when the wire did not take all of it. */
  flush (wire: Wire): boolean {
    this.seal()
    const l = this.list
    if (l.length === 0) return true
    const size = this.size
    this.size = 0
    const ok = l.length === 1 ? wire.write(l[0]) : wire.writev(l)
    if (wire.lastWriteKept === false) {
      l.length = 0
      this.next = ARENA
    } else {
      // the wire holds the buffers until the kernel takes them: the next bytes go elsewhere
      this.list = []
      this.arena = EMPTY
      this.next = Math.min(ARENA, Math.max(4096, 2 * size))
    }
    this.len = 0
    this.start = 0
    return ok
  }

  /** drops what waits (the side is gone) */
  clear (): void {
    this.list = []
    this.arena = EMPTY
    this.len = 0
    this.start = 0
    this.size = 0
  }
}
