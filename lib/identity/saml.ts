import { readFileSync } from 'node:fs'
import { SAML, ValidateInResponseTo, type Profile } from '@node-saml/node-saml'
import type { Identity } from '../../decoders/types.js'
import type { SamlConfig } from '../config/types.js'
import { VecgateError } from '../errors.js'
import type { Logger } from '../log.js'
import { requestOf, type ExchangedGrant, type GrantExchange } from './exchange.js'
import { unauthenticated } from './grants.js'
import type { RevocationStore } from './revocations.js'

export interface SamlAcsOptions {
  config: SamlConfig
  exchange: GrantExchange
  /** remembers assertion ids until they expire, so one assertion buys one grant */
  revocations?: RevocationStore
  /** default 30 s */
  clockSkewMs?: number
  log?: Logger
}

type Xml2Js = Record<string, any>

/**
 * The SAML 2.0 assertion consumer service (POST binding, SAML Bindings §3.5): a SAMLResponse posted to
 * /v1/saml/acs is checked — signature of the assertion by the configured IdP certificate, audience,
 * recipient, destination, validity window — and exchanged for a grant. Groups come from one attribute.
 *
 * node-saml checks the signature, the conditions' NotBefore/NotOnOrAfter and the audience; it leaves the
 * bearer confirmation's Recipient and the response's Destination to us (SAML Profiles §4.1.4.3, §4.1.4.5),
 * and accepts an assertion without Conditions, which we do not.
 */
export class SamlAcs {
  private readonly saml: SAML
  private readonly config: SamlConfig

  constructor (private readonly opts: SamlAcsOptions) {
    this.config = opts.config
    const cert = opts.config.idp_cert.includes('-----BEGIN') ? opts.config.idp_cert : readFileSync(opts.config.idp_cert, 'utf8')
    this.saml = new SAML({
      idpCert: cert,
      issuer: opts.config.audience,
      audience: opts.config.audience,
      callbackUrl: opts.config.acs_url,
      // the assertion itself must be signed: a signature over the response alone is not enough for us
      // to trust an assertion lifted out of it, and unsigned ones are refused
      wantAssertionsSigned: true,
      wantAuthnResponseSigned: false,
      acceptedClockSkewMs: opts.clockSkewMs ?? 30_000,
      // IdP-initiated sign-in: there is no AuthnRequest of ours to match
      validateInResponseTo: ValidateInResponseTo.never
    })
  }

  /** Takes the POSTed form (raw body or parsed fields) and returns a grant. */
  async handle (postBody: string | Record<string, unknown>): Promise<ExchangedGrant> {
    const fields = typeof postBody === 'string' ? Object.fromEntries(new URLSearchParams(postBody)) : postBody
    const response = fields.SAMLResponse
    if (typeof response !== 'string' || response === '') throw new VecgateError('VG_ERR_USAGE', 'SAMLResponse is required')
    const identity = await this.verify(response)
    // RelayState is not signed; it may only narrow what the grant covers, and the policy still decides
    const relay = typeof fields.RelayState === 'string' && fields.RelayState !== '' ? requestOf({ scope: fields.RelayState }) : {}
    return await this.opts.exchange.grantFor(identity, relay)
  }

  /** As `handle`, answering an HTTP route: 200 with the grant, 400/401/403 with a reason. */
  async handleAcsRequest (postBody: string | Record<string, unknown>): Promise<{ status: number, json: Record<string, unknown> }> {
    try {
      const g = await this.handle(postBody)
      return { status: 200, json: { access_token: g.token, token_type: 'Bearer', expires_at: g.expiresAt, jti: g.jti, subject: g.subject, grant: g.scope } }
    } catch (e) {
      const err = e instanceof VecgateError ? e : new VecgateError('VG_ERR_INTERNAL', 'internal error', {}, { cause: e })
      const status = err.code === 'VG_ERR_UNAUTHENTICATED' ? 401 : err.code === 'VG_ERR_DENIED' || err.code === 'VG_ERR_APPROVAL_REQUIRED' ? 403 : err.code === 'VG_ERR_USAGE' || err.code === 'VG_ERR_MALFORMED' ? 400 : 500
      if (status === 500) this.opts.log?.error({ err: (e as Error).message }, 'SAML ACS failed')
      return { status, json: { error: err.code, message: err.message, ...err.detail } }
    }
  }

