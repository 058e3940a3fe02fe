/**
 * Values read off the wire are gated on their UTF-8 bytes before anything decodes them: the byte
 * gate must never be stricter than the gate on the decoded string, or a value a detector would mask
 * could pass undecoded. Random strings over the characters the gate counts, mixed with non-ASCII.
 */
import { isIPv6 } from 'node:net'
import t from 'tap'
import { CONTACT_BITS, contactGate, contactGateBytes, gate, gateBytes, gateMask, quietContactBytes } from '../../../lib/mask/detectors.js'
import { KEY_PAIRS, mayAssign, mayAssignBytes } from '../../../lib/mask/detect/secrets.js'
import { findIpv6, mayIpv6, mayIpv6Bytes } from '../../../lib/mask/detect/network.js'
import { Spans } from '../../../lib/mask/detect/spans.js'

function prng (seed: number): () => number {
  let a = seed >>> 0
  return () => { a = (a * 1664525 + 1013904223) >>> 0; return a / 4294967296 }
}
const ALPHABET = [...'0123456789 -.()+:@=_abcskghxoAIKSGZé€ü中😀\u00a0\u2028\t"\'/', 'sk-', 'eyJ', 'gh', 'xo', 'AKIA', '--']

t.test('gateBytes ⊇ gate for random strings', async t => {
  const r = prng(20261129)
  let checked = 0
  for (let i = 0; i < 20000; i++) {
    let s = ''
    const n = Math.floor(r() * 40)
    for (let j = 0; j < n; j++) s += ALPHABET[Math.floor(r() * ALPHABET.length)]
    const b = Buffer.from(`xx${s}yy`)
    const g = gate(s)
    const gb = gateBytes(b, 2, b.length - 2)
    if ((g & ~gb) !== 0) t.fail(`gate ${g.toString(2)} vs bytes ${gb.toString(2)} for ${JSON.stringify(s)}`)
    checked++
  }
  t.equal(checked, 20000)
})

t.test('the same answer for ASCII text', async t => {
  for (const s of ['ann.lee@example.com', '+44 20 7946 0958', '4111 1111 1111 1111', 'plain words only', 'a=b:c', 'eyJhbGciOiJIUzI1NiJ9.e30.sig']) {
    t.equal(gateBytes(Buffer.from(s), 0, s.length), gate(s), s)
  }
})

/** the gate written the plain way, one character at a time: the loops that skip runs of letters must agree with it */
function reference (s: string): number {
  const KEY_PAIR = new Set(KEY_PAIRS)
  const word = (c: number): boolean => (c >= 48 && c <= 57) || ((c | 32) >= 97 && (c | 32) <= 122) || c === 95
  let digits = 0; let at = 0; let dots = 0; let colons = 0; let eq = 0; let plus = 0
  let chain = 0; let maxChain = 0; let run = 0; let maxRun = 0; let letterDigit = 0; let keyPair = 0
  let spaced = 0; let maxSpaced = 0; let dotted = 0
  let prev = 0; let prev2 = 0
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i)
    if ((c | 32) >= 97 && (c | 32) <= 122) {
      chain = 0; run = 0; spaced = 0
      if (KEY_PAIR.has(String.fromCharCode(prev & 127, c)) && !word(prev2)) keyPair = 1
    } else if (c >= 48 && c <= 57) {
      digits++
      maxChain = Math.max(maxChain, ++chain)
      maxRun = Math.max(maxRun, ++run)
      maxSpaced = Math.max(maxSpaced, ++spaced)
      if ((prev | 32) >= 97 && (prev | 32) <= 122 && (prev2 | 32) >= 97 && (prev2 | 32) <= 122) letterDigit++
      if (prev === 46 && prev2 >= 48 && prev2 <= 57) dotted++
    } else {
      run = 0
      if (c !== 32) spaced = 0
      if (' -.()+'.includes(s[i])) {
        if (c === 46) dots++
        else if (c === 43) plus++
        else if (c === 45 && prev === 45) keyPair = 1
      } else {
        chain = 0
        if (c === 58) colons++
        else if (c === 64) at++
        else if (c === 61) eq++
      }
    }
    prev2 = prev
    prev = c
  }
  if (s.length < 6) return 0
  let m = gateMask(s.length, digits, at, dots, colons, eq, plus, maxChain, maxRun, letterDigit, keyPair, maxSpaced, dotted, dots >= 2 && s.length >= 24 && /(^|[^A-Za-z0-9_-])eyJ/.test(s))
  if (!mayAssign(s)) m &= ~(1 << 2)
  if (!mayIpv6(s)) m &= ~(1 << 9)
  return m
}

