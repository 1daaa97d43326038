/**
 * PostgreSQL's frontend/backend wire protocol (version 3.0), the subset a physical replication
 * client speaks: startup, authentication, simple queries and CopyBoth streaming.
 *
 * This sits under the replication connection (connection.ts), at the very start of strata's data
 * path: the primary's WAL arrives here as CopyData messages. strata frames the protocol itself
 * rather than using the `pg-protocol` package: the subset is about fifteen message types, and the
 * WAL bytes must be handed on as views that nobody overwrites later (the WAL decoder keeps pushed
 * chunks by reference), while pg-protocol's parser compacts its internal merge buffer in place, so
 * its CopyData chunks would have to be copied once more. Here a message wholly inside one socket
 * read is a view into that read's buffer (Node gives every read a fresh one); a message that
 * straddles reads is assembled once into a buffer of its own.
 *
 * Every integer on the wire is big-endian (network order), unlike WAL, which is little-endian.
 * Frontend messages: a type byte (except the startup message), an int32 length that counts itself
 * but not the type byte, then the body. Backend messages have the same frame.
 */
import { formatLsn, lsn as toLsn, type Lsn } from '../../pg/lsn.js';
import { ReplicationError } from './errors.js';

/** The protocol version 3.0, as the startup message carries it. */
export const PROTOCOL_VERSION_3 = 196608;
/** A backend message longer than this is taken as a broken stream (PostgreSQL's own CopyData is at most ~1 GB). */
export const BACKEND_MESSAGE_BYTES_MAX = 1024 * 1024 * 1024;
/** Microseconds between the Unix epoch and PostgreSQL's epoch (2000-01-01 00:00 UTC). */
const PG_EPOCH_OFFSET_US = 946_684_800_000_000n;

/** ErrorResponse / NoticeResponse fields, by their one-letter codes (protocol-error-fields.html). */
export interface ServerMessageFields {
  readonly severity: string;
  readonly sqlstate: string;
  readonly message: string;
  readonly detail?: string;
  readonly hint?: string;
  /** Every field received, by code letter. */
  readonly all: Readonly<Record<string, string>>;
}

export interface FieldDescription {
  readonly name: string;
  readonly typeOid: number;
}

/** The backend messages strata understands, as a discriminated union. */
export type BackendMessage =
  | { readonly kind: 'authentication'; readonly code: number; readonly data: Buffer }
  | { readonly kind: 'parameterStatus'; readonly name: string; readonly value: string }
  | { readonly kind: 'backendKeyData'; readonly pid: number; readonly secret: number }
  | { readonly kind: 'readyForQuery'; readonly status: string }
  | { readonly kind: 'error'; readonly fields: ServerMessageFields }
  | { readonly kind: 'notice'; readonly fields: ServerMessageFields }
  | { readonly kind: 'rowDescription'; readonly fields: readonly FieldDescription[] }
  | { readonly kind: 'dataRow'; readonly values: readonly (Buffer | null)[] }
  | { readonly kind: 'commandComplete'; readonly tag: string }
  | { readonly kind: 'emptyQueryResponse' }
  | { readonly kind: 'copyBothResponse' }
  | { readonly kind: 'copyOutResponse' }
  | { readonly kind: 'copyInResponse' }
  | { readonly kind: 'copyData'; readonly data: Buffer }
  | { readonly kind: 'copyDone' }
  | { readonly kind: 'notificationResponse' };

/** The messages inside CopyData during physical streaming (protocol-replication.html). */
export type StreamMessage =
  /** XLogData ('w'): WAL starting at `start`; `walEnd` is the server's end of WAL. */
  | { readonly kind: 'xlogData'; readonly start: Lsn; readonly walEnd: Lsn; readonly sendTimeUs: bigint; readonly data: Buffer }
  /** Primary keepalive ('k'). */
  | { readonly kind: 'keepalive'; readonly walEnd: Lsn; readonly sendTimeUs: bigint; readonly replyRequested: boolean };

/** A cursor over one message body; reads are big-endian and every read checks its bytes are there. */
export class MessageReader {
  private offset = 0;

  constructor(
    private readonly body: Buffer,
    private readonly what: string,
  ) {}

