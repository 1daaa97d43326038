/**
 * Test helpers for the WAL receiver: compare the segments strata's WAL log holds with a server's
 * pg_wal byte for byte, and list record positions with pg_waldump (the decoding oracle).
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { formatLsn, parseWalFileName, type Lsn } from '../pg/lsn.js';
import { pgWaldump } from './waldump-oracle.js';

export interface SegmentComparison {
  /** Segment files of the timeline strata holds. */
  readonly segments: number;
  /** Of those, how many are complete (a whole segment). */
  readonly complete: number;
  readonly bytes: number;
}

/**
 * Checks every segment of `timeline` in strata's log folder against the server's file of the same
 * name (or `.partial`, which PostgreSQL leaves for the old timeline's last segment at a promotion):
 * strata's bytes must equal the server's first bytes. Throws naming the first differing byte.
 */
export function compareWithServerSegments(logDir: string, serverWalDir: string, timeline: number, segmentSize = 16 << 20): SegmentComparison {
  let segments = 0;
  let complete = 0;
  let bytes = 0;
  for (const name of readdirSync(logDir).sort()) {
    const parsed = parseWalFileName(name, segmentSize);
    if (parsed === null || name.length !== 24 || parsed.timeline !== timeline) continue;
    const ours = readFileSync(path.join(logDir, name));
    const serverPath = [path.join(serverWalDir, name), path.join(serverWalDir, name + '.partial')].find((p) => existsSync(p));
    if (serverPath === undefined) throw new Error(`Cannot compare ${name}: the server has no such segment in ${serverWalDir}`);
    const theirs = readFileSync(serverPath);
    if (ours.length > theirs.length) throw new Error(`${name}: strata holds ${ours.length} bytes, the server's file only ${theirs.length}`);
    if (!theirs.subarray(0, ours.length).equals(ours)) {
      let i = 0;
      while (ours[i] === theirs[i]) i++;
      throw new Error(`${name}: strata's byte at offset ${i} (${ours[i]}) differs from the server's (${theirs[i]}) in ${serverPath}`);
    }
    segments++;
    if (ours.length === segmentSize) complete++;
    bytes += ours.length;
  }
  return { segments, complete, bytes };
}

/** The start LSNs of the records pg_waldump finds in [start, end) of a pg_wal folder, as numbers. */
export function waldumpRecordLsns(walDir: string, start: Lsn, end: Lsn, timeline = 1): number[] {
  const r = pgWaldump(['-p', walDir, '-t', String(timeline), '-s', formatLsn(start), '-e', formatLsn(end)]);
  const out: number[] = [];
  for (const line of r.lines) {
    const m = /lsn: ([0-9A-F]+)\/([0-9A-F]+),/.exec(line);
    if (m !== null) out.push(parseInt(m[1]!, 16) * 2 ** 32 + parseInt(m[2]!, 16));
  }
  return out;
}
