/**
 * The gRPC relay alone in front of an upstream, with a policy given as a function: for protocol tests
 * that need no config file. Listens on 127.0.0.1:0.
 */
import net from 'node:net'
import type { GrpcService } from '../../decoders/grpc/service.js'
import { QdrantService } from '../../decoders/qdrant/service.js'
import type { Identity, Masker, Operation, Verdict } from '../../decoders/types.js'
import { DEFAULT_LIMITS } from '../../lib/config/load.js'
import type { BackendConfig, LimitsConfig } from '../../lib/config/types.js'
import { GrpcRelay } from '../../lib/http2/relay.js'
import { testParts, type TestParts } from './parts.js'

export interface TestRelay {
  port: number
  address: string
  parts: TestParts
  relays: GrpcRelay[]
  close: () => Promise<void>
}

export async function startRelay (opts: {
  upstream: string
  apiKey?: string
  decide?: (id: Identity, op: Operation) => Verdict
  /** mask profiles a verdict may name */
  masks?: Map<string, Masker>
  limits?: Partial<LimitsConfig>
  service?: GrpcService
}): Promise<TestRelay> {
  const parts = await testParts()
  const [host, port] = opts.upstream.split(':')
  const backend: BackendConfig = {
    name: 'qdrant',
    protocol: 'qdrant',
    listen: { host: '127.0.0.1', port: 0 },
    upstream: { host, port: Number(port) },
    credentials: opts.apiKey !== undefined ? { api_key: opts.apiKey } : {}
  }
  const pipeline = parts.pipeline(backend, { decide: opts.decide, masks: opts.masks })
  const service = opts.service ?? new QdrantService()
  const limits = { ...DEFAULT_LIMITS, ...opts.limits }
  const relays: GrpcRelay[] = []
  const sockets = new Set<net.Socket>()
  const server = net.createServer((socket) => {
    sockets.add(socket)
    socket.on('close', () => sockets.delete(socket))
    socket.on('error', () => {})
    const session = pipeline.open({ address: `${socket.remoteAddress}:${socket.remotePort}`, tls: false })
    relays.push(new GrpcRelay(socket, { service, backend, limits, session, connectUpstream: () => net.connect(Number(port), host) }))
  })
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', () => resolve()))
  const p = (server.address() as net.AddressInfo).port
  return {
    port: p,
    address: `127.0.0.1:${p}`,
    parts,
    relays,
    close: async () => {
      for (const s of sockets) s.destroy()
      await new Promise<void>(resolve => server.close(() => resolve()))
      parts.cleanup()
    }
  }
}
