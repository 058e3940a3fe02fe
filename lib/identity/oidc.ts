import { createLocalJWKSet, decodeProtectedHeader, errors as joseErrors, jwtVerify, type JSONWebKeySet, type JWK, type JWTPayload } from 'jose'
import type { Dispatcher } from 'undici'
import type { Identity } from '../../decoders/types.js'
import type { OidcIssuerConfig } from '../config/types.js'
import { VecgateError } from '../errors.js'
import type { Logger } from '../log.js'
import { reasonOf, unauthenticated } from './grants.js'
import { checkSecureUrl, getJson } from './http-json.js'
import type { IdentityVerifier } from './types.js'

export interface OidcVerifierOptions {
  /** seconds the key set is trusted before it is fetched again; default 300 */
  jwksTtl?: number
  /** least seconds between two fetches caused by an unknown kid (rotation); default 30 */
  refetchCooldown?: number
  /** per HTTP call; default 5000 ms */
  timeoutMs?: number
  /** seconds of clock skew accepted on exp/nbf/iat; default 30 */
  clockSkew?: number
  dispatcher?: Dispatcher
  log?: Logger
}

/** What OpenID Connect Discovery 1.0 §3 says we need, and what `vecgate login` uses. */
export interface OidcMetadata {
  issuer: string
  jwks_uri: string
  token_endpoint?: string
  authorization_endpoint?: string
  device_authorization_endpoint?: string
  code_challenge_methods_supported?: string[]
  [k: string]: unknown
}

type KeySet = ReturnType<typeof createLocalJWKSet>

const ASYMMETRIC = new Set(['RSA', 'EC', 'OKP'])

/**
 * Verifies ID tokens and JWT access tokens of one configured issuer (OpenID Connect Core §3.1.3.7,
 * RFC 9068 §4). Keys come from the issuer's discovery document and JWKS and are cached; a token naming a
 * kid we do not hold makes us fetch the set again (key rotation), at most once per `refetchCooldown`, so a
 * stream of made-up kids cannot turn us into a flood against the IdP. When the IdP cannot be reached and
 * no fresh keys are held, verification fails closed.
 */
export class OidcVerifier implements IdentityVerifier {
  readonly issuer: string
  private readonly algorithms: string[]
  private readonly allowed: Set<string>
  private readonly groupsPath: string[]
  private readonly jwksTtlMs: number
  private readonly cooldownMs: number
  private readonly clockSkew: number
  private readonly http: { timeoutMs: number, dispatcher?: Dispatcher }
  private metadata: OidcMetadata | undefined
  private keys: KeySet | undefined
  /** when the keys held were fetched */
  private fetchedAt = 0
  /** when a fetch was last tried, successful or not (for the rotation cooldown) */
  private triedAt = 0
  private inflight: Promise<void> | undefined

  constructor (readonly config: OidcIssuerConfig, private readonly opts: OidcVerifierOptions = {}) {
    this.issuer = config.issuer
    checkSecureUrl(config.issuer, `identity.oidc issuer ${config.issuer}`)
    this.algorithms = config.algorithms.filter(a => a !== 'none' && !a.startsWith('HS'))
    if (this.algorithms.length === 0) throw new VecgateError('VG_ERR_CONFIG', `identity.oidc ${config.issuer}: no asymmetric algorithm allowed`)
    this.allowed = new Set(this.algorithms)
    this.groupsPath = config.groups_claim.split('.')
    this.jwksTtlMs = (opts.jwksTtl ?? 300) * 1000
    this.cooldownMs = (opts.refetchCooldown ?? 30) * 1000
    this.clockSkew = opts.clockSkew ?? 30
    this.http = { timeoutMs: opts.timeoutMs ?? 5000, ...(opts.dispatcher !== undefined ? { dispatcher: opts.dispatcher } : {}) }
  }

  async verify (token: string): Promise<Identity> {
    let header
    try {
      header = decodeProtectedHeader(token)
    } catch {
      throw unauthenticated('token is not a JWT')
    }
    // The allow-list is checked before any key is looked at: `none` and HS* never reach a verifier, so a
    // token HMAC-signed with our RSA public key as the secret is refused here (THREATS.md "Forged tokens").
    if (typeof header.alg !== 'string' || !this.allowed.has(header.alg)) {
      throw unauthenticated(`token algorithm ${String(header.alg)} is not accepted`)
    }
    if (header.jku !== undefined || header.x5u !== undefined || header.jwk !== undefined) {
      throw unauthenticated('token names its own keys')
    }
    await this.ensureKeys()
    let payload: JWTPayload
    try {
      ({ payload } = await jwtVerify(token, async (h, t) => await this.keyFor(h, t), {
        algorithms: this.algorithms,
        issuer: this.issuer,
        audience: this.config.audience,
        clockTolerance: this.clockSkew,
        requiredClaims: ['exp', 'sub']
      }))
    } catch (e) {
      if (e instanceof VecgateError) throw e
      throw unauthenticated(reasonOf(e), e)
    }
    return {
      subject: payload.sub as string,
      groups: this.groupsOf(payload),
      source: 'oidc',
      issuer: this.issuer,
      ...(typeof payload.jti === 'string' ? { tokenId: payload.jti } : {}),
      expiresAt: payload.exp as number,
      claims: payload as Record<string, unknown>
    }
  }

