import t from 'tap'
import { md5Password, ScramClient } from '../../../decoders/postgres/scram.js'

t.test('RFC 7677 section 3 test vector', async t => {
  const c = new ScramClient('pencil', 'rOprNGfwEbeRWgbNEkqO', 'user')
  t.equal(c.first().toString(), 'n,,n=user,r=rOprNGfwEbeRWgbNEkqO')
  const serverFirst = 'r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096'
  t.equal(c.final(serverFirst).toString(), 'c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=')
  t.doesNotThrow(() => c.verify('v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4='))
})

t.test('a server that does not know the password is caught', async t => {
  const c = new ScramClient('pencil', 'rOprNGfwEbeRWgbNEkqO', 'user')
  c.final('r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096')
  t.throws(() => c.verify('v=AAAATRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4='), { code: 'VG_ERR_UPSTREAM' })
  t.throws(() => c.verify('e=invalid-proof'), { code: 'VG_ERR_UPSTREAM' })
  const d = new ScramClient('pencil', 'abc')
  t.throws(() => d.final('r=xyz,s=AAAA,i=4096'), { code: 'VG_ERR_UPSTREAM' }, 'nonce must extend ours')
  t.throws(() => d.final('r=abcdef,s=AAAA,i=0'), { code: 'VG_ERR_UPSTREAM' })
})

t.test('MD5 password hash (PostgreSQL docs 55.3)', async t => {
  // "md5" || md5hex(md5hex(password || user) || salt), computed independently with Python's hashlib
  t.equal(md5Password('postgres', 'secret', Buffer.from([1, 2, 3, 4])), 'md5bb41a296aab6baccb36ff243a562abff')
})
