/**
 * The PostgreSQL frontend/backend protocol, version 3.0, server side, as far as the page service
 * needs it (PostgreSQL docs "Frontend/Backend Protocol", src/backend/libpq/pqcomm.c and
 * src/include/libpq/pqcomm.h): the startup packet (StartupMessage, SSLRequest, GSSENCRequest,
 * CancelRequest), the messages a client sends once started (Query, PasswordMessage / SASL
 * responses, CopyData, CopyDone, CopyFail, Terminate, the extended-query messages) and the
 * messages the server writes. Pure: bytes in, messages out.
 *
 * Framing: a startup packet is `int32 length (itself included) | int32 code | body`; every later
 * message is `byte type | int32 length (itself included) | body`. The reader below splits a byte
 * stream at those boundaries whatever the TCP segments were, and throws WireProtocolError when a
 * length cannot be right: then the stream cannot be followed and the connection must close.
 */

/** 3.0: major 3 in the high 16 bits. */
export const PROTOCOL_VERSION_3 = 196608;
/** Special startup codes (pqcomm.h): 1234 in the high 16 bits. */
export const CANCEL_REQUEST_CODE = 80877102;
export const SSL_REQUEST_CODE = 80877103;
export const GSSENC_REQUEST_CODE = 80877104;

/** PostgreSQL's own limit on a startup packet (MAX_STARTUP_PACKET_LENGTH). */
export const STARTUP_PACKET_BYTES_MAX = 10000;

export class WireProtocolError extends Error {
  override readonly name = 'WireProtocolError';
  readonly code = 'PROTOCOL_VIOLATION';
}

export type StartupPacket =
  | { readonly kind: 'ssl' }
  | { readonly kind: 'gssenc' }
  | { readonly kind: 'cancel'; readonly pid: number; readonly secret: number }
  | { readonly kind: 'startup'; readonly params: ReadonlyMap<string, string> };

/** A message after startup: its type byte and body (a view into the reader's buffer, valid until the next read). */
export interface FrontendMessage {
  readonly type: number;
  readonly body: Buffer;
}

/**
 * Splits a byte stream into messages. `push` a chunk, then take messages until `next*` returns
 * undefined; bytes of an incomplete message are kept for the next chunk.
 */
export class MessageReader {
  private buf: Buffer = Buffer.alloc(0);
  private off = 0;

  constructor(private readonly messageBytesMax: number) {}

  push(chunk: Buffer): void {
    if (this.off === this.buf.length) {
      this.buf = chunk;
    } else {
      this.buf = Buffer.concat([this.buf.subarray(this.off), chunk]);
    }
    this.off = 0;
  }

  /** Bytes received and not yet taken. */
  get buffered(): number {
    return this.buf.length - this.off;
  }

  /** ProcessStartupPacket's read: the next startup packet, or undefined until it is whole. */
  nextStartup(): StartupPacket | undefined {
    if (this.buffered < 4) return undefined;
    const len = this.buf.readInt32BE(this.off);
    if (len < 8 || len > STARTUP_PACKET_BYTES_MAX) throw new WireProtocolError(`Cannot read the startup packet: its length must be 8 to ${STARTUP_PACKET_BYTES_MAX} bytes, received ${len}`);
    if (this.buffered < len) return undefined;
    const body = this.buf.subarray(this.off + 4, this.off + len);
    this.off += len;
    return parseStartup(body);
  }

  /** The next typed message, or undefined until it is whole. */
  next(): FrontendMessage | undefined {
    if (this.buffered < 5) return undefined;
    const type = this.buf[this.off] as number;
    const len = this.buf.readInt32BE(this.off + 1);
    if (len < 4 || len > this.messageBytesMax)
      throw new WireProtocolError(`Cannot read message '${String.fromCharCode(type)}': its length must be 4 to ${this.messageBytesMax} bytes, received ${len}`);
    if (this.buffered < len + 1) return undefined;
    const body = this.buf.subarray(this.off + 5, this.off + 1 + len);
    this.off += len + 1;
    return { type, body };
  }
}

function parseStartup(body: Buffer): StartupPacket {
  const code = body.readInt32BE(0);
  switch (code) {
    case SSL_REQUEST_CODE:
      return { kind: 'ssl' };
    case GSSENC_REQUEST_CODE:
      return { kind: 'gssenc' };
    case CANCEL_REQUEST_CODE:
      if (body.length !== 12) throw new WireProtocolError(`Cannot read a CancelRequest: it is 16 bytes, received ${body.length + 4}`);
      return { kind: 'cancel', pid: body.readInt32BE(4), secret: body.readInt32BE(8) };
    default:
      break;
  }
  if (code >>> 16 !== 3) throw new WireProtocolError(`Cannot start a session: unsupported frontend protocol ${code >>> 16}.${code & 0xffff}, the server supports 3.0`);
  // name\0value\0 ... \0
  const params = new Map<string, string>();
  let o = 4;
  for (;;) {
    const nameEnd = body.indexOf(0, o);
    if (nameEnd < 0) throw new WireProtocolError('Cannot read the startup packet: its parameter list is not terminated');
    if (nameEnd === o) break;
    const valueEnd = body.indexOf(0, nameEnd + 1);
    if (valueEnd < 0) throw new WireProtocolError('Cannot read the startup packet: a parameter value is not terminated');
    params.set(body.toString('utf8', o, nameEnd), body.toString('utf8', nameEnd + 1, valueEnd));
    o = valueEnd + 1;
  }
  return { kind: 'startup', params };
}

