/**
 * A small cursor over a byte array, for reading PostgreSQL's little-endian structs.
 *
 * Every read checks that its bytes are there first (as xlogreader.c's COPY_HEADER_FIELD does) and
 * throws a `ShortReadError` naming what was being read, the offset and the sizes, so callers can turn
 * it into an error that names the LSN.
 */

export class ShortReadError extends Error {
  readonly code = 'SHORT_READ';
  constructor(
    readonly what: string,
    readonly offset: number,
    readonly wanted: number,
    readonly available: number,
  ) {
    super(`Cannot read ${what} at offset ${offset}: needs ${wanted} bytes, ${available} remain`);
  }
}

/**
 * A cursor over `bytes[start, end)`: a struct read in place in a larger buffer (a record inside a
 * chunk of WAL) needs no view of its own. `offset` is where the next read is, in `bytes`; `position`
 * is the same measured from `start`, as struct offsets and messages count.
 */
export class ByteReader {
  offset: number;

  constructor(
    readonly bytes: Uint8Array,
    readonly start = 0,
    readonly end = bytes.length,
  ) {
    this.offset = start;
  }

  get remaining(): number {
    return this.end - this.offset;
  }

  /** The offset of the next read from `start`. */
  get position(): number {
    return this.offset - this.start;
  }

  /** Moves to `position` bytes from `start` (a struct member's offset). */
  seek(position: number): void {
    this.offset = this.start + position;
  }

  need(n: number, what: string): void {
    if (this.offset + n > this.end) this.short(what, this.offset - this.start, n, this.end - this.offset);
  }

  /** Every short read ends here; a subclass may throw its own error type instead. */
  protected short(what: string, offset: number, wanted: number, available: number): never {
    throw new ShortReadError(what, offset, wanted, available);
  }

  u8(what = 'uint8'): number {
    this.need(1, what);
    return this.bytes[this.offset++]!;
  }

  i8(what = 'int8'): number {
    const v = this.u8(what);
    return v >= 0x80 ? v - 0x100 : v;
  }

  u16(what = 'uint16'): number {
    this.need(2, what);
    const b = this.bytes;
    const o = this.offset;
    this.offset = o + 2;
    return b[o]! | (b[o + 1]! << 8);
  }

  i16(what = 'int16'): number {
    const v = this.u16(what);
    return v >= 0x8000 ? v - 0x10000 : v;
  }

  u32(what = 'uint32'): number {
    this.need(4, what);
    const b = this.bytes;
    const o = this.offset;
    this.offset = o + 4;
    return (b[o]! | (b[o + 1]! << 8) | (b[o + 2]! << 16) | (b[o + 3]! << 24)) >>> 0;
  }

  i32(what = 'int32'): number {
    return this.u32(what) | 0;
  }

  u64(what = 'uint64'): bigint {
    const lo = this.u32(what);
    const hi = this.u32(what);
    return (BigInt(hi) << 32n) | BigInt(lo);
  }

  i64(what = 'int64'): bigint {
    this.need(8, what);
    const v = readI64(this.bytes, this.offset);
    this.offset += 8;
    return v;
  }

  /** float8, as PostgreSQL stores it (native little-endian IEEE 754). */
  f64(what = 'float8'): number {
    this.need(8, what);
    const v = new DataView(this.bytes.buffer, this.bytes.byteOffset + this.offset, 8).getFloat64(0, true);
    this.offset += 8;
    return v;
  }

  bool(what = 'bool'): boolean {
    return this.u8(what) !== 0;
  }

  /** A view (not a copy) of the next `n` bytes. */
  bytesView(n: number, what = 'bytes'): Uint8Array {
    this.need(n, what);
    const v = this.bytes.subarray(this.offset, this.offset + n);
    this.offset += n;
    return v;
  }

  /** A NUL-terminated string; the NUL is consumed. */
  cstring(what = 'string'): string {
    const start = this.offset;
    const nul = this.bytes.indexOf(0, start);
    if (nul < 0 || nul >= this.end) this.short(`${what} (no terminating NUL)`, start - this.start, 1, this.end - start);
    this.offset = nul + 1;
    return Buffer.from(this.bytes.buffer, this.bytes.byteOffset + start, nul - start).toString('utf8');
  }

  skip(n: number, what = 'padding'): void {
    this.need(n, what);
    this.offset += n;
  }

  /** Moves to the next multiple of `alignment` from `start` (MAXALIGN and friends). */
  align(alignment: number): void {
    const rem = (this.offset - this.start) % alignment;
    if (rem !== 0) this.offset += alignment - rem;
  }
}

/** Reads a little-endian uint32 without a cursor; the caller has checked the bounds. */
export function readU32(b: Uint8Array, o: number): number {
  return (b[o]! | (b[o + 1]! << 8) | (b[o + 2]! << 16) | (b[o + 3]! << 24)) >>> 0;
}

export function readU16(b: Uint8Array, o: number): number {
  return b[o]! | (b[o + 1]! << 8);
}

/** Reads a little-endian int64 without a cursor; the caller has checked the bounds. */
export function readI64(b: Uint8Array, o: number): bigint {
  const lo = (b[o]! | (b[o + 1]! << 8) | (b[o + 2]! << 16) | (b[o + 3]! << 24)) >>> 0;
  const hi = b[o + 4]! | (b[o + 5]! << 8) | (b[o + 6]! << 16) | (b[o + 7]! << 24);
  // Timestamps and the like fit 53 bits: one BigInt from an exact number instead of four.
  if (hi >= -0x20_0000 && hi < 0x20_0000) return BigInt(hi * 0x1_0000_0000 + lo);
  return (BigInt(hi) << 32n) | BigInt(lo);
}

/** Reads a little-endian uint64 as a bigint. */
export function readU64BigInt(b: Uint8Array, o: number): bigint {
  return (BigInt(readU32(b, o + 4)) << 32n) | BigInt(readU32(b, o));
}

/** Reads a little-endian uint64 as a JavaScript number; exact below 2^53. */
export function readU64Number(b: Uint8Array, o: number): number {
  return readU32(b, o + 4) * 0x1_0000_0000 + readU32(b, o);
}
