/**
 * TimestampTz text as pg_waldump prints it, for the core rmgr modules (xact, xlog).
 *
 * pg_waldump does not link the backend's timestamp code: its `timestamptz_to_str` is the stopgap in
 * src/bin/pg_waldump/compat.c, which goes through time_t and strftime and always prints six digits
 * of microseconds (no trimming, unlike the backend's EncodeDateTime). strata prints in UTC, which is
 * what pg_waldump prints under TZ=UTC.
 */

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
