/**
 * A byte buffer for text output that is written record by record (pg_waldump's lines): numbers,
 * LSNs and short ASCII pieces go straight in as bytes, so a line costs no intermediate strings;
 * full buffers go to the sink. Pure: what the sink does with the bytes is the caller's business.
 *
 * Hot writers reserve room for a whole line with `begin`, write with the `put*` functions (plain
 * functions over the bytes and an offset, which the JIT inlines) and `commit` the end offset.
 *
 * Every `put*` returns the exact offset after what it wrote even when that runs past the end of the
 * bytes (a typed array drops stores out of its bounds): a writer that cannot know its length in
 * advance writes, compares the offset it ends at with `bytes.length`, and writes again with the room
 * it now knows it needs (waldump.ts's `writeRecord`).
 */

const SPACE = 0x20;
const MINUS = 0x2d;
const ZERO = 0x30;
const HEX = Uint8Array.from('0123456789ABCDEF', (c) => c.charCodeAt(0));

/**
 * A piece of text known before any record is seen (`', lsn: '`, `'off '`), encoded once, with its
 * bytes also as little-endian 32-bit words (the last one padded): `putLiteral` stores four bytes at
 * a time through a DataView, three to four times faster than a byte loop, and most of a pg_waldump
 * line is literals.
 */
export interface Literal {
  readonly bytes: Uint8Array;
  readonly words: Int32Array;
}

/**
 * From this many words on, a literal is copied with TypedArray.set (a memcpy after a call that
 * costs as much as ten word stores): a line template of a hundred bytes copies in 19 ns, not 47.
 */
const LITERAL_COPY_WORDS_MIN = 10;

/** Encodes `s` (UTF-8) as a Literal. */
export function literal(s: string): Literal {
  const bytes = Uint8Array.from(Buffer.from(s, 'utf8'));
  const padded = new Uint8Array((bytes.length + 3) & ~3);
  padded.set(bytes);
  const words = new Int32Array(padded.length >> 2);
  const v = new DataView(padded.buffer);
  for (let i = 0; i < words.length; i++) words[i] = v.getInt32(4 * i, true);
  return { bytes, words };
}

/** Literals for each of a table of strings, by the same keys. */
export function literals<K extends string>(table: Readonly<Record<K, string>>): Readonly<Record<K, Literal>> {
  const out = {} as Record<K, Literal>;
  for (const k of Object.keys(table) as K[]) out[k] = literal(table[k]);
  return out;
}

let viewedBytes: Uint8Array | undefined;
let view: DataView = new DataView(new ArrayBuffer(0));

/** A DataView of `b`, kept for the next call: writers write into the same buffer line after line. */
function viewOf(b: Uint8Array): DataView {
  if (b !== viewedBytes) {
    viewedBytes = b;
    view = new DataView(b.buffer, b.byteOffset, b.byteLength);
  }
  return view;
}

/**
 * Writes a Literal at `o`; returns the offset after it. Its last word may store up to three bytes
 * past that offset: writers write forwards, so what follows overwrites them.
 */
export function putLiteral(b: Uint8Array, o: number, l: Literal): number {
  const words = l.words;
  const n = words.length;
  // A DataView throws past its end, where a typed array drops the store: keep the contract above.
  if (o + 4 * n > b.length) return putBytesSlowly(b, o, l.bytes);
  if (n >= LITERAL_COPY_WORDS_MIN) {
    b.set(l.bytes, o);
    return o + l.bytes.length;
  }
  const v = viewOf(b);
  for (let i = 0; i < n; i++) v.setInt32(o + 4 * i, words[i]!, true);
  return o + l.bytes.length;
}

function putBytesSlowly(b: Uint8Array, o: number, bytes: Uint8Array): number {
  for (let i = 0; i < bytes.length; i++) b[o + i] = bytes[i]!;
  return o + bytes.length;
}

/** Writes an ASCII string at `o`; returns the offset after it (a Literal is faster for fixed text). */
export function putAscii(b: Uint8Array, o: number, s: string): number {
  const n = s.length;
  for (let i = 0; i < n; i++) b[o + i] = s.charCodeAt(i);
  return o + n;
}