t.test('gate and gateBytes skip runs of letters without changing their answer', async t => {
  const r = prng(7)
  const WORDS = [...ALPHABET, '1.2', '.3', '4.', '12 34', '56', 'eyJ', 'e', 'yJ', 'sk', 'xoxb-', 'AKIAB', 'word', 'Ghost', 'a', 'ab', '_sk', '9sk', ' gh', '-sk', 'ü', 'ask', 'Sk']
  let differ = 0
  for (let i = 0; i < 30000; i++) {
    let s = ''
    const n = Math.floor(r() * 30)
    for (let j = 0; j < n; j++) s += WORDS[Math.floor(r() * WORDS.length)]
    const want = reference(s)
    if (gate(s) !== want) { differ++; t.fail(`gate ${gate(s).toString(2)} != ${want.toString(2)} for ${JSON.stringify(s)}`) }
    if (/^[\x00-\x7f]*$/.test(s)) {
      const b = Buffer.from(s)
      if (gateBytes(b, 0, b.length) !== want) { differ++; t.fail(`gateBytes differs for ${JSON.stringify(s)}`) }
    }
    if (differ > 5) break
  }
  t.equal(differ, 0)
})

t.test('quietContactBytes answers as gateBytes does for email, card, SSN and phone', async t => {
  const r = prng(11)
  const PARTS = [...ALPHABET, '2024-03-18', '+1 415 555 1000', '4111 1111 1111 1111', '123-45-6789', 'a@b.c', '12345678', '.', '+']
  let differ = 0
  for (let i = 0; i < 30000 && differ < 5; i++) {
    let s = ''
    const n = Math.floor(r() * 12)
    for (let j = 0; j < n; j++) s += PARTS[Math.floor(r() * PARTS.length)]
    const b = Buffer.from(`{${s}}`)
    const want = (gateBytes(b, 1, b.length - 1) & CONTACT_BITS) === 0
    if (quietContactBytes(b, 1, b.length - 1) !== want) { differ++; t.fail(`${JSON.stringify(s)}: ${String(!want)} != ${String(want)}`) }
  }
  t.equal(differ, 0)
})

t.test('contactGate gives the contact bits of gate; contactGateBytes is never stricter, and the same on ASCII', async t => {
  const r = prng(13)
  const PARTS = [...ALPHABET, '2024-03-18', '+1 415 555 1000', '4111 1111 1111 1111', '123-45-6789', 'a@b.c', '12345678', '123456789', '.', '+', '@', ' ', '(', ')']
  let differ = 0
  for (let i = 0; i < 30000 && differ < 5; i++) {
    let s = ''
    const n = Math.floor(r() * 12)
    for (let j = 0; j < n; j++) s += PARTS[Math.floor(r() * PARTS.length)]
    const want = gate(s) & CONTACT_BITS
    if (contactGate(s) !== want) { differ++; t.fail(`contactGate ${contactGate(s).toString(2)} != ${want.toString(2)} for ${JSON.stringify(s)}`) }
    const b = Buffer.from(`{${s}}`)
    const gb = contactGateBytes(b, 1, b.length - 1)
    if ((want & ~gb) !== 0) { differ++; t.fail(`contactGateBytes stricter for ${JSON.stringify(s)}`) }
    if (/^[\x00-\x7f]*$/.test(s) && gb !== want) { differ++; t.fail(`contactGateBytes differs on ASCII ${JSON.stringify(s)}`) }
    if ((gb === 0) !== quietContactBytes(b, 1, b.length - 1)) { differ++; t.fail(`quietContactBytes disagrees for ${JSON.stringify(s)}`) }
  }
  t.equal(differ, 0)
})

t.test("gateBytes finds an 'eyJ' at every offset of the text, only a whole one and only where a token may start", async t => {
  const JWT = 1 << 0
  for (let at = 0; at < 12; at++) {
    for (const piece of ['eyJ', 'eyj', 'ey J', 'yJ', 'ey', 'Jey']) {
      const s = 'ab.cd.ef.gh.ij.kl.mn.op'.slice(0, at) + piece + '.qrstuvwxyz.abcdefghijklm'
      // 'e' + 'yJ' makes one too; right after a base64url character it continues a word (findJwts skips it)
      const want = /(^|[^A-Za-z0-9_-])eyJ/.test(s) ? JWT : 0
      for (const pad of [0, 1, 2]) {
        const b = Buffer.from('xxx'.slice(0, pad) + s + 'yyy'.slice(0, pad))
        t.equal(gateBytes(b, pad, b.length - pad) & JWT, want, `${piece} at ${at}, pad ${pad}`)
        t.equal(gate(s) & JWT, want)
      }
    }
  }
})

