/**
 * `maskJson` (json-text.ts) against the slow path it stands in for: JSON.parse, `document`,
 * JSON.stringify. For random JSON texts (nested objects and arrays, sensitive values in strings,
 * keys and integers, escapes, non-ASCII, exponents, jsonb-style spacing, duplicate keys) under every
 * action and several prefixes, the text it returns parses to the same value `document` gives; null
 * only when `document` changes nothing; undefined (the caller takes the slow path) is allowed but
 * counted. Text JSON.parse refuses — random cuts and byte flips — never gets an answer.
 * Deterministic: the seed is in the test name.
 */
import t from 'tap'
import type { MaskProfileConfig } from '../../../lib/config/types.js'
import { compileMasking, type MaskProfile } from '../../../lib/mask/index.js'
import { pick, prng, type Rand } from '../../helpers/random.js'
import { Cuts } from '../../../lib/mask/bytes.js'
import { JsonTextMasker } from '../../../lib/mask/json-text.js'
import { wasmGate, type WasmGate } from '../../../lib/mask/detect/wasm-gate.js'
import type { PathSet } from '../../../lib/mask/paths.js'
import type { Scanner } from '../../../lib/mask/scanner.js'
import type { Hasher, MaskAction } from '../../../lib/mask/actions.js'

const SEED = Number(process.env.MASK_FUZZ_SEED ?? 20261129)

const SENSITIVE = ['ann.lee@example.com', '+44 20 7946 0958', '4111 1111 1111 1111', 'DE89 3704 0044 0532 0130 00',
  '123-45-6789', '10.1.2.3', 'sk_live_abcdefghijklmnopqrstuvwx', 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJlc2lnbmF0dXJl',
  'AB123456C', '2001:db8::1', '+1 415 555 1234',
  // short texts near the counts that clear a string without a gate call (fullGatedString)
  '1.2.3.4', '12345678Z', 'pw=hunter22', 'a:b:c', 'x@y.io', '::1', '1.2.3.45', '123456', 'AB 12 34 56 C']
const PLAIN = ['guides', 'eu-west-1', 'Installing the gateway', 'v2.4.1', '2024-03-18T09:12:44Z', 'https://docs.example.com/a#b',
  'ünïcödé tëxt 😀', '', 'x', '[redacted]', 'quote " and \\ backslash', 'tab\there', 'line\nbreak', 'section 4.2, scored 0.8731',
  '(415) 555-0134 ext', '12345', '1234 5678 9', '+1234567 8', 'a@b', 'a.b@c', '@.']
const KEYS = ['title', 'email', 'customer', 'phone', 'tags', 'meta', 'password', 'api_key', 'n', 'deep', 'note', 'customer.phone',
  'ann.lee@example.com', 'émail', '1', '__proto__', 'client_secret', 'a"b', '1.2.3.4', 'x@y.io', 'token', 'k=v123',
  // secret-sounding names as the module reads them (secretKind: case, - _ . and white space ignored, the end counts)
  'dbPassword', 'OPENAI_API_KEY', 'api_key_', 'access-token ', 'my.Secret', 'pwd', 'é_token', 'tokén', 'private\tkey', 'xsecret',
  // the two letters every suffix ends in (rd wd se ey et en), in any case, and names that end in the last letter only
  'passWD', 'apiKEY', 'clientSecrET', 'TokEn', 'PASSPHRASE', 'name', 'phone', 'source', 'monkey', 'oven', 'toke_n', 'pass-wd', 'secre t', 'ÉTOKEN']
const NUMBERS = ['0', '-7', '12', '1.5', '-0.25', '1e3', '4.1e15', '4111111111111111', '4242424242424242', '1710753164000',
  '9007199254740993', '2E-3', '-0', '5555555555554444']

/** random JSON text, written the way the random choices say (spacing, escapes) */
function text (r: Rand, depth: number, sp: () => string): string {
  const k = r()
  if (depth < 5 && k < 0.16) {
    const n = Math.floor(r() * 5)
    const members = Array.from({ length: n }, () => `${str(r, pick(r, KEYS))}${sp()}:${sp()}${text(r, depth + 1, sp)}`)
    return `{${sp()}${members.join(`${sp()},${sp()}`)}${sp()}}`
  }
  if (depth < 5 && k < 0.26) return `[${Array.from({ length: Math.floor(r() * 4) }, () => text(r, depth + 1, sp)).join(`,${sp()}`)}]`
  if (k < 0.4) return str(r, pick(r, SENSITIVE))
  if (k < 0.46) return str(r, `text with ${pick(r, SENSITIVE)} inside`)
  if (k < 0.64) return str(r, pick(r, PLAIN))
  if (k < 0.76) return pick(r, NUMBERS)
  if (k < 0.82) return pick(r, ['true', 'false'])
  if (k < 0.86) return 'null'
  return str(r, pick(r, PLAIN) + ' ' + pick(r, PLAIN))
}

