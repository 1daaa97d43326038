/**
 * The replication client's operating errors. Anything that goes wrong talking to a primary is a
 * `ReplicationError` with a `code`; an ErrorResponse from the server is a `ServerError` (code
 * 'SERVER_ERROR') that also carries the server's SQLSTATE, message, detail and what strata was
 * doing, so the receiver can tell "retry later" (the server is shutting down, starting up) from
 * "give up" (wrong password, the timeline forked under us).
 */
import type { ServerMessageFields } from './protocol.js';

export type ReplicationErrorCode =
  /** connect() failed: refused, unreachable, timed out. */
  | 'CONNECT_FAILED'
  /** The socket closed or failed after it was open. */
  | 'CONNECTION_LOST'
  /** The server sent something the protocol does not allow here. */
  | 'PROTOCOL_VIOLATION'
  /** The server asks for an authentication method strata does not speak (e.g. GSSAPI). */
  | 'UNSUPPORTED_AUTH'
  /** The server wants a password and none was configured, or the SCRAM exchange did not verify. */
  | 'AUTH_FAILED'
  /** An ErrorResponse: see `ServerError`. */
  | 'SERVER_ERROR'
  /** A caller passed something that cannot be sent (a NUL in a string, a bad slot name). */
  | 'INVALID_ARGUMENT'
  /** The connection is busy with another command or streaming, or closed. */
  | 'CONNECTION_BUSY'
  /** The server answered a command with a result of an unexpected shape. */
  | 'UNEXPECTED_RESULT';

export class ReplicationError extends Error {
  constructor(
    readonly code: ReplicationErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'ReplicationError';
  }
}

/** SQLSTATEs that mean "the password or the role is wrong": retrying cannot help. */
const AUTH_SQLSTATES = new Set(['28P01', '28000']);

export class ServerError extends ReplicationError {
  readonly sqlstate: string;
  readonly severity: string;
  readonly serverMessage: string;
  readonly detail: string | undefined;
  readonly hint: string | undefined;
  /** What strata was doing, e.g. `START_REPLICATION SLOT "strata" PHYSICAL 0/3000000 TIMELINE 1`. */
  readonly during: string;

  constructor(fields: ServerMessageFields, during: string) {
    const detail = fields.detail !== undefined ? ` (${fields.detail})` : '';
    super('SERVER_ERROR', `Cannot ${during}: the server said ${fields.severity} ${fields.sqlstate}: ${fields.message}${detail}`);
    this.name = 'ServerError';
    this.sqlstate = fields.sqlstate;
    this.severity = fields.severity;
    this.serverMessage = fields.message;
    this.detail = fields.detail;
    this.hint = fields.hint;
    this.during = during;
  }

  /** invalid_password / invalid_authorization_specification. */
  get isAuthFailure(): boolean {
    return AUTH_SQLSTATES.has(this.sqlstate);
  }
}
