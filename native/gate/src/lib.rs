//! The detectors' byte gates (`gateBytes`, `contactGateBytes` in lib/mask/detectors.ts) with
//! WebAssembly SIMD128, 64 bytes at a time. The JS side copies UTF-8 bytes into memory from `stage()`
//! on (one string, or a whole JSON document whose strings are then gated in place) and calls
//! `gate(at, n)` or `contact_gate(at, n)` for the `n` bytes at address `at`; both return exactly the
//! mask the JS loops compute (`gateBytes` with its recheck of the assigned-secret and IPv6 bits:
//! `may_assign`, `may_ipv6` are ports of the JS tests).
//!
//! Every per-byte test of the JS loops looks at most three bytes back and never ahead (`eyJ` is
//! found at its `J`), so a chunk's tests are bit masks (bit i: byte i) shifted against the previous
//! chunk's, which start as zeros: the JS loops' "no previous byte". The text's neighbours in memory
//! (a document's other bytes) are never read as its own: the lanes of the last chunk past the text
//! are cleared to zeros (a zero byte counts for nothing and only ends chains and runs), and the two
//! tests that read the bytes before a position directly (key pairs, `eyJ`) skip those before the
//! text. Nothing is written, so a staged document stays as it is. What carries from chunk to chunk
//! besides the masks is the length of the current digit chain, run and spaced run.
//!
//! `json.rs` walks a staged JSON document whole (`walk_json`), gating its strings with these gates.
#![no_std]

use core::arch::wasm32::*;

mod json;

#[panic_handler]
fn panic(_: &core::panic::PanicInfo) -> ! {
    core::arch::wasm32::unreachable()
}

extern "C" {
    static __heap_base: u8;
}

/// Where the JS side may write texts: past the module's data and stack, 16-aligned, after 16
/// untouched bytes. Memory from here to its end is the JS side's; the gates read up to 64 bytes
/// past a text's end and one before its start, so it keeps the memory that large.
#[no_mangle]
pub extern "C" fn stage() -> usize {
    stage_ptr() as usize
}

#[inline(always)]
fn stage_ptr() -> *mut u8 {
    let base = unsafe { &__heap_base as *const u8 as usize };
    (((base + 15) & !15) + 16) as *mut u8
}

const fn splat(x: u8) -> v128 {
    u8x16(x, x, x, x, x, x, x, x, x, x, x, x, x, x, x, x)
}

// Classes of the bytes 32..47 (`low`) and 49..64 (`high`), one bit each, looked up in two swizzles.
// `bitmask` reads bit 7 of each lane, so a class's lanes are read after a shift left (see `class`).
const SPACE: u8 = 1 << 7;
const SEP: u8 = 1 << 6; // space ( ) + - . : what joins the digits of a chain
const DOT: u8 = 1 << 5;
const MINUS: u8 = 1 << 4;
const PLUS: u8 = 1 << 3;
const COLON: u8 = 1 << 2;
const EQ: u8 = 1 << 1;
const AT: u8 = 1 << 0;

// `KEY_PAIRS` of lib/mask/detect/secrets.ts whose second character is a letter, as bits for nibble
// lookups: (a, b) is such a pair exactly when first(a & 127) & second(b) != 0. The first table's
// nibbles meet in one bit per first character (two for A), the second's in the bits of the first
// characters it pairs with: sk rk (F_SR), gh gi gl, xo, hf, np, AI AK (F_A), AS (F_AS), SG.
const F_SR: u8 = 1 << 0;
const F_G: u8 = 1 << 1;
const F_X: u8 = 1 << 2;
const F_H: u8 = 1 << 3;
const F_N: u8 = 1 << 4;
const F_A: u8 = 1 << 5;
const F_AS: u8 = 1 << 6;
const F_S: u8 = 1 << 7;

/// The loops' vector constants, read once per call from memory into locals: an engine
/// materializes a `v128.const` at every use inside a loop (several instructions each), and a
/// constant folded into the code is built again on every call; a local is a register or one load.
#[derive(Clone, Copy)]
#[repr(C)]
struct K {
    zero: v128,
    c15: v128,
    c32: v128,
    c49: v128,
    /// `v + 80` below this (signed) is a digit; `(v | 32) + 31` below `letters` a letter
    c80: v128,
    digits: v128,
    c31: v128,
    letters: v128,
    underscore: v128,
    big_j: v128,
    counted: v128,
    /// the lane numbers, to clear the lanes past a text's end
    lanes: v128,
    equals: v128,
    colon: v128,
    low: v128,
    high: v128,
    first_lo: v128,
    first_hi: v128,
    second_lo: v128,
    second_hi: v128,
}