/** a JSON string: JSON.stringify, sometimes with characters written as \u escapes */
function str (r: Rand, s: string): string {
  const j = JSON.stringify(s)
  if (r() < 0.8) return j
  return j.replace(/[@.a-z0-9]/g, c => r() < 0.3 ? '\\u' + c.charCodeAt(0).toString(16).padStart(4, '0') : c)
}

function doc (r: Rand): string {
  const sp = (): string => { const x = r(); return x < 0.7 ? '' : x < 0.9 ? ' ' : pick(r, ['\n  ', '\t', ' \r\n']) }
  const n = 1 + Math.floor(r() * 6)
  const members = Array.from({ length: n }, () => `${str(r, pick(r, KEYS))}:${sp()}${text(r, 1, sp)}`)
  if (r() < 0.1) members.push(members[0]) // a duplicate key
  return `${sp()}{${members.join(`,${sp()}`)}}${sp()}`
}

const PROFILES: Record<string, MaskProfileConfig> = {
  paths: { fields: ['email', 'customer.phone', 'meta.*.note', 'deep.n'], detectors: [], action: 'redact' },
  typical: { fields: ['email', 'customer.phone', 'meta.email', 'meta.customer.phone'], detectors: ['email', 'phone', 'credit_card'], action: 'redact' },
  every: { fields: ['customer'], detectors: ['all'], action: 'redact' },
  hash: { fields: ['tags', 'email'], detectors: ['all'], action: 'hash' },
  partial: { fields: ['deep.n', 'phone'], detectors: ['all'], action: 'partial' },
  null: { fields: ['*.phone'], detectors: ['all'], action: 'null' },
  drop: { fields: ['email', 'title'], detectors: ['email'], action: 'drop' },
  detectors: { fields: [], detectors: ['email', 'secrets'], action: 'redact' },
  none: { fields: ['nothing.here'], detectors: [], action: 'redact' },
  // contact detectors only: strings are read and gated in one pass
  contacts: { fields: [], detectors: ['us_ssn', 'credit_card', 'phone'], action: 'partial' },
  contactsNull: { fields: ['meta'], detectors: ['email', 'phone'], action: 'null' }
}
const compiled = compileMasking(PROFILES, { hashKey: Buffer.alloc(32, 9) }) as Map<string, MaskProfile>
const PREFIXES = ['', 'meta', 'customer', 'deep']

/** what the slow path makes of the text: [changed, masked value] */
function slow (m: MaskProfile, s: string, prefix: string): [boolean, unknown] {
  const d = JSON.parse(s) as Record<string, unknown>
  const changed = m.document(d, prefix)
  return [changed, d]
}

for (const [name, m] of compiled) {
  t.test(`profile ${name}: maskJson = parse, document, stringify (seed ${SEED})`, async t => {
    const r = prng(SEED + name.length * 31)
    let answered = 0; let changed = 0; let fallback = 0
    for (let i = 0; i < 600; i++) {
      const s = doc(r)
      const prefix = pick(r, PREFIXES)
      const pad = Math.floor(r() * 3)
      const buf = Buffer.concat([Buffer.alloc(pad, 0x7b), Buffer.from(s), Buffer.alloc(pad, 0x7d)])
      const got = m.maskJson(buf, pad, buf.length - pad, prefix)
      if (got === undefined) { fallback++; continue }
      answered++
      const [c, want] = slow(m, s, prefix)
      if (got === null) {
        if (c) t.strictSame(want, JSON.parse(s), `doc ${i}: unchanged is right (${s})`)
        continue
      }
      changed++
      const out = Buffer.from(got).toString('utf8')
      let back: unknown
      try { back = JSON.parse(out) } catch { t.fail(`doc ${i}: not JSON: ${out}`); continue }
      if (!c) t.strictSame(back, JSON.parse(s), `doc ${i}: a change document did not make is no change (${s})`)
      else t.strictSame(back, want, `doc ${i}: ${s} -> ${out}`)
    }
    t.ok(answered > 0, `answered ${answered}, changed ${changed}, left to the slow path ${fallback}`)
    if (name !== 'none' && name !== 'drop') t.ok(changed > 0, 'changed something')
  })
}

