/**
 * CRC-32C (Castagnoli), the checksum of WAL records (`pg_crc32c`). PostgreSQL computes
 * INIT_CRC32C, then COMP_CRC32C over the record body and then over the header up to `xl_crc`,
 * then FIN_CRC32C; a running CRC continues across calls here the same way.
 *
 * Long inputs go to @node-rs/crc32 (SIMD, ~4 GiB/s), but each call into it costs ~250 ns, more
 * than a table-driven loop in JavaScript spends on a short input. Most WAL records are short and
 * every record has a 20-byte header to checksum, so short ranges are done here.
 */
import { crc32c as nativeCrc32c } from '@node-rs/crc32';

/** Below this many bytes the JavaScript loop beats a native call. */
const NATIVE_BYTES_MIN = 96;

const TABLE = new Uint32Array(256);
for (let i = 0; i < 256; i++) {
  let c = i;
  for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1;
  TABLE[i] = c >>> 0;
}

/** CRC-32C of `data`, continuing from `previous` (the finished CRC of the bytes before it). */
export function crc32c(data: Uint8Array, previous = 0): number {
  return crc32cRange(data, 0, data.length, previous);
}

/** CRC-32C of `data[start, end)`, continuing from `previous`. */
export function crc32cRange(data: Uint8Array, start: number, end: number, previous = 0): number {
  if (end - start >= NATIVE_BYTES_MIN) {
    const view = start === 0 && end === data.length ? data : data.subarray(start, end);
    return nativeCrc32c(view as Buffer, previous) >>> 0;
  }
  let c = ~previous;
  for (let i = start; i < end; i++) c = TABLE[(c ^ data[i]!) & 0xff]! ^ (c >>> 8);
  return ~c >>> 0;
}
