import type { Action, Effect, Protocol } from '../../decoders/types.js'

/** The validated configuration (CONTRACT.md "Configuration"); secrets already resolved. */
export interface Config {
  /** absolute path of the file it came from; relative paths inside resolve against its folder */
  file: string
  admin: { listen: HostPort }
  identity: IdentityConfig
  backends: BackendConfig[]
  policy: PolicyConfig
  masking: { profiles: Record<string, MaskProfileConfig> }
  journal: JournalConfig
  limits: LimitsConfig
}

export interface HostPort { host: string, port: number }

export interface IdentityConfig {
  signing_key: string
  /** seconds */
  token_ttl: number
  /** seconds */
  max_ttl: number
  /** audience vecgate puts in and requires of its own grants */
  audience: string
  oidc: OidcIssuerConfig[]
  saml?: SamlConfig
}

export interface OidcIssuerConfig {
  issuer: string
  audience: string
  groups_claim: string
  /** allowed JWS algorithms; default RS256, ES256, PS256, EdDSA */
  algorithms: string[]
  client_id?: string
}

export interface SamlConfig {
  idp_cert: string
  audience: string
  acs_url: string
  groups_attribute: string
}

export interface TlsConfig { cert: string, key: string, ca?: string }
export interface UpstreamTlsConfig { ca?: string, servername?: string, insecure?: boolean }

export interface BackendConfig {
  name: string
  protocol: Protocol
  listen: HostPort
  upstream: HostPort
  tls?: TlsConfig
  upstream_tls?: UpstreamTlsConfig
  /**
   * postgres: extensions whose functions, operators and casts are trusted like built-ins when the
   * catalog is checked (lib/postgres/catalog.ts); default ['vector']
   */
  trusted_extensions?: string[]
  /** resolved secrets: api_key (qdrant), username/password (milvus), user/password/database (postgres) */
  credentials: Record<string, string>
}

export interface PolicyRuleConfig {
  id: string
  subjects?: { users?: string[], groups?: string[], claims?: Record<string, string | string[]> }
  backends?: string[]
  collections?: string[]
  actions?: Action[]
  when?: {
    bulk?: boolean
    max_ids?: number
    max_limit?: number
    with_vectors?: boolean
    /** 'HH:MM-HH:MM' in UTC */
    hours?: string
  }
  effect: Effect
  mask?: string
  approvers?: { groups?: string[], users?: string[], count?: number }
}

export interface PolicyConfig {
  rules: PolicyRuleConfig[]
  /** seconds a request may be held in protocol waiting for approval */
  approval_hold: number
  /** seconds an approval stays valid once given */
  approval_ttl: number
  webhook?: { url: string }
  /** per identity and window */
  limits?: { window: number, requests?: number, records?: number, vectors?: number }
}

export interface MaskProfileConfig {
  fields: string[]
  detectors: string[]
  action: 'redact' | 'hash' | 'partial' | 'null' | 'drop'
  vectors: 'keep' | 'drop' | 'round'
  /** bits of mantissa kept when vectors: round (default 8) */
  round_bits?: number
}

export interface JournalConfig {
  path: string
  /** what to do when the queue is full: hold the client, or record a loss marker */
  on_full: 'hold' | 'mark'
  queue: number
  retention?: { max_age?: number, max_bytes?: number }
  store_vectors: boolean
  /** groups whose members may read every session (others see only their own) */
  auditors: string[]
  /**
   * which calls end for the client only once their events are committed: 'changes' (writes,
   * deletes, admin — the default) or 'all' (reads and searches too: nothing a client received is
   * missing after a crash, at about 0.1 ms per call at low concurrency)
   */
  durable: 'all' | 'changes'
}

export interface LimitsConfig {
  /** gRPC max message size in bytes (after inflation) */
  max_message: number
  /** HTTP/2 max header list size (decoded) */
  max_header_list: number
  /** new streams per second per connection before GOAWAY (rapid reset) */
  max_streams_per_second: number
  /** idle connection timeout, seconds */
  idle_timeout: number
  /** Postgres max message / startup packet */
  pg_max_message: number
}