t.test('maskJsonCuts leaves the text maskJson gives as cuts of the buffer, after the cuts already there; a second pass (answers kept per key) gives the same', async t => {
  for (const [name, m] of compiled) {
    const r = prng(SEED + 7)
    const cuts = new Cuts()
    const docs = Array.from({ length: 300 }, () => ({ s: doc(r), prefix: pick(r, PREFIXES), pad: 1 + Math.floor(r() * 3) }))
    for (const pass of [1, 2]) {
      for (const [i, { s, prefix, pad }] of docs.entries()) {
        const buf = Buffer.concat([Buffer.alloc(pad, 0x20), Buffer.from(s), Buffer.alloc(pad, 0x20)])
        const want = m.maskJson(buf, pad, buf.length - pad, prefix)
        cuts.add(0, 1, Buffer.from('#')) // a cut of the caller's before the text
        const got = m.maskJsonCuts(buf, pad, buf.length - pad, prefix, cuts)
        const where = `profile ${name}, pass ${pass}, doc ${i}: ${s}`
        if (got === undefined || got === false) {
          if (want !== (got === undefined ? undefined : null)) { t.fail(`${where}: ${String(got)} but maskJson gave ${String(want)}`); return }
          if (cuts.count !== 1) { t.fail(`${where}: cuts added`); return }
        } else {
          const out = Buffer.alloc(buf.length + cuts.growth(0, cuts.count))
          const end = cuts.write(buf, 0, buf.length, 0, cuts.count, out, 0)
          const text = out.toString('utf8', pad, end - pad) // '#' took the place of one byte of padding
          if (want === undefined || want === null || text !== Buffer.from(want).toString('utf8')) { t.fail(`${where}: ${text} but maskJson gave ${want === undefined || want === null ? String(want) : Buffer.from(want).toString('utf8')}`); return }
        }
        cuts.truncate(0)
      }
    }
  }
  t.pass('the same answers')
})

t.test('keys that are data (each seen once), among keys that repeat: the same answers as the slow path', async t => {
  // past many keys that did not repeat, the table of key answers stops being asked for a while
  for (const name of ['detectors', 'every', 'hash']) {
    const m = compiled.get(name)!
    const r = prng(SEED + 11)
    for (let i = 0; i < 3000; i++) {
      const members = Array.from({ length: 4 }, (_, j) => {
        const key = r() < 0.6 ? pick(r, [`user_${i}_${j}_name`, `key_${i}_${j}_token`, `x${i}y${j}`, `ann${i}@example.com`]) : pick(r, KEYS)
        return `${JSON.stringify(key)}:${JSON.stringify(pick(r, [...PLAIN, ...SENSITIVE]))}`
      })
      const s = `{${members.join(',')}}`
      const got = m.maskJson(Buffer.from(s), 0, Buffer.byteLength(s), '')
      if (got === undefined) continue
      const [c, want] = slow(m, s, '')
      const back = got === null ? JSON.parse(s) : JSON.parse(Buffer.from(got).toString('utf8'))
      if (got === null && c) { t.fail(`profile ${name}, doc ${i}: unchanged, but document changed it: ${s}`); return }
      if (JSON.stringify(back) !== JSON.stringify(want)) { t.fail(`profile ${name}, doc ${i}: ${s} -> ${JSON.stringify(back)}, want ${JSON.stringify(want)}`); return }
    }
  }
  t.pass('the same answers')
})

t.test('short strings of digits, dots and marks (cleared without a gate call when their counts allow): the same answers as the slow path', async t => {
  // every detector: the counts that clear a short string must never clear one a detector matches
  const ALPHABET = '0123456789....:=@ -+()abcXYZé'
  const r = prng(SEED + 23)
  let changed = 0
  for (const name of ['every', 'detectors', 'hash']) {
    const m = compiled.get(name)!
    for (let i = 0; i < 4000; i++) {
      const word = (): string => Array.from({ length: 4 + Math.floor(r() * 14) }, () => ALPHABET[Math.floor(r() * ALPHABET.length)]).join('')
      const s = `{"a":${JSON.stringify(word())},"b":[${JSON.stringify(word())}],${JSON.stringify(word())}:1}`
      const got = m.maskJson(Buffer.from(s), 0, Buffer.byteLength(s), '')
      if (got === undefined) continue
      const [c, want] = slow(m, s, '')
      if (got === null && c) { t.fail(`profile ${name}: unchanged, but document changed it: ${s}`); return }
      if (got !== null) changed++
      const back = got === null ? JSON.parse(s) : JSON.parse(Buffer.from(got).toString('utf8'))
      if (JSON.stringify(back) !== JSON.stringify(want)) { t.fail(`profile ${name}: ${s} -> ${JSON.stringify(back)}, want ${JSON.stringify(want)}`); return }
    }
  }
  t.ok(changed > 100, `the same answers (${changed} documents changed)`)
})

