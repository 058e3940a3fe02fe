import type protobuf from 'protobufjs'
import type { BackendConfig } from '../../lib/config/types.js'
import type { Identity, Operation, ResultView } from '../types.js'
import type { AliasMap } from './aliases.js'
import type { MessageBytes } from './messages.js'

/** Request metadata as the relay decoded it (lower-case names). */
export interface Metadata {
  get (name: string): string | undefined
  all (name: string): string[]
}

/** One RPC of a gRPC service the gateway understands. Unknown paths are refused by the relay. */
export interface GrpcMethod {
  /** ':path', e.g. '/qdrant.Points/Search' */
  path: string
  /** Operation.method, e.g. 'qdrant.Points/Search' */
  name: string
  requestType: protobuf.Type
  responseType: protobuf.Type
  /** authenticated but not put to the policy (health checks, client telemetry) */
  passThrough?: boolean
  /**
   * decode the request message into an Operation; throws VG_ERR_MALFORMED on bytes that do not decode.
   * A large request comes in the pieces it arrived in: a method that can read it so never joins it.
   */
  operation (request: MessageBytes, md: Metadata, backend: string): Operation
  /** a view over one response message, when the method returns records (masking, who-saw) */
  resultView? (response: Buffer): ResultView
  /**
   * For a bulk operation held for approval: the read-only call that counts what it would touch (Qdrant
   * Count with the same filter, Milvus count(*) with the same expression), shown to the approver.
   */
  blastRadius? (op: Operation): BlastQuery | undefined
  /** the call can create, move or drop aliases (or the collections they name): the alias map is stale */
  changesAliases?: boolean
}

export interface BlastQuery {
  path: string
  request: Uint8Array
  /** the number of records from the response message */
  count: (response: Buffer) => number
}

/** What the HTTP/2 relay needs to know of a gRPC protocol (Qdrant, Milvus); nothing else is protocol-specific. */
export interface GrpcService {
  protocol: 'qdrant' | 'milvus'
  method (path: string): GrpcMethod | undefined
  /**
   * The vecgate token the client presented in its metadata, undefined when none. Two credentials in one
   * request are refused (VG_ERR_UNAUTHENTICATED) rather than one picked (THREATS.md).
   */
  credential (md: Metadata): string | undefined
  /** request metadata never forwarded upstream (the client's credentials) */
  readonly secretHeaders: ReadonlySet<string>
  /** metadata added upstream: the backend's own credentials (or a credential minted for this identity) */
  upstreamCredentials (backend: BackendConfig, identity: Identity): Array<[string, string]> | Promise<Array<[string, string]>>
  /**
   * The backend's aliases (one map per backend), resolved before the policy decides; read with
   * `ownCredentials`, the backend's own, never a credential minted for one identity.
   */
  readonly aliases?: AliasMap
  ownCredentials? (backend: BackendConfig): Array<[string, string]>
}
