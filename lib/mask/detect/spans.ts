/**
 * Where detectors found something in one string: [start, end) ranges with the detector that found
 * each. One instance is reused for every string (JS runs one scan at a time), so a string without
 * hits allocates nothing. Detectors run in priority order and a range that overlaps one already
 * taken is ignored: a card number inside a JWT is reported once, as the JWT.
 */
export class Spans {
  count = 0
  start = new Int32Array(16)
  end = new Int32Array(16)
  detector = new Uint8Array(16)
  /** part of the match a detector wants kept for `partial` (e.g. the `ghp_` of a token); 0 = none */
  keep = new Int32Array(16)

  reset (): void { this.count = 0 }

  /** records a hit unless it overlaps an earlier one; true when recorded */
  add (start: number, end: number, detector: number, keep = 0): boolean {
    if (end <= start) return false
    for (let i = 0; i < this.count; i++) {
      if (start < this.end[i] && end > this.start[i]) return false
    }
    if (this.count === this.start.length) this.grow()
    const i = this.count++
    this.start[i] = start
    this.end[i] = end
    this.detector[i] = detector
    this.keep[i] = keep
    return true
  }

  /** true when [start, end) overlaps a recorded hit (lets a detector skip work) */
  taken (start: number, end: number): boolean {
    for (let i = 0; i < this.count; i++) {
      if (start < this.end[i] && end > this.start[i]) return true
    }
    return false
  }

  /** orders hits by position (insertion sort: there are few) */
  sort (): void {
    for (let i = 1; i < this.count; i++) {
      const s = this.start[i]; const e = this.end[i]; const d = this.detector[i]; const k = this.keep[i]
      let j = i - 1
      while (j >= 0 && this.start[j] > s) {
        this.start[j + 1] = this.start[j]; this.end[j + 1] = this.end[j]
        this.detector[j + 1] = this.detector[j]; this.keep[j + 1] = this.keep[j]
        j--
      }
      this.start[j + 1] = s; this.end[j + 1] = e; this.detector[j + 1] = d; this.keep[j + 1] = k
    }
  }

  private grow (): void {
    const n = this.start.length * 2
    const grow32 = (a: Int32Array): Int32Array<ArrayBuffer> => { const b = new Int32Array(n); b.set(a); return b }
    this.start = grow32(this.start)
    this.end = grow32(this.end)
    this.keep = grow32(this.keep)
    const d = new Uint8Array(n); d.set(this.detector); this.detector = d
  }
}
