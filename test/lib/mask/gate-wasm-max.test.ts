/**
 * Nothing longer than WASM_MAX (detectors.ts) is copied into the WebAssembly gate's memory, whose
 * size only grows: a longer text takes the JS loops (the same masks), a longer text to stage or
 * column to gate in one call gets no address (-1, null) and its callers gate it text by text. A
 * DataRow over the limit under the full gate is masked as a shorter one is, by the row's own texts.
 */
import t from 'tap'
import { contactGateBytes, contactGateBytesLoop, gateBytes, gateBytesLoop, gateTextRows, stageBytes, unstageBytes, WASM_MAX } from '../../../lib/mask/detectors.js'
import { compileMasking } from '../../../lib/mask/index.js'
import { encodeDataRow, MaskPlan } from '../../../decoders/postgres/result-view.js'
import type { Column } from '../../../decoders/postgres/messages.js'

const SENSITIVE = ' write to ann.lee@example.com or +44 20 7946 0958, card 4111 1111 1111 1111, key sk_live_abcdefghijklmnopqrstuvwx '

function longText (n: number, tail: string): Buffer {
  const filler = 'plain words of a long document, chapter 12, section 4.2; '
  return Buffer.from(filler.repeat(Math.ceil(n / filler.length)).slice(0, n - tail.length) + tail)
}

t.test('texts over the limit are gated by the JS loops, with the same masks', async t => {
  for (const tail of ['', SENSITIVE]) {
    const b = longText(WASM_MAX + 100, tail)
    t.equal(gateBytes(b, 0, b.length), gateBytesLoop(b, 0, b.length))
    t.equal(contactGateBytes(b, 0, b.length), contactGateBytesLoop(b, 0, b.length))
    t.equal(gateBytes(b, 7, WASM_MAX + 7), gateBytesLoop(b, 7, WASM_MAX + 7), 'at the limit')
  }
})

t.test('nothing over the limit is staged or gated as a column', async t => {
  const b = longText(WASM_MAX + 1, '')
  t.equal(stageBytes(b, 0, b.length), -1)
  const at = stageBytes(b, 1, b.length)
  t.ok(at >= 0, 'the limit itself is staged')
  unstageBytes(at)
  // one row of a repeated string field: tag, a three-byte length, the text
  const n = WASM_MAX + 10
  const column = Buffer.concat([Buffer.from([0x0a, 0x80 | (n & 0x7f), 0x80 | ((n >> 7) & 0x7f), n >> 14]), longText(n, SENSITIVE)])
  t.equal(gateTextRows(column, 0, column.length, -1, false), null)
})

t.test('a DataRow over the limit is masked by its texts', async t => {
  const every = compileMasking({ every: { fields: ['email'], detectors: ['all'], action: 'redact' } }, { hashKey: Buffer.alloc(32, 1) }).get('every')!
  const col = (name: string, typeOid: number): Column => ({ name, tableOid: 1, attnum: 1, typeOid, typeLen: -1, typeMod: -1, format: 0 })
  const columns = [col('body', 25), col('email', 25), col('meta', 3802)]
  const plan = new MaskPlan(columns, every)
  for (const size of [1000, WASM_MAX + 1000]) {
    const body = longText(size, SENSITIVE)
    const row = encodeDataRow([body, Buffer.from('ann@example.com'), Buffer.from(JSON.stringify({ note: SENSITIVE, n: 1 }))])
    const out = plan.apply(row).toString('latin1')
    t.notOk(out.includes('ann.lee@example.com'), `${size}: the address in the body is masked`)
    t.notOk(out.includes('ann@example.com'), `${size}: the email column is masked`)
    t.notOk(out.includes('4111 1111 1111 1111'), `${size}: the card is masked`)
    t.ok(out.includes('[redacted:email]') && out.includes('[redacted]'), `${size}: with the redaction texts`)
  }
})
