/**
 * Test helper for wal-log.test.ts, run as a child process: writes a known byte stream into a WAL
 * log in pieces of random sizes, flushes now and then, and prints "flushed X/X" after each flush
 * returns, until it is killed. The byte at LSN x is walLogTestByte(x), so the parent can check
 * whatever is left on disk after a SIGKILL.
 *
 * Usage: node wal-log-crash-child.js DIR SEGMENT_SIZE SEED
 */
import { lsn, formatLsn } from '../pg/lsn.js';
import { WalLog } from './wal-log.js';

/** The test stream's byte at LSN x: cheap, and differs between neighbouring positions. */
export function walLogTestByte(x: number): number {
  return (Math.imul(x | 0, 0x9e3779b1) ^ (x >>> 13)) >>> 24;
}

export function walLogTestBytes(start: number, n: number): Buffer {
  const b = Buffer.allocUnsafe(n);
  for (let i = 0; i < n; i++) b[i] = walLogTestByte(start + i);
  return b;
}

async function main(): Promise<void> {
  const [dir, segSizeText, seedText] = process.argv.slice(2);
  if (dir === undefined || segSizeText === undefined || seedText === undefined) throw new Error('usage: wal-log-crash-child DIR SEGMENT_SIZE SEED');
  const segmentSize = Number(segSizeText);
  let seed = Number(seedText) >>> 0;
  const rand = (n: number): number => {
    seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0;
    return seed % n;
  };
  const log = WalLog.open(dir, { segmentSize });
  if (log.timeline === 0) await log.beginTimeline(1, lsn(segmentSize));
  let pos = Number(log.writtenLsn);
  for (;;) {
    // Several writes per flush, some crossing segment boundaries.
    const writes = 1 + rand(6);
    for (let i = 0; i < writes; i++) {
      const n = 1 + rand(200_000);
      log.write(lsn(pos), walLogTestBytes(pos, n));
      pos += n;
    }
    const flushed = await log.flush();
    process.stdout.write(`flushed ${formatLsn(flushed)}\n`);
  }
}

if (process.argv[1] !== undefined && import.meta.url.endsWith(process.argv[1].split('/').pop()!)) {
  main().catch((e: unknown) => {
    console.error(e);
    process.exit(1);
  });
}
