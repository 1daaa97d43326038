/**
 * The redo worker protocol: how the page server (engine.ts's ProcessRedoEngine) asks a tenant's
 * redo worker process (main.ts) for pages, over the worker's stdin and stdout. In the spirit of
 * Neon's walredo protocol (seed 001: begin redo for a page, push the base image, apply records, get
 * the page), with explicit lengths, a version handshake and request ids so that many requests can
 * be in flight on one worker (pipelining).
 *
 * Every frame, both ways (integers little-endian):
 *
 *   0        1                   5
 *   | type   | body length (u32) | body: exactly `body length` bytes |
 *
 * Page server -> worker:
 *
 *   'H' hello      | magic "strataRW" (8) | version (u16) |                                         10 bytes
 *   'B' begin      | request id (u32) | spcNode | dbNode | relNode (u32 each) | fork (u8) |
 *                  | blkno (u32) | settings flags (u8: 1 = hintBitsLogged) | input count (u32) |   26 bytes
 *   'P' push page  | request id (u32) | base image (8192) |                                      8196 bytes
 *   'A' apply      | request id (u32) | one codec-encoded input (codec.ts), at least 1 byte |
 *   'G' get page   | request id (u32) |                                                          4 bytes
 *
 * Worker -> page server:
 *
 *   'H' hello      | magic "strataRW" (8) | version (u16) |                                         10 bytes
 *   'R' page       | request id (u32) | the page (8192) |                                        8196 bytes
 *   'E' error      | request id (u32) | code length (u8) | code (ASCII, a RedoErrorCode) |
 *                  | LSN (u64; all ones: none) | message (UTF-8, the rest, at most 64 KiB) |
 *
 * Both sides send 'H' first and check that the other's first frame is 'H' with the same magic and
 * version (there is one version so far). A request is 'B', then 'P' if it has a base image, then
 * exactly `input count` 'A' frames, then 'G'; the worker answers every 'G' with 'R' or 'E', in the
 * order the 'G' frames came. Frames of different requests may follow each other without waiting.
 *
 * FrameParser is a push-based state machine: chunks go in as the pipe delivers them, split
 * anywhere, and whole frames come out. It checks the type and the body length as soon as the 5-byte
 * header is in, so a hostile length is refused before any of its body is buffered, and it checks
 * each body's fields; anything malformed is a ProtocolError, after which the parser refuses more.
 */
import { BLCKSZ } from '../../pg/constants.js';
import type { Lsn } from '../../pg/lsn.js';
import type { BlockNumber, Oid } from '../../pg/types.js';
import { INPUT_BYTES_MAX, type RedoRequest } from '../request.js';
import type { PageKey, RedoSettings } from '../types.js';

export const PROTOCOL_VERSION = 1;
/** The worker's exit status when the page server broke the protocol (it says why on stderr). */
export const PROTOCOL_EXIT_CODE = 3;
export const PROTOCOL_MAGIC = 'strataRW';
export const FRAME_HEADER_SIZE = 5;
/**
 * The largest input an 'A' frame carries: a WAL record with block references is at most 33 block
 * images and 33 blocks of data (u16 lengths) plus its main data; 64 MiB leaves room for a large main
 * data and refuses a hostile length before it is buffered.
 */
export const APPLY_BODY_BYTES_MAX = INPUT_BYTES_MAX;
/** The longest error message a worker may send. */
export const ERROR_MESSAGE_BYTES_MAX = 64 << 10;
/** An LSN field with all bits set: the error names no LSN. */
const NO_LSN = 0xffff_ffff_ffff_ffffn;

const HELLO_BODY_SIZE = 10;
const BEGIN_BODY_SIZE = 26;
const PAGE_BODY_SIZE = 4 + BLCKSZ;
const GET_BODY_SIZE = 4;
const ERROR_BODY_SIZE_MIN = 4 + 1 + 1 + 8;
const ERROR_BODY_SIZE_MAX = 4 + 1 + 255 + 8 + ERROR_MESSAGE_BYTES_MAX;
const SETTINGS_HINT_BITS_LOGGED = 0x01;