  /** The issuer's discovery document (fetched once, then cached). */
  async discover (): Promise<OidcMetadata> {
    if (this.metadata !== undefined) return this.metadata
    this.metadata = await discover(this.issuer, this.http)
    return this.metadata
  }

  private groupsOf (payload: JWTPayload): string[] {
    let v: unknown = payload
    for (const k of this.groupsPath) {
      if (v === null || typeof v !== 'object') return []
      v = (v as Record<string, unknown>)[k]
    }
    if (Array.isArray(v)) return v.filter(x => typeof x === 'string')
    if (typeof v === 'string' && v !== '') return [v]
    return []
  }

  private async keyFor (header: Parameters<KeySet>[0], token: Parameters<KeySet>[1]): ReturnType<KeySet> {
    try {
      return await (this.keys as KeySet)(header, token)
    } catch (e) {
      if (!(e instanceof joseErrors.JWKSNoMatchingKey)) throw e
      // rotation: the IdP may have published a key since we fetched; ask again unless we just did
      if (Date.now() - this.triedAt < this.cooldownMs) throw e
      await this.refresh()
      return await (this.keys as KeySet)(header, token)
    }
  }

  private async ensureKeys (): Promise<void> {
    const now = Date.now()
    if (this.keys !== undefined && now - this.fetchedAt < this.jwksTtlMs) return
    // while the IdP is down, tokens arriving in a burst share one attempt per second instead of one each
    if (this.keys === undefined && this.inflight === undefined && now - this.triedAt < 1000) throw unreachable(this.issuer)
    await this.refresh()
  }

  /**
   * One fetch at a time. A failure is reported as unreachable; keys still inside their ttl stay usable
   * (a failed rotation fetch must not lock everyone out), stale ones are dropped (fail closed).
   */
  private async refresh (): Promise<void> {
    if (this.inflight !== undefined) return await this.inflight
    this.inflight = (async () => {
      try {
        this.triedAt = Date.now()
        const meta = await this.discover()
        const jwks = await fetchJwks(meta.jwks_uri, this.http)
        this.keys = createLocalJWKSet(jwks)
        this.fetchedAt = Date.now()
      } catch (e) {
        if (Date.now() - this.fetchedAt >= this.jwksTtlMs) this.keys = undefined
        this.metadata = undefined
        this.opts.log?.warn({ issuer: this.issuer, err: (e as Error).message }, 'identity provider unreachable')
        throw unreachable(this.issuer, e)
      } finally {
        this.inflight = undefined
      }
    })()
    return await this.inflight
  }
}

function unreachable (issuer: string, cause?: unknown): VecgateError {
  return new VecgateError('VG_ERR_UNAUTHENTICATED', 'identity provider unreachable', { hint: `vecgate could not fetch the keys of ${issuer}; try again later` }, { cause })
}

/** OpenID Connect Discovery 1.0 §4: the document's `issuer` must be exactly the configured one. */
export async function discover (issuer: string, http: { timeoutMs?: number, dispatcher?: Dispatcher } = {}): Promise<OidcMetadata> {
  const url = issuer.replace(/\/$/, '') + '/.well-known/openid-configuration'
  const { status, json } = await getJson(url, http)
  if (status !== 200 || json === null || typeof json !== 'object') throw new Error(`${url}: status ${status}`)
  const meta = json as OidcMetadata
  if (meta.issuer !== issuer) throw new Error(`${url}: issuer ${String(meta.issuer)} does not match ${issuer}`)
  if (typeof meta.jwks_uri !== 'string') throw new Error(`${url}: no jwks_uri`)
  checkSecureUrl(meta.jwks_uri, 'jwks_uri')
  return meta
}

async function fetchJwks (uri: string, http: { timeoutMs?: number, dispatcher?: Dispatcher }): Promise<JSONWebKeySet> {
  const { status, json } = await getJson(uri, http)
  if (status !== 200 || json === null || typeof json !== 'object' || !Array.isArray((json as JSONWebKeySet).keys)) {
    throw new Error(`${uri}: status ${status}, not a JWK set`)
  }
  // only public signing keys: a symmetric (`oct`) key in a JWKS would let HS* tokens verify against it
  const keys = (json as { keys: JWK[] }).keys.filter(k =>
    typeof k === 'object' && k !== null && ASYMMETRIC.has(k.kty as string) && (k.use === undefined || k.use === 'sig') && k.d === undefined)
  return { keys }
}