t.test('the walk in WebAssembly (walk_json) gives the JS walk\'s answer, byte for byte, for every profile and prefix', async t => {
  const wasm = wasmGate as WasmGate
  t.ok(wasm !== null, 'this engine runs the WebAssembly gate')
  const walk = wasm.walkJson
  let walked = 0; let declined = 0
  wasm.walkJson = (...args) => { const k = walk(...args); if (k >= 0) walked++; else declined++; return k }
  try {
    for (const [name, m] of compiled) {
      const p = m as unknown as { paths: PathSet, scanner: Scanner, action: MaskAction, hasher: Hasher, detect: boolean, jsonText: JsonTextMasker }
      const jsOnly = new JsonTextMasker(p.paths, p.scanner, p.action, p.hasher, p.detect, null)
      const r = prng(SEED + name.length * 7)
      for (let i = 0; i < 800; i++) {
        // long enough to be staged and walked in the module (and some that are not)
        const s = i % 2 === 0 ? doc(r) : `{"pad":"${'x'.repeat(Math.floor(r() * 70))}",${doc(r).trim().slice(1)}`
        const prefix = pick(r, PREFIXES)
        const node = prefix === '' ? p.paths.root : p.paths.at(prefix)
        if (node !== null && node.terminal) continue
        const buf = Buffer.from(s)
        const want = jsOnly.document(buf, 0, buf.length, node)
        const got = p.jsonText.document(buf, 0, buf.length, node)
        const show = (x: Uint8Array | null | undefined): string => x == null ? String(x) : Buffer.from(x).toString('utf8')
        if (show(got) !== show(want)) { t.fail(`profile ${name}, prefix '${prefix}': ${s}: ${show(got)}, the JS walk ${show(want)}`); return }
      }
    }
  } finally {
    wasm.walkJson = walk
  }
  t.ok(walked > 2000, `walked in the module: ${walked}; left to the JS walk: ${declined}`)
})

t.test('the module walk declines what it cannot hold — deep nesting, more events than its list — and the JS walk answers the same', async t => {
  const wasm = wasmGate as WasmGate
  const walk = wasm.walkJson
  const answers: number[] = []
  wasm.walkJson = (...args) => { const k = walk(...args); answers.push(k); return k }
  try {
    for (const name of ['every', 'typical', 'paths']) {
      const m = compiled.get(name)!
      const p = m as unknown as { paths: PathSet, scanner: Scanner, action: MaskAction, hasher: Hasher, detect: boolean, jsonText: JsonTextMasker }
      const jsOnly = new JsonTextMasker(p.paths, p.scanner, p.action, p.hasher, p.detect, null)
      const docs: string[] = []
      // nested objects and arrays around a card number, a phone and a configured path, 1 to 60 deep
      for (let depth = 1; depth <= 60; depth++) {
        let v = '{"note":"call +44 20 7946 0958","customer":{"phone":"+1 415 555 1234"},"n":4111111111111111}'
        for (let d = 0; d < depth; d++) v = d % 2 === 0 ? `{"k${d}":${v},"pad":"${'p'.repeat(40)}"}` : `[${v},"x"]`
        docs.push(v.startsWith('{') ? v : `{"a":${v}}`)
      }
      // more events than the module lists (numbers a card could hide in), and just fewer
      for (const n of [2000, 2047, 2048, 2049, 5000]) docs.push(`{"big":[${Array.from({ length: n }, (_, i) => 4111111111111111 + i * 10).join(',')}]}`)
      for (const s of docs) {
        const buf = Buffer.from(s)
        const show = (x: Uint8Array | null | undefined): string => x == null ? String(x) : Buffer.from(x).toString('utf8')
        const want = show(jsOnly.document(buf, 0, buf.length, p.paths.root))
        const got = show(p.jsonText.document(buf, 0, buf.length, p.paths.root))
        if (got !== want) { t.fail(`profile ${name}: ${s.slice(0, 200)}…: ${got.slice(0, 200)}, the JS walk ${want.slice(0, 200)}`); return }
      }
    }
  } finally {
    wasm.walkJson = walk
  }
  t.ok(answers.some(k => k >= 0) && answers.some(k => k < 0), `walked ${answers.filter(k => k >= 0).length}, declined ${answers.filter(k => k < 0).length}`)
})