export const FRAME_HELLO = 0x48; // 'H'
export const FRAME_BEGIN = 0x42; // 'B'
export const FRAME_PUSH_PAGE = 0x50; // 'P'
export const FRAME_APPLY = 0x41; // 'A'
export const FRAME_GET_PAGE = 0x47; // 'G'
export const FRAME_PAGE = 0x52; // 'R'
export const FRAME_ERROR = 0x45; // 'E'

/** Error codes a worker may send: verdicts on a request's inputs, not on the worker. */
export const WORKER_ERROR_CODES = ['UNSUPPORTED_RECORD', 'CORRUPT_RECORD', 'CORRUPT_PAGE', 'BAD_INPUT', 'OUT_OF_MEMORY', 'INTERNAL'] as const;
export type WorkerErrorCode = (typeof WORKER_ERROR_CODES)[number];

export type ProtocolErrorCode =
  /** A frame type that this direction does not have. */
  | 'BAD_FRAME_TYPE'
  /** A body length that the frame type cannot have (fixed sizes, limits). */
  | 'BAD_FRAME_LENGTH'
  /** A body whose fields are wrong: magic, version, lengths inside it, an unknown error code. */
  | 'BAD_FRAME_BODY'
  /** A frame that is well formed but not allowed here: no hello first, an unknown request id. */
  | 'UNEXPECTED_FRAME';

export class ProtocolError extends Error {
  constructor(
    readonly code: ProtocolErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'ProtocolError';
  }
}

export interface HelloFrame {
  readonly kind: 'hello';
  readonly version: number;
}
export interface BeginFrame {
  readonly kind: 'begin';
  readonly requestId: number;
  readonly key: PageKey;
  readonly settings: RedoSettings;
  readonly inputCount: number;
}
export interface PushPageFrame {
  readonly kind: 'push-page';
  readonly requestId: number;
  readonly page: Uint8Array;
}
export interface ApplyFrame {
  readonly kind: 'apply';
  readonly requestId: number;
  readonly input: Uint8Array;
}
export interface GetPageFrame {
  readonly kind: 'get-page';
  readonly requestId: number;
}
export interface PageFrame {
  readonly kind: 'page';
  readonly requestId: number;
  readonly page: Uint8Array;
}
export interface ErrorFrame {
  readonly kind: 'error';
  readonly requestId: number;
  readonly code: WorkerErrorCode;
  readonly lsn: Lsn | undefined;
  readonly message: string;
}

export type ToWorkerFrame = HelloFrame | BeginFrame | PushPageFrame | ApplyFrame | GetPageFrame;
export type FromWorkerFrame = HelloFrame | PageFrame | ErrorFrame;

/** Which way frames go: which types exist, and how they decode. */
export type Direction = 'to-worker' | 'from-worker';

function typeName(type: number): string {
  const c = type >= 0x20 && type < 0x7f ? ` '${String.fromCharCode(type)}'` : '';
  return `0x${type.toString(16).padStart(2, '0')}${c}`;
}

function u32(b: Uint8Array, o: number): number {
  return (b[o]! | (b[o + 1]! << 8) | (b[o + 2]! << 16) | (b[o + 3]! << 24)) >>> 0;
}

function putU32(b: Uint8Array, o: number, v: number): void {
  b[o] = v & 0xff;
  b[o + 1] = (v >>> 8) & 0xff;
  b[o + 2] = (v >>> 16) & 0xff;
  b[o + 3] = (v >>> 24) & 0xff;
}

/** The allowed body lengths of a frame type in a direction, or undefined for an unknown type. */
function bodyLimits(direction: Direction, type: number): readonly [min: number, max: number] | undefined {
  if (type === FRAME_HELLO) return [HELLO_BODY_SIZE, HELLO_BODY_SIZE];
  if (direction === 'to-worker') {
    switch (type) {
      case FRAME_BEGIN:
        return [BEGIN_BODY_SIZE, BEGIN_BODY_SIZE];
      case FRAME_PUSH_PAGE:
        return [PAGE_BODY_SIZE, PAGE_BODY_SIZE];
      case FRAME_APPLY:
        return [5, 4 + APPLY_BODY_BYTES_MAX];
      case FRAME_GET_PAGE:
        return [GET_BODY_SIZE, GET_BODY_SIZE];
    }
    return undefined;
  }
  switch (type) {
    case FRAME_PAGE:
      return [PAGE_BODY_SIZE, PAGE_BODY_SIZE];
    case FRAME_ERROR:
      return [ERROR_BODY_SIZE_MIN, ERROR_BODY_SIZE_MAX];
  }
  return undefined;
}

