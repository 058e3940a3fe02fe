//! The walk of a JSON document's text that lib/mask/json-text.ts (`JsonTextMasker`) does, over a
//! staged document: the grammar checked, string ends found 16 bytes a step, keys matched against
//! the profile's field paths (a table the JS side wrote, `PathTable` in json-text.ts), every string
//! gated in place. What needs the JS side is written as events, in document order, eight i32 each:
//! `kind, start, end, gate, key start, key end, flags, depth` (offsets from the document's start).
//!
//! - FIELD: a value under a configured path (masked whole by the JS `field`).
//! - KEY: a key the JS side must look at — its gate is nonzero or it has escapes (the detectors
//!   would rename it), or, with the api_key detector on, its name may be secret-sounding (then the
//!   member's string value follows as a MEMBER event whatever its gate).
//! - MEMBER: a member's string value to scan (`named` with its key).
//! - ELEMENT: an array element string to scan.
//! - NUMBER: a number that is not a plain integer of at most 12 characters (cards hide in numbers).
//!
//! Anything the walk cannot answer exactly — text that is not one JSON object, a grammar error,
//! nesting past MAX_DEPTH, a key with escapes or dots on a configured path, more events than fit —
//! returns -1, and the JS walk takes the document (and reaches its own answer, the decoded path
//! included). Nothing is written into the document.
use crate::{constants, contact_gate_of, gate_of, K};
use core::arch::wasm32::*;

const FIELD: i32 = 1;
const KEY: i32 = 2;
const MEMBER: i32 = 3;
const ELEMENT: i32 = 4;
const NUMBER: i32 = 5;

/// `flags`: run the detectors' gates; they are all contact detectors; no name is secret-sounding
const DETECT: u32 = 1;
const CONTACT: u32 = 2;
const ANY_NAME: u32 = 4;

/// an event's flags: the string has escapes; the key has escapes; a number in an array; the
/// member's key is a secret-sounding name (`secretKind`: its value is masked by its name); see below
const ESCAPED: i32 = 1;
const KEY_ESCAPED: i32 = 2;
const IN_ARRAY: i32 = 4;
const NAMED: i32 = 8;
/// a FIELD's value is a string without escapes
const PLAIN_STRING: i32 = 16;

/// what a key's name says (`secretKind` in lib/mask/detect/secrets.ts)
const QUIET: u8 = 0;
const SECRET: u8 = 1;
const ASK: u8 = 2;
const PASSWORD_SUFFIXES: [&[u8]; 4] = [b"password", b"passwd", b"pwd", b"passphrase"];
const KEY_SUFFIXES: [&[u8]; 7] = [b"apikey", b"accesskey", b"secretkey", b"privatekey", b"clientsecret", b"secret", b"token"];
/// the longest suffix above
const LONGEST_SUFFIX: usize = 12;

/// no path node: nothing under this key is configured
const NO_NODE: u32 = u32::MAX;

/// deeper documents are left to the JS walk (the shadow stack is small)
const MAX_DEPTH: u32 = 24;

/// from this many bytes a text may hold a prefixed API key (`gateMask`: xoxb- and 10 more)
const LONG_GATE: usize = 14;

struct Walk {
    p: *const u8,
    n: usize,
    out: *mut i32,
    count: usize,
    cap: usize,
    flags: u32,
    mask: u32,
    k: K,
    /// set by `string`: it had escapes, dots; its gate (-1: escapes, the JS side gates the decoded text)
    escaped: bool,
    dotted: bool,
    gate: i32,
}

type Step = Result<usize, ()>;

#[inline(always)]
fn splat(x: u8) -> v128 {
    u8x16_splat(x)
}

impl Walk {
    #[inline(always)]
    fn byte(&self, i: usize) -> i32 {
        if i < self.n {
            unsafe { *self.p.add(i) as i32 }
        } else {
            -1
        }
    }

    #[inline(always)]
    fn space(&self, mut i: usize) -> usize {
        while i < self.n {
            let c = unsafe { *self.p.add(i) };
            if c != b' ' && c != b'\n' && c != b'\r' && c != b'\t' {
                break;
            }
            i += 1;
        }
        i
    }

