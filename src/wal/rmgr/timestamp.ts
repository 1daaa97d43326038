/**
 * TimestampTz text as pg_waldump prints it, for the core rmgr modules (xact, xlog).
 *
 * pg_waldump does not link the backend's timestamp code: its `timestamptz_to_str` is the stopgap in
 * src/bin/pg_waldump/compat.c, which goes through time_t and strftime and always prints six digits
 * of microseconds (no trimming, unlike the backend's EncodeDateTime). strata prints in UTC, which is
 * what pg_waldump prints under TZ=UTC.
 */

import { readU32, readU64BigInt } from '../../pg/bytes.js';
import { literal, literals, putLiteral, putText, putUint, putUintZeroPadded, type Literal } from '../text-buffer.js';

/** Seconds from 1970-01-01 to 2000-01-01, PostgreSQL's epoch. */
const POSTGRES_EPOCH_UNIX_SECONDS = 946_684_800n;
const USECS_PER_SEC = 1_000_000n;

function pad2(n: number): string {
  return String(n).padStart(2, '0');
}

/** printf's `%06d`: zero padding after the sign, width counting the sign. */
function printf06d(n: number): string {
  return n < 0 ? '-' + String(-n).padStart(5, '0') : String(n).padStart(6, '0');
}

/** compat.c's timestamptz_to_str: `YYYY-MM-DD HH:MM:SS.uuuuuu UTC`. */
export function timestamptzToStr(dt: bigint): string {
  // timestamptz_to_time_t: C integer division, which truncates toward zero as BigInt's does.
  const seconds = dt / USECS_PER_SEC + POSTGRES_EPOCH_UNIX_SECONDS;
  const d = new Date(Number(seconds) * 1000);
  const ts =
    `${d.getUTCFullYear()}-${pad2(d.getUTCMonth() + 1)}-${pad2(d.getUTCDate())} ` +
    `${pad2(d.getUTCHours())}:${pad2(d.getUTCMinutes())}:${pad2(d.getUTCSeconds())}`;
  return `${ts}.${printf06d(Number(dt % USECS_PER_SEC))} UTC`;
}

const SECONDS_PER_DAY = 86_400;
/** POSTGRES_EPOCH_UNIX_SECONDS as a number. */
const EPOCH_SECONDS = 946_684_800;

/** The fixed pieces of this module's text, encoded once. */
const T = literals({
  utc: ' UTC',
});

function put2(b: Uint8Array, o: number, n: number): number {
  b[o] = 0x30 + ((n / 10) | 0);
  b[o + 1] = 0x30 + (n % 10);
  return o + 2;
}

/**
 * `YYYY-MM-DD HH:MM:SS.` of the last second written: commits come thousands a second, so the
 * calendar is worked out once per second of WAL, not once per commit.
 */
let lastSecond = -1;
let lastSecondText: Literal = literal('');

/**
 * `timestamptzToStr` written as bytes, with the calendar done in numbers (days to a civil date as in
 * Howard Hinnant's `civil_from_days`) rather than through a Date and strings: commits print one each.
 * Timestamps before 2000 or whose year has other than four digits go through `timestamptzToStr`.
 */
export function putTimestamptz(b: Uint8Array, o: number, dt: bigint): number {
  const usecs = Number(dt);
  if (!(usecs >= 0 && usecs <= Number.MAX_SAFE_INTEGER)) return putText(b, o, timestamptzToStr(dt));
  return putUsecs(b, o, usecs, dt);
}

/**
 * `putTimestamptz` of the int64 TimestampTz at `src[at]` (little-endian), read as a number: a
 * commit's text then makes no BigInt. The caller has checked the 8 bytes are there.
 */
export function putTimestamptzAt(b: Uint8Array, o: number, src: Uint8Array, at: number): number {
  const hi = readU32(src, at + 4);
  // Non-negative and below 2^53: exact as a number, else the BigInt path and its checks.
  if (hi >= 0x20_0000) return putTimestamptz(b, o, readI64BigInt(src, at));
  return putUsecs(b, o, hi * 0x1_0000_0000 + readU32(src, at), undefined);
}

function readI64BigInt(src: Uint8Array, at: number): bigint {
  return BigInt.asIntN(64, readU64BigInt(src, at));
}

/** The text of `usecs` (0 to 2^53 - 1); `dt` is the same value, made as a BigInt when only given as a number. */
function putUsecs(b: Uint8Array, o: number, usecs: number, dt: bigint | undefined): number {
  const micros = usecs % 1_000_000;
  const unix = (usecs - micros) / 1_000_000 + EPOCH_SECONDS;
  if (unix !== lastSecond) {
    const text = secondText(unix);
    if (text === undefined) return putText(b, o, timestamptzToStr(dt ?? BigInt(usecs)));
    lastSecond = unix;
    lastSecondText = literal(text);
  }
  o = putLiteral(b, o, lastSecondText);
  o = putUintZeroPadded(b, o, micros, 6);
  return putLiteral(b, o, T.utc);
}

/** `YYYY-MM-DD HH:MM:SS.` of a Unix time, or undefined when the year has other than four digits. */
function secondText(unix: number): string | undefined {
  const days = Math.floor(unix / SECONDS_PER_DAY);
  const secondOfDay = unix - days * SECONDS_PER_DAY;
  const z = days + 719_468;
  const era = Math.floor(z / 146_097);
  const doe = z - era * 146_097;
  const yoe = Math.floor((doe - Math.floor(doe / 1460) + Math.floor(doe / 36_524) - Math.floor(doe / 146_096)) / 365);
  const doy = doe - (365 * yoe + Math.floor(yoe / 4) - Math.floor(yoe / 100));
  const mp = Math.floor((5 * doy + 2) / 153);
  const day = doy - Math.floor((153 * mp + 2) / 5) + 1;
  const month = mp < 10 ? mp + 3 : mp - 9;
  const year = yoe + era * 400 + (month <= 2 ? 1 : 0);
  if (year < 1000 || year > 9999) return undefined;
  const b = new Uint8Array(20);
  let o = putUint(b, 0, year);
  b[o++] = 0x2d;
  o = put2(b, o, month);
  b[o++] = 0x2d;
  o = put2(b, o, day);
  b[o++] = 0x20;
  o = put2(b, o, Math.floor(secondOfDay / 3600));
  b[o++] = 0x3a;
  o = put2(b, o, Math.floor(secondOfDay / 60) % 60);
  b[o++] = 0x3a;
  o = put2(b, o, secondOfDay % 60);
  b[o++] = 0x2e;
  return Buffer.from(b.buffer, 0, o).toString('latin1');
}
