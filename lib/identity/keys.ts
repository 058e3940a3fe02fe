import { createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject } from 'node:crypto'
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { dirname } from 'node:path'
import { calculateJwkThumbprint, type JWK } from 'jose'

/** The gateway's own Ed25519 key: signs grants and journal seals. Created on first start (mode 0600). */
export interface SigningKey {
  privateKey: KeyObject
  publicKey: KeyObject
  publicJwk: JWK
  kid: string
}

export async function loadOrCreateSigningKey (path: string): Promise<SigningKey> {
  let jwk: JWK
  if (existsSync(path)) {
    jwk = JSON.parse(readFileSync(path, 'utf8')) as JWK
  } else {
    const { privateKey } = generateKeyPairSync('ed25519')
    jwk = privateKey.export({ format: 'jwk' }) as JWK
    mkdirSync(dirname(path), { recursive: true })
    writeFileSync(path, JSON.stringify(jwk) + '\n', { mode: 0o600, flag: 'wx' })
    chmodSync(path, 0o600)
  }
  if (jwk.kty !== 'OKP' || jwk.crv !== 'Ed25519' || typeof jwk.d !== 'string') {
    throw new Error(`${path}: not an Ed25519 private JWK`)
  }
  const privateKey = createPrivateKey({ key: jwk as import('node:crypto').JsonWebKey, format: 'jwk' })
  const publicKey = createPublicKey(privateKey)
  const publicJwk = publicKey.export({ format: 'jwk' }) as JWK
  const kid = await calculateJwkThumbprint(publicJwk)
  return { privateKey, publicKey, publicJwk: { ...publicJwk, kid, alg: 'EdDSA', use: 'sig' }, kid }
}