  get remaining(): number {
    return this.body.length - this.offset;
  }

  private need(n: number, field: string): void {
    if (this.offset + n > this.body.length)
      throw new ReplicationError(
        'PROTOCOL_VIOLATION',
        `Cannot read ${field} of ${this.what} at offset ${this.offset}: needs ${n} bytes, ${this.body.length - this.offset} remain`,
      );
  }

  byte(field: string): number {
    this.need(1, field);
    return this.body[this.offset++]!;
  }

  int16(field: string): number {
    this.need(2, field);
    const v = this.body.readInt16BE(this.offset);
    this.offset += 2;
    return v;
  }

  int32(field: string): number {
    this.need(4, field);
    const v = this.body.readInt32BE(this.offset);
    this.offset += 4;
    return v;
  }

  uint64(field: string): bigint {
    this.need(8, field);
    const v = this.body.readBigUInt64BE(this.offset);
    this.offset += 8;
    return v;
  }

  int64(field: string): bigint {
    this.need(8, field);
    const v = this.body.readBigInt64BE(this.offset);
    this.offset += 8;
    return v;
  }

  bytes(n: number, field: string): Buffer {
    this.need(n, field);
    const v = this.body.subarray(this.offset, this.offset + n);
    this.offset += n;
    return v;
  }

  rest(): Buffer {
    const v = this.body.subarray(this.offset);
    this.offset = this.body.length;
    return v;
  }

  cstring(field: string): string {
    const end = this.body.indexOf(0, this.offset);
    if (end < 0) throw new ReplicationError('PROTOCOL_VIOLATION', `Cannot read ${field} of ${this.what}: no NUL terminator after offset ${this.offset}`);
    const v = this.body.toString('utf8', this.offset, end);
    this.offset = end + 1;
    return v;
  }
}

/**
 * Splits the backend's byte stream into messages. Fed socket reads of any size; `next()` returns
 * one complete message at a time (type byte and body) or undefined when more bytes are needed.
 */
export class MessageFramer {
  private chunks: Buffer[] = [];
  /** Offset of the first unread byte in chunks[0]. */
  private head = 0;
  private buffered = 0;

  push(chunk: Buffer): void {
    if (chunk.length === 0) return;
    this.chunks.push(chunk);
    this.buffered += chunk.length;
  }

  /** Bytes received and not yet returned as messages. */
  get pendingBytes(): number {
    return this.buffered;
  }

  next(): { type: number; body: Buffer } | undefined {
    if (this.buffered < 5) return undefined;
    const header = this.peek(5);
    const type = header[0]!;
    const length = header.readInt32BE(1);
    if (length < 4 || length > BACKEND_MESSAGE_BYTES_MAX)
      throw new ReplicationError('PROTOCOL_VIOLATION', `Cannot frame a backend message of type '${printable(type)}': its length must be in [4, ${BACKEND_MESSAGE_BYTES_MAX}], received ${length}`);
    if (this.buffered < 1 + length) return undefined;
    const whole = this.take(1 + length);
    return { type, body: whole.subarray(5) };
  }

  /** The first n buffered bytes without consuming them (copied only when they straddle chunks). */
  private peek(n: number): Buffer {
    const first = this.chunks[0]!;
    if (first.length - this.head >= n) return first.subarray(this.head, this.head + n);
    const out = Buffer.allocUnsafe(n);
    let got = 0;
    let off = this.head;
    for (const c of this.chunks) {
      const k = Math.min(n - got, c.length - off);
      c.copy(out, got, off, off + k);
      got += k;
      off = 0;
      if (got === n) break;
    }
    return out;
  }

  /** Consumes n bytes: a view when they lie in one chunk, else one new buffer. */
  private take(n: number): Buffer {
    this.buffered -= n;
    const first = this.chunks[0]!;
    if (first.length - this.head >= n) {
      const v = first.subarray(this.head, this.head + n);
      this.head += n;
      if (this.head === first.length) {
        this.chunks.shift();
        this.head = 0;
      }
      return v;
    }
    const out = Buffer.allocUnsafe(n);
    let got = 0;
    while (got < n) {
      const c = this.chunks[0]!;
      const k = Math.min(n - got, c.length - this.head);
      c.copy(out, got, this.head, this.head + k);
      got += k;
      this.head += k;
      if (this.head === c.length) {
        this.chunks.shift();
        this.head = 0;
      }
    }
    return out;
  }
}