/** A NUL-terminated string at `o`; throws if there is no NUL. */
export function readCString(b: Buffer, o: number, what: string): { value: string; end: number } {
  const nul = b.indexOf(0, o);
  if (nul < 0) throw new WireProtocolError(`Cannot read ${what}: the string is not NUL-terminated`);
  return { value: b.toString('utf8', o, nul), end: nul + 1 };
}

// ---- backend messages ----

/** One message: type byte, then length (back-patched), then the body the writer fills in. */
function message(type: string, bodyBytes: number, fill: (b: Buffer, o: number) => void): Buffer {
  const b = Buffer.allocUnsafe(5 + bodyBytes);
  b[0] = type.charCodeAt(0);
  b.writeInt32BE(4 + bodyBytes, 1);
  fill(b, 5);
  return b;
}

export const AUTH_OK = 0;
export const AUTH_CLEARTEXT_PASSWORD = 3;
export const AUTH_SASL = 10;
export const AUTH_SASL_CONTINUE = 11;
export const AUTH_SASL_FINAL = 12;

export function authenticationMessage(code: number, data: Buffer = Buffer.alloc(0)): Buffer {
  return message('R', 4 + data.length, (b, o) => {
    b.writeInt32BE(code, o);
    data.copy(b, o + 4);
  });
}

/** AuthenticationSASL: the mechanisms, each NUL-terminated, then a NUL. */
export function authenticationSasl(mechanisms: readonly string[]): Buffer {
  return authenticationMessage(AUTH_SASL, Buffer.from(mechanisms.map((m) => `${m}\0`).join('') + '\0'));
}

export function parameterStatus(name: string, value: string): Buffer {
  const body = Buffer.from(`${name}\0${value}\0`);
  return message('S', body.length, (b, o) => body.copy(b, o));
}

export function backendKeyData(pid: number, secret: number): Buffer {
  return message('K', 8, (b, o) => {
    b.writeInt32BE(pid, o);
    b.writeInt32BE(secret, o + 4);
  });
}

export function readyForQuery(status: 'I' | 'T' | 'E' = 'I'): Buffer {
  return message('Z', 1, (b, o) => {
    b[o] = status.charCodeAt(0);
  });
}

export function commandComplete(tag: string): Buffer {
  const body = Buffer.from(`${tag}\0`);
  return message('C', body.length, (b, o) => body.copy(b, o));
}

export function emptyQueryResponse(): Buffer {
  return message('I', 0, () => undefined);
}

export interface ErrorFields {
  readonly severity: 'ERROR' | 'FATAL';
  /** SQLSTATE, five characters. */
  readonly sqlstate: string;
  readonly message: string;
  readonly detail?: string;
  readonly hint?: string;
}

/** ErrorResponse (or NoticeResponse with type 'N'): S, V, C, M, D, H fields, then a NUL. */
export function errorResponse(e: ErrorFields, type: 'E' | 'N' = 'E'): Buffer {
  let text = `S${e.severity}\0V${e.severity}\0C${e.sqlstate}\0M${e.message}\0`;
  if (e.detail !== undefined) text += `D${e.detail}\0`;
  if (e.hint !== undefined) text += `H${e.hint}\0`;
  const body = Buffer.from(text + '\0');
  return message(type, body.length, (b, o) => body.copy(b, o));
}

/** CopyBothResponse: text format (0), no columns (as Neon's page service sends it). */
export function copyBothResponse(): Buffer {
  return message('W', 3, (b, o) => {
    b[o] = 0;
    b.writeInt16BE(0, o + 1);
  });
}

/** CopyOutResponse: binary format (1), no columns: a base backup's tar follows in CopyData messages. */
export function copyOutResponse(): Buffer {
  return message('H', 3, (b, o) => {
    b[o] = 1;
    b.writeInt16BE(0, o + 1);
  });
}

export function copyDone(): Buffer {
  return message('c', 0, () => undefined);
}

/** The 5-byte header of a CopyData message carrying `payloadBytes`. */
export function writeCopyDataHeader(b: Buffer, o: number, payloadBytes: number): number {
  b[o] = 0x64; // 'd'
  b.writeInt32BE(4 + payloadBytes, o + 1);
  return o + 5;
}

export const COPY_DATA_HEADER_BYTES = 5;

// ---- frontend messages, for clients (tests, bench/pagebench) ----

export function startupMessage(params: Readonly<Record<string, string>>): Buffer {
  const body = Buffer.from(Object.entries(params).map(([k, v]) => `${k}\0${v}\0`).join('') + '\0');
  const b = Buffer.allocUnsafe(8 + body.length);
  b.writeInt32BE(8 + body.length, 0);
  b.writeInt32BE(PROTOCOL_VERSION_3, 4);
  body.copy(b, 8);
  return b;
}

export function frontendMessage(type: string, body: Buffer): Buffer {
  return message(type, body.length, (b, o) => body.copy(b, o));
}

export function queryMessage(sql: string): Buffer {
  return frontendMessage('Q', Buffer.from(`${sql}\0`));
}

export function passwordMessage(password: string): Buffer {
  return frontendMessage('p', Buffer.from(`${password}\0`));
}

export function copyDataMessage(payload: Buffer): Buffer {
  return frontendMessage('d', payload);
}

/** ErrorResponse/NoticeResponse fields by their one-letter codes. */
export function parseErrorFields(body: Buffer): Map<string, string> {
  const fields = new Map<string, string>();
  let o = 0;
  while (o < body.length && body[o] !== 0) {
    const code = String.fromCharCode(body[o] as number);
    const { value, end } = readCString(body, o + 1, 'an error field');
    fields.set(code, value);
    o = end;
  }
  return fields;
}
