/**
 * `strata wal verify-redo`: strata's redo engine checked, record by record, against the images
 * PostgreSQL writes with wal_consistency_checking = all (see src/redo/verify.ts).
 */
import { formatLsn, parseLsn, type Lsn } from '../pg/lsn.js';
import { parseWalFileName, segmentStart } from '../pg/lsn.js';
import { readdirSync } from 'node:fs';
import { RedoVerifier } from '../redo/verify.js';
import { UsageError } from './errors.js';
import { folderSegmentSize, readWal, targetDirectory } from './wal-files.js';

export interface VerifyRedoOptions {
  path?: string;
  start?: string;
  end?: string;
  timeline?: string;
}

function location(text: string): Lsn {
  try {
    return parseLsn(text);
  } catch {
    throw new UsageError(`invalid WAL location: "${text}"`);
  }
}

/** Runs the verification; returns the exit code (1 on any mismatch or redo error). */
export function runVerifyRedo(o: VerifyRedoOptions, out: (s: string) => void): number {
  const dir = targetDirectory(o.path, undefined);
  const segmentSize = folderSegmentSize(dir);
  const timeline = o.timeline !== undefined ? Number(o.timeline) : 1;
  let start: Lsn;
  if (o.start !== undefined) start = location(o.start);
  else {
    const first = readdirSync(dir)
      .map((n) => parseWalFileName(n, segmentSize))
      .filter((p) => p !== null && p.timeline === timeline)
      .sort((a, b) => (a!.segNo < b!.segNo ? -1 : 1))[0];
    if (first === undefined || first === null) throw new UsageError(`could not find any WAL file of timeline ${timeline} in "${dir}"`);
    start = segmentStart(first.segNo, segmentSize);
  }
  const end = o.end !== undefined ? location(o.end) : undefined;
  const verifier = new RedoVerifier();
  let records = 0;
  let last: Lsn = start;
  const stopped = readWal({ dir, start, end, timeline, segmentSize }, (r) => {
    verifier.add(r);
    records++;
    last = r.endLsn;
    return true;
  });
  out(`verified redo of ${records} records, ${formatLsn(start)} to ${formatLsn(last)}${stopped !== undefined ? ` (stopped: ${stopped})` : ''}\n\n`);
  out(verifier.report());
  return verifier.mismatchCount > 0 ? 1 : 0;
}
