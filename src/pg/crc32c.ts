/**
 * CRC-32C (Castagnoli), the checksum of WAL records (`pg_crc32c`). PostgreSQL computes
 * INIT_CRC32C, then COMP_CRC32C over the record body and then over the header up to `xl_crc`,
 * then FIN_CRC32C; a running CRC continues across calls here the same way.
 *
 * Long inputs go to @node-rs/crc32 (SIMD, ~4 GiB/s), but each call into it costs ~250 ns, more
 * than a slicing-by-8 loop in JavaScript spends on a short input. Most WAL records are short and
 * every record has a 20-byte header to checksum, so short ranges are done here.
 */
import { createRequire } from 'node:module';

// Loaded with require: importing this CommonJS package as ESM (export discovery, the translator)
// cost 30 ms at every start of the CLI, more than all of strata's own modules.
const { crc32c: nativeCrc32c } = createRequire(import.meta.url)('@node-rs/crc32') as typeof import('@node-rs/crc32');

/** Below this many bytes the JavaScript loop beats a native call (slicing-by-8 runs ~1.3 GB/s here). */
const NATIVE_BYTES_MIN = 512;

/** Slicing-by-8 tables: T[k][b] is the CRC of byte b followed by k zero bytes. */
function makeTables(): Int32Array[] {
  const t: Int32Array[] = [];
  for (let k = 0; k < 8; k++) t.push(new Int32Array(256));
  const t0 = t[0]!;
  for (let i = 0; i < 256; i++) {
    let c = i;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1;
    t0[i] = c;
  }
  for (let k = 1; k < 8; k++) {
    const prev = t[k - 1]!;
    const cur = t[k]!;
    for (let i = 0; i < 256; i++) cur[i] = t0[prev[i]! & 0xff]! ^ (prev[i]! >>> 8);
  }
  return t;
}
const [T0, T1, T2, T3, T4, T5, T6, T7] = makeTables() as [Int32Array, Int32Array, Int32Array, Int32Array, Int32Array, Int32Array, Int32Array, Int32Array];

/** CRC-32C of `data`, continuing from `previous` (the finished CRC of the bytes before it). */
export function crc32c(data: Uint8Array, previous = 0): number {
  return crc32cRange(data, 0, data.length, previous);
}

/** CRC-32C of `data[start, end)`, continuing from `previous`. */
export function crc32cRange(b: Uint8Array, start: number, end: number, previous = 0): number {
  if (end - start >= NATIVE_BYTES_MIN) {
    const view = start === 0 && end === b.length ? b : b.subarray(start, end);
    return nativeCrc32c(view as Buffer, previous) >>> 0;
  }
  let c = ~previous;
  let i = start;
  for (; i + 8 <= end; i += 8) {
    const a = c ^ (b[i]! | (b[i + 1]! << 8) | (b[i + 2]! << 16) | (b[i + 3]! << 24));
    c =
      T7[a & 0xff]! ^ T6[(a >>> 8) & 0xff]! ^ T5[(a >>> 16) & 0xff]! ^ T4[a >>> 24]! ^
      T3[b[i + 4]!]! ^ T2[b[i + 5]!]! ^ T1[b[i + 6]!]! ^ T0[b[i + 7]!]!;
  }
  for (; i < end; i++) c = T0[(c ^ b[i]!) & 0xff]! ^ (c >>> 8);
  return ~c >>> 0;
}