t.test('mayAssignBytes and mayIpv6Bytes are never stricter than mayAssign and mayIpv6, and the same on ASCII', async t => {
  const r = prng(17)
  const PARTS = [...ALPHABET, 'https://a.b/c', '09:12:44', '2001:db8::1', '::1', 'fe80::1%eth0', 'a:b:c', 'password', 'token', 'key', 'api_key',
    ' = ', ': ', '"', "'", '\t', 'T', 'ab::', '::', '1.2.3.4', 'dead:beef:', 'é:', 'x=', '=', ':', ':::', '.', '_']
  let differ = 0
  for (let i = 0; i < 40000 && differ < 5; i++) {
    let s = ''
    const n = Math.floor(r() * 10)
    for (let j = 0; j < n; j++) s += PARTS[Math.floor(r() * PARTS.length)]
    for (const pad of ['', ':', 'a', '"']) {
      const b = Buffer.from(pad + s + pad)
      const a = pad.length; const e = b.length - pad.length
      const ascii = /^[\x00-\x7f]*$/.test(s)
      if (mayAssign(s) && !mayAssignBytes(b, a, e)) { differ++; t.fail(`mayAssignBytes stricter for ${JSON.stringify(s)} pad ${pad}`) }
      if (mayIpv6(s) && !mayIpv6Bytes(b, a, e)) { differ++; t.fail(`mayIpv6Bytes stricter for ${JSON.stringify(s)} pad ${pad}`) }
      if (ascii && mayAssign(s) !== mayAssignBytes(b, a, e)) { differ++; t.fail(`mayAssignBytes differs on ASCII ${JSON.stringify(s)} pad ${pad}`) }
      if (ascii && mayIpv6(s) !== mayIpv6Bytes(b, a, e)) { differ++; t.fail(`mayIpv6Bytes differs on ASCII ${JSON.stringify(s)} pad ${pad}`) }
    }
  }
  t.equal(differ, 0)
})

t.test('URLs, dates and times no longer wake the assignment, IPv6 and IBAN detectors; assignments and addresses still do', async t => {
  const ASSIGNED = 1 << 2; const IBAN = 1 << 4; const IPV6 = 1 << 9
  for (const s of ['https://docs.example.com/manual/install#load-balancer', '2024-03-18T09:12:44Z', 'at 09:12:44 today', 'see http://x.org:8080/a', 'a:b:c:1:2:3']) {
    const b = Buffer.from(s)
    t.equal(gate(s) & (ASSIGNED | IBAN | IPV6), 0, s)
    t.equal(gateBytes(b, 0, b.length) & (ASSIGNED | IBAN | IPV6), 0, s)
  }
  for (const [s, bit] of [['password=hunter22 here', ASSIGNED], ['"api_key": "x"', ASSIGNED], ['token :\tabc', ASSIGNED], ['host 2001:db8::1 up', IPV6], ['[::ffff:10.0.0.1]', IPV6], ['1:2:3:4:5:6:7:8', IPV6], ['0:0:0:0:0:ffff:1.2.3.4', IPV6], ['DE89 3704 0044 0532 0130 00', IBAN]] as const) {
    const b = Buffer.from(s)
    t.not(gate(s) & bit, 0, s)
    t.not(gateBytes(b, 0, b.length) & bit, 0, s)
  }
})

t.test('every IPv6 address findIpv6 finds is one mayIpv6 lets through', async t => {
  const r = prng(23)
  const PARTS = ['0', '1', 'f', 'ab', 'ffff', '2001', 'db8', ':', ':', ':', '::', '.', '1.2.3.4', '10.0.0.1']
  let addresses = 0; let found = 0
  for (let i = 0; i < 200000; i++) {
    let s = ''
    const n = 1 + Math.floor(r() * 16)
    for (let j = 0; j < n; j++) s += PARTS[Math.floor(r() * PARTS.length)]
    if (!isIPv6(s)) continue
    addresses++
    const spans = new Spans()
    findIpv6(s, spans, 0)
    if (spans.count === 0) continue // `::`, `::1`, `1::`: too little to say anything about anyone
    found++
    const b = Buffer.from(s)
    if (!mayIpv6(s) || !mayIpv6Bytes(b, 0, b.length)) t.fail(`${s} is an address findIpv6 finds`)
  }
  t.ok(addresses > 1000 && found > 1000, `${addresses} addresses, ${found} found`)
})
