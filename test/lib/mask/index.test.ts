import t from 'tap'
import type { MaskProfileConfig } from '../../../lib/config/types.js'
import { isVecgateError } from '../../../lib/errors.js'
import { compileMasking, DETECTOR_NAMES } from '../../../lib/mask/index.js'

const KEY = Buffer.alloc(32, 7)

t.test('config errors name the key', async t => {
  const bad = (p: Record<string, unknown>, re: RegExp, opts = { hashKey: KEY }): void => {
    try {
      compileMasking({ pii: { fields: [], detectors: [], action: 'redact', vectors: 'keep', ...p } as MaskProfileConfig }, opts)
      t.fail(`accepted ${JSON.stringify(p)}`)
    } catch (e) {
      t.ok(isVecgateError(e) && e.code === 'VG_ERR_CONFIG', 'VG_ERR_CONFIG')
      t.match((e as Error).message, re)
    }
  }
  bad({ detectors: ['email', 'phone', 'fone'] }, /^masking\.profiles\.pii\.detectors\[2\]: unknown detector "fone" \(expected one of all, api_key, credit_card, email, .*phone/)
  bad({ fields: ['ok', ''] }, /^masking\.profiles\.pii\.fields\[1\]: /)
  bad({ fields: ['a..b'] }, /^masking\.profiles\.pii\.fields\[0\]: .*empty segments/)
  bad({ fields: ['a.b*'] }, /^masking\.profiles\.pii\.fields\[0\]: .*whole segment/)
  bad({ fields: [3] }, /^masking\.profiles\.pii\.fields\[0\]: /)
  bad({ action: 'blur' }, /^masking\.profiles\.pii\.action: one of redact, hash, partial, null, drop/)
  bad({ vectors: 'fuzz' }, /^masking\.profiles\.pii\.vectors: /)
  bad({ vectors: 'round', round_bits: 24 }, /^masking\.profiles\.pii\.round_bits: /)
  bad({}, /hash key/, { hashKey: Buffer.alloc(4) })
  const groups = compileMasking({ g: { fields: [], detectors: ['national_id', 'secrets', 'ip'], action: 'redact', vectors: 'keep' } }, { hashKey: KEY }).get('g')!
  t.equal(groups.scalar('c', 'ssn 123-45-6789 from 10.0.0.1'), 'ssn [redacted:us_ssn] from [redacted:ipv4]', 'group names expand')
})

t.test('every profile compiled, by name; defaults filled in', async t => {
  const m = compileMasking({
    a: { fields: ['x'], detectors: [], action: 'redact', vectors: 'keep' },
    b: { detectors: ['email'] } as unknown as MaskProfileConfig
  }, { hashKey: KEY })
  t.same([...m.keys()], ['a', 'b'])
  t.equal(m.get('a')!.name, 'a')
  t.equal(m.get('b')!.vectors, 'keep')
  t.equal(m.get('b')!.scalar('c', 'a@b.com'), '[redacted:email]', 'action defaults to redact')
  t.same(compileMasking({}, { hashKey: KEY }).size, 0)
  t.ok(DETECTOR_NAMES.includes('credit_card') && DETECTOR_NAMES.includes('national_id'))
})