    #[allow(clippy::too_many_arguments)]
    #[inline(always)]
    fn emit(&mut self, kind: i32, a: usize, b: usize, g: i32, ks: usize, ke: usize, flags: i32, depth: u32) -> Result<(), ()> {
        if self.count == self.cap {
            return Err(());
        }
        unsafe {
            let o = self.out.add(self.count * 8);
            *o = kind;
            *o.add(1) = a as i32;
            *o.add(2) = b as i32;
            *o.add(3) = g;
            *o.add(4) = ks as i32;
            *o.add(5) = ke as i32;
            *o.add(6) = flags;
            *o.add(7) = depth as i32;
        }
        self.count += 1;
        Ok(())
    }

    /// the string whose quote is at i (RFC 8259 §7): the position after it; `escaped`, `dotted`,
    /// and with `gated` its gate (as `gatedString` in json-text.ts: counts that clear short texts,
    /// else the gate in place)
    #[inline(always)]
    fn string(&mut self, i: usize, gated: bool) -> Step {
        let start = i + 1;
        let mut j = start;
        let (mut digits, mut dots, mut at, mut marks) = (0u32, 0u32, 0u32, 0u32);
        let mut escaped = false;
        loop {
            if j >= self.n {
                return Err(());
            }
            // 16 bytes at j (the memory holds 64 past the staged text)
            let v = unsafe { v128_load(self.p.add(j) as *const v128) };
            let special = u8x16_bitmask(v128_or(
                v128_or(i8x16_eq(v, splat(b'"')), i8x16_eq(v, splat(b'\\'))),
                u8x16_lt(v, splat(0x20)),
            )) as u32;
            let upto = if special == 0 { 16 } else { special.trailing_zeros() };
            let lanes = if upto == 16 { 0xffff } else { (1u32 << upto) - 1 };
            // what the counts look at is below 'A' and not a space: most keys and words have none
            let low = u8x16_bitmask(v128_andnot(u8x16_lt(v, splat(b'A')), i8x16_eq(v, splat(b' ')))) as u32 & lanes;
            if low != 0 {
                dots += (u8x16_bitmask(i8x16_eq(v, splat(b'.'))) as u32 & lanes).count_ones();
                if gated && !escaped {
                    digits += (u8x16_bitmask(u8x16_lt(u8x16_sub(v, splat(b'0')), splat(10))) as u32 & lanes).count_ones();
                    at |= u8x16_bitmask(i8x16_eq(v, splat(b'@'))) as u32 & lanes;
                    marks |= u8x16_bitmask(v128_or(i8x16_eq(v, splat(b':')), i8x16_eq(v, splat(b'=')))) as u32 & lanes;
                }
            }
            j += upto as usize;
            if special == 0 {
                continue;
            }
            if j >= self.n {
                return Err(());
            }
            let c = unsafe { *self.p.add(j) };
            if c == b'"' {
                break;
            }
            if c < 0x20 {
                return Err(());
            }
            // a backslash
            escaped = true;
            let e = self.byte(j + 1);
            if e == b'u' as i32 {
                for h in j + 2..j + 6 {
                    let x = self.byte(h) | 32;
                    if !((b'0' as i32..=b'9' as i32).contains(&x) || (b'a' as i32..=b'f' as i32).contains(&x)) {
                        return Err(());
                    }
                }
                j += 6;
            } else if e == b'"' as i32 || e == b'\\' as i32 || e == b'/' as i32 || e == b'b' as i32 || e == b'f' as i32
                || e == b'n' as i32 || e == b'r' as i32 || e == b't' as i32
            {
                j += 2;
            } else {
                return Err(());
            }
        }
        self.escaped = escaped;
        self.dotted = dots > 0;
        let len = j - start;
        self.gate = if escaped {
            -1
        } else if !gated || len < 6 {
            0
        } else if self.flags & CONTACT != 0 {
            // the contact gate needs an address ('@' and '.') or a chain of 8 digits
            if digits < 8 && (at == 0 || dots == 0) {
                0
            } else {
                (unsafe { contact_gate_of(&self.k, self.p.add(start), len) } & self.mask) as i32
            }
        } else if len < LONG_GATE && at == 0 && marks == 0 && (digits < 4 || (digits < 6 && dots < 3)) {
            // no detector but a prefixed key or a JWT fits without a ':', '=' or '@' or four digits
            0
        } else {
            (unsafe { gate_of(&self.k, self.p.add(start), len) } & self.mask) as i32
        };
        Ok(j + 1)
    }

