/**
 * CRC-32C (Castagnoli), the checksum of WAL records (`pg_crc32c`). PostgreSQL computes
 * INIT_CRC32C, then COMP_CRC32C over the record body and then over the header up to `xl_crc`,
 * then FIN_CRC32C; a running CRC continues across calls here the same way.
 *
 * Three implementations, the first that loads is used:
 * - strata's own addon (native/crc32c.c, built by `npm ci` where a C compiler and Node's headers
 *   are, see scripts/build-native.js): ~60 ns a call, ~20 GiB/s on long inputs with the crc32
 *   instruction and ~60 with AVX-512 carry-less multiplies (`method`), and one call that
 *   walks many WAL records and checks their CRCs (`scanXLogRecords`), which the decoder uses
 *   because a native call per record costs more than the CRC of a typical 64-byte record;
 * - @node-rs/crc32 (prebuilt in its package): ~170 ns a call, ~8 GiB/s;
 * - JavaScript slicing-by-8 (crc32c-js.ts), ~1 GiB/s: short inputs whenever a call would cost more.
 * Setting STRATA_NATIVE_CRC32C=0 skips strata's addon (to test and measure the others).
 */
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { crc32cRangeJs } from './crc32c-js.js';

/** The functions of native/crc32c.c. */
export interface StrataCrc32cAddon {
  /** CRC of data[start, end) continuing from `previous` (a finished CRC). */
  crc32c(data: Uint8Array, start: number, end: number, previous: number): number;
  /**
   * Walks the WAL records in `data` from the one at `data[from]` (data[0] lies at LSN `dataLsn`;
   * `prevLsn` is the record before that one, -1 if not known), as far as their lengths and the page
   * headers lead, checking each as ValidXLogRecordHeader does (resource manager, prev-link) and, for
   * those whole on one 8 kB page, its CRC as ValidXLogRecord does; writes pairs (offset in data,
   * xl_tot_len) of those into `records`. Stops before the first that fails, after XLOG_SWITCH, at
   * anything unexpected and when `records` is full. Returns how many pairs it wrote.
   */
  scanXLogRecords(data: Uint8Array, from: number, dataLsn: number, prevLsn: number, records: Int32Array): number;
  /** Whether the CPU's crc32 instruction is used (else the addon's tables are). */
  readonly hardware: boolean;
  /**
   * How it computes: 'vpclmulqdq' (inputs of 128 bytes and more folded with AVX-512 carry-less
   * multiplies, the rest with the crc32 instruction), 'sse4.2' (the crc32 instruction), 'tables'.
   * STRATA_CRC32C_FOLD=0 and STRATA_CRC32C_TABLES=1 choose the last two where the CPU could do more.
   */
  readonly method: 'vpclmulqdq' | 'sse4.2' | 'tables';
  /** The version of these functions' arguments (ADDON_ABI for this code). */
  readonly abi?: number;
}

/** Where `npm ci` leaves the addon (native/build/Release), from the compiled module in dist/src/pg/. */
export const ADDON_URL = new URL('../../../native/build/Release/strata_crc32c.node', import.meta.url);

const require = createRequire(import.meta.url);

/** The `abi` of the addon this code calls: an addon built from older source is not used. */
const ADDON_ABI = 2;

/** strata's addon, or undefined when it was not built, is older than this code, or is switched off. */
function loadStrataAddon(): StrataCrc32cAddon | undefined {
  if (process.env['STRATA_NATIVE_CRC32C'] === '0') return undefined;
  try {
    const addon = require(fileURLToPath(ADDON_URL)) as StrataCrc32cAddon;
    if (addon.abi === ADDON_ABI) return addon;
    // Built before a function's arguments changed (npm run build:native, or npm test's set-up, rebuilds it).
    process.emitWarning(`strata's CRC-32C addon (${fileURLToPath(ADDON_URL)}) is older than strata: not used; run npm run build:native`);
    return undefined;
  } catch {
    // Not built (no compiler or headers at install time), or native addons refused: the others do.
    return undefined;
  }
}

type RangeCrc = (b: Uint8Array, start: number, end: number, previous: number) => number;

function loadNodeRs(): RangeCrc | undefined {
  try {
    // Loaded with require: importing this CommonJS package as ESM (export discovery, the
    // translator) cost 30 ms at every start of the CLI, more than all of strata's own modules.
    const { crc32c } = require('@node-rs/crc32') as typeof import('@node-rs/crc32');
    return (b, start, end, previous) => crc32c((start === 0 && end === b.length ? b : b.subarray(start, end)) as Buffer, previous) >>> 0;
  } catch {
    return undefined;
  }
}

const addon = loadStrataAddon();

/** strata's addon as loaded (undefined when not built), for its tests. */
export const strataCrc32cAddon: StrataCrc32cAddon | undefined = addon;
const nativeRange: RangeCrc | undefined = addon !== undefined ? addon.crc32c : loadNodeRs();

/** Which implementation long inputs go to, for tests and benchmarks to say. */
export const crc32cImplementation: 'strata-addon' | '@node-rs/crc32' | 'javascript' =
  addon !== undefined ? 'strata-addon' : nativeRange !== undefined ? '@node-rs/crc32' : 'javascript';

/**
 * Below this many bytes JavaScript (~1 GB/s) beats a native call: ~100 bytes for strata's addon
 * (a call costs ~60 ns), ~512 for @node-rs/crc32 (~170 ns), measured here on 64 to 8192 bytes.
 */
const NATIVE_BYTES_MIN = addon !== undefined ? 128 : 512;

/**
 * Walks WAL records and checks their CRCs in one native call (see StrataCrc32cAddon); undefined
 * without strata's addon (or one built before it had this), where a call per record is the
 * cheapest there is.
 */
export const scanXLogRecords: StrataCrc32cAddon['scanXLogRecords'] | undefined = addon?.scanXLogRecords;

/** CRC-32C of `data`, continuing from `previous` (the finished CRC of the bytes before it). */
export function crc32c(data: Uint8Array, previous = 0): number {
  return crc32cRange(data, 0, data.length, previous);
}

/** CRC-32C of `data[start, end)`, continuing from `previous`. */
export function crc32cRange(b: Uint8Array, start: number, end: number, previous = 0): number {
  if (end - start >= NATIVE_BYTES_MIN && nativeRange !== undefined) return nativeRange(b, start, end, previous);
  return crc32cRangeJs(b, start, end, previous);
}
