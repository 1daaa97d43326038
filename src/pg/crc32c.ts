/**
 * CRC-32C (Castagnoli), the checksum of WAL records (`pg_crc32c`). PostgreSQL computes
 * INIT_CRC32C, then COMP_CRC32C over the record body and then over the header up to `xl_crc`,
 * then FIN_CRC32C; a running CRC continues across calls here the same way.
 */
import { crc32c as nativeCrc32c } from '@node-rs/crc32';

/** CRC-32C of `data`, continuing from `previous` (the finished CRC of the bytes before it). */
export function crc32c(data: Uint8Array, previous = 0): number {
  return nativeCrc32c(data as Buffer, previous) >>> 0;
}