function printable(type: number): string {
  return type >= 0x20 && type < 0x7f ? String.fromCharCode(type) : `\\x${type.toString(16).padStart(2, '0')}`;
}

function parseServerFields(r: MessageReader): ServerMessageFields {
  const all: Record<string, string> = {};
  for (;;) {
    const code = r.byte('field type');
    if (code === 0) break;
    all[String.fromCharCode(code)] = r.cstring('field value');
  }
  const fields: ServerMessageFields = {
    // 'V' is the severity that is never localised; 'S' may be translated.
    severity: all['V'] ?? all['S'] ?? 'ERROR',
    sqlstate: all['C'] ?? 'XX000',
    message: all['M'] ?? '(no message)',
    all,
    ...(all['D'] !== undefined ? { detail: all['D'] } : {}),
    ...(all['H'] !== undefined ? { hint: all['H'] } : {}),
  };
  return fields;
}

/** Parses one backend message's body by its type byte. Unknown types are a protocol violation. */
export function parseBackendMessage(type: number, body: Buffer): BackendMessage {
  const name = `message '${printable(type)}'`;
  const r = new MessageReader(body, name);
  switch (type) {
    case 0x52 /* R */:
      return { kind: 'authentication', code: r.int32('authentication code'), data: r.rest() };
    case 0x53 /* S */:
      return { kind: 'parameterStatus', name: r.cstring('name'), value: r.cstring('value') };
    case 0x4b /* K */:
      return { kind: 'backendKeyData', pid: r.int32('pid'), secret: r.int32('secret key') };
    case 0x5a /* Z */:
      return { kind: 'readyForQuery', status: String.fromCharCode(r.byte('transaction status')) };
    case 0x45 /* E */:
      return { kind: 'error', fields: parseServerFields(r) };
    case 0x4e /* N */:
      return { kind: 'notice', fields: parseServerFields(r) };
    case 0x54 /* T */: {
      const n = r.int16('field count');
      const fields: FieldDescription[] = [];
      for (let i = 0; i < n; i++) {
        const fieldName = r.cstring('field name');
        r.int32('table oid');
        r.int16('column number');
        const typeOid = r.int32('type oid');
        r.int16('type size');
        r.int32('type modifier');
        r.int16('format code');
        fields.push({ name: fieldName, typeOid });
      }
      return { kind: 'rowDescription', fields };
    }
    case 0x44 /* D */: {
      const n = r.int16('column count');
      const values: (Buffer | null)[] = [];
      for (let i = 0; i < n; i++) {
        const len = r.int32('value length');
        values.push(len < 0 ? null : r.bytes(len, 'value'));
      }
      return { kind: 'dataRow', values };
    }
    case 0x43 /* C */:
      return { kind: 'commandComplete', tag: r.cstring('command tag') };
    case 0x49 /* I */:
      return { kind: 'emptyQueryResponse' };
    case 0x57 /* W */:
      return { kind: 'copyBothResponse' };
    case 0x48 /* H */:
      return { kind: 'copyOutResponse' };
    case 0x47 /* G */:
      return { kind: 'copyInResponse' };
    case 0x64 /* d */:
      return { kind: 'copyData', data: body };
    case 0x63 /* c */:
      return { kind: 'copyDone' };
    case 0x41 /* A */:
      return { kind: 'notificationResponse' };
    default:
      throw new ReplicationError('PROTOCOL_VIOLATION', `Cannot parse backend ${name}: strata does not expect this message type (length ${body.length})`);
  }
}