  /** Checks a base64 SAMLResponse and returns the identity its signed assertion speaks for. */
  async verify (samlResponse: string): Promise<Identity> {
    let profile: Profile | null
    try {
      ({ profile } = await this.saml.validatePostResponseAsync({ SAMLResponse: samlResponse }))
    } catch (e) {
      this.opts.log?.info({ err: (e as Error).message }, 'SAML response refused')
      throw unauthenticated(reasonOf(e as Error), e)
    }
    if (profile === null) throw unauthenticated('SAML response carries no assertion')
    const now = Date.now()
    const assertion = (profile.getAssertion?.() as Xml2Js | undefined)?.Assertion as Xml2Js | undefined
    if (assertion === undefined) throw unauthenticated('SAML response carries no assertion')

    const conditions = assertion.Conditions?.[0]?.$ as Record<string, string> | undefined
    const notOnOrAfter = conditions?.NotOnOrAfter
    if (notOnOrAfter === undefined) throw unauthenticated('SAML assertion has no validity window (Conditions NotOnOrAfter)')

    // Bearer subject confirmation addressed to us (SAML Profiles §4.1.4.2): Recipient must be our ACS.
    const confirmations = (assertion.Subject?.[0]?.SubjectConfirmation ?? []) as Xml2Js[]
    const bearer = confirmations.find(c => c.$?.Method === 'urn:oasis:names:tc:SAML:2.0:cm:bearer')
    const data = bearer?.SubjectConfirmationData?.[0]?.$ as Record<string, string> | undefined
    if (data === undefined) throw unauthenticated('SAML assertion has no bearer subject confirmation')
    if (data.Recipient !== this.config.acs_url) throw unauthenticated('SAML assertion recipient does not match')
    if (data.NotOnOrAfter === undefined || Date.parse(data.NotOnOrAfter) + (this.opts.clockSkewMs ?? 30_000) <= now) {
      throw unauthenticated('SAML assertion expired')
    }
    // Destination is on the (possibly unsigned) response; when present it still must name us.
    const destination = /<(?:\w+:)?Response\b[^>]*\sDestination="([^"]*)"/.exec(profile.getSamlResponseXml?.() ?? '')?.[1]
    if (destination !== undefined && destination !== this.config.acs_url) throw unauthenticated('SAML response destination does not match')

    const subject = profile.nameID
    if (typeof subject !== 'string' || subject === '') throw unauthenticated('SAML assertion names no subject')
    const id = assertion.$?.ID as string | undefined
    const expiresAt = Math.floor(Date.parse(notOnOrAfter) / 1000)
    if (id !== undefined && this.opts.revocations !== undefined && !this.opts.revocations.consume(`saml:${id}`, 1, expiresAt)) {
      throw unauthenticated('SAML assertion was already used')
    }
    const attrs = (profile.attributes ?? {}) as Record<string, unknown>
    const raw = attrs[this.config.groups_attribute]
    const groups = Array.isArray(raw) ? raw.filter((g): g is string => typeof g === 'string') : typeof raw === 'string' ? [raw] : []
    const claims: Record<string, unknown> = { ...attrs }
    if (typeof profile.email === 'string') claims.email = profile.email
    return {
      subject,
      groups,
      source: 'saml',
      issuer: profile.issuer ?? 'saml',
      ...(id !== undefined ? { tokenId: id } : {}),
      expiresAt,
      claims
    }
  }
}

/** node-saml's messages, turned into reasons a person can act on (and that never echo the XML). */
function reasonOf (e: Error): string {
  const m = e.message ?? ''
  if (/signature/i.test(m)) return 'SAML assertion signature is invalid or missing'
  if (/audience/i.test(m)) return 'SAML assertion audience does not match'
  if (/expired|NotOnOrAfter/i.test(m)) return 'SAML assertion expired'
  if (/NotBefore|not yet valid/i.test(m)) return 'SAML assertion not yet valid'
  return 'SAML response is invalid'
}
