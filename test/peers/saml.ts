/**
 * A SAML 2.0 identity provider for the tests: an RSA key and a self-signed X.509 certificate made at test
 * time (DER built by hand, so no openssl is needed), and SAMLResponses with one assertion signed the way
 * IdPs sign them (enveloped XML-DSig, exclusive c14n, RSA-SHA256 — node-saml's own signer, which uses
 * xml-crypto). `post` delivers a response like a browser auto-submitting the POST binding form.
 */
import { X509Certificate, createPrivateKey, generateKeyPairSync, randomBytes, sign, type KeyObject } from 'node:crypto'
import { createRequire } from 'node:module'
import { request } from 'undici'

const require = createRequire(import.meta.url)
const { signSamlPost } = require('@node-saml/node-saml/lib/saml-post-signing.js') as typeof import('@node-saml/node-saml/lib/saml-post-signing.js')

export interface SamlAssertionOptions {
  subject?: string
  groups?: string[]
  audience?: string
  recipient?: string
  destination?: string
  issuer?: string
  /** seconds from now (negative: in the past) */
  notBefore?: number
  notOnOrAfter?: number
  /** 'idp' (default): signed by the IdP key; 'none': unsigned; 'other': signed by a key nobody trusts */
  signedBy?: 'idp' | 'none' | 'other'
  /** edits the XML after signing (tampering) */
  tamper?: (xml: string) => string
}

export interface SamlIdp {
  entityId: string
  /** PEM of the IdP's signing certificate (what identity.saml.idp_cert points at) */
  cert: string
  /** a base64 SAMLResponse as the POST binding carries it */
  response: (o?: SamlAssertionOptions) => string
  /** POSTs the form to an ACS URL; returns the status and JSON answer */
  post: (acsUrl: string, samlResponse: string, relayState?: string) => Promise<{ status: number, json: any }>
}

export function startSamlIdp (defaults: { audience: string, acsUrl: string, entityId?: string }): SamlIdp {
  const idp = keyAndCert('vecgate test idp')
  const other = keyAndCert('someone else')
  const entityId = defaults.entityId ?? 'https://idp.test.example/saml'
  return {
    entityId,
    cert: idp.cert,
    response (o = {}) {
      const now = Date.now()
      const at = (s: number): string => new Date(now + s * 1000).toISOString()
      const issuer = o.issuer ?? entityId
      const groups = (o.groups ?? ['analysts']).map(g => `<saml:AttributeValue>${g}</saml:AttributeValue>`).join('')
      const xml = [
        `<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="_${id()}" Version="2.0" IssueInstant="${at(0)}" Destination="${o.destination ?? defaults.acsUrl}">`,
        `<saml:Issuer>${issuer}</saml:Issuer>`,
        '<samlp:Status><samlp:StatusCode Value="urn:oasis:names:tc:SAML:2.0:status:Success"/></samlp:Status>',
        `<saml:Assertion ID="_${id()}" Version="2.0" IssueInstant="${at(0)}">`,
        `<saml:Issuer>${issuer}</saml:Issuer>`,
        '<saml:Subject>',
        `<saml:NameID Format="urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress">${o.subject ?? 'alice@example.com'}</saml:NameID>`,
        '<saml:SubjectConfirmation Method="urn:oasis:names:tc:SAML:2.0:cm:bearer">',
        `<saml:SubjectConfirmationData NotOnOrAfter="${at(o.notOnOrAfter ?? 300)}" Recipient="${o.recipient ?? defaults.acsUrl}"/>`,
        '</saml:SubjectConfirmation>',
        '</saml:Subject>',
        `<saml:Conditions NotBefore="${at(o.notBefore ?? -5)}" NotOnOrAfter="${at(o.notOnOrAfter ?? 300)}">`,
        `<saml:AudienceRestriction><saml:Audience>${o.audience ?? defaults.audience}</saml:Audience></saml:AudienceRestriction>`,
        '</saml:Conditions>',
        `<saml:AuthnStatement AuthnInstant="${at(0)}" SessionIndex="_${id()}"><saml:AuthnContext><saml:AuthnContextClassRef>urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport</saml:AuthnContextClassRef></saml:AuthnContext></saml:AuthnStatement>`,
        `<saml:AttributeStatement><saml:Attribute Name="groups">${groups}</saml:Attribute><saml:Attribute Name="email"><saml:AttributeValue>${o.subject ?? 'alice@example.com'}</saml:AttributeValue></saml:Attribute></saml:AttributeStatement>`,
        '</saml:Assertion>',
        '</samlp:Response>'
      ].join('')
      const by = o.signedBy ?? 'idp'
      let out = by === 'none'
        ? xml
        : signSamlPost(xml, "/*[local-name(.)='Response']/*[local-name(.)='Assertion']", {
          privateKey: (by === 'idp' ? idp : other).keyPem,
          publicCert: (by === 'idp' ? idp : other).cert,
          signatureAlgorithm: 'sha256',
          digestAlgorithm: 'sha256'
        })
      if (o.tamper !== undefined) out = o.tamper(out)
      return Buffer.from(out, 'utf8').toString('base64')
    },
    async post (acsUrl, samlResponse, relayState) {
      const form: Record<string, string> = { SAMLResponse: samlResponse }
      if (relayState !== undefined) form.RelayState = relayState
      const res = await request(acsUrl, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams(form).toString() })
      return { status: res.statusCode, json: await res.body.json() }
    }
  }
}

