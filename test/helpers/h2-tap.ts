/**
 * A TCP tap between the gateway and an upstream that decodes the HTTP/2 header blocks going upstream
 * with vecgate's own codec, so a test can see exactly what metadata the database received (for
 * upstreams that do not check credentials themselves, like milvus-lite).
 */
import net from 'node:net'
import { FrameReader } from '../../lib/http2/frames.js'
import { HpackDecoder, type Header } from '../../lib/http2/hpack.js'
import { FrameType, Flags } from '../../lib/http2/constants.js'
import { headersBlock } from '../../lib/http2/frames.js'

export interface H2Tap {
  address: string
  /** header lists of every request the upstream received */
  requests: Header[][]
  close: () => Promise<void>
}

export async function startH2Tap (upstream: string): Promise<H2Tap> {
  const [host, port] = upstream.split(':')
  const requests: Header[][] = []
  const sockets = new Set<net.Socket>()
  const server = net.createServer((c) => {
    const u = net.connect({ host, port: Number(port), noDelay: true })
    c.setNoDelay(true)
    sockets.add(c); sockets.add(u)
    const reader = new FrameReader({ expectPreface: true, maxFrameSize: 1 << 24 })
    const hpack = new HpackDecoder({ maxHeaderListSize: 1 << 20 })
    let block: Buffer[] = []
    c.on('data', (d: Buffer) => {
      u.write(d)
      try {
        reader.push(d)
        for (let f = reader.next(); f !== undefined; f = reader.next()) {
          if (f.type === FrameType.HEADERS) block = [headersBlock(f)]
          else if (f.type === FrameType.CONTINUATION) block.push(f.payload)
          else continue
          if ((f.flags & Flags.END_HEADERS) !== 0) requests.push(hpack.decode(Buffer.concat(block)))
        }
      } catch {}
    })
    u.on('data', (d: Buffer) => c.write(d))
    const end = (): void => { c.destroy(); u.destroy() }
    c.on('error', end); u.on('error', end); c.on('close', end); u.on('close', end)
  })
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', () => resolve()))
  return {
    address: `127.0.0.1:${(server.address() as net.AddressInfo).port}`,
    requests,
    close: async () => {
      for (const s of sockets) s.destroy()
      await new Promise<void>(resolve => server.close(() => resolve()))
    }
  }
}
