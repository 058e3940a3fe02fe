/**
 * Message codes and magic numbers of the PostgreSQL frontend/backend protocol v3
 * (PostgreSQL docs, chapter 55 "Frontend/Backend Protocol", section 55.7 "Message Formats").
 */

/** Frontend (client → server) message type bytes. */
export const F = {
  Bind: 0x42, // 'B'
  Close: 0x43, // 'C'
  CopyData: 0x64, // 'd'
  CopyDone: 0x63, // 'c'
  CopyFail: 0x66, // 'f'
  Describe: 0x44, // 'D'
  Execute: 0x45, // 'E'
  Flush: 0x48, // 'H'
  FunctionCall: 0x46, // 'F'
  Parse: 0x50, // 'P'
  Password: 0x70, // 'p' (also SASLInitialResponse, SASLResponse, GSSResponse)
  Query: 0x51, // 'Q'
  Sync: 0x53, // 'S'
  Terminate: 0x58 // 'X'
} as const

/** Backend (server → client) message type bytes. */
export const B = {
  Authentication: 0x52, // 'R'
  BackendKeyData: 0x4b, // 'K'
  BindComplete: 0x32, // '2'
  CloseComplete: 0x33, // '3'
  CommandComplete: 0x43, // 'C'
  CopyBothResponse: 0x57, // 'W'
  CopyData: 0x64, // 'd'
  CopyDone: 0x63, // 'c'
  CopyInResponse: 0x47, // 'G'
  CopyOutResponse: 0x48, // 'H'
  DataRow: 0x44, // 'D'
  EmptyQueryResponse: 0x49, // 'I'
  ErrorResponse: 0x45, // 'E'
  FunctionCallResponse: 0x56, // 'V'
  NegotiateProtocolVersion: 0x76, // 'v'
  NoData: 0x6e, // 'n'
  NoticeResponse: 0x4e, // 'N'
  NotificationResponse: 0x41, // 'A'
  ParameterDescription: 0x74, // 't'
  ParameterStatus: 0x53, // 'S'
  ParseComplete: 0x31, // '1'
  PortalSuspended: 0x73, // 's'
  ReadyForQuery: 0x5a, // 'Z'
  RowDescription: 0x54 // 'T'
} as const

/** Codes of the untyped first packet (55.7: StartupMessage, SSLRequest, GSSENCRequest, CancelRequest). */
export const PROTOCOL_3_0 = 196608 // 3 << 16
export const SSL_REQUEST = 80877103 // 1234 << 16 | 5679
export const GSSENC_REQUEST = 80877104 // 1234 << 16 | 5680
export const CANCEL_REQUEST = 80877102 // 1234 << 16 | 5678

/** AuthenticationXxx sub-codes (55.7 "AuthenticationOk" and following). */
export const Auth = {
  Ok: 0,
  KerberosV5: 2,
  CleartextPassword: 3,
  MD5Password: 5,
  GSS: 7,
  GSSContinue: 8,
  SSPI: 9,
  SASL: 10,
  SASLContinue: 11,
  SASLFinal: 12
} as const

/**
 * PostgreSQL's own cap on the startup packet (src/include/libpq/pqcomm.h MAX_STARTUP_PACKET_LENGTH);
 * anything longer is an attack or a confused client.
 */
export const MAX_STARTUP_PACKET = 10000

/** Name a message code for logs and errors: 'Q', 'P', ... */
export const codeName = (code: number): string => code >= 0x20 && code < 0x7f ? String.fromCharCode(code) : `0x${code.toString(16)}`
