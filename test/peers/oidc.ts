/**
 * Identity providers for the identity tests, all on 127.0.0.1 port 0:
 *
 * - `startOidcProvider`: a real OpenID Provider (panva/oidc-provider, a dev dependency) with one public
 *   native client allowed the device flow and the authorization code flow (PKCE required, loopback
 *   redirect), a `groups` claim, short lifetimes, and a `browser` that completes sign-in programmatically
 *   the way a person's browser would (cookies, redirects, the interaction API for login and consent).
 * - `startKeyServer`: discovery + JWKS only, with keys the test controls (rotation, outage), for crafting
 *   tokens with jose.
 */
import { generateKeyPairSync, randomUUID } from 'node:crypto'
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import { SignJWT, exportJWK, type JWK } from 'jose'
import { request } from 'undici'

export interface Account { groups: string[], email?: string }

export interface OidcPeer {
  issuer: string
  clientId: string
  /** the RSA key the provider signs ID tokens with (private JWK, for crafting tokens the provider would sign) */
  signingJwk: JWK
  accounts: Map<string, Account>
  /** who the next interactive sign-in logs in as */
  loginAs: string
  /** acts as the person's browser: follows redirects with cookies, signs in, consents */
  browser: Browser
  /** answer the next N device-code polls with slow_down (RFC 8628 §3.5) */
  slowDownNext: number
  /** how many times the token endpoint was polled with a device code */
  devicePolls: number
  /** when each device-code poll arrived (epoch ms) */
  pollTimes: number[]
  close: () => Promise<void>
}

