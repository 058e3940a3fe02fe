import t from 'tap'
import { DETECTORS, DETECTOR_GROUPS, gate } from '../../../lib/mask/detectors.js'
import { Spans } from '../../../lib/mask/detect/spans.js'
import { KEY, looksRandom, mayEndSecretName, NOT_SECRET, PASSWORD, secretByName, secretKind } from '../../../lib/mask/detect/secrets.js'

/** what one detector finds in `s`, gate included (as the scanner runs it) */
function found (name: string, s: string): string[] {
  const dets = DETECTORS.filter(d => d.name === name)
  if (dets.length === 0) throw new Error(`no detector ${name}`)
  const spans = new Spans()
  for (const det of dets) if ((gate(s) & det.bit) !== 0) det.find(s, spans, 0)
  spans.sort()
  const out: string[] = []
  for (let i = 0; i < spans.count; i++) out.push(s.slice(spans.start[i], spans.end[i]))
  return out
}

/** each row: text, and what must be found in it (empty: nothing) */
function table (t: Tap.Test, name: string, rows: Array<[string, string[]]>): void {
  for (const [text, want] of rows) t.same(found(name, text), want, `${name}: ${JSON.stringify(text)}`)
}
type Tap = { Test: typeof t }

const b64 = (o: unknown): string => Buffer.from(JSON.stringify(o)).toString('base64url')

t.test('email', async t => {
  table(t, 'email', [
    ['alice@example.com', ['alice@example.com']],
    ['write to Bob.Smith+tag@mail.example.co.uk, thanks', ['Bob.Smith+tag@mail.example.co.uk']],
    ['jörg@müller.de', ['jörg@müller.de']],
    ["o'brien@example.ie and x_y@ex-ample.org", ["o'brien@example.ie", 'x_y@ex-ample.org']],
    ['<alice@example.com>', ['alice@example.com']],
    ['a@b.co', ['a@b.co']],
    ['.lead@example.com', ['lead@example.com']],
    ['@mention only', []],
    ['user@localhost', []],
    ['root@10.0.0.1', []],
    ['alice@ example.com', []],
    ['name@example.c', []],
    ['a@b@c', []],
    ['x'.repeat(5000) + '@', []]
  ])
})

t.test('phone', async t => {
  table(t, 'phone', [
    ['+1 415 555 2671', ['+1 415 555 2671']],
    ['call +44 20 7946 0958 today', ['+44 20 7946 0958']],
    ['+4915123456789', ['+4915123456789']],
    ['+44 (0)20 7946 0958', ['+44 (0)20 7946 0958']],
    ['(415) 555-2671', ['(415) 555-2671']],
    ['415-555-2671', ['415-555-2671']],
    ['415.555.2671', ['415.555.2671']],
    ['1-415-555-2671', ['1-415-555-2671']],
    ['020 7946 0958', ['020 7946 0958']],
    ['07700 900123', ['07700 900123']],
    ['01 23 45 67 89', ['01 23 45 67 89']],
    ['0049 30 1234567', ['0049 30 1234567']],
    ['tel: 030 1234567.', ['030 1234567']],
    // near misses: small integers, plain runs, dates, times, IPs, versions, amounts
    ['12345', []],
    ['1234567890', []],
    ['+12345', []],
    ['2024-01-15', []],
    ['2024-01-15 10:30:00', []],
    ['01.02.2024', []],
    ['01.02.2024 10:30', []],
    ['12/31/2024', []],
    ['192.168.100.200', []],
    ['3.14159265358979', []],
    ['1 000 000 000', []],
    ['v1.2.3 build 4567', []],
    ['order 123-456', []],
    ['(115) 555-2671', []],
    ['415-155-2671', []],
    ['415-555-2671x', []],
    ['id-415-555-2671', ['415-555-2671']],
    ['0.123456789', []]
  ])
})

