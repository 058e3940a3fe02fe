import { createHash, createHmac, pbkdf2Sync, randomBytes, timingSafeEqual } from 'node:crypto'
import { VecgateError } from '../../lib/errors.js'

/**
 * The client side of SCRAM-SHA-256 (RFC 5802, RFC 7677) as PostgreSQL uses it (docs 55.3.1 "SCRAM-SHA-256
 * Authentication"): no channel binding ("n,,"), the user name left empty because the server takes it
 * from the startup packet. The server's signature is checked, so a fake upstream cannot pretend the
 * password was accepted.
 */
export class ScramClient {
  private readonly nonce: string
  private readonly firstBare: string
  private serverSignature: Buffer | undefined

  /** `user` stays empty for PostgreSQL (the startup packet names the user); RFC 7677's vectors use one */
  constructor (private readonly password: string, nonce = randomBytes(18).toString('base64'), user = '') {
    this.nonce = nonce
    this.firstBare = `n=${user},r=${this.nonce}`
  }

  static readonly mechanism = 'SCRAM-SHA-256'

  /** client-first-message (gs2 header "n,," = no channel binding) */
  first (): Buffer { return Buffer.from(`n,,${this.firstBare}`) }

  /** Answers server-first-message with client-final-message. */
  final (serverFirst: string): Buffer {
    const attrs = parseAttributes(serverFirst)
    const nonce = attrs.get('r')
    const salt = attrs.get('s')
    const iterations = Number(attrs.get('i'))
    if (nonce === undefined || !nonce.startsWith(this.nonce) || nonce.length === this.nonce.length) {
      throw upstreamAuth('SCRAM server nonce does not extend the client nonce')
    }
    if (salt === undefined || !Number.isInteger(iterations) || iterations < 1) throw upstreamAuth('SCRAM server-first-message is malformed')
    const salted = saltedPassword(this.password, salt, iterations)
    const clientKey = hmac(salted, 'Client Key')
    const storedKey = createHash('sha256').update(clientKey).digest()
    const finalWithoutProof = `c=biws,r=${nonce}` // biws = base64("n,,")
    const authMessage = `${this.firstBare},${serverFirst},${finalWithoutProof}`
    const clientSignature = hmac(storedKey, authMessage)
    const proof = Buffer.alloc(clientKey.length)
    for (let i = 0; i < proof.length; i++) proof[i] = clientKey[i] ^ clientSignature[i]
    this.serverSignature = hmac(hmac(salted, 'Server Key'), authMessage)
    return Buffer.from(`${finalWithoutProof},p=${proof.toString('base64')}`)
  }

  /** Checks server-final-message (RFC 5802 §3: the client MUST verify ServerSignature). */
  verify (serverFinal: string): void {
    const attrs = parseAttributes(serverFinal)
    if (attrs.has('e')) throw upstreamAuth(`SCRAM failed: ${attrs.get('e') ?? ''}`)
    const v = attrs.get('v')
    if (this.serverSignature === undefined || v === undefined) throw upstreamAuth('SCRAM server-final-message is malformed')
    const got = Buffer.from(v, 'base64')
    if (got.length !== this.serverSignature.length || !timingSafeEqual(got, this.serverSignature)) {
      throw upstreamAuth('SCRAM server signature does not match: the upstream is not who it claims')
    }
  }
}

function parseAttributes (s: string): Map<string, string> {
  const m = new Map<string, string>()
  for (const part of s.split(',')) {
    const eq = part.indexOf('=')
    if (eq === 1) m.set(part[0], part.slice(2))
  }
  return m
}

const hmac = (key: Buffer, data: string): Buffer => createHmac('sha256', key).update(data).digest()

/**
 * PBKDF2 with thousands of iterations costs milliseconds; the upstream password, salt and count rarely
 * change, so the result is remembered (a handful of entries) instead of paid on every connection.
 */
const saltedCache = new Map<string, Buffer>()
function saltedPassword (password: string, salt: string, iterations: number): Buffer {
  const key = `${iterations}:${salt}:${createHash('sha256').update(password).digest('base64')}`
  let v = saltedCache.get(key)
  if (v === undefined) {
    v = pbkdf2Sync(password.normalize('NFKC'), Buffer.from(salt, 'base64'), iterations, 32, 'sha256')
    if (saltedCache.size >= 16) saltedCache.clear()
    saltedCache.set(key, v)
  }
  return v
}

/** 55.3 MD5 authentication: "md5" || md5hex(md5hex(password || user) || salt). */
export function md5Password (user: string, password: string, salt: Buffer): string {
  const inner = createHash('md5').update(password).update(user).digest('hex')
  return 'md5' + createHash('md5').update(inner).update(salt).digest('hex')
}

function upstreamAuth (message: string): VecgateError {
  return new VecgateError('VG_ERR_UPSTREAM', `upstream authentication: ${message}`)
}
