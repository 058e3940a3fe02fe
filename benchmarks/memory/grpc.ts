/**
 * gRPC through the relay: one 64 MB Qdrant Search response, then 1 GB as 16 such messages and as
 * 1000 messages of 1 MB (8 in flight), with masking on and with pass-through; the gateway runs in
 * its own process and its RSS is sampled. The upstream (grpc-peer.ts) is its own process too; the
 * client (grpc-js, raw bytes) checks that no address of the `email` payload field reached it masked.
 */
import * as grpc from '@grpc/grpc-js'
import { fileURLToPath } from 'node:url'
import { qdrantSchema } from '../../decoders/qdrant/schema.js'
import { startPeerProcess, startUnderTest } from '../lib/env.js'
import { mib, sampleRss, type RssSample } from './sampler.js'

const KEY = 'memory-upstream-key'
const Req = qdrantSchema().root.lookupType('qdrant.SearchPoints')
const same = (b: Buffer): Buffer => b

export interface GrpcMemoryRow { name: string, messages: number, bytes: number, ms: number, rss: RssSample }

interface Scenario { name: string, mask: boolean, calls: number, points: number, inFlight: number }

export async function grpcMemory (log: (s: string) => void): Promise<GrpcMemoryRow[]> {
  const peer = await startPeerProcess<{ port: number, pointBytes: number }>(fileURLToPath(new URL('./grpc-peer.ts', import.meta.url)), [KEY])
  const big = Math.round(64e6 / peer.info.pointBytes) // points in a 64 MB answer
  const small = Math.round(1e6 / peer.info.pointBytes)
  const scenarios: Scenario[] = [
    { name: 'pass-through, one 64 MB message', mask: false, calls: 1, points: big, inFlight: 1 },
    { name: 'masked, one 64 MB message', mask: true, calls: 1, points: big, inFlight: 1 },
    { name: 'pass-through, 16 × 64 MB (1 GB)', mask: false, calls: 16, points: big, inFlight: 1 },
    { name: 'masked, 16 × 64 MB (1 GB)', mask: true, calls: 16, points: big, inFlight: 1 },
    { name: 'masked, 1000 × 1 MB (1 GB), 8 in flight', mask: true, calls: 1000, points: small, inFlight: 8 }
  ]
  const out: GrpcMemoryRow[] = []
  try {
    for (const s of scenarios) {
      const gw = await startUnderTest({
        config: {
          backends: [{ name: 'qdrant', protocol: 'qdrant', upstream: `127.0.0.1:${peer.info.port}`, credentials: { api_key: KEY } }],
          limits: { max_message: 128 * 1024 * 1024 },
          policy: { rules: [{ id: 'bench', subjects: { users: ['bench'] }, effect: 'allow', ...(s.mask ? { mask: 'pii' } : {}) }] },
          masking: { profiles: { pii: { fields: ['email'], detectors: ['email', 'phone', 'credit_card'], action: 'redact', vectors: 'drop' } } }
        },
        nullJournal: true,
        token: 'bench'
      }, 'qdrant')
      const client = new grpc.Client(`127.0.0.1:${gw.port}`, grpc.credentials.createInsecure(), { 'grpc.max_receive_message_length': -1, 'grpc.max_send_message_length': -1 })
      const md = new grpc.Metadata()
      md.set('api-key', gw.token!)
      const call = async (points: number): Promise<Buffer> => await new Promise((resolve, reject) => {
        const req = Buffer.from(Req.encode({ collection_name: 'docs', vector: [0.1, 0.2], limit: points, with_payload: { enable: true } }).finish())
        client.makeUnaryRequest('/qdrant.Points/Search', same, same, req, md, (e, r) => e != null ? reject(e) : resolve(r!))
      })
      try {
        await call(10) // warm: connection, admission, a first masked answer
        let bytes = 0
        const started = Date.now()
        const { rss } = await sampleRss(gw.pid, async () => {
          let next = 0
          const worker = async (): Promise<void> => {
            while (next < s.calls) {
              next++
              const r = await call(s.points)
              bytes += r.length
              if (s.mask && r.includes('@example.com')) throw new Error(`${s.name}: an address reached the client unmasked`)
            }
          }
          await Promise.all(Array.from({ length: s.inFlight }, worker))
        })
        const ms = Date.now() - started
        log(`grpc ${s.name}: ${(bytes / 1e6).toFixed(0)} MB in ${(ms / 1000).toFixed(1)} s; RSS ${mib(rss.baseline)} → peak ${mib(rss.peak)} (VmHWM ${mib(rss.hwm)})`)
        out.push({ name: s.name, messages: s.calls, bytes, ms, rss })
      } finally {
        client.close()
        await gw.stop()
      }
    }
  } finally {
    await peer.stop()
  }
  return out
}
