import t from 'tap'
import { createHash } from 'node:crypto'
import { eventHash } from '../../../lib/journal/chain.js'

// journals written before any change to how the hash is computed must still verify: the digest is
// the v1 definition, sha256 over the header line and then the body
t.test('eventHash is sha256 of the header line followed by the body', async t => {
  const v1 = (prev: string, session: string, n: number, at: number, kind: string, call: number | null, body: string): string =>
    createHash('sha256').update(`${prev}\n${session}\n${n}\n${at}\n${kind}\n${call ?? ''}\n`).update(body).digest('hex')
  const prev = 'ab'.repeat(32)
  for (const [call, body] of [[1, '{}'], [null, '{"data":{"x":"é 😀 \\u0000"}}'], [7, 'x'.repeat(100_000)], [2, '😀'.repeat(3)]] as const) {
    t.equal(eventHash(prev, 'sess-1', 3, 1700000000000, 'response', call, body), v1(prev, 'sess-1', 3, 1700000000000, 'response', call, body))
  }
})