static CONSTANTS: K = K {
    zero: u8x16(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0),
    c15: splat(15),
    c32: splat(32),
    c49: splat(49),
    c80: splat(80),
    digits: splat((-128i8 + 10) as u8),
    c31: splat(31),
    letters: splat((-128i8 + 26) as u8),
    underscore: splat(b'_'),
    big_j: splat(b'J'),
    counted: splat(DOT | MINUS | PLUS | COLON | EQ | AT),
    lanes: u8x16(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
    equals: splat(b'='),
    colon: splat(b':'),
    low: u8x16(
        SPACE | SEP,
        0,
        0,
        0,
        0,
        0,
        0,
        0,
        SEP,
        SEP,
        0,
        SEP | PLUS,
        0,
        SEP | MINUS,
        SEP | DOT,
        0,
    ),
    high: u8x16(0, 0, 0, 0, 0, 0, 0, 0, 0, COLON, 0, 0, EQ, 0, 0, AT),
    first_lo: u8x16(
        0,
        F_A | F_AS,
        F_SR,
        F_SR | F_S,
        0,
        0,
        0,
        F_G,
        F_X | F_H,
        0,
        0,
        0,
        0,
        0,
        F_N,
        0,
    ),
    first_hi: u8x16(
        0,
        0,
        0,
        0,
        F_A | F_AS,
        F_S,
        F_G | F_H | F_N,
        F_SR | F_X,
        0,
        0,
        0,
        0,
        F_A | F_AS,
        F_S,
        F_G | F_H | F_N,
        F_SR | F_X,
    ),
    second_lo: u8x16(
        F_N,
        0,
        0,
        F_AS,
        0,
        0,
        F_H,
        F_S,
        F_G,
        F_G | F_A,
        0,
        F_SR | F_A,
        F_G,
        0,
        0,
        F_X,
    ),
    second_hi: u8x16(
        0,
        0,
        0,
        0,
        F_A | F_S,
        F_AS,
        F_SR | F_G | F_X | F_H,
        F_N,
        0,
        0,
        0,
        0,
        0,
        0,
        0,
        0,
    ),
};

#[inline(always)]
fn constants() -> K {
    // volatile: loaded here, once, rather than folded back into constants at each use
    unsafe { core::ptr::read_volatile(&CONSTANTS) }
}

/// ASCII digits: a range test as one signed compare
#[inline(always)]
fn digit(k: &K, v: v128) -> v128 {
    i8x16_lt(i8x16_add(v, k.c80), k.digits)
}

/// ASCII letters only, like `isLetter` in detectors.ts
#[inline(always)]
fn letter(k: &K, v: v128) -> v128 {
    i8x16_lt(i8x16_add(v128_or(v, k.c32), k.c31), k.letters)
}

#[inline(always)]
fn classes(k: &K, v: v128) -> v128 {
    v128_or(
        i8x16_swizzle(k.low, u8x16_sub(v, k.c32)),
        i8x16_swizzle(k.high, u8x16_sub(v, k.c49)),
    )
}

#[inline(always)]
fn bits(v: v128) -> u64 {
    u8x16_bitmask(v) as u64
}

/// the lanes of `cls` with class bit `1 << (7 - S)`
#[inline(always)]
fn class<const S: u32>(cls: v128) -> u64 {
    // a 16-bit shift: what crosses from the low byte lands below bit 7 of the high one
    bits(i16x8_shl(cls, S))
}

/// nibble lookup: the bits of `lo[v & 15] & hi[v >> 4]`
#[inline(always)]
fn nibbles(k: &K, v: v128, lo: v128, hi: v128) -> v128 {
    v128_and(
        i8x16_swizzle(lo, v128_and(v, k.c15)),
        i8x16_swizzle(hi, u8x16_shr(v, 4)),
    )
}

#[inline(always)]
unsafe fn load(p: *const u8) -> v128 {
    v128_load(p as *const v128)
}

/// a chunk's mask `x` shifted `J` bytes on, with the previous chunk's `px` coming in
#[inline(always)]
fn back<const J: u32>(x: u64, px: u64) -> u64 {
    x << J | px >> (64 - J)
}

/// the length of a run after a chunk: `count` before it, `d` its digits, `r` the bytes that end it
#[inline(always)]
fn after(count: u32, d: u64, r: u64) -> u32 {
    if r == 0 {
        count + d.count_ones()
    } else {
        // the digits above the last byte that ends the run
        ((d >> 1) >> (63 - r.leading_zeros())).count_ones()
    }
}

/// Digit chains (joined by separators), runs (digits only) and spaced runs (joined by spaces), and
/// the longest of each so far: they matter only up to the gates' thresholds (chain 8, 9, 13; run
/// 7; spaced 6), so a chunk where no count can reach a threshold not yet reached only carries the
/// counts on; the rest (long numbers) are measured one stretch of digits at a time (`longest`).
#[derive(Default)]
struct Runs {
    chain: u32,
    run: u32,
    spaced: u32,
    max_chain: u32,
    max_run: u32,
    max_spaced: u32,
}

impl Runs {
    /// a chunk: `d` its digits, `rc`, `rs` the bytes that end a chain, a spaced run (every
    /// non-digit ends a run)
    #[inline(always)]
    fn chunk(&mut self, d: u64, rc: u64, rs: u64) {
        let k = d.count_ones();
        if d != 0 {
            if self.chain + k >= 8 && self.max_chain < 13 {
                self.max_chain = longest(self.chain, d, rc, self.max_chain);
            }
            if self.run + k >= 7 && self.max_run < 7 {
                // seven digits in a row: in the chunk, or ending the previous chunk's run
                let seven = d & d >> 1 & d >> 2 & d >> 3 & d >> 4 & d >> 5 & d >> 6;
                if seven != 0 || self.run + d.trailing_ones() >= 7 {
                    self.max_run = 7;
                }
            }
            if self.spaced + k >= 6 && self.max_spaced < 6 {
                self.max_spaced = longest(self.spaced, d, rs, self.max_spaced);
            }
        }
        self.chain = after(self.chain, d, rc);
        self.run = after(self.run, d, !d);
        self.spaced = after(self.spaced, d, rs);
    }
}

/// the bits below `b`
#[inline(always)]
fn below(b: u32) -> u64 {
    if b == 0 {
        0
    } else {
        u64::MAX >> (64 - b)
    }
}

/// `best` or the longest run of a chunk if longer: `count` the run's length before the chunk, `d`
/// its digits, `r` the bytes that end a run
#[inline(always)]
fn longest(mut count: u32, mut d: u64, mut r: u64, mut best: u32) -> u32 {
    while d != 0 {
        let first = d.trailing_zeros();
        if r & below(first) != 0 {
            count = 0;
        }
        let ends = r & !below(first);
        let end = if ends == 0 { 64 } else { ends.trailing_zeros() };
        count += (d & below(end)).count_ones();
        best = best.max(count);
        d &= !below(end);
        r &= !below(end);
    }
    best
}

/// the first `V` vectors of the chunk at `q`, `rem` bytes of text left from it: lanes past the
/// text's end are zeros, and so are the vectors from `V` on (a text of at most `16 * V` bytes: the
/// gates' loops then read only those, and skip the work on the others' zeros, which counts nothing)
#[inline(always)]
unsafe fn chunk<const V: usize>(k: &K, q: *const u8, rem: usize) -> [v128; 4] {
    let mut v = [k.zero; 4];
    for (s, x) in v.iter_mut().enumerate().take(V) {
        *x = load(q.add(16 * s));
    }
    if rem < 16 * V {
        for (s, x) in v.iter_mut().enumerate().take(V) {
            let left = rem.saturating_sub(16 * s).min(16) as u8;
            *x = v128_and(*x, u8x16_lt(k.lanes, u8x16_splat(left)));
        }
    }
    v
}

/// `$f::<V>` with the vectors a text of `n` bytes needs per chunk, 1 to 4: a short text (ids,
/// names, most JSON strings; a text of up to 64 bytes has one chunk) takes only its own vectors'
/// work, with the same masks
macro_rules! by_width {
    ($n:expr, $f:ident($($arg:expr),*)) => {
        if $n <= 16 {
            $f::<1>($($arg),*)
        } else if $n <= 32 {
            $f::<2>($($arg),*)
        } else if $n <= 48 {
            $f::<3>($($arg),*)
        } else {
            $f::<4>($($arg),*)
        }
    };
}

/// `gateBytes` over the `n` bytes at address `at`
///
/// # Safety
/// The memory must hold the byte before `at` and 64 bytes past `at + n` (the JS side grows it).
#[no_mangle]
pub unsafe extern "C" fn gate(at: usize, n: usize) -> u32 {
    gate_of(&constants(), at as *const u8, n)
}

/// one copy, which `gate` and `gate_rows` call (each width is a body of its own)
#[inline(never)]
unsafe fn gate_of(k: &K, p: *const u8, n: usize) -> u32 {
    if n < 6 {
        return 0;
    }
    by_width!(n, gate_in(k, p, n))
}

/// `gate` with `V` vectors a chunk (`chunk`): `n` is at most `16 * V` unless `V` is 4
#[inline(always)]
unsafe fn gate_in<const V: usize>(k: &K, p: *const u8, n: usize) -> u32 {
    let mut runs = Runs::default();
    let (mut digits, mut dots, mut colons, mut dotted) = (0u32, 0u32, 0u32, 0u32);
    let (mut letter_digit, mut key_pair, mut eyj) = (0u64, 0u64, false);
    let mut marks = k.zero;
    // the previous chunk's masks (see `back`)
    let (mut pl, mut pd, mut pw, mut pb, mut pdot, mut pminus) =
        (0u64, 0u64, 0u64, 0u64, 0u64, 0u64);
    let mut i = 0;
    while i < n {
        let q = p.add(i);
        let vs = chunk::<V>(k, q, n - i);
        let (mut l, mut d, mut w, mut space, mut sep, mut j, mut pairs) =
            (0u64, 0u64, 0u64, 0u64, 0u64, 0u64, 0u64);
        let mut counted = k.zero;
        for s in 0..V {
            let v = vs[s];
            let at16 = 16 * s as u32;
            l |= bits(letter(k, v)) << at16;
            d |= bits(digit(k, v)) << at16;
            w |= bits(i8x16_eq(v, k.underscore)) << at16;
            j |= bits(i8x16_eq(v, k.big_j)) << at16;
            let cls = classes(k, v);
            space |= class::<0>(cls) << at16;
            sep |= class::<1>(cls) << at16;
            counted = v128_or(counted, cls);
            if key_pair == 0 {
                let first = nibbles(k, load(q.add(16 * s).sub(1)), k.first_lo, k.first_hi);
                let second = nibbles(k, v, k.second_lo, k.second_hi);
                pairs |= (!bits(i8x16_eq(v128_and(first, second), k.zero)) & 0xffff) << at16;
            }
        }
        if i == 0 {
            // the byte before the text is none of its own
            pairs &= !1;
        }
        w |= l | d;
        let (mut dot, mut minus) = (0u64, 0u64);
        if v128_any_true(v128_and(counted, k.counted)) {
            // punctuation the gate counts: rare in words
            for s in 0..V {
                let cls = classes(k, vs[s]);
                let at16 = 16 * s as u32;
                dot |= class::<2>(cls) << at16;
                minus |= class::<3>(cls) << at16;
                colons += class::<5>(cls).count_ones();
            }
            marks = v128_or(marks, counted);
            dots += dot.count_ones();
            key_pair |= minus & back::<1>(minus, pminus);
        }
        runs.chunk(d, !(d | sep), !(d | space));
        if d != 0 {
            digits += d.count_ones();
            letter_digit |= d & back::<1>(l, pl) & back::<2>(l, pl);
            dotted += (d & back::<1>(dot, pdot) & back::<2>(d, pd)).count_ones();
        }
        // a key pair where a word starts: no word character two bytes back
        key_pair |= pairs & !back::<2>(w, pw);
        let b = w | minus;
        j &= !back::<3>(b, pb);
        while j != 0 {
            let at_j = i + j.trailing_zeros() as usize;
            if at_j >= 2 && *p.add(at_j - 1) == b'y' && *p.add(at_j - 2) == b'e' {
                eyj = true;
            }
            j &= j - 1;
        }
        pl = l;
        pd = d;
        pw = w;
        pb = b;
        pdot = dot;
        pminus = minus;
        i += 64;
    }
    let (plus, eq, at) = (class::<4>(marks), class::<6>(marks), class::<7>(marks));
    let n = n as u32;
    let mut m = 0;
    if dots >= 2 && n >= 24 && eyj {
        m |= 1 << 0;
    }
    if key_pair != 0 && n >= 14 {
        m |= 1 << 1;
    }
    if eq != 0 || colons > 0 {
        m |= 1 << 2;
    }
    if at != 0 && dots > 0 {
        m |= 1 << 3;
    }
    if letter_digit != 0 && digits >= 6 && n >= 15 {
        m |= 1 << 4;
    }
    if runs.max_chain >= 13 {
        m |= 1 << 5;
    }
    if runs.max_chain >= 9 {
        m |= 1 << 6;
    }
    if digits >= 6 && n >= 9 && runs.max_spaced >= 6 {
        m |= 1 << 7;
    }
    if runs.max_run >= 7 {
        m |= 1 << 8;
    }
    if colons >= 2 {
        m |= 1 << 9;
    }
    if dots >= 3 && digits >= 4 && dotted >= 3 {
        m |= 1 << 10;
    }
    if runs.max_chain >= 9 || (plus != 0 && runs.max_chain >= 8) {
        m |= 1 << 11;
    }
    // the recheck: most ':' (URLs, times) leave neither detector anything to look at
    if m & ASSIGNED != 0 && !may_assign(k, p, n as usize) {
        m &= !ASSIGNED;
    }
    if m & IPV6 != 0 && !may_ipv6(p, n as usize) {
        m &= !IPV6;
    }
    m
}

const ASSIGNED: u32 = 1 << 2;
const IPV6: u32 = 1 << 9;

/// `mayAssignBytes` of lib/mask/detect/secrets.ts (keep the two in step): some `=` or `:` has a
/// name before it (after at most three spaces or tabs and a quote) whose last byte may end a
/// secret-sounding name, at least two bytes after the text's start
#[inline(always)]
unsafe fn may_assign(k: &K, p: *const u8, n: usize) -> bool {
    let mut i = 0;
    while i < n {
        let vs = chunk::<4>(k, p.add(i), n - i);
        let mut seps = 0u64;
        for (s, &v) in vs.iter().enumerate() {
            let sep = v128_or(i8x16_eq(v, k.equals), i8x16_eq(v, k.colon));
            seps |= bits(sep) << (16 * s as u32);
        }
        while seps != 0 {
            let at = i + seps.trailing_zeros() as usize;
            seps &= seps - 1;
            // the name's end, read backwards from the separator
            let mut j = at as isize - 1;
            let mut spaces = 0;
            while spaces < 3 && j >= 0 && matches!(*p.offset(j), b' ' | b'\t') {
                j -= 1;
                spaces += 1;
            }
            if j >= 0 && matches!(*p.offset(j), b'"' | b'\'') {
                j -= 1;
            }
            if j >= 2
                && matches!(
                    *p.offset(j),
                    b'y' | b't' | b'n' | b'd' | b'e' | b'Y' | b'T' | b'N' | b'D' | b'E'
                )
            {
                return true;
            }
        }
        i += 64;
    }
    false
}

#[inline(always)]
fn hex(c: u8) -> bool {
    c.is_ascii_digit() || matches!(c | 32, b'a'..=b'f')
}

#[inline(always)]
fn word(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_'
}

/// `mayIpv6Bytes` of lib/mask/detect/network.ts (keep the two in step): some run of hex digits,
/// colons and dots with two colons or more, not inside a word, in the shape of an address
#[inline(never)]
unsafe fn may_ipv6(p: *const u8, n: usize) -> bool {
    let b = |i: usize| *p.add(i);
    let mut i = 0;
    while i < n {
        let c = b(i);
        if !(hex(c) || c == b':') {
            i += 1;
            continue;
        }
        let a = i;
        let mut colons = 0;
        let mut j = i;
        while j < n {
            let d = b(j);
            if d == b':' {
                colons += 1;
            } else if !(hex(d) || d == b'.') {
                break;
            }
            j += 1;
        }
        i = j;
        if colons < 2 || (a > 0 && word(b(a - 1))) || (j < n && word(b(j))) {
            continue;
        }
        // without trailing dots and single colons
        let mut e = j;
        while e > a && (b(e - 1) == b'.' || (b(e - 1) == b':' && (e < 2 || b(e - 2) != b':'))) {
            e -= 1;
        }
        if e - a < 3 {
            continue;
        }
        // hex groups (`hexGroups`) and the shape (`addressShape`): `::`, or six colons or more
        let (mut groups, mut in_group, mut seps, mut double) = (0, false, 0, false);
        for x in a..e {
            let sep = b(x) == b':';
            if !sep && !in_group {
                groups += 1;
            }
            in_group = !sep;
            if sep {
                if x + 1 < e && b(x + 1) == b':' {
                    double = true;
                }
                seps += 1;
            }
        }
        if groups >= 2 && (double || seps >= 6) {
            return true;
        }
    }
    false
}

/// `contactGateBytes` over the `n` bytes at address `at`
///
/// # Safety
/// As for `gate`.
#[no_mangle]
pub unsafe extern "C" fn contact_gate(at: usize, n: usize) -> u32 {
    contact_gate_of(&constants(), at as *const u8, n)
}

#[inline(never)]
unsafe fn contact_gate_of(k: &K, p: *const u8, n: usize) -> u32 {
    if n < 6 {
        return 0;
    }
    by_width!(n, contact_gate_in(k, p, n))
}

/// `contact_gate` with `V` vectors a chunk, as `gate_in`
#[inline(always)]
unsafe fn contact_gate_in<const V: usize>(k: &K, p: *const u8, n: usize) -> u32 {
    let mut chain = 0u32;
    let mut max_chain = 0u32;
    let mut marks = k.zero;
    let mut i = 0;
    while i < n {
        let vs = chunk::<V>(k, p.add(i), n - i);
        let (mut d, mut sep) = (0u64, 0u64);
        for (s, &v) in vs.iter().enumerate().take(V) {
            let cls = classes(k, v);
            d |= bits(digit(k, v)) << (16 * s as u32);
            sep |= class::<1>(cls) << (16 * s as u32);
            marks = v128_or(marks, cls);
        }
        let rc = !(d | sep);
        if d != 0 && chain + d.count_ones() >= 8 && max_chain < 13 {
            max_chain = longest(chain, d, rc, max_chain);
        }
        chain = after(chain, d, rc);
        i += 64;
    }
    let email = class::<2>(marks) != 0 && class::<7>(marks) != 0;
    let plus = class::<4>(marks) != 0;
    let mut m = 0;
    if email {
        m |= 1 << 3;
    }
    if max_chain >= 13 {
        m |= 1 << 5;
    }
    if max_chain >= 9 {
        m |= 1 << 6 | 1 << 11;
    } else if plus && max_chain >= 8 {
        m |= 1 << 11;
    }
    m
}

/// The rows of a protobuf `repeated string` (or `bytes`) field's content, `n` bytes at address
/// `at`, gated in one call: each row a field 1 of wire type LEN (the tag byte 0x0a, the length as a
/// varint of at most five bytes, the text). For every row whose gate (`contact_gate` when `contact`
/// is nonzero, else `gate`) shares a bit with `mask`, four i32 are written from `out` on: where its
/// field starts, where its text starts and ends (offsets from `at`) and its gate & `mask`. Returns
/// how many rows were written, or -1 when the bytes are not such rows (another tag or a tag written
/// in more bytes, a length in more than five bytes or past the end): the JS side then walks them with its own reader,
/// so no row passes ungated. A row written has at least 6 bytes of text and 8 on the wire, so `out`
/// needs room for `n / 8` rows of 16 bytes.
///
/// # Safety
/// As for `gate`; `out` must be 4-aligned and not overlap the text.
#[no_mangle]
pub unsafe extern "C" fn gate_rows(
    at: usize,
    n: usize,
    out: usize,
    mask: u32,
    contact: u32,
) -> i32 {
    let p = at as *const u8;
    let out = out as *mut i32;
    let k = constants();
    let mut rows = 0usize;
    let mut i = 0usize;
    while i < n {
        let field = i;
        // tag: field 1, wire type 2 (LEN)
        if *p.add(i) != 0x0a {
            return -1;
        }
        i += 1;
        // 64 bits: five bytes of seven may hold more than a 32-bit usize
        let mut len = 0u64;
        let mut shift = 0;
        loop {
            if i >= n || shift > 28 {
                return -1;
            }
            let b = *p.add(i);
            i += 1;
            len |= ((b & 0x7f) as u64) << shift;
            if b < 0x80 {
                break;
            }
            shift += 7;
        }
        if len > (n - i) as u64 {
            return -1;
        }
        let len = len as usize;
        let g = if contact != 0 {
            contact_gate_of(&k, p.add(i), len)
        } else {
            gate_of(&k, p.add(i), len)
        } & mask;
        if g != 0 {
            let o = out.add(4 * rows);
            *o = field as i32;
            *o.add(1) = i as i32;
            *o.add(2) = (i + len) as i32;
            *o.add(3) = g as i32;
            rows += 1;
        }
        i += len;
    }
    rows as i32
}