function id (): string {
  return randomBytes(12).toString('hex')
}

/** An RSA key and a self-signed certificate (RFC 5280 §4.1), DER-encoded by hand. */
export function keyAndCert (commonName: string): { key: KeyObject, keyPem: string, cert: string } {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 })
  const sha256WithRSA = seq(oid('1.2.840.113549.1.1.11'), tlv(0x05, Buffer.alloc(0)))
  const name = seq(tlv(0x31, seq(oid('2.5.4.3'), tlv(0x0c, Buffer.from(commonName, 'utf8')))))
  const serial = randomBytes(8)
  serial[0] &= 0x7f
  serial[0] |= 0x01
  const now = Date.now()
  const tbs = seq(
    tlv(0xa0, tlv(0x02, Buffer.from([2]))),
    tlv(0x02, serial),
    sha256WithRSA,
    name,
    seq(utcTime(new Date(now - 3600_000)), utcTime(new Date(now + 86400_000))),
    name,
    publicKey.export({ type: 'spki', format: 'der' })
  )
  const signature = sign('sha256', tbs, privateKey)
  const der = seq(tbs, sha256WithRSA, tlv(0x03, Buffer.concat([Buffer.from([0]), signature])))
  const cert = `-----BEGIN CERTIFICATE-----\n${der.toString('base64').match(/.{1,64}/g)?.join('\n') ?? ''}\n-----END CERTIFICATE-----\n`
  if (!new X509Certificate(cert).verify(publicKey)) throw new Error('self-signed certificate does not verify')
  const keyPem = privateKey.export({ type: 'pkcs8', format: 'pem' }) as string
  return { key: createPrivateKey(keyPem), keyPem, cert }
}

function tlv (tag: number, body: Buffer): Buffer {
  const n = body.length
  let len: Buffer
  if (n < 0x80) len = Buffer.from([n])
  else if (n < 0x100) len = Buffer.from([0x81, n])
  else if (n < 0x10000) len = Buffer.from([0x82, n >> 8, n & 0xff])
  else len = Buffer.from([0x83, n >> 16, (n >> 8) & 0xff, n & 0xff])
  return Buffer.concat([Buffer.from([tag]), len, body])
}

function seq (...parts: Buffer[]): Buffer {
  return tlv(0x30, Buffer.concat(parts))
}

function oid (dotted: string): Buffer {
  const [a, b, ...rest] = dotted.split('.').map(Number)
  const bytes = [a * 40 + b]
  for (const n of rest) {
    const chunk = [n & 0x7f]
    for (let v = n >> 7; v > 0; v >>= 7) chunk.unshift((v & 0x7f) | 0x80)
    bytes.push(...chunk)
  }
  return tlv(0x06, Buffer.from(bytes))
}

function utcTime (d: Date): Buffer {
  const p = (x: number): string => String(x).padStart(2, '0')
  const s = `${p(d.getUTCFullYear() % 100)}${p(d.getUTCMonth() + 1)}${p(d.getUTCDate())}${p(d.getUTCHours())}${p(d.getUTCMinutes())}${p(d.getUTCSeconds())}Z`
  return tlv(0x17, Buffer.from(s, 'ascii'))
}