const MAGIC_BYTES = new TextEncoder().encode(PROTOCOL_MAGIC);

function decodeHello(body: Uint8Array): HelloFrame {
  for (let i = 0; i < MAGIC_BYTES.length; i++)
    if (body[i] !== MAGIC_BYTES[i]) throw new ProtocolError('BAD_FRAME_BODY', `Cannot accept hello: the magic must be "${PROTOCOL_MAGIC}", received ${Buffer.from(body.subarray(0, 8)).toString('hex')}`);
  const version = body[8]! | (body[9]! << 8);
  return { kind: 'hello', version };
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

function decodeBody(direction: Direction, type: number, body: Uint8Array): ToWorkerFrame | FromWorkerFrame {
  if (type === FRAME_HELLO) return decodeHello(body);
  const requestId = u32(body, 0);
  switch (type) {
    case FRAME_BEGIN: {
      const flags = body[21]!;
      if ((flags & ~SETTINGS_HINT_BITS_LOGGED) !== 0) throw new ProtocolError('BAD_FRAME_BODY', `Cannot begin request ${requestId}: unknown settings flags 0x${flags.toString(16)}`);
      const fork = body[16]!;
      return {
        kind: 'begin',
        requestId,
        key: { rel: { spcNode: u32(body, 4) as Oid, dbNode: u32(body, 8) as Oid, relNode: u32(body, 12) as Oid }, fork, blkno: u32(body, 17) as BlockNumber },
        settings: { hintBitsLogged: (flags & SETTINGS_HINT_BITS_LOGGED) !== 0 },
        inputCount: u32(body, 22),
      };
    }
    case FRAME_PUSH_PAGE:
    case FRAME_PAGE:
      return { kind: type === FRAME_PAGE ? 'page' : 'push-page', requestId, page: body.subarray(4) };
    case FRAME_APPLY:
      return { kind: 'apply', requestId, input: body.subarray(4) };
    case FRAME_GET_PAGE:
      return { kind: 'get-page', requestId };
    case FRAME_ERROR: {
      const codeLength = body[4]!;
      if (5 + codeLength + 8 > body.length) throw new ProtocolError('BAD_FRAME_BODY', `Cannot read error of request ${requestId}: a ${codeLength}-byte code does not fit in a ${body.length}-byte body`);
      const code = String.fromCharCode(...body.subarray(5, 5 + codeLength));
      if (!(WORKER_ERROR_CODES as readonly string[]).includes(code))
        throw new ProtocolError('BAD_FRAME_BODY', `Cannot read error of request ${requestId}: unknown code "${code.replace(/[^\x20-\x7e]/g, '?')}"`);
      const lsnAt = 5 + codeLength;
      const lsn = (BigInt(u32(body, lsnAt + 4)) << 32n) | BigInt(u32(body, lsnAt));
      const messageBytes = body.subarray(lsnAt + 8);
      if (messageBytes.length > ERROR_MESSAGE_BYTES_MAX) throw new ProtocolError('BAD_FRAME_BODY', `Cannot read error of request ${requestId}: its message is ${messageBytes.length} bytes, at most ${ERROR_MESSAGE_BYTES_MAX}`);
      let message: string;
      try {
        message = utf8.decode(messageBytes);
      } catch {
        throw new ProtocolError('BAD_FRAME_BODY', `Cannot read error of request ${requestId}: its message is not UTF-8`);
      }
      return { kind: 'error', requestId, code: code as WorkerErrorCode, lsn: lsn === NO_LSN ? undefined : (lsn as Lsn), message };
    }
  }
  // bodyLimits() let only known types through.
  throw new ProtocolError('BAD_FRAME_TYPE', `Cannot decode frame type ${typeName(type)} going ${direction}`);
}

/**
 * Whole frames from a byte stream cut anywhere. `push` returns the frames that the chunk completed
 * (views into the chunks where a body arrived in one piece, else copies), or throws ProtocolError.
 */
export class FrameParser<F extends ToWorkerFrame | FromWorkerFrame> {
  private readonly header = new Uint8Array(FRAME_HEADER_SIZE);
  private headerFill = 0;
  private type = 0;
  /** The body being filled, once the header is in and it did not arrive in one piece. */
  private body: Uint8Array | undefined;
  private bodyLength = -1;
  private bodyFill = 0;
  private failed: ProtocolError | undefined;
  /** Bytes consumed so far: where an error was found. */
  private offset = 0;

  constructor(private readonly direction: Direction) {}

  push(chunk: Uint8Array): F[] {
    if (this.failed !== undefined) throw this.failed;
    const out: F[] = [];
    try {
      this.consume(chunk, out);
    } catch (e) {
      if (e instanceof ProtocolError) this.failed = new ProtocolError(e.code, `${e.message} (frame at stream offset ${this.offset})`);
      throw this.failed ?? e;
    }
    return out;
  }

  /** Whether the stream ended between frames (no partial frame is waiting). */
  get atFrameBoundary(): boolean {
    return this.headerFill === 0 && this.failed === undefined;
  }

  private consume(chunk: Uint8Array, out: F[]): void {
    let p = 0;
    while (p < chunk.length) {
      if (this.headerFill < FRAME_HEADER_SIZE) {
        const n = Math.min(FRAME_HEADER_SIZE - this.headerFill, chunk.length - p);
        this.header.set(chunk.subarray(p, p + n), this.headerFill);
        this.headerFill += n;
        p += n;
        if (this.headerFill < FRAME_HEADER_SIZE) return;
        this.startBody(); // every frame type has a body: startBody refuses a length of 0
      }
      const need = this.bodyLength - this.bodyFill;
      if (this.body === undefined && chunk.length - p >= need) {
        // The whole body is in this chunk: a view, no copy.
        this.finish(chunk.subarray(p, p + need), out);
        p += need;
        continue;
      }
      this.body ??= new Uint8Array(this.bodyLength);
      const n = Math.min(need, chunk.length - p);
      this.body.set(chunk.subarray(p, p + n), this.bodyFill);
      this.bodyFill += n;
      p += n;
      if (this.bodyFill === this.bodyLength) this.finish(this.body, out);
    }
  }

  /** The header is in: check the type and body length before any body is buffered. */
  private startBody(): void {
    this.type = this.header[0]!;
    const length = u32(this.header, 1);
    const limits = bodyLimits(this.direction, this.type);
    if (limits === undefined) throw new ProtocolError('BAD_FRAME_TYPE', `Cannot read frame: unknown type ${typeName(this.type)} going ${this.direction}`);
    if (length < limits[0] || length > limits[1])
      throw new ProtocolError('BAD_FRAME_LENGTH', `Cannot read frame ${typeName(this.type)}: its body must be ${limits[0] === limits[1] ? `${limits[0]} bytes` : `${limits[0]} to ${limits[1]} bytes`}, received a length of ${length}`);
    this.bodyLength = length;
    this.bodyFill = 0;
    this.body = undefined;
  }

  private finish(body: Uint8Array, out: F[]): void {
    out.push(decodeBody(this.direction, this.type, body) as F);
    this.offset += FRAME_HEADER_SIZE + this.bodyLength;
    this.headerFill = 0;
    this.body = undefined;
    this.bodyLength = -1;
    this.bodyFill = 0;
  }
}

function frameOf(type: number, bodyLength: number): { bytes: Uint8Array; at: number } {
  const bytes = new Uint8Array(FRAME_HEADER_SIZE + bodyLength);
  bytes[0] = type;
  putU32(bytes, 1, bodyLength);
  return { bytes, at: FRAME_HEADER_SIZE };
}

export function encodeHello(version: number = PROTOCOL_VERSION): Uint8Array {
  const { bytes, at } = frameOf(FRAME_HELLO, HELLO_BODY_SIZE);
  bytes.set(MAGIC_BYTES, at);
  bytes[at + 8] = version & 0xff;
  bytes[at + 9] = version >>> 8;
  return bytes;
}

/** The size of a request's frames: begin, push page if any, one apply per input, get page. */
export function requestFramesSize(request: RedoRequest): number {
  let n = FRAME_HEADER_SIZE + BEGIN_BODY_SIZE + FRAME_HEADER_SIZE + GET_BODY_SIZE;
  if (request.base !== undefined) n += FRAME_HEADER_SIZE + PAGE_BODY_SIZE;
  for (const input of request.inputs) n += FRAME_HEADER_SIZE + 4 + input.length;
  return n;
}

/** One request's frames, in one buffer (one write to the pipe). */
export function encodeRequest(requestId: number, request: RedoRequest): Uint8Array {
  if (request.base !== undefined && request.base.length !== BLCKSZ) throw new RangeError(`Cannot send a base image of ${request.base.length} bytes: a page is ${BLCKSZ}`);
  const out = new Uint8Array(requestFramesSize(request));
  let o = 0;
  const header = (type: number, bodyLength: number): void => {
    out[o] = type;
    putU32(out, o + 1, bodyLength);
    putU32(out, o + FRAME_HEADER_SIZE, requestId);
    o += FRAME_HEADER_SIZE + 4;
  };
  const { key } = request;
  header(FRAME_BEGIN, BEGIN_BODY_SIZE);
  putU32(out, o, key.rel.spcNode);
  putU32(out, o + 4, key.rel.dbNode);
  putU32(out, o + 8, key.rel.relNode);
  out[o + 12] = key.fork;
  putU32(out, o + 13, key.blkno);
  out[o + 17] = request.settings.hintBitsLogged ? SETTINGS_HINT_BITS_LOGGED : 0;
  putU32(out, o + 18, request.inputs.length);
  o += BEGIN_BODY_SIZE - 4;
  if (request.base !== undefined) {
    header(FRAME_PUSH_PAGE, PAGE_BODY_SIZE);
    out.set(request.base, o);
    o += BLCKSZ;
  }
  for (const input of request.inputs) {
    if (input.length === 0 || input.length > APPLY_BODY_BYTES_MAX) throw new RangeError(`Cannot send an input of ${input.length} bytes: inputs are 1 to ${APPLY_BODY_BYTES_MAX} bytes`);
    header(FRAME_APPLY, 4 + input.length);
    out.set(input, o);
    o += input.length;
  }
  header(FRAME_GET_PAGE, GET_BODY_SIZE);
  return out;
}

export function encodePageReply(requestId: number, page: Uint8Array): Uint8Array {
  if (page.length !== BLCKSZ) throw new RangeError(`Cannot send a page of ${page.length} bytes: a page is ${BLCKSZ}`);
  const { bytes, at } = frameOf(FRAME_PAGE, PAGE_BODY_SIZE);
  putU32(bytes, at, requestId);
  bytes.set(page, at + 4);
  return bytes;
}

export function encodeErrorReply(requestId: number, code: WorkerErrorCode, message: string, lsn: Lsn | undefined): Uint8Array {
  let text = Buffer.from(message, 'utf8');
  if (text.length > ERROR_MESSAGE_BYTES_MAX) {
    // Cut at a character boundary: back off continuation bytes (10xxxxxx).
    let end = ERROR_MESSAGE_BYTES_MAX;
    while (end > 0 && (text[end]! & 0xc0) === 0x80) end--;
    text = text.subarray(0, end);
  }
  const { bytes, at } = frameOf(FRAME_ERROR, 4 + 1 + code.length + 8 + text.length);
  putU32(bytes, at, requestId);
  bytes[at + 4] = code.length;
  for (let i = 0; i < code.length; i++) bytes[at + 5 + i] = code.charCodeAt(i);
  const lsnAt = at + 5 + code.length;
  const v = lsn ?? NO_LSN;
  putU32(bytes, lsnAt, Number(v & 0xffff_ffffn));
  putU32(bytes, lsnAt + 4, Number(v >> 32n));
  bytes.set(text, lsnAt + 8);
  return bytes;
}