t.test('credit_card (Luhn)', async t => {
  table(t, 'credit_card', [
    ['4111111111111111', ['4111111111111111']],
    ['card 4111 1111 1111 1111 exp 12/27', ['4111 1111 1111 1111']],
    ['5500-0000-0000-0004', ['5500-0000-0000-0004']],
    ['amex 3782 822463 10005', ['3782 822463 10005']],
    ['6011111111111117', ['6011111111111117']],
    ['2223000048400011', ['2223000048400011']],
    ['4111 1111 1111 1111 2024', ['4111 1111 1111 1111']],
    ['ref 1234 4111 1111 1111 1111', ['4111 1111 1111 1111']],
    ['4111111111111111,4012888888881881', ['4111111111111111', '4012888888881881']],
    // near misses
    ['4111111111111112', []], // fails Luhn
    ['4111 1111 1111 1112', []],
    ['1718035200000', []], // ms timestamp (first digit 1)
    ['7111111111111114', []], // passes Luhn, not an issuer range we mask
    ['score 0.4111111111111111', []], // decimal digits
    ['41111111111111111111', []], // 20 digits
    ['4111 1111-1111 1111', []], // mixed separators
    ['41 11 11 11 11 11 11 11', []], // not a card layout
    ['x4111111111111111', []]
  ])
})

t.test('iban (mod 97)', async t => {
  table(t, 'iban', [
    ['DE89370400440532013000', ['DE89370400440532013000']],
    ['IBAN: DE89 3704 0044 0532 0130 00 AND MORE', ['DE89 3704 0044 0532 0130 00']],
    ['GB82WEST12345698765432', ['GB82WEST12345698765432']],
    ['gb82 west 1234 5698 7654 32', ['gb82 west 1234 5698 7654 32']],
    ['FR1420041010050500013M02606', ['FR1420041010050500013M02606']],
    ['NL91ABNA0417164300', ['NL91ABNA0417164300']],
    ['NO9386011117947', ['NO9386011117947']],
    ['DE89370400440532013001', []], // checksum
    ['DE8937040044053201300', []], // one short
    ['DE893704004405320130001', []], // one long
    ['XX89370400440532013000', []], // no such country
    ['ADE89370400440532013000', []] // not at a word start
  ])
})

t.test('us_ssn (area rules)', async t => {
  table(t, 'us_ssn', [
    ['123-45-6789', ['123-45-6789']],
    ['SSN 123 45 6789.', ['123 45 6789']],
    ['000-12-3456', []],
    ['666-12-3456', []],
    ['900-12-3456', []],
    ['123-00-4567', []],
    ['123-45-0000', []],
    ['123456789', []],
    ['123-45 6789', []],
    ['1123-45-6789', []],
    ['2024-01-15', []]
  ])
})

t.test('uk_nino', async t => {
  table(t, 'uk_nino', [
    ['AB123456C', ['AB123456C']],
    ['NI: AB 12 34 56 C', ['AB 12 34 56 C']],
    ['ab123456c', ['ab123456c']],
    ['QQ123456C', []], // Q never first
    ['AO123456C', []], // O never second
    ['GB123456A', []], // not allocated
    ['AB123456E', []], // suffix A–D
    ['XAB123456C', []]
  ])
})

t.test('es_dni (check letter)', async t => {
  table(t, 'es_dni', [
    ['12345678Z', ['12345678Z']],
    ['DNI 12345678-Z', ['12345678-Z']],
    ['X1234567L', ['X1234567L']],
    ['12345678A', []],
    ['X1234567A', []],
    ['1234567Z', []]
  ])
})

t.test('ipv4', async t => {
  table(t, 'ipv4', [
    ['192.168.1.10', ['192.168.1.10']],
    ['from 8.8.8.8, to 10.0.0.1.', ['8.8.8.8', '10.0.0.1']],
    ['255.255.255.255', ['255.255.255.255']],
    ['256.1.1.1', []],
    ['1.2.3.4.5', []],
    ['192.168.1', []],
    ['01.02.03.04', []],
    ['3.14.159.26535', []]
  ])
})

t.test('ipv6', async t => {
  table(t, 'ipv6', [
    ['2001:db8::1', ['2001:db8::1']],
    ['addr fe80::1ff:fe23:4567:890a.', ['fe80::1ff:fe23:4567:890a']],
    ['::ffff:192.0.2.128', ['::ffff:192.0.2.128']],
    ['2001:0db8:85a3:0000:0000:8a2e:0370:7334', ['2001:0db8:85a3:0000:0000:8a2e:0370:7334']],
    ['12:30:45', []],
    ['std::vector', []],
    ['00:1a:2b:3c:4d:5e', []],
    ['::', []],
    ['::1', []],
    ['a:b', []]
  ])
})

