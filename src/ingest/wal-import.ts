/**
 * Import of a folder of WAL segments into a timeline: every record from the timeline's last record
 * LSN to the end of valid WAL in the folder is ingested (an archive that `strata wal push` fills, a
 * copy of pg_wal). Run again as more segments arrive, it goes on where it stopped.
 */
import { formatLsn, type Lsn } from '../pg/lsn.js';
import { walRecords } from './wal-folder.js';
import type { WalIngest } from './walingest.js';

/** Records ingested between two turns of the event loop. */
export const IMPORT_YIELD_RECORDS = 4096;

export interface WalImportResult {
  readonly records: number;
  readonly from: Lsn;
  readonly to: Lsn;
  /** Why reading stopped: the end of valid WAL, a missing segment (in pg_waldump's words). */
  readonly stoppedBecause: string;
}

export async function importWalFolder(ingest: WalIngest, dir: string, options: { timeline?: number; segmentSize?: number } = {}): Promise<WalImportResult> {
  const t = ingest.timeline;
  const from = t.lastRecordLsn;
  // Ingest is done with a record when its promise settles: it copies what it stores, and keeps no
  // record, view or description past that (walingest.ts). So the reader may reuse its memory.
  const it = walRecords({ dir, start: from, timeline: options.timeline ?? 1, segmentSize: options.segmentSize ?? ingest.walSegmentSize, recordsDieInCallback: true });
  let records = 0;
  for (;;) {
    const next = it.next();
    if (next.done === true) return { records, from, to: t.lastRecordLsn, stoppedBecause: next.value ?? `the end LSN ${formatLsn(t.lastRecordLsn)}` };
    const stored = ingest.ingest(next.value);
    if (stored !== undefined) await stored;
    // Most records are stored without a promise: let the event loop run now and then (requests to
    // the server, the flush worker's finished layers).
    if (++records % IMPORT_YIELD_RECORDS === 0) await new Promise((resolve) => setImmediate(resolve));
  }
}
