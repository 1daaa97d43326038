/**
 * A byte buffer for text output that is written record by record (pg_waldump's lines): numbers,
 * LSNs and short ASCII pieces go straight in as bytes, so a line costs no intermediate strings;
 * full buffers go to the sink. Pure: what the sink does with the bytes is the caller's business.
 *
 * Hot writers reserve room for a whole line with `begin`, write with the `put*` functions (plain
 * functions over the bytes and an offset, which the JIT inlines) and `commit` the end offset.
 */

const SPACE = 0x20;
const ZERO = 0x30;
const HEX = Uint8Array.from('0123456789ABCDEF', (c) => c.charCodeAt(0));

/** Writes an ASCII string at `o`; returns the offset after it. */
export function putAscii(b: Uint8Array, o: number, s: string): number {
  const n = s.length;
  for (let i = 0; i < n; i++) b[o + i] = s.charCodeAt(i);
  return o + n;
}

/** Writes bytes at `o`; returns the offset after them. */
export function putBytes(b: Uint8Array, o: number, bytes: Uint8Array): number {
  const n = bytes.length;
  for (let i = 0; i < n; i++) b[o + i] = bytes[i]!;
  return o + n;
}

/** printf's `%Nu` at `o`: a non-negative integer below 2^53, right-aligned in `width` with spaces. */
export function putUint(b: Uint8Array, o: number, n: number, width = 0): number {
  let digits = 1;
  if (n <= 0x7fff_ffff) {
    for (let v = n; v >= 10; v = (v / 10) | 0) digits++;
  } else {
    digits = String(n).length;
  }
  for (let i = digits; i < width; i++) b[o++] = SPACE;
  let end = o + digits;
  const after = end;
  let v = n;
  if (v > 0x7fff_ffff) {
    while (v > 0x7fff_ffff) {
      const q = Math.floor(v / 10);
      b[--end] = ZERO + v - q * 10;
      v = q;
    }
  }
  do {
    const q = (v / 10) | 0;
    b[--end] = ZERO + v - q * 10;
    v = q;
  } while (v > 0);
  return after;
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

/** `%X/%08X` of an LSN given as an exact number (below 2^53). */
export function putLsnPadded(b: Uint8Array, o: number, lsn: number): number {
  o = putHex(b, o, Math.floor(lsn / 0x1_0000_0000));
  b[o++] = 0x2f;
  return putHex(b, o, lsn % 0x1_0000_0000, 8);
}

export class TextBuffer {
  private buf: Buffer;
  private len = 0;

  constructor(
    private readonly sink: (bytes: Uint8Array) => void,
    sizeBytes = 1 << 20,
  ) {
    this.buf = Buffer.allocUnsafe(sizeBytes);
  }

  /** The bytes `begin` hands out offsets into. */
  get bytes(): Uint8Array {
    return this.buf;
  }

  /** Makes room for `n` more bytes and returns the offset to write them at. */
  begin(n: number): number {
    if (this.len + n > this.buf.length) {
      this.flush();
      if (n > this.buf.length) this.buf = Buffer.allocUnsafe(n);
    }
    return this.len;
  }

  /** Ends a write started by `begin`: `end` is the offset after the last byte written. */
  commit(end: number): void {
    this.len = end;
  }

  /** Any string, as UTF-8 (copied byte by byte while it is ASCII, which it nearly always is). */
  text(s: string): void {
    const n = s.length;
    const start = this.begin(n * 3);
    const b = this.buf;
    for (let i = 0; i < n; i++) {
      const c = s.charCodeAt(i);
      if (c >= 0x80) {
        this.len = start + b.write(s, start, 'utf8');
        return;
      }
      b[start + i] = c;
    }
    this.len = start + n;
  }

  flush(): void {
    if (this.len === 0) return;
    // The sink gets a copy: this buffer is reused at once.
    this.sink(Buffer.from(this.buf.subarray(0, this.len)));
    this.len = 0;
  }
}