export async function startOidcProvider (opts: { accounts?: Record<string, Account>, interval?: number } = {}): Promise<OidcPeer> {
  // oidc-provider ships no type declarations; it is driven through `any` here
  const moduleName = 'oidc-provider'
  let Provider: any
  try {
    Provider = ((await import(moduleName)) as { default: unknown }).default
  } catch (e) {
    throw new Error(`oidc-provider is not installed (a dev dependency): run \`npm install\` in the repository (${(e as Error).message})`)
  }
  const server = http.createServer()
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  const issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 })
  const signingJwk = { ...(await exportJWK(privateKey)), kid: 'op-' + randomUUID().slice(0, 8), alg: 'RS256', use: 'sig' }
  const clientId = 'vecgate-cli'

  const peer: OidcPeer = {
    issuer,
    clientId,
    signingJwk,
    accounts: new Map(Object.entries(opts.accounts ?? { alice: { groups: ['analysts'], email: 'alice@example.com' } })),
    loginAs: 'alice',
    browser: undefined as unknown as Browser,
    slowDownNext: 0,
    devicePolls: 0,
    pollTimes: [],
    close: async () => await new Promise<void>(resolve => { server.closeAllConnections(); server.close(() => resolve()) })
  }

  const page = (form: string): string => `<!DOCTYPE html><html><body>${form}</body></html>`
  const provider = new Provider(issuer, {
    clients: [{
      client_id: clientId,
      application_type: 'native',
      token_endpoint_auth_method: 'none',
      grant_types: ['authorization_code', 'urn:ietf:params:oauth:grant-type:device_code'],
      response_types: ['code'],
      redirect_uris: ['http://127.0.0.1/callback']
    }],
    jwks: { keys: [signingJwk as any] },
    cookies: { keys: ['vecgate-test-cookie-key'] },
    features: {
      devInteractions: { enabled: false },
      deviceFlow: {
        enabled: true,
        userCodeInputSource: async (ctx: any, form: string) => { ctx.body = page(form) },
        userCodeConfirmSource: async (ctx: any, form: string) => { ctx.body = page(form) },
        successSource: async (ctx: any) => { ctx.body = page('signed in') }
      }
    },
    claims: { openid: ['sub'], email: ['email', 'email_verified'], profile: ['name', 'preferred_username'], groups: ['groups'] },
    // put the scope's claims into the ID token even when an access token is issued too
    conformIdTokenClaims: false,
    findAccount: async (_ctx: unknown, id: string) => {
      const a = peer.accounts.get(id)
      if (a === undefined) return undefined
      return {
        accountId: id,
        claims: async () => ({ sub: id, groups: a.groups, email: a.email, email_verified: true, preferred_username: id, name: id })
      }
    },
    ttl: { IdToken: 300, AccessToken: 300, DeviceCode: 120, Interaction: 300, Session: 600, Grant: 600 },
    renderError: async (ctx: any, out: any) => { ctx.type = 'json'; ctx.body = out }
  } as any)
  // no interval in the device authorization answer means 5 s (RFC 8628 §3.2); keep tests quick
  provider.on('device_authorization.success', (_ctx: unknown, body: Record<string, unknown>) => { body.interval = opts.interval ?? 1 })

  // Koa middleware around the token endpoint: count device-code polls, and turn the next N
  // authorization_pending answers into slow_down to exercise the client's back-off
  provider.use(async (ctx: any, next: () => Promise<void>) => {
    await next()
    if (ctx.path !== '/token' || ctx.oidc?.params?.grant_type !== 'urn:ietf:params:oauth:grant-type:device_code') return
    peer.devicePolls++
    peer.pollTimes.push(Date.now())
    if (peer.slowDownNext > 0 && ctx.body?.error === 'authorization_pending') {
      peer.slowDownNext--
      ctx.status = 400
      ctx.body = { error: 'slow_down', error_description: 'polling too fast' }
    }
  })
  const callback = provider.callback()
  server.on('request', (req, res) => {
    const path = (req.url ?? '/').split('?')[0]
    if (path.startsWith('/interaction/')) {
      void interaction(req, res).catch(e => { res.statusCode = 500; res.end(String((e as Error).message)) })
      return
    }
    callback(req, res)
  })

  /** The provider's interaction API (login, then consent), as an application's login page would use it. */
  async function interaction (req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const details = await provider.interactionDetails(req, res)
    const prompt = details.prompt as { name: string, details: Record<string, any> }
    if (prompt.name === 'login') {
      await provider.interactionFinished(req, res, { login: { accountId: peer.loginAs } }, { mergeWithLastSubmission: false })
      return
    }
    const accountId = (details.session as { accountId: string }).accountId
    const clientIdOf = (details.params as { client_id: string }).client_id
    const grant = details.grantId !== undefined
      ? await provider.Grant.find(details.grantId)
      : new provider.Grant({ accountId, clientId: clientIdOf })
    if (grant === undefined) throw new Error('grant not found')
    if (prompt.details.missingOIDCScope !== undefined) grant.addOIDCScope(prompt.details.missingOIDCScope.join(' '))
    if (prompt.details.missingOIDCClaims !== undefined) grant.addOIDCClaims(prompt.details.missingOIDCClaims)
    const grantId = await grant.save()
    await provider.interactionFinished(req, res, { consent: { grantId } }, { mergeWithLastSubmission: true })
  }

  peer.browser = new Browser()
  return peer
}

/** Just enough of a browser: a cookie jar and manual redirects. */
export class Browser {
  private readonly jar = new Map<string, string>()

  /** GETs `url` and follows redirects until a page (or a URL outside `stopAt`'s origin is reached and fetched). */
  async visit (url: string, init: { method?: string, form?: Record<string, string> } = {}): Promise<{ status: number, url: string, body: string }> {
    let current = url
    let method = init.method ?? 'GET'
    let form = init.form
    for (let hops = 0; hops < 20; hops++) {
      const headers: Record<string, string> = {}
      if (this.jar.size > 0) headers.cookie = [...this.jar].map(([k, v]) => `${k}=${v}`).join('; ')
      let body: string | undefined
      if (form !== undefined) { body = new URLSearchParams(form).toString(); headers['content-type'] = 'application/x-www-form-urlencoded' }
      const res = await request(current, { method: method as 'GET' | 'POST', headers, body })
      const setCookie = res.headers['set-cookie']
      for (const c of Array.isArray(setCookie) ? setCookie : setCookie !== undefined ? [setCookie] : []) {
        const [pair] = c.split(';')
        const i = pair.indexOf('=')
        const name = pair.slice(0, i).trim()
        const value = pair.slice(i + 1).trim()
        if (value === '' || /expires=Thu, 01 Jan 1970/i.test(c)) this.jar.delete(name)
        else this.jar.set(name, value)
      }
      const text = await res.body.text()
      const location = res.headers.location
      if (res.statusCode >= 300 && res.statusCode < 400 && typeof location === 'string') {
        current = new URL(location, current).href
        method = 'GET'
        form = undefined
        continue
      }
      return { status: res.statusCode, url: current, body: text }
    }
    throw new Error('too many redirects')
  }

