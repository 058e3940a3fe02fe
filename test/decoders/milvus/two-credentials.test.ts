/**
 * THREATS.md "Two credentials in one request (`api-key` and `authorization`, duplicated headers, a token
 * in both the user name and the password) → refuse ambiguity rather than pick one". Milvus clients send
 * base64("user:password") or base64(token) in `authorization`; the user name must be the token's
 * subject or empty, a token in the user name is a second credential, and no refusal repeats the name.
 */
import t, { type Test } from 'tap'
import type { Metadata } from '../../../decoders/grpc/service.js'
import { MilvusService } from '../../../decoders/milvus/service.js'

const md = (vals: string[]): Metadata => ({ get: (n) => n === 'authorization' ? vals[0] : undefined, all: (n) => n === 'authorization' ? vals : [] })
const headers = (pairs: Array<[string, string]>): Metadata => ({
  get: (n) => pairs.find(([k]) => k === n)?.[1],
  all: (n) => pairs.filter(([k]) => k === n).map(([, v]) => v)
})
const b64 = (s: string): string => Buffer.from(s).toString('base64')
const alice = 'eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiJhbGljZSJ9.c2lnLWE'
const bob = 'eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiJib2IifQ.c2lnLWI'
const noSubject = 'eyJhbGciOiJFZERTQSJ9.eyJpc3MiOiJ4In0.c2lnLWM'
const jwe = 'eyJhbGciOiJkaXIiLCJlbmMiOiJBMjU2R0NNIn0..aXY.Y2lwaGVy.dGFn'

/** the refusal, checked to repeat neither the user name nor any token, plain or base64 */
function refused (t: Test, s: MilvusService, m: Metadata, what: string, secrets: string[]): void {
  let err: any
  try { s.credential(m) } catch (e) { err = e }
  t.equal(err?.code, 'VG_ERR_UNAUTHENTICATED', what)
  const message = String(err?.message)
  for (const secret of secrets) {
    for (const form of [secret, b64(secret)]) {
      t.notOk(message.includes(form) || message.includes(form.slice(0, 12)), `${what}: the message does not repeat it`)
    }
  }
}

t.test('a token in the user name and another in the password is ambiguous', async t => {
  const s = new MilvusService()
  t.equal(s.credential(md([b64(`alice:${alice}`)])), alice, 'a name and a token: the token')
  t.throws(() => s.credential(md([b64(`${bob}:${alice}`)])), { code: 'VG_ERR_UNAUTHENTICATED' }, 'two different grants')
  t.throws(() => s.credential(md([b64(`${alice}:${alice}`)])), { code: 'VG_ERR_UNAUTHENTICATED' }, 'the same grant twice, as Postgres refuses it')
  refused(t, s, md([b64(`${bob}:${alice}`)]), 'a grant as user name, another as password', [bob, alice])
  refused(t, s, md([b64(`${alice}:${alice}`)]), 'the same grant as user name and password', [alice])
  refused(t, s, md([b64(`${jwe}:${alice}`)]), 'an encrypted token (JWE) as user name', [jwe, alice])
  refused(t, s, md([b64(`${bob}:not-a-token`)]), 'a grant as user name, junk as password', [bob])
})

t.test('the user name is the token\'s subject, or empty', async t => {
  const s = new MilvusService()
  t.equal(s.credential(md([b64(alice)])), alice, 'the token alone')
  t.equal(s.credential(md([b64(`:${alice}`)])), alice, 'an empty user name')
  t.equal(s.credential(md([b64(`bob:${bob}`)])), bob, 'bob with his own grant')
  t.equal(s.credential(md([b64(`alice:${alice}`)])), alice, 'again (the subject is remembered for the last token)')
  refused(t, s, md([b64(`bob:${alice}`)]), 'another subject\'s name', ['bob', alice])
  refused(t, s, md([b64(`root:${alice}`)]), 'the backend\'s user name', ['root', alice])
  refused(t, s, md([b64(`Alice:${alice}`)]), 'the name differs only in case', ['Alice', alice])
  refused(t, s, md([b64(`alice:${noSubject}`)]), 'a token without a subject cannot vouch for a name', ['alice', noSubject])
  refused(t, s, md([b64(`alice:not-a-token`)]), 'a password that is not a token', ['alice', 'not-a-token'])
  refused(t, s, md([b64('alice:')]), 'an empty password', ['alice'])
})

t.test('duplicated authorization, api-key or token beside it: refused, never one picked', async t => {
  const s = new MilvusService()
  const auth: [string, string] = ['authorization', b64(alice)]
  refused(t, s, md([b64(alice), b64(bob)]), 'two authorization values', [alice, bob])
  refused(t, s, md([b64(alice), b64(alice)]), 'the same authorization twice', [alice])
  refused(t, s, headers([auth, ['api-key', bob]]), 'authorization and a Qdrant-style api-key', [alice, bob])
  refused(t, s, headers([['api-key', bob], auth]), 'api-key first', [alice, bob])
  refused(t, s, headers([auth, ['token', bob]]), 'authorization and token metadata', [alice, bob])
  refused(t, s, headers([auth, ['token', b64(bob)]]), 'authorization and base64 token metadata', [alice, bob])
  refused(t, s, headers([['api-key', alice]]), 'api-key alone: not where Milvus takes the token', [alice])
  refused(t, s, headers([['token', alice]]), 'token metadata alone', [alice])
  for (const name of ['authorization', 'api-key', 'token']) t.ok(s.secretHeaders.has(name), `${name} is never forwarded upstream`)
  t.equal(s.credential(headers([auth, ['dbname', 'default'], ['identifier', '42']])), alice, 'the SDKs\' other metadata is no credential')
})