    /// `MaskProfile.object` over the members of the object at i, under path node `node`
    fn object(&mut self, i: usize, node: u32, depth: u32) -> Step {
        let detect = self.flags & DETECT != 0;
        let (mut i, mut more) = self.open(i, b'}', depth)?;
        while more {
            if self.byte(i) != b'"' as i32 {
                return Err(());
            }
            let ks = i;
            i = self.string(i, detect)?;
            let ke = i;
            let (kesc, kdot, kg) = (self.escaped, self.dotted, self.gate);
            // asked: the JS side answers whether the key's name leaves its string value alone;
            // named: the name is secret-sounding
            let (mut asked, mut named) = (false, false);
            if detect {
                if self.flags & CONTACT != 0 {
                    if kg != 0 {
                        self.emit(KEY, ks, ke, kg, 0, 0, if kesc { ESCAPED } else { 0 }, depth)?;
                    }
                } else {
                    let kind = if kesc { ASK } else { self.name_kind(ks, ke) };
                    if kg != 0 || kind == ASK {
                        self.emit(KEY, ks, ke, kg, 0, 0, if kesc { ESCAPED } else { 0 }, depth)?;
                        asked = true;
                    }
                    named = kind == SECRET;
                }
            }
            i = self.space(i);
            if self.byte(i) != b':' as i32 {
                return Err(());
            }
            i = self.space(i + 1);
            let child = if node == NO_NODE { NO_NODE } else { self.child(node, ks, ke, kesc, kdot)? };
            if child != NO_NODE && unsafe { *(child as *const u32) } != 0 {
                let e = self.skip(i, depth)?;
                let plain = self.byte(i) == b'"' as i32 && !self.escaped;
                self.emit(FIELD, i, e, 0, 0, 0, if plain { PLAIN_STRING } else { 0 }, depth)?;
                i = e;
            } else {
                i = self.member(i, child, ks, ke, kesc, asked || named, depth)?;
            }
            (i, more) = self.next(i, b'}')?;
        }
        Ok(i)
    }

    /// past the `{` or `[` at i: the position of its first member or element and true, or past an
    /// empty one and false
    #[inline(always)]
    fn open(&self, i: usize, close: u8, depth: u32) -> Result<(usize, bool), ()> {
        if depth > MAX_DEPTH {
            return Err(());
        }
        let i = self.space(i + 1);
        if self.byte(i) == close as i32 {
            Ok((i + 1, false))
        } else {
            Ok((i, true))
        }
    }

    /// past the white space after a member or element at i: the position after a comma and true
    /// (another follows), or the position after `close` and false (`next` in json-text.ts)
    #[inline(always)]
    fn next(&self, i: usize, close: u8) -> Result<(usize, bool), ()> {
        let i = self.space(i);
        let c = self.byte(i);
        if c == b',' as i32 {
            Ok((self.space(i + 1), true))
        } else if c == close as i32 {
            Ok((i + 1, false))
        } else {
            Err(())
        }
    }

