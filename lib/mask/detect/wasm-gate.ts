import { GATE_WASM_BASE64 } from '../gate-wasm.js'

/**
 * The byte gates in WebAssembly with SIMD128 (native/gate/src/lib.rs): the same masks as the JS
 * loops `gateBytes` (with its recheck of the assigned-secret and IPv6 bits: `mayAssignBytes`,
 * `mayIpv6Bytes` ported) and `contactGateBytes` in detectors.ts, 64 bytes at a time instead of one.
 *
 * `gateBytes` and `contactGateBytes` hand texts of `WASM_MIN` bytes and more to it. Each call copies
 * the text into the module's memory (a view and `set`, 60–70 ns), so it pays from about 50 bytes and
 * the gates keep their JS loops below that threshold; on a 190-byte text it is about 2x (full gate)
 * and 2.8x (contact gate) faster than the loops, 3x and more from 256 bytes. A JSON document walk
 * (json-text.ts) stages the whole document once (`stage`) and gates its strings in place (`gateAt`,
 * a call without a copy: texts of up to 16, 32, 48 bytes take one, two, three vectors a chunk, about
 * 23, 28, 35–40 ns a call, so from about 10 bytes it beats the full gate's loop; 2–4x on 20–50
 * bytes, about 5x on a time or URL whose ':' the JS recheck would look at). A Milvus varchar column
 * is gated whole (`gateRows`: one copy and one call for all its rows, which the module walks
 * itself; 15 ns a row of up to 16 bytes, 6 ns with the contact gate), and JS visits only the rows
 * with something in them. A staged JSON document is walked whole in the module (`walkJson`, see
 * json-text.ts), which lists only the places the JS side must look at.
 */
export interface WasmGate {
  /** `gateBytes` over buf[start, end) */
  gate (buf: Uint8Array, start: number, end: number): number
  /** `contactGateBytes` over buf[start, end) */
  contactGate (buf: Uint8Array, start: number, end: number): number
  /**
   * Copies buf[start, end) into the module's memory, where `gateAt` gates its parts without a copy
   * each (a JSON document whose strings are gated one by one): the address of buf[start]. Staged
   * texts nest (a stack): each stays until its `unstage`, later ones and the copying gates use the
   * memory after it.
   */
  stage (buf: Uint8Array, start: number, end: number): number
  /** gives back the memory of the text staged at `at` and of everything staged after it */
  unstage (at: number): void
  /** `gate` over the `n` staged bytes at address `at` */
  gateAt (at: number, n: number): number
  /**
   * The rows of a protobuf `repeated string` field's content buf[start, end) (a Milvus varchar
   * column: tag 0x0a, length, text; again), copied into the module's memory once and each gated
   * there (`contactGate` when `contact`, else `gate`) in one call: the rows whose gate shares a bit
   * with `mask`, four numbers each — where the row's field starts, where its text starts and ends
   * (positions in buf) and its gate & `mask` — in an array reused from call to call (read it before
   * the next). Null when buf[start, end) is not such rows (see `gate_rows` in native/gate): the
   * caller walks them itself.
   */
  gateRows (buf: Uint8Array, start: number, end: number, mask: number, contact: boolean): Int32Array | null
  /**
   * Walks the JSON document of `n` bytes staged at `at` (`walk_json` in native/gate: the walk of
   * json-text.ts, its strings gated in place) from the path node at address `node` (in a table
   * `keep` wrote; -1: none): how many events it wrote into `events()` (eight numbers each, offsets
   * from the document's start), -1 when the JS walk must take the document.
   */
  walkJson (at: number, n: number, node: number, flags: number, mask: number): number
  /** the events of the last `walkJson` (a view of the module's memory: read it before the next call) */
  events (): Int32Array
  /**
   * Copies the `size` bytes `write(at)` gives into memory that stays for the life of the process (a
   * path table, whose addresses depend on where it goes): its address `at`, -1 when something is
   * staged (the staged texts sit where it would go)
   */
  keep (size: number, write: (at: number) => Uint8Array): number
}

interface Exports {
  memory: WebAssembly.Memory
  stage (): number
  gate (at: number, n: number): number
  contact_gate (at: number, n: number): number
  gate_rows (at: number, n: number, out: number, mask: number, contact: number): number
  walk_json (at: number, n: number, node: number, flags: number, mask: number, out: number, cap: number): number
}