  /**
   * RFC 8628 §3.3: the person opens verification_uri_complete, submits the prefilled code, confirms it on
   * the next page, and signs in (login and consent through the interaction API).
   */
  async confirmDevice (verificationUriComplete: string): Promise<{ status: number, body: string }> {
    let page = await this.visit(verificationUriComplete)
    for (let step = 0; step < 3; step++) {
      const form = /<form[^>]*action="([^"]+)"[^>]*>([\s\S]*?)<\/form>/.exec(page.body)
      if (form === null) return page
      const fields: Record<string, string> = {}
      for (const m of form[2].matchAll(/<input([^>]*)>/g)) {
        const name = /name="([^"]*)"/.exec(m[1])?.[1]
        const value = /value="([^"]*)"/.exec(m[1])?.[1]
        if (name !== undefined && value !== undefined) fields[name] = value
      }
      page = await this.visit(new URL(form[1], page.url).href, { method: 'POST', form: fields })
    }
    throw new Error(`device confirmation did not finish: ${page.body.slice(0, 300)}`)
  }
}

export interface KeyServer {
  issuer: string
  /** the keys served at the jwks_uri (public parts of `signers`), replaceable for rotation tests */
  signers: Array<{ kid: string, alg: string, privateKey: import('node:crypto').KeyObject, publicJwk: JWK }>
  /** while true, every request is answered 503 */
  down: boolean
  jwksFetches: number
  sign: (claims: Record<string, unknown>, opts?: { kid?: string, alg?: string, header?: Record<string, unknown> }) => Promise<string>
  addKey: (alg?: 'RS256' | 'ES256' | 'EdDSA') => Promise<string>
  close: () => Promise<void>
}

/** A minimal issuer: discovery and a JWKS whose keys the test rotates, plus a signer for crafting tokens. */
export async function startKeyServer (): Promise<KeyServer> {
  const server = http.createServer()
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  const issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  const ks: KeyServer = {
    issuer,
    signers: [],
    down: false,
    jwksFetches: 0,
    async sign (claims, o = {}) {
      const s = o.kid !== undefined ? ks.signers.find(x => x.kid === o.kid) : ks.signers[0]
      if (s === undefined) throw new Error('no such key')
      const now = Math.floor(Date.now() / 1000)
      return await new SignJWT({ iss: issuer, iat: now, exp: now + 300, ...claims })
        .setProtectedHeader({ alg: o.alg ?? s.alg, kid: s.kid, typ: 'JWT', ...o.header })
        .sign(s.privateKey)
    },
    async addKey (alg = 'RS256') {
      const { privateKey, publicKey } = alg === 'RS256'
        ? generateKeyPairSync('rsa', { modulusLength: 2048 })
        : alg === 'ES256' ? generateKeyPairSync('ec', { namedCurve: 'P-256' }) : generateKeyPairSync('ed25519')
      const kid = 'k-' + randomUUID().slice(0, 8)
      ks.signers.push({ kid, alg, privateKey, publicJwk: { ...(await exportJWK(publicKey)), kid, alg, use: 'sig' } })
      return kid
    },
    close: async () => await new Promise<void>(resolve => { server.closeAllConnections(); server.close(() => resolve()) })
  }
  server.on('request', (req, res) => {
    if (ks.down) { res.writeHead(503).end(); return }
    if (req.url === '/.well-known/openid-configuration') {
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ issuer, jwks_uri: `${issuer}/jwks` }))
    } else if (req.url === '/jwks') {
      ks.jwksFetches++
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys: ks.signers.map(s => s.publicJwk) }))
    } else {
      res.writeHead(404).end()
    }
  })
  await ks.addKey('RS256')
  return ks
}