    /// a value at i under a key no configured path ends at; `named`: a string value goes to the JS
    /// side whatever its gate (its key's name is secret-sounding, or the JS side answers that)
    #[allow(clippy::too_many_arguments)]
    #[inline(always)]
    fn member(&mut self, i: usize, child: u32, ks: usize, ke: usize, kesc: bool, named: bool, depth: u32) -> Step {
        let c = self.byte(i);
        let detect = self.flags & DETECT != 0;
        if c == b'"' as i32 {
            let e = self.string(i, detect)?;
            if detect && (self.gate != 0 || named) {
                let flags = (if self.escaped { ESCAPED } else { 0 }) | (if kesc { KEY_ESCAPED } else { 0 }) | (if named { NAMED } else { 0 });
                self.emit(MEMBER, i, e, self.gate, ks, ke, flags, depth)?;
            }
            return Ok(e);
        }
        if c == b'{' as i32 {
            return self.object(i, child, depth + 1);
        }
        if c == b'[' as i32 {
            return self.array(i, child, depth + 1);
        }
        self.scalar(i, false, depth)
    }

    /// `MaskProfile.array`: elements are scanned without a name
    fn array(&mut self, i: usize, node: u32, depth: u32) -> Step {
        let detect = self.flags & DETECT != 0;
        let (mut i, mut more) = self.open(i, b']', depth)?;
        while more {
            let c = self.byte(i);
            if c == b'"' as i32 {
                let e = self.string(i, detect)?;
                if detect && self.gate != 0 {
                    self.emit(ELEMENT, i, e, self.gate, 0, 0, if self.escaped { ESCAPED } else { 0 }, depth)?;
                }
                i = e;
            } else if c == b'{' as i32 {
                i = self.object(i, node, depth + 1)?;
            } else if c == b'[' as i32 {
                i = self.array(i, node, depth + 1)?;
            } else {
                i = self.scalar(i, true, depth)?;
            }
            (i, more) = self.next(i, b']')?;
        }
        Ok(i)
    }

    /// the end of any value at i, its grammar checked, nothing gated or written
    fn skip(&mut self, i: usize, depth: u32) -> Step {
        let flags = self.flags;
        self.flags &= !DETECT;
        let e = self.member(i, NO_NODE, 0, 0, false, false, depth);
        self.flags = flags;
        e
    }

    /// true, false, null, or a number (RFC 8259 §6); a number that could be a card number is an event
    fn scalar(&mut self, i: usize, in_array: bool, depth: u32) -> Step {
        let c = self.byte(i);
        if c == b't' as i32 {
            return self.word(i, b"true");
        }
        if c == b'f' as i32 {
            return self.word(i, b"false");
        }
        if c == b'n' as i32 {
            return self.word(i, b"null");
        }
        let mut j = i;
        let digit = |w: &Self, j: usize| (b'0' as i32..=b'9' as i32).contains(&w.byte(j));
        if self.byte(j) == b'-' as i32 {
            j += 1;
        }
        if !digit(self, j) {
            return Err(());
        }
        if self.byte(j) == b'0' as i32 {
            j += 1;
        } else {
            while digit(self, j) {
                j += 1;
            }
        }
        let mut plain = true;
        if self.byte(j) == b'.' as i32 {
            plain = false;
            j += 1;
            if !digit(self, j) {
                return Err(());
            }
            while digit(self, j) {
                j += 1;
            }
        }
        if self.byte(j) | 32 == b'e' as i32 {
            plain = false;
            j += 1;
            if self.byte(j) == b'+' as i32 || self.byte(j) == b'-' as i32 {
                j += 1;
            }
            if !digit(self, j) {
                return Err(());
            }
            while digit(self, j) {
                j += 1;
            }
        }
        // a plain integer of at most 12 characters is below 2e12, which no card check looks at
        if self.flags & DETECT != 0 && !(plain && j - i <= 12) {
            self.emit(NUMBER, i, j, 0, 0, 0, if in_array { IN_ARRAY } else { 0 }, depth)?;
        }
        Ok(j)
    }

    fn word(&self, i: usize, w: &[u8]) -> Step {
        for (k, &c) in w.iter().enumerate() {
            if self.byte(i + k) != c as i32 {
                return Err(());
            }
        }
        Ok(i + w.len())
    }