/**
 * Any string, as UTF-8: byte by byte while it is ASCII, which it nearly always is (names, GIDs and
 * paths are what may not be).
 */
export function putText(b: Uint8Array, o: number, s: string): number {
  const n = s.length;
  for (let i = 0; i < n; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0x80) return putUtf8(b, o + i, s.slice(i));
    b[o + i] = c;
  }
  return o + n;
}

function putUtf8(b: Uint8Array, o: number, s: string): number {
  const bytes = Buffer.from(s, 'utf8');
  if (o + bytes.length <= b.length) b.set(bytes, o);
  return o + bytes.length;
}

/** The number of decimal digits of a non-negative int32. */
function decimalDigits(v: number): number {
  if (v < 100_000) return v < 100 ? (v < 10 ? 1 : 2) : v < 1000 ? 3 : v < 10_000 ? 4 : 5;
  return v < 10_000_000 ? (v < 1_000_000 ? 6 : 7) : v < 100_000_000 ? 8 : v < 1_000_000_000 ? 9 : 10;
}

/**
 * printf's `%Nu` at `o`: a non-negative integer below 2^53, right-aligned in `width` with spaces.
 * Values that fit an int32 (nearly all) take a path of int32 arithmetic only: `v | 0` tells the JIT
 * so even when the value arrives as a heap number, where float division by 10 was twice as slow.
 */
export function putUint(b: Uint8Array, o: number, n: number, width = 0): number {
  if (!(n <= 0x7fff_ffff)) return putLargeUint(b, o, n, width);
  let v = n | 0;
  const digits = decimalDigits(v);
  for (let i = digits; i < width; i++) b[o++] = SPACE;
  const after = o + digits;
  let end = after;
  do {
    const q = (v / 10) | 0;
    b[--end] = ZERO + v - q * 10;
    v = q;
  } while (v !== 0);
  return after;
}

/**
 * The decimal digits of a uint32 written so they end just before `end` (into a blank field of a
 * Literal: `%6u` and the like once the field is known to be wide enough).
 */
export function putDigitsBefore(b: Uint8Array, end: number, n: number): void {
  let v = n;
  if (v > 0x7fff_ffff) {
    const q = Math.floor(v / 10);
    b[--end] = ZERO + v - q * 10;
    v = q;
  }
  v |= 0;
  do {
    const q = (v / 10) | 0;
    b[--end] = ZERO + v - q * 10;
    v = q;
  } while (v !== 0);
}

function putLargeUint(b: Uint8Array, o: number, n: number, width: number): number {
  const s = String(n);
  for (let i = s.length; i < width; i++) b[o++] = SPACE;
  return putAscii(b, o, s);
}

/** printf's `%0Nu`: a non-negative int32, zero-padded to `width`. */
export function putUintZeroPadded(b: Uint8Array, o: number, n: number, width: number): number {
  for (let i = decimalDigits(n | 0); i < width; i++) b[o++] = ZERO;
  return putUint(b, o, n);
}

/** printf's `%d` of an integer of at most 53 bits, negative or not. */
export function putInt(b: Uint8Array, o: number, n: number): number {
  if (n >= 0) return putUint(b, o, n);
  b[o++] = MINUS;
  return putUint(b, o, -n);
}

/** printf's `%02X` of a byte. */
export function putHexByte(b: Uint8Array, o: number, n: number): number {
  b[o] = HEX[(n >>> 4) & 15]!;
  b[o + 1] = HEX[n & 15]!;
  return o + 2;
}


/** printf's `%X`, or `%0NX` with `width`, of a uint32 at `o`. */
export function putHex(b: Uint8Array, o: number, n: number, width = 0): number {
  let digits = 1;
  for (let v = n >>> 4; v > 0; v >>>= 4) digits++;
  for (let i = digits; i < width; i++) b[o++] = ZERO;
  let end = o + digits;
  const after = end;
  let v = n >>> 0;
  do {
    b[--end] = HEX[v & 0xf]!;
    v >>>= 4;
  } while (v > 0);
  return after;
}

/** `%X/%X` of an LSN (LSN_FORMAT_ARGS in desc routines). */
export function putLsn(b: Uint8Array, o: number, lsn: bigint): number {
  o = putHex(b, o, Number(lsn >> 32n));
  b[o++] = 0x2f;
  return putHex(b, o, Number(lsn & 0xffff_ffffn));
}

