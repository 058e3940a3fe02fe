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
