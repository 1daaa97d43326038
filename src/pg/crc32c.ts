/**
 * CRC-32C (Castagnoli), the checksum of WAL records (`pg_crc32c`). PostgreSQL computes
 * INIT_CRC32C, then COMP_CRC32C over the record body and then over the header up to `xl_crc`,
 * then FIN_CRC32C; a running CRC continues across calls here the same way.
 *
 * Long inputs go to @node-rs/crc32 (SIMD, ~4 GiB/s), but each call into it costs ~250 ns, more
 * than a slicing-by-8 loop in JavaScript (crc32c-js.ts) spends on a short input. Most WAL records
 * are short and every record has a 20-byte header to checksum, so short ranges are done in JS.
 */
import { createRequire } from 'node:module';

// Loaded with require: importing this CommonJS package as ESM (export discovery, the translator)
// cost 30 ms at every start of the CLI, more than all of strata's own modules.
const { crc32c: nativeCrc32c } = createRequire(import.meta.url)('@node-rs/crc32') as typeof import('@node-rs/crc32');
import { crc32cRangeJs } from './crc32c-js.js';

/** Below this many bytes the JavaScript loop beats a native call (slicing-by-8 runs ~1.3 GB/s here). */
const NATIVE_BYTES_MIN = 512;

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
  return crc32cRangeJs(b, start, end, previous);
}