/** Each byte's two hex digits, as the little-endian uint16 that stores them in order. */
const HEX_PAIRS = Uint16Array.from({ length: 256 }, (_, i) => HEX[i >> 4]! | (HEX[i & 15]! << 8));

/**
 * `%X/%08X` of an LSN below 16 * 2^32 (one high digit) written over the ten bytes at `o`: a blank
 * field of a Literal.
 */
export function putLsnAt(b: Uint8Array, o: number, lsn: number): void {
  const hi = Math.floor(lsn / 0x1_0000_0000);
  const lo = lsn - hi * 0x1_0000_0000;
  if (o + 10 > b.length) return;
  b[o] = HEX[hi]!;
  b[o + 1] = 0x2f;
  const v = viewOf(b);
  v.setUint16(o + 2, HEX_PAIRS[lo >>> 24]!, true);
  v.setUint16(o + 4, HEX_PAIRS[(lo >>> 16) & 0xff]!, true);
  v.setUint16(o + 6, HEX_PAIRS[(lo >>> 8) & 0xff]!, true);
  v.setUint16(o + 8, HEX_PAIRS[lo & 0xff]!, true);
}

/** `%X/%08X` of an LSN given as an exact number (below 2^53). */
export function putLsnPadded(b: Uint8Array, o: number, lsn: number): number {
  const hi = Math.floor(lsn / 0x1_0000_0000);
  if (hi < 16) b[o++] = HEX[hi]!;
  else o = putHex(b, o, hi);
  b[o++] = 0x2f;
  if (o + 8 > b.length) return o + 8;
  // The low half: eight digits, two per store.
  // A subtraction, not `%`: a float remainder is a call into C.
  const lo = lsn - hi * 0x1_0000_0000;
  const v = viewOf(b);
  v.setUint16(o, HEX_PAIRS[lo >>> 24]!, true);
  v.setUint16(o + 2, HEX_PAIRS[(lo >>> 16) & 0xff]!, true);
  v.setUint16(o + 4, HEX_PAIRS[(lo >>> 8) & 0xff]!, true);
  v.setUint16(o + 6, HEX_PAIRS[lo & 0xff]!, true);
  return o + 8;
}

const NO_BYTES = Buffer.alloc(0);

export class TextBuffer {
  private buf: Buffer;
  private len = 0;

  /**
   * `sink` gets each full buffer; the bytes are only valid during the call (see `flush`), unless
   * `take` is given: then each buffer is the sink's to keep, and `take(n)` gives the buffer of at
   * least `n` bytes written next (one from a pool of buffers the sink is done with, say).
   */
  constructor(
    private readonly sink: (bytes: Uint8Array) => void,
    private readonly sizeBytes = 1 << 20,
    private readonly take?: (n: number) => Buffer,
  ) {
    // With `take`, buffers are taken when first written to: none is left taken and unused at the end.
    this.buf = take !== undefined ? NO_BYTES : Buffer.allocUnsafe(sizeBytes);
  }

  /** The bytes `begin` hands out offsets into. */
  get bytes(): Uint8Array {
    return this.buf;
  }

  /** Makes room for `n` more bytes and returns the offset to write them at. */
  begin(n: number): number {
    if (this.len + n > this.buf.length) {
      this.flush();
      if (n > this.buf.length) this.buf = this.take !== undefined ? this.take(Math.max(n, this.sizeBytes)) : Buffer.allocUnsafe(n);
    }
    return this.len;
  }

  /** Ends a write started by `begin`: `end` is the offset after the last byte written. */
  commit(end: number): void {
    this.len = end;
  }

  /** Any string, as UTF-8. */
  text(s: string): void {
    const start = this.begin(s.length * 3);
    this.len = putText(this.buf, start, s);
  }

  /** Hands the bytes written so far to the sink, which must copy what it keeps (they are reused). */
  flush(): void {
    if (this.len === 0) return;
    this.sink(this.buf.subarray(0, this.len));
    this.len = 0;
    if (this.take !== undefined) this.buf = NO_BYTES;
  }
}