/** the most events a JSON walk writes (eight i32 each); a document with more is the JS walk's */
const EVENTS = 2048

/** the bytes past a text's end that the gates read (and ignore) */
const PAD = 64
const PAGE = 65536

/** The module instantiated from `bytes`, or null when this engine cannot (no SIMD128): the JS loops serve. */
export function instantiateGate (bytes: Uint8Array<ArrayBuffer>): WasmGate | null {
  let ex: Exports
  try {
    ex = new WebAssembly.Instance(new WebAssembly.Module(bytes), {}).exports as unknown as Exports
  } catch {
    return null
  }
  const memory = ex.memory
  const walkJson = ex.walk_json
  /** the JSON walk's events, then the tables `keep` copied, then the staged texts from `base` on */
  const eventsAt = ex.stage()
  let base = eventsAt + EVENTS * 32
  const gate = ex.gate
  const contactGate = ex.contact_gate
  const gateRows = ex.gate_rows
  /** `gateRows`' answer, reused */
  let rows = new Int32Array(64)
  let mem = new Uint8Array(memory.buffer)
  /** where the next text goes: past the staged texts */
  let top = base
  /** the view of `events()`, made again when the memory grows */
  let events: Int32Array | null = null
  /** grows the memory to hold `size` bytes */
  const reserve = (size: number): void => {
    if (size > mem.length) {
      memory.grow(Math.ceil((size - mem.length) / PAGE))
      mem = new Uint8Array(memory.buffer)
      events = null
    }
  }
  reserve(base + PAD)
  /** copies the text to `top`, growing the memory when it does not fit */
  const put = (buf: Uint8Array, start: number, end: number): number => {
    const n = end - start
    reserve(top + n + PAD)
    // a whole array as it is (25 ns for 500 bytes), a part through a plain view (70 ns: `subarray`
    // of a Buffer constructs a Buffer, slower; `Buffer.copy` into this memory took longer still in
    // profiles, though not alone)
    if (start === 0 && n === buf.length) mem.set(buf, top)
    else mem.set(new Uint8Array(buf.buffer, buf.byteOffset + start, n), top)
    return n
  }
  return {
    gate: (buf, start, end) => gate(top, put(buf, start, end)),
    contactGate: (buf, start, end) => contactGate(top, put(buf, start, end)),
    stage: (buf, start, end) => {
      const at = top
      // the next text starts 16-aligned (aligned loads), past this one
      top = (at + put(buf, start, end) + 15) & ~15
      return at
    },
    unstage: at => {
      if (at >= base && at <= top) top = at
    },
    gateAt: (at, n) => gate(at, n),
    gateRows: (buf, start, end, mask, contact) => {
      const n = end - start
      // the module's list goes after the text and the bytes read past it: a row it lists takes
      // 8 bytes of the text at least, and 16 in the list
      const list = (top + n + PAD + 15) & ~15
      reserve(list + (n >>> 3) * 16 + 16)
      put(buf, start, end)
      const count = gateRows(top, n, list, mask, contact ? 1 : 0)
      if (count < 0) return null
      if (rows.length < 4 * count) rows = new Int32Array(8 * count)
      const from = new Int32Array(memory.buffer, list, 4 * count)
      for (let i = 0; i < 4 * count; i += 4) {
        rows[i] = from[i] + start
        rows[i + 1] = from[i + 1] + start
        rows[i + 2] = from[i + 2] + start
        rows[i + 3] = from[i + 3]
      }
      return rows.subarray(0, 4 * count)
    },
    walkJson: (at, n, node, flags, mask) => walkJson(at, n, node >>> 0, flags, mask, eventsAt, EVENTS),
    events: () => (events ??= new Int32Array(memory.buffer, eventsAt, EVENTS * 8)),
    keep: (size, write) => {
      if (top !== base) return -1
      const at = base
      reserve(at + size + PAD)
      mem.set(write(at).subarray(0, size), at)
      base = top = (at + size + 15) & ~15
      return at
    }
  }
}

/** the gate of this process, null when WebAssembly or SIMD128 is not available */
export const wasmGate: WasmGate | null = instantiateGate(new Uint8Array(Buffer.from(GATE_WASM_BASE64, 'base64')))