t.test('profiles compiled again with the same paths share the path table kept in the module (one copy per set of paths)', async t => {
  const wasm = wasmGate as WasmGate
  const keep = wasm.keep
  let kept = 0
  wasm.keep = (size, write) => { kept++; return keep(size, write) }
  try {
    const fields = ['email', 'customer.phone', `meta.${Date.now()}.x`]
    for (let i = 0; i < 50; i++) compileMasking({ p: { fields, detectors: ['email'], action: 'redact' } }, { hashKey: Buffer.alloc(32, 1) })
    t.equal(kept, 1, 'one table for fifty compiles of the same paths')
    compileMasking({ p: { fields: [...fields, 'other'], detectors: ['email'], action: 'redact' } }, { hashKey: Buffer.alloc(32, 1) })
    t.equal(kept, 2, 'another set of paths: its own table')
  } finally {
    wasm.keep = keep
  }
  // and documents walked with a shared table get the answers of the JS walk
  const m = compileMasking({ p: { fields: ['customer.phone'], detectors: ['email', 'phone'], action: 'redact' } }, { hashKey: Buffer.alloc(32, 1) }).get('p')!
  const doc = Buffer.from(JSON.stringify({ customer: { phone: '+1 415 555 1234', tier: 'gold' }, note: 'mail ann.lee@example.com now', pad: 'x'.repeat(60) }))
  t.same(JSON.parse(Buffer.from(m.maskJson(doc, 0, doc.length, '') as Uint8Array).toString()), { customer: { phone: '[redacted]', tier: 'gold' }, note: 'mail [redacted:email] now', pad: 'x'.repeat(60) })
})

t.test('text JSON.parse refuses gets no answer: every cut, random byte flips', async t => {
  const r = prng(SEED)
  // contact detectors, every detector, paths alone: the module's walk reads strings differently for each
  for (const m of [compiled.get('typical')!, compiled.get('every')!, compiled.get('paths')!]) for (let i = 0; i < 100; i++) {
    const s = doc(r).trim()
    const buf = Buffer.from(s)
    for (let cut = 0; cut < buf.length; cut++) {
      if (m.maskJson(buf, 0, cut, '') !== undefined) { t.fail(`cut at ${cut} of ${s} answered`); return }
    }
    for (let f = 0; f < 20; f++) {
      const b = Buffer.from(buf)
      b[Math.floor(r() * b.length)] = pick(r, [0x22, 0x5c, 0x2c, 0x3a, 0x7b, 0x7d, 0x5b, 0x5d, 0x01, 0x30, 0x2e, 0x65, 0x20])
      let parses = true
      try { JSON.parse(b.toString('utf8')) } catch { parses = false }
      const got = m.maskJson(b, 0, b.length, '')
      if (!parses && got !== undefined) { t.fail(`flipped ${b.toString()} answered`); return }
    }
  }
  t.pass('no answer for broken text')
})

t.test('the common cases are answered on the text, with the bytes around the change kept', async t => {
  const m = compiled.get('typical')!
  const run = (x: MaskProfile, s: string, prefix: string): Uint8Array | null | undefined => x.maskJson(Buffer.from(s), 0, Buffer.byteLength(s), prefix)
  const jsonb = '{"tags": ["install", "tls"], "author": {"name": "Ann Lee"}, "customer": {"id": 4411, "tier": "gold", "phone": "+1 415 555 1000"}}'
  const got = m.maskJson(Buffer.from(jsonb), 0, jsonb.length, 'meta')
  t.equal(Buffer.from(got!).toString(), jsonb.replace('"+1 415 555 1000"', '"[redacted]"'))
  t.equal(run(m, '{"a": "plain text", "n": 12}', 'meta'), null)
  const hit = '{"note":"write to ann@example.com","x":[1,"a\\u0040b.example.org"]}'
  t.equal(Buffer.from(m.maskJson(Buffer.from(hit), 0, hit.length, '')!).toString(), '{"note":"write to [redacted:email]","x":[1,"[redacted:email]"]}')
  t.equal(run(m, '[1]', ''), undefined, 'not an object')
  t.equal(run(m, '{"ann@example.com":1}', ''), undefined, 'a key to rename')
  t.equal(run(compiled.get('every')!, '{"a":1}', 'customer'), undefined, 'a configured prefix')
  t.equal(run(compiled.get('drop')!, '{"email":"x"}', ''), undefined, 'a key to drop')
  t.equal(run(compiled.get('hash')!, '{"email":12}', ''), undefined, 'a number to hash')
  t.equal(run(m, '{"a":' + '['.repeat(300) + ']'.repeat(300) + '}', ''), undefined, 'nesting near MAX_DEPTH')
})