t.test('jwt', async t => {
  const jwt = 'eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U'
  const none = `${b64({ alg: 'none' })}.${b64({ sub: 'x' })}.`
  const noAlg = `${b64({ typ: 'JWT', kid: '1' })}.${b64({ sub: 'x' })}.c2ln`
  const jwe = `${b64({ alg: 'dir', enc: 'A256GCM' })}..aXZpdml2aXY.Y2lwaGVy.dGFndGFn`
  table(t, 'jwt', [
    [jwt, [jwt]],
    [`Authorization: Bearer ${jwt}.`, [jwt]],
    [none, [none]],
    [jwe, [jwe]],
    [noAlg, []],
    [b64({ alg: 'HS256' }), []],
    ['eyJhbGciOiJIUzI1NiJ9 and some.dots.here', []],
    [`x${jwt}`, []]
  ])
})

t.test('api_key', async t => {
  const ghp = 'ghp_' + 'aB3dE5gH7jK9mN1pQ3sT5vW7yZ9bC1dE3fG5'
  const pem = '-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n-----END PRIVATE KEY-----'
  table(t, 'api_key', [
    ['AKIAIOSFODNN7EXAMPLE', ['AKIAIOSFODNN7EXAMPLE']],
    [`token ${ghp} here`, [ghp]],
    ['sk-proj-abcDEF123456ghiJKL789mno', ['sk-proj-abcDEF123456ghiJKL789mno']],
    ['xoxb-123456789012-abcdefABCDEF', ['xoxb-123456789012-abcdefABCDEF']],
    ['glpat-aB3dE5gH7jK9mN1pQ3sT', ['glpat-aB3dE5gH7jK9mN1pQ3sT']],
    ['AIzaSyA1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q', ['AIzaSyA1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q']],
    [`key:\n${pem}\n`, [pem]],
    ['api_key=Zx81kLm2Qp09TrVb77aa&x=1', ['Zx81kLm2Qp09TrVb77aa']],
    ['"client_secret": "c3VwZXJzZWNyZXQxMjM0NTY3OA"', ['c3VwZXJzZWNyZXQxMjM0NTY3OA']],
    ['password=hunter2', ['hunter2']],
    ['PWD: Tr0ub4dor', ['Tr0ub4dor']],
    ['DB_PASSWORD=correct-horse', ['correct-horse']],
    ['export OPENAI_API_KEY=Zx81kLm2Qp09TrVb77aa', ['Zx81kLm2Qp09TrVb77aa']],
    // near misses
    ['task-force-alpha-bravo-charlie', []],
    ['sk-short', []],
    ['AKIAIOSFODNN7EXAMPL', []],
    ['ghp_short_token_value', []],
    ['token: expired', []],
    ['api_key=aaaaaaaaaaaaaaaaaaaaaaaa', []],
    ['secret=true', []]
  ])
  t.ok(looksRandom('Zx81kLm2Qp09TrVb77aa'))
  t.equal(secretKind('password'), PASSWORD)
  t.equal(secretKind('dbPassword'), PASSWORD)
  t.equal(secretKind('users.password'), PASSWORD)
  t.equal(secretKind('OPENAI_API_KEY'), KEY)
  t.equal(secretKind('aws_secret_access_key'), KEY)
  t.equal(secretKind('next-page-token'), KEY)
  t.equal(secretKind('created_at'), NOT_SECRET)
  t.equal(secretKind('keyboard'), NOT_SECRET)
  t.equal(secretKind('tokens'), NOT_SECRET)
  t.ok(secretByName('password', 'hunter2'))
  t.notOk(secretByName('password', 'abc'))
  t.notOk(secretByName('token', 'expired'))
  t.ok(secretByName('token', 'Zx81kLm2Qp09TrVb77aa'))
  t.notOk(looksRandom('abcabcabcabcabcabc'))
})

