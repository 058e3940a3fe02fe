import t from 'tap'
import type { Metadata } from '../../../decoders/grpc/service.js'
import { MilvusService } from '../../../decoders/milvus/service.js'
import type { BackendConfig } from '../../../lib/config/types.js'
import type { Identity } from '../../../decoders/types.js'

const md = (vals: string[]): Metadata => ({ get: (n) => n === 'authorization' ? vals[0] : undefined, all: (n) => n === 'authorization' ? vals : [] })
const b64 = (s: string): string => Buffer.from(s).toString('base64')
// a JWT's shape, subject alice (the user name must be the subject or empty)
const tok = 'eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiJhbGljZSJ9.c2ln'

t.test('the token as token, or as the password', async t => {
  const s = new MilvusService()
  t.equal(s.credential(md([b64(tok)])), tok)
  t.equal(s.credential(md([b64(`alice:${tok}`)])), tok)
  t.equal(s.credential(md([])), undefined)
  t.throws(() => s.credential(md([b64('a'), b64('b')])), { code: 'VG_ERR_UNAUTHENTICATED' }, 'two credentials are refused')
  t.throws(() => s.credential(md([b64('alice:')])), { code: 'VG_ERR_UNAUTHENTICATED' })
  t.throws(() => s.credential(md(['not base64!'])), { code: 'VG_ERR_UNAUTHENTICATED' })
  t.ok(s.secretHeaders.has('authorization'))
})

t.test('upstream credentials are the backend\'s own', async t => {
  const s = new MilvusService()
  const backend = { credentials: { username: 'root', password: 'Milvus' } } as unknown as BackendConfig
  t.same(s.upstreamCredentials(backend, {} as Identity), [['authorization', b64('root:Milvus')]])
  t.same(s.upstreamCredentials({ credentials: { token: 'tok' } } as unknown as BackendConfig, {} as Identity), [['authorization', b64('tok')]])
  t.same(s.upstreamCredentials({ credentials: {} } as unknown as BackendConfig, {} as Identity), [])
  t.ok(s.method('/milvus.proto.milvus.MilvusService/Search'))
})
