import { randomUUID } from 'node:crypto'
import { SignJWT, decodeProtectedHeader, jwtVerify, errors as joseErrors } from 'jose'
import type { Action, GrantScope, Identity, RecordId } from '../../decoders/types.js'
import { VecgateError } from '../errors.js'
import type { SigningKey } from './keys.js'

/** `iss` of every grant vecgate signs; tokens with another issuer go to the OIDC verifiers. */
export const GRANT_ISSUER = 'vecgate'
const SCOPE_CLAIM = 'vg'
const CLOCK_SKEW = 30

export interface GrantRequest {
  subject: string
  groups?: string[]
  backend?: string
  collections?: string[]
  actions?: Action[]
  ids?: RecordId[]
  uses?: number
  /** seconds */
  ttl: number
  /**
   * Further claims to carry (e.g. the IdP's email, for policy rules that match on claims). Registered
   * names and the scope claim are vecgate's own and cannot be set this way.
   */
  claims?: Record<string, unknown>
}

/** Claims a grant sets itself; `GrantRequest.claims` may not override them. */
const RESERVED = new Set(['iss', 'sub', 'aud', 'exp', 'nbf', 'iat', 'jti', 'groups', SCOPE_CLAIM])

export interface IssuedGrant { token: string, jti: string, expiresAt: number }

/** Signs and verifies vecgate's own short-lived grants (EdDSA, audience-bound, jti). */
export class Grants {
  constructor (private readonly key: SigningKey, private readonly audience: string, private readonly maxTtl: number) {}

  async issue (req: GrantRequest): Promise<IssuedGrant> {
    if (!(req.ttl > 0)) throw new VecgateError('VG_ERR_USAGE', 'ttl must be positive')
    const ttl = Math.min(req.ttl, this.maxTtl)
    const now = Math.floor(Date.now() / 1000)
    const jti = randomUUID()
    const scope: GrantScope = {}
    if (req.backend !== undefined) scope.backend = req.backend
    if (req.collections !== undefined && req.collections.length > 0) scope.collections = req.collections
    if (req.actions !== undefined && req.actions.length > 0) scope.actions = req.actions
    if (req.ids !== undefined && req.ids.length > 0) scope.ids = req.ids
    if (req.uses !== undefined) scope.uses = req.uses
    const extra: Record<string, unknown> = {}
    if (req.claims !== undefined) for (const [k, v] of Object.entries(req.claims)) if (!RESERVED.has(k)) extra[k] = v
    const token = await new SignJWT({ ...extra, groups: req.groups ?? [], [SCOPE_CLAIM]: scope })
      .setProtectedHeader({ alg: 'EdDSA', kid: this.key.kid, typ: 'JWT' })
      .setIssuer(GRANT_ISSUER)
      .setAudience(this.audience)
      .setSubject(req.subject)
      .setIssuedAt(now)
      .setNotBefore(now)
      .setExpirationTime(now + ttl)
      .setJti(jti)
      .sign(this.key.privateKey)
    return { token, jti, expiresAt: now + ttl }
  }

  /** Verifies a grant; every failure is VG_ERR_UNAUTHENTICATED with a reason safe to show. */
  async verify (token: string): Promise<Identity> {
    let header
    try {
      header = decodeProtectedHeader(token)
    } catch {
      throw unauthenticated('token is not a JWT')
    }
    // Only our key and our algorithm count: a kid naming another key, or jku/x5u/jwk headers pointing at
    // keys the attacker controls, are refused outright (THREATS.md "Forged tokens").
    if (header.alg !== 'EdDSA') throw unauthenticated(`token algorithm ${String(header.alg)} is not accepted`)
    if (header.kid !== undefined && header.kid !== this.key.kid) throw unauthenticated('token was signed by an unknown key')
    if (header.jku !== undefined || header.x5u !== undefined || header.jwk !== undefined) {
      throw unauthenticated('token names its own keys')
    }
    try {
      const { payload } = await jwtVerify(token, this.key.publicKey, {
        algorithms: ['EdDSA'],
        issuer: GRANT_ISSUER,
        audience: this.audience,
        clockTolerance: CLOCK_SKEW,
        requiredClaims: ['exp', 'sub', 'jti']
      })
      const scope = (payload[SCOPE_CLAIM] ?? {}) as GrantScope
      return {
        subject: payload.sub as string,
        groups: Array.isArray(payload.groups) ? payload.groups.map(String) : [],
        source: 'grant',
        issuer: GRANT_ISSUER,
        tokenId: payload.jti,
        expiresAt: payload.exp as number,
        scope,
        claims: payload as Record<string, unknown>
      }
    } catch (e) {
      throw unauthenticated(reasonOf(e), e)
    }
  }
}

export function unauthenticated (reason: string, cause?: unknown): VecgateError {
  return new VecgateError('VG_ERR_UNAUTHENTICATED', reason, { hint: 'get a fresh token: vecgate login, vecgate request or vecgate token issue' }, { cause })
}

/** A reason safe to show for a jose verification failure (shared by grants and OIDC). */
export function reasonOf (e: unknown): string {
  if (e instanceof joseErrors.JWTExpired) return 'token expired'
  if (e instanceof joseErrors.JWTClaimValidationFailed) {
    if (e.claim === 'nbf') return 'token not yet valid'
    if (e.claim === 'aud') return 'token audience does not match'
    if (e.claim === 'iss') return 'token issuer is not accepted'
    return `token claim ${e.claim} is invalid`
  }
  if (e instanceof joseErrors.JWSSignatureVerificationFailed) return 'token signature is invalid'
  if (e instanceof joseErrors.JOSEAlgNotAllowed) return 'token algorithm is not accepted'
  if (e instanceof joseErrors.JWKSNoMatchingKey) return 'token was signed by an unknown key'
  if (e instanceof joseErrors.JWKSMultipleMatchingKeys) return 'token names no key id and several keys match'
  if (e instanceof joseErrors.JWTInvalid || e instanceof joseErrors.JWSInvalid) return 'token is malformed'
  return 'token is invalid'
}