t.test('groups name real detectors; every detector has a distinct bit', async t => {
  t.equal(new Set(DETECTORS.map(d => d.bit)).size, DETECTORS.length)
  const names = new Set(DETECTORS.map(d => d.name))
  for (const [g, members] of Object.entries(DETECTOR_GROUPS)) for (const m of members) t.ok(names.has(m), `${g}: ${m}`)
})

t.test('gate lets nothing through for short or plain text', async t => {
  t.equal(gate('hello'), 0)
  t.equal(gate('plain words without anything'), 0)
  const bits = (...names: string[]): number => DETECTORS.filter(d => names.includes(d.name)).reduce((m, d) => m | d.bit, 0)
  const g = gate('revision 2024-03-18, scored 0.8731, see https://example.com/a')
  t.equal(g & bits('credit_card', 'phone', 'us_ssn', 'es_dni', 'iban', 'email', 'ipv4', 'ipv6'), 0, 'dates, decimals and URLs skip the digit scanners')
  t.equal(gate('the task is a risk to ask about') & bits('api_key'), 0, 'no key prefix at a word start, no assignment')
  t.equal(gate(''), 0)
})

t.test('the gate never hides a hit: every detector run without it finds nothing the gate ruled out', async t => {
  let seed = 99
  const r = (): number => { seed = (Math.imul(seed, 1103515245) + 12345) >>> 0; return seed / 4294967296 }
  const PARTS = ['AB 12 34 56 C', 'ab123456c', 'QQ123456A', '10.1.2.3', '192.168.0.1', '1.2.3', 'v2.4.1', '2001:db8::1',
    'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2ln', 'ann@example.com', '+44 20 7946 0958', '4111 1111 1111 1111', '123-45-6789',
    '12345678Z', 'DE89 3704 0044 0532 0130 00', 'sk_live_abcdefghijklmnop', 'password=hunter22', ' ', '.', '-', '1', '12', 'x', 'é', ':',
    'https://a.example.com:8443/p', '2024-03-18T09:12:44Z', '09:12', 'fe80::1', '::', 'dead:beef::', 'token', ' = ', '"secret": "', 'api_key:',
    'aB3dE5fG7hJ9kL1mN3pQ', '"', '\t', 'GB82WEST12345698765432', 'T0', 'de', '1:2:3:4:5:6:7:8', '0:0:0:0:0:ffff:1.2.3.4', 'a:b:c:d:e:f', '2001:0db8:85a3:0000:0000:8a2e:0370:7334']
  let hidden = 0
  for (let i = 0; i < 20000 && hidden < 5; i++) {
    let s = ''
    const n = 1 + Math.floor(r() * 6)
    for (let j = 0; j < n; j++) s += PARTS[Math.floor(r() * PARTS.length)]
    const g = gate(s)
    for (const det of DETECTORS) {
      if ((g & det.bit) !== 0) continue
      const spans = new Spans()
      det.find(s, spans, 0)
      if (spans.count > 0) { hidden++; t.fail(`${det.name} finds ${JSON.stringify(s)} but the gate rules it out`) }
    }
  }
  t.equal(hidden, 0)
})

t.test('mayEndSecretName: a name it rules out by its last character is never secret-sounding', async t => {
  const names = ['password', 'dbPassword', 'api_key', 'OPENAI_API_KEY', 'client_secret', 'token', 'pwd', 'passwd', 'x', 'ab', 'title', 'email', 'customer', 'note', 'secret_token', 'Token', 'mySecretKey', 'ключ', 'clé', 'aws_secret_access_key', 'passphrase', 'userTOKEN']
  for (const name of names) {
    const last = Buffer.from(name).at(-1)!
    if (!mayEndSecretName(last)) t.equal(secretKind(name), NOT_SECRET, name)
    else t.pass(`${name}: decoded to say`)
  }
  for (let c = 0; c < 256; c++) {
    const name = 'abc' + String.fromCharCode(c)
    const bytes = Buffer.from(name)
    if (!mayEndSecretName(bytes[bytes.length - 1])) t.equal(secretKind(name), NOT_SECRET, `ends with ${c}`)
  }
})
