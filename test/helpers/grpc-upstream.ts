/**
 * A small Qdrant-protocol upstream for protocol tests of the relay (the full in-memory Qdrant peer is
 * test/peers/qdrant-server.ts): canned answers for a few methods, a delay per method, every call's
 * metadata, cancellations counted, optional TLS. Built with grpc-js from the same descriptors.
 */
import * as grpc from '@grpc/grpc-js'
import * as loader from '@grpc/proto-loader'
import { qdrantSchema } from '../../decoders/qdrant/schema.js'

export interface CannedUpstream {
  port: number
  address: string
  calls: Array<{ method: string, metadata: Record<string, unknown>, request: any }>
  delay: Map<string, number>
  cancelled: number
  close: () => Promise<void>
}

export async function startCannedUpstream (opts: { tls?: { cert: Buffer, key: Buffer }, apiKey?: string } = {}): Promise<CannedUpstream> {
  const def = loader.loadFileDescriptorSetFromBuffer(qdrantSchema().descriptorSet, { keepCase: true, longs: Number, enums: String, defaults: false, oneofs: true })
  const pkg = grpc.loadPackageDefinition(def) as any
  const server = new grpc.Server({ 'grpc.default_compression_algorithm': 2, 'grpc.max_receive_message_length': 256 * 1024 * 1024 } as any)
  const state: CannedUpstream = { port: 0, address: '', calls: [], delay: new Map(), cancelled: 0, close: async () => {} }
  const handler = (name: string, answer: (req: any) => object) => (call: any, cb: any) => {
    state.calls.push({ method: name, metadata: call.metadata.getMap(), request: call.request })
    if (opts.apiKey !== undefined && call.metadata.get('api-key')[0] !== opts.apiKey) {
      cb({ code: grpc.status.UNAUTHENTICATED, details: 'Invalid api-key' })
      return
    }
    let done = false
    call.on('cancelled', () => { if (!done) state.cancelled++ })
    const reply = (): void => {
      done = true
      if (call.request.collection_name === 'missing') cb({ code: grpc.status.NOT_FOUND, details: 'Collection missing not found' })
      else cb(null, answer(call.request))
    }
    const ms = state.delay.get(name)
    if (ms !== undefined) setTimeout(() => { if (!call.cancelled) reply() }, ms)
    else reply()
  }
  server.addService(pkg.qdrant.Points.service, {
    Count: handler('Count', () => ({ result: { count: 20 }, time: 0.001 })),
    Search: handler('Search', (r) => ({ result: Array.from({ length: Number(r.limit ?? 10) }, (_, i) => ({ id: { num: i + 1 }, score: 1 - i / 100, version: 1 })), time: 0.001 })),
    Upsert: handler('Upsert', (r) => ({ result: { operation_id: 1, status: 'Completed' }, time: 0.001, _n: r.points?.length }))
  })
  server.addService(pkg.qdrant.Qdrant.service, { HealthCheck: handler('HealthCheck', () => ({ title: 'qdrant - vector search engine', version: '1.19.0' })) })
  const creds = opts.tls !== undefined
    ? grpc.ServerCredentials.createSsl(null, [{ cert_chain: opts.tls.cert, private_key: opts.tls.key }], false)
    : grpc.ServerCredentials.createInsecure()
  state.port = await new Promise<number>((resolve, reject) => server.bindAsync('127.0.0.1:0', creds, (e, p) => e != null ? reject(e) : resolve(p)))
  state.address = `127.0.0.1:${state.port}`
  state.close = async () => { server.forceShutdown() }
  return state
}
