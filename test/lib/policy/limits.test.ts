import t from 'tap'
import type { Identity } from '../../../decoders/types.js'
import { ExfiltrationLimits } from '../../../lib/policy/limits.js'

const who = (subject: string): Identity => ({ subject, groups: [], claims: {}, source: 'grant', issuer: 'vecgate', expiresAt: 4e9 })
const alice = who('alice')
const bob = who('bob')

/** A clock the test moves by hand. */
function clock (start = 1_700_000_000_000 - (1_700_000_000_000 % 60_000)) {
  let now = start
  return { now: () => now, advance: (ms: number) => { now += ms } }
}

t.test('requests: refused beyond the limit per identity, with a clear message; a new window admits again (fixed)', async t => {
  const c = clock()
  const l = new ExfiltrationLimits({ window: 60, requests: 3 }, { mode: 'fixed', now: c.now })
  l.admit(alice); l.admit(alice); l.admit(alice)
  t.throws(() => l.admit(alice), {
    code: 'VG_ERR_LIMIT',
    message: 'exfiltration limit: alice made 3 requests or more in 60s (limit 3 per 60s); try again in 60s'
  })
  t.doesNotThrow(() => l.admit(bob), 'another identity has its own count')
  c.advance(59_000)
  t.throws(() => l.admit(alice), { message: /try again in 1s/ })
  c.advance(1000)
  t.doesNotThrow(() => l.admit(alice), 'the next window')
})

t.test('records and vectors: counted after the response; the next request is refused', async t => {
  const cases: Array<[string, { records?: number, vectors?: number }, Array<{ records: number, vectors: number }>, boolean, RegExp?]> = [
    ['records below', { records: 100 }, [{ records: 99, vectors: 0 }], true],
    ['records at the limit', { records: 100 }, [{ records: 60, vectors: 0 }, { records: 40, vectors: 0 }], false, /alice received 100 records or more/],
    ['records far beyond in one response', { records: 100 }, [{ records: 5000, vectors: 0 }], false, /records/],
    ['vectors below', { vectors: 10 }, [{ records: 500, vectors: 9 }], true],
    ['vectors at the limit', { vectors: 10 }, [{ records: 1, vectors: 10 }], false, /alice received 10 vectors or more in 60s \(limit 10 per 60s\)/],
    ['both, vectors decide', { records: 1000, vectors: 5 }, [{ records: 5, vectors: 5 }], false, /vectors/]
  ]
  for (const [name, limits, responses, admitted, message] of cases) {
    const c = clock()
    const l = new ExfiltrationLimits({ window: 60, ...limits }, { mode: 'fixed', now: c.now })
    l.admit(alice)
    for (const r of responses) l.account(alice, r)
    if (admitted) t.doesNotThrow(() => l.admit(alice), name)
    else t.throws(() => l.admit(alice), { code: 'VG_ERR_LIMIT', message }, name)
    t.doesNotThrow(() => l.admit(bob), `${name}: others unaffected`)
  }
})

t.test('sliding window: the previous window still counts, fading', async t => {
  const c = clock()
  const l = new ExfiltrationLimits({ window: 60, requests: 10 }, { now: c.now })
  for (let i = 0; i < 10; i++) l.admit(alice)
  c.advance(60_000) // next window: the 10 before weigh 1.0 at its start
  t.throws(() => l.admit(alice), { code: 'VG_ERR_LIMIT' }, 'a burst at the window edge is not a free second helping')
  c.advance(30_000) // halfway: 10 * 0.5 = 5 remain
  for (let i = 0; i < 5; i++) t.doesNotThrow(() => l.admit(alice), `halfway, request ${i + 1}`)
  t.throws(() => l.admit(alice), { code: 'VG_ERR_LIMIT' }, '5 faded + 5 new = the limit')
  c.advance(120_000)
  for (let i = 0; i < 10; i++) l.admit(alice)
  t.pass('two windows later everything has faded')
})

t.test('refused requests are not counted', async t => {
  const c = clock()
  const l = new ExfiltrationLimits({ window: 10, requests: 1 }, { mode: 'fixed', now: c.now })
  l.admit(alice)
  for (let i = 0; i < 100; i++) t.throws(() => l.admit(alice))
  c.advance(10_000)
  t.doesNotThrow(() => l.admit(alice))
})

t.test('memory is bounded: idle identities are swept, and a cap holds', async t => {
  const c = clock()
  const l = new ExfiltrationLimits({ window: 1, requests: 5 }, { now: c.now, maxIdentities: 1000 })
  for (let i = 0; i < 900; i++) l.admit(who(`u${i}`))
  t.equal(l.size, 900)
  c.advance(2000)
  l.admit(who('late'))
  t.equal(l.size, 1, 'identities idle for two windows are gone')
  for (let i = 0; i < 5000; i++) l.admit(who(`v${i}`))
  t.ok(l.size <= 1000, `at most maxIdentities (${l.size})`)
})

t.test('a window of 0 is a config error', async t => {
  t.throws(() => new ExfiltrationLimits({ window: 0, requests: 1 }), { code: 'VG_ERR_CONFIG', message: /policy\.limits\.window/ })
})