    /// the node for the key at [ks, ke) (quotes included) under `node` (see `PathTable`)
    fn child(&self, node: u32, ks: usize, ke: usize, escaped: bool, dotted: bool) -> Result<u32, ()> {
        if escaped {
            return Err(());
        }
        let words = node as *const u32;
        let len = ke - ks - 2;
        unsafe {
            let keys = *words.add(2) as usize;
            for k in 0..keys {
                let e = words.add(3 + 3 * k);
                if *e as usize != len {
                    continue;
                }
                let key = *e.add(1) as *const u8;
                let mut j = 0;
                while j < len && *key.add(j) == *self.p.add(ks + 1 + j) {
                    j += 1;
                }
                if j == len {
                    return Ok(*e.add(2));
                }
            }
            // a dotted key is followed segment by segment (`PathSet.child`): the JS walk's
            if dotted {
                return Err(());
            }
            Ok(*words.add(1))
        }
    }

    /// `secretKind` of the unescaped key at [ks, ke) (quotes included) for ASCII names: QUIET or
    /// SECRET (a password, key, secret or token name); ASK when the name's end has other characters
    /// (lower case and white space beyond ASCII are the JS side's)
    fn name_kind(&self, ks: usize, ke: usize) -> u8 {
        let (a, b) = (ks + 1, ke - 1);
        if self.flags & ANY_NAME != 0 || b - a < 3 {
            return QUIET;
        }
        let last = self.byte(b - 1);
        if last >= 0x80 {
            return ASK;
        }
        if !matches!(last as u8, b'y' | b't' | b'n' | b'd' | b'e' | b'Y' | b'T' | b'N' | b'D' | b'E') {
            return QUIET;
        }
        // two letters at the end: every suffix ends in one of these pairs (most names that end in
        // one of the letters above, such as name, phone, source, do not)
        let prev = self.byte(b - 2) as u8 | 32;
        if prev.is_ascii_lowercase()
            && !matches!((prev, last as u8 | 32), (b'r', b'd') | (b'w', b'd') | (b's', b'e') | (b'e', b'y') | (b'e', b't') | (b'e', b'n'))
        {
            return QUIET;
        }
        // the name's end lower-cased, without - _ . and white space
        let mut tail = [0u8; LONGEST_SUFFIX];
        let mut t = 0;
        let mut j = b;
        while j > a && t < LONGEST_SUFFIX {
            j -= 1;
            let c = self.byte(j) as u8;
            if c >= 0x80 {
                return ASK;
            }
            if matches!(c, b'-' | b'_' | b'.' | b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r') {
                continue;
            }
            t += 1;
            tail[LONGEST_SUFFIX - t] = c.to_ascii_lowercase();
        }
        let norm = &tail[LONGEST_SUFFIX - t..];
        if PASSWORD_SUFFIXES.iter().chain(KEY_SUFFIXES.iter()).any(|x| norm.ends_with(x)) {
            SECRET
        } else {
            QUIET
        }
    }
}

/// Walks the JSON document of `n` bytes staged at `at` from path node `node` (an address in a
/// `PathTable`, or u32::MAX), writing at most `cap` events from `out` on: how many, or -1 when the
/// JS walk must take the document. `flags`: DETECT, CONTACT, ANY_NAME; `mask`: the profile's
/// detectors.
///
/// # Safety
/// As for `gate`; `out` must be 4-aligned, hold `cap` events and not overlap the text; `node` must
/// be a node of a table the JS side wrote.
#[no_mangle]
pub unsafe extern "C" fn walk_json(at: usize, n: usize, node: u32, flags: u32, mask: u32, out: usize, cap: usize) -> i32 {
    let mut w = Walk {
        p: at as *const u8,
        n,
        out: out as *mut i32,
        count: 0,
        cap,
        flags,
        mask,
        k: constants(),
        escaped: false,
        dotted: false,
        gate: 0,
    };
    let i = w.space(0);
    if w.byte(i) != b'{' as i32 {
        return -1;
    }
    match w.object(i, node, 0) {
        Ok(e) if w.space(e) == n => w.count as i32,
        _ => -1,
    }
}