/** Parses the payload of a CopyData message received while streaming physical WAL. */
export function parseStreamMessage(data: Buffer): StreamMessage {
  const r = new MessageReader(data, 'a streaming CopyData message');
  const tag = r.byte('message type');
  if (tag === 0x77 /* w */) {
    const start = toLsn(r.uint64('dataStart'));
    const walEnd = toLsn(r.uint64('walEnd'));
    const sendTimeUs = r.int64('sendTime');
    return { kind: 'xlogData', start, walEnd, sendTimeUs, data: r.rest() };
  }
  if (tag === 0x6b /* k */) {
    const walEnd = toLsn(r.uint64('walEnd'));
    const sendTimeUs = r.int64('sendTime');
    const replyRequested = r.byte('reply requested') !== 0;
    return { kind: 'keepalive', walEnd, sendTimeUs, replyRequested };
  }
  throw new ReplicationError('PROTOCOL_VIOLATION', `Cannot parse a streaming CopyData message: type '${printable(tag)}' is neither XLogData ('w') nor keepalive ('k')`);
}

/** Microseconds since 2000-01-01 UTC (TimestampTz), for status updates. */
export function pgNowUs(nowMs: number = Date.now()): bigint {
  return BigInt(Math.round(nowMs * 1000)) - PG_EPOCH_OFFSET_US;
}

// ---- Frontend messages. Each writer states its length up front (STYLE.md 4). ----

function frame(type: string, body: Buffer): Buffer {
  const out = Buffer.allocUnsafe(1 + 4 + body.length);
  out[0] = type.charCodeAt(0);
  out.writeInt32BE(4 + body.length, 1);
  body.copy(out, 5);
  return out;
}

function cstr(s: string): Buffer {
  if (s.includes('\0')) throw new ReplicationError('INVALID_ARGUMENT', `Cannot send a string with a NUL byte in it: received ${JSON.stringify(s)}`);
  return Buffer.from(s + '\0', 'utf8');
}

/** StartupMessage: no type byte; int32 length, int32 protocol version, name/value pairs, a final NUL. */
export function startupMessage(params: Readonly<Record<string, string>>): Buffer {
  const parts: Buffer[] = [];
  for (const [k, v] of Object.entries(params)) parts.push(cstr(k), cstr(v));
  parts.push(Buffer.from([0]));
  const body = Buffer.concat(parts);
  const out = Buffer.allocUnsafe(8 + body.length);
  out.writeInt32BE(8 + body.length, 0);
  out.writeInt32BE(PROTOCOL_VERSION_3, 4);
  body.copy(out, 8);
  return out;
}

/** PasswordMessage ('p') with a password or an md5 hash. */
export function passwordMessage(password: string): Buffer {
  return frame('p', cstr(password));
}

/** SASLInitialResponse ('p'): mechanism name, int32 length of the client-first message, the message. */
export function saslInitialResponse(mechanism: string, data: Buffer): Buffer {
  const name = cstr(mechanism);
  const body = Buffer.allocUnsafe(name.length + 4 + data.length);
  name.copy(body, 0);
  body.writeInt32BE(data.length, name.length);
  data.copy(body, name.length + 4);
  return frame('p', body);
}

/** SASLResponse ('p'): the raw client-final message. */
export function saslResponse(data: Buffer): Buffer {
  return frame('p', data);
}

/** Query ('Q'): a simple query. */
export function queryMessage(sql: string): Buffer {
  return frame('Q', cstr(sql));
}

export function copyDataMessage(payload: Buffer): Buffer {
  return frame('d', payload);
}

export function copyDoneMessage(): Buffer {
  return frame('c', Buffer.alloc(0));
}

export function terminateMessage(): Buffer {
  return frame('X', Buffer.alloc(0));
}

/**
 * Standby status update ('r') inside CopyData: the WAL positions written, flushed and applied,
 * the client's clock, and whether the server should reply at once. 1 + 8 + 8 + 8 + 8 + 1 = 34 bytes.
 */
export function standbyStatusUpdate(write: Lsn, flush: Lsn, apply: Lsn, nowUs: bigint, replyRequested: boolean): Buffer {
  const p = Buffer.allocUnsafe(34);
  p[0] = 0x72; // 'r'
  p.writeBigUInt64BE(write, 1);
  p.writeBigUInt64BE(flush, 9);
  p.writeBigUInt64BE(apply, 17);
  p.writeBigInt64BE(nowUs, 25);
  p[33] = replyRequested ? 1 : 0;
  return copyDataMessage(p);
}

/** The `X/X` text PostgreSQL's replication grammar takes for an LSN. */
export function lsnArg(value: Lsn): string {
  return formatLsn(value);
}
