/**
 * `Scanner.namedBytes` / `scanBytes` (one gate, over the bytes) against `named` / `scan` of the
 * decoded string (which gate it again): the same result for every text, name, profile and action,
 * undefined exactly when the text stays as it is. Random texts dense in what the detectors look for,
 * planted hits at every offset, non-ASCII and invalid UTF-8. Deterministic: the seed is in the name.
 */
import t, { type Test } from 'tap'
import { DROP } from '../../../decoders/types.js'
import { Hasher, type MaskAction } from '../../../lib/mask/actions.js'
import { DETECTORS } from '../../../lib/mask/detectors.js'
import { Scanner } from '../../../lib/mask/scanner.js'
import { pick, prng, type Rand } from '../../helpers/random.js'

const SEED = Number(process.env.SCANNER_BYTES_SEED ?? 20261129)
const hasher = new Hasher(Buffer.alloc(32, 5))
const CONTACTS = new Set(['email', 'phone', 'credit_card', 'us_ssn'])
const ACTIONS: MaskAction[] = ['redact', 'null', 'drop', 'hash', 'partial']
const scanners: Array<[string, Scanner]> = []
for (const action of ACTIONS) {
  scanners.push([`every/${action}`, new Scanner(DETECTORS, action, hasher)])
  scanners.push([`contacts/${action}`, new Scanner(DETECTORS.filter(d => CONTACTS.has(d.name)), action, hasher)])
}
scanners.push(['cards only', new Scanner(DETECTORS.filter(d => d.name === 'credit_card'), 'redact', hasher)])
const NAMES = ['text', 'password', 'api_key', 'client_secret', 'token']

const HITS = [
  'ops.team@example.com', '+44 20 7946 0958', '4111 1111 1111 1111', '078-05-1120', 'AB 12 34 56 C', '12345678Z',
  'DE89 3704 0044 0532 0130 00', '192.168.0.1', '2001:db8::1', 'ghp_' + 'a1B2c3D4e5'.repeat(4), 'password=hunter2xyz',
  'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJlLXNpZw', 'kQ9xZ2m7Lp4Rt8Vw3Ny6Hb1Jc5Fd0Gs'
]
const PIECES = [' ', 'the ', 'é', '€', '\u{1f600}', '0', '7', '-', '.', '@', ':', '=', '+', '(', ')', '_', 'x', '2024-03-18']

function text (r: Rand): string {
  let s = ''
  const parts = Math.floor(r() * 12)
  for (let k = 0; k < parts; k++) s += r() < 0.3 ? pick(r, HITS) : pick(r, PIECES)
  return s
}

/** what the byte entries must return for `bytes`: `named`/`scan` of the decoded text, undefined for the text itself */
function expected (sc: Scanner, name: string | null, bytes: Buffer): unknown {
  const s = bytes.toString('utf8')
  const out = name === null ? sc.scan(s) : sc.named(name, s)
  return out === s ? undefined : out
}

function agree (t: Test, bytes: Buffer, pad: number): boolean {
  const buf = Buffer.concat([Buffer.from('x'.repeat(pad)), bytes, Buffer.from('yz')])
  for (const [label, sc] of scanners) {
    const got = sc.scanBytes(buf, pad, pad + bytes.length)
    const want = expected(sc, null, bytes)
    if (got !== want) { t.equal(got, want, `${label} scanBytes ${JSON.stringify(bytes.toString())}`); return false }
    for (const name of NAMES) {
      const gotN = sc.namedBytes(name, buf, pad, pad + bytes.length)
      const wantN = expected(sc, name, bytes)
      if (gotN !== wantN) { t.equal(gotN, wantN, `${label} namedBytes ${name} ${JSON.stringify(bytes.toString())}`); return false }
    }
  }
  return true
}

t.test(`random texts (seed ${SEED})`, async t => {
  const r = prng(SEED)
  let ok = 0
  const N = 3000
  for (let k = 0; k < N; k++) {
    let bytes = Buffer.from(text(r))
    if (r() < 0.1 && bytes.length > 0) { bytes = Buffer.from(bytes); bytes[Math.floor(r() * bytes.length)] = pick(r, [0x80, 0xc3, 0xff, 0xe2]) } // invalid UTF-8
    if (agree(t, bytes, Math.floor(r() * 4))) ok++
    else break
  }
  t.equal(ok, N)
})

t.test('planted hits at every offset', async t => {
  const around = 'Contact é ops at or; card.'
  let ok = 0
  let all = 0
  for (const hit of HITS) {
    for (let k = 0; k <= around.length; k++) {
      all++
      if (agree(t, Buffer.from(around.slice(0, k) + hit + around.slice(k)), k % 3)) ok++
    }
  }
  t.equal(ok, all)
})

t.test('results as the callers see them', async t => {
  const redact = scanners.find(([l]) => l === 'contacts/redact')![1]
  const buf = Buffer.from('call +44 20 7946 0958 now')
  t.equal(redact.scanBytes(buf, 0, buf.length), 'call [redacted:phone] now')
  t.equal(redact.scanBytes(buf, 0, 4), undefined, 'a text the gate passes over')
  t.equal(redact.namedBytes('password', buf, 0, buf.length), 'call [redacted:phone] now', 'no api_key detector: a name is only a name')
  const every = scanners.find(([l]) => l === 'every/redact')![1]
  t.equal(every.namedBytes('password', buf, 0, 4), '[redacted:api_key]', 'a secret-sounding name masks the value whole')
  t.equal(scanners.find(([l]) => l === 'every/drop')![1].scanBytes(buf, 0, buf.length), DROP)
  t.equal(scanners.find(([l]) => l === 'every/null')![1].scanBytes(buf, 0, buf.length), null)
})
