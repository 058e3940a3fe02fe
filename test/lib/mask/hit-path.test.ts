/**
 * Differential tests of the detectors' hit path: the card and phone scans that skip ahead find
 * exactly what the scans that visited every character found (test/lib/mask/oracle/), on random
 * text dense in digits and separators, on planted numbers at every offset, and on every prefix and
 * suffix of the benchmark's text. Deterministic: the seed is in the test name.
 */
import t, { type Test } from 'tap'
import { findCards } from '../../../lib/mask/detect/card.js'
import { findPhones } from '../../../lib/mask/detect/phone.js'
import { Spans } from '../../../lib/mask/detect/spans.js'
import { pick, prng, type Rand } from '../../helpers/random.js'
import * as oldCard from './oracle/card.js'
import * as oldPhone from './oracle/phone.js'

const SEED = Number(process.env.HIT_PATH_SEED ?? 20261129)

type Find = (s: string, spans: Spans, id: number) => void
const PAIRS: Array<[string, Find, Find]> = [
  ['card', findCards, oldCard.findCards],
  ['phone', findPhones, oldPhone.findPhones]
]

/** the hits as [start, end, detector] in the order they were recorded, after an earlier detector's hit `taken` */
function hits (find: Find, s: string, taken: [number, number] | null): number[][] {
  const spans = new Spans()
  if (taken !== null) spans.add(taken[0], taken[1], 0)
  find(s, spans, 1)
  const out: number[][] = []
  for (let i = 0; i < spans.count; i++) out.push([spans.start[i], spans.end[i], spans.detector[i]])
  return out
}

/** true when the two scans agree on `s` (alone, and with an earlier hit in the way); reports the first difference */
function agree (t: Test, s: string, taken: [number, number] | null = null): boolean {
  for (const [name, now, before] of PAIRS) {
    const a = hits(now, s, taken)
    const b = hits(before, s, taken)
    if (JSON.stringify(a) !== JSON.stringify(b)) {
      t.same(a, b, `${name}: ${JSON.stringify(s)}${taken === null ? '' : ` with ${JSON.stringify(taken)} taken`}`)
      return false
    }
  }
  return true
}

const TEXT = 'Vector databases index embeddings for approximate nearest neighbour search; this chunk was ' +
  'split from a product manual, section 4.2, revision 2024-03-18, and scored 0.8731 by the reranker.'
const HITS = ' Contact ops at ops.team@example.com or +44 20 7946 0958; card 4111 1111 1111 1111.'

const PLANTED = [
  '4111 1111 1111 1111', '4111-1111-1111-1111', '4111111111111111', '378282246310005', '3782 822463 10005',
  '6011 0009 9013 9424 123', '5555555555554444', '4111 1111 1111 1111 5', '0.4111111111111111', 'x4111111111111111',
  '+4915123456789', '+44 20 7946 0958', '+44 (0)20 7946 0958', '(415) 555-2671', '415-555-2671', '415.555.2671',
  '1-415-555-2671', '1 (415) 555 2671', '020 7946 0958', '07700 900123', '01 23 45 67 89', '0049 30 1234567',
  '+1 415 555 1042', '+(44) 20 7946 0958', '+(44)123456', '+(4)1234567', '(1) (2)34 5678', '2024-01-15 (918) 903-2635', '12/31/2024', '01.02.2024 10:30'
]
/** characters the scans treat specially, and a few they don't */
const PIECES = ['0', '1', '4', '5', '9', ' ', ' ', '-', '.', '(', ')', '+', '_', ',', ':', '/', 'a', 'x', 'Z', 'é', '\u00a0', '\u{1f600}', '  ', '--', '..']

const int = (r: Rand, lo: number, hi: number): number => lo + Math.floor(r() * (hi - lo + 1))
const digits = (r: Rand, n: number): string => Array.from({ length: n }, () => String(int(r, 0, 9))).join('')

/** text that often almost holds a number: digit runs, separators, letters and planted numbers */
function noisy (r: Rand): string {
  let s = ''
  const parts = int(r, 0, 40)
  for (let k = 0; k < parts; k++) {
    const x = r()
    if (x < 0.35) s += digits(r, int(r, 1, 20))
    else if (x < 0.75) s += pick(r, PIECES)
    else if (x < 0.85) s += pick(r, PLANTED)
    else if (x < 0.95) s += pick(r, ['the ', 'card ', 'call ', 'tel: ', 'id', 'ref-', 'v2.', '#'])
    else s += Array.from({ length: int(r, 30, 45) }, () => digits(r, int(r, 1, 5))).join(pick(r, [' ', '-', '.'])) // longer than a chain remembers
  }
  return s
}

t.test(`random text dense in numbers (seed ${SEED})`, async t => {
  const r = prng(SEED)
  let ok = 0
  for (let k = 0; k < 20000; k++) {
    const s = noisy(r)
    const taken: [number, number] | null = s.length > 2 && r() < 0.3 ? [int(r, 0, s.length - 2), 0] : null
    if (taken !== null) taken[1] = int(r, taken[0] + 1, Math.min(s.length, taken[0] + 20))
    if (!agree(t, s, taken)) break
    ok++
  }
  t.equal(ok, 20000)
})

t.test('planted numbers at every offset of text and of digits', async t => {
  let ok = 0
  let all = 0
  for (const p of PLANTED) {
    for (const pad of ['Vector databases index embeddings ', '1 22 333 4444 55555 ', '-.-.()++ . 0 ', 'é\u00a0ü ']) {
      for (let k = 0; k <= pad.length; k++) {
        for (const s of [pad.slice(0, k) + p + pad.slice(k), pad.slice(k) + p, p + pad.slice(0, k), pad.slice(0, k) + p + ' ' + p]) {
          all++
          if (agree(t, s)) ok++
        }
      }
    }
  }
  t.equal(ok, all)
})

t.test('every prefix and suffix of the benchmark text', async t => {
  const s = TEXT + HITS
  let ok = 0
  for (let k = 0; k <= s.length; k++) {
    if (agree(t, s.slice(0, k)) && agree(t, s.slice(k)) && agree(t, s.slice(k, k + 40))) ok++
  }
  t.equal(ok, s.length + 1)
  // and the hits themselves, as the benchmark expects them
  t.same(hits(findCards, s, null).map(([a, b]) => s.slice(a, b)), ['4111 1111 1111 1111'])
  t.same(hits(findPhones, s, null).map(([a, b]) => s.slice(a, b)), ['+44 20 7946 0958'])
})
