/**
 * A timeline's metadata file: what the timeline is (its ancestor and branch point) and what of it
 * is on disk (its layer files and the disk-consistent LSN they make up). It is replaced as a whole,
 * durably (DESIGN.md invariant 3), after every flush, compaction and GC: a layer file is part of
 * the timeline exactly when the metadata on disk names it.
 *
 * The file is JSON, one object: `{ "formatVersion": 2, "crc32c": <CRC-32C of the body's JSON text>,
 * "body": { ... } }`; LSNs are written `X/X` as PostgreSQL prints them.
 *
 * Format versions: 2 added `consistentLsn` (reads below it are refused: a timeline imported from a
 * base backup holds files that are consistent only once the WAL up to the backup's end LSN is in).
 * A version 1 file reads as `consistentLsn` 0/0: every timeline before it was consistent throughout.
 */
import { readFileSync } from 'node:fs';
import { crc32c } from '../pg/crc32c.js';
import { formatLsn, parseLsn } from '../pg/lsn.js';
import { writeFileDurable } from './durable.js';
import { RepositoryError } from './errors.js';

export const METADATA_FILE = 'metadata.json';
export const METADATA_FORMAT_VERSION = 2;
/** Older versions this code still reads (see the header). */
const METADATA_FORMAT_VERSIONS_READ: readonly number[] = [1, 2];

export interface TimelineMetadata {
  readonly timelineId: string;
  readonly ancestorTimelineId: string | null;
  /** The branch point: the timeline sees its ancestor's values at or below this LSN. */
  readonly ancestorLsn: number;
  /** Everything at or below this LSN is in the layer files listed. */
  readonly diskConsistentLsn: number;
  /** Reads below this LSN are refused (except at retained points); GC has removed what they need. */
  readonly gcCutoff: number;
  /** Delta layers that end at or below this LSN are L1 (made by compaction); those above are L0 (made by flush). */
  readonly compactedLsn: number;
  /**
   * Reads below this LSN are refused: the timeline's state is consistent only from here on. 0 for a
   * timeline that is consistent throughout (an empty one, a branch, a stopped data directory's
   * import); a base backup's end LSN for one imported from a backup (import-backup.ts).
   */
  readonly consistentLsn: number;
  readonly layers: readonly string[];
  readonly createdAt: string;
  /** Samples of (LSN, wall-clock time) as WAL arrived: for time-based retention and LSN by timestamp. */
  readonly lsnTimes: readonly (readonly [number, number])[];
}

interface MetadataBody {
  timelineId: string;
  ancestorTimelineId: string | null;
  ancestorLsn: string;
  diskConsistentLsn: string;
  gcCutoff: string;
  compactedLsn: string;
  /** Absent in format version 1. */
  consistentLsn?: string;
  layers: string[];
  createdAt: string;
  lsnTimes: [string, number][];
}

const fmt = (n: number) => formatLsn(BigInt(n));

export function encodeMetadata(m: TimelineMetadata): Uint8Array {
  const body: MetadataBody = {
    timelineId: m.timelineId,
    ancestorTimelineId: m.ancestorTimelineId,
    ancestorLsn: fmt(m.ancestorLsn),
    diskConsistentLsn: fmt(m.diskConsistentLsn),
    gcCutoff: fmt(m.gcCutoff),
    compactedLsn: fmt(m.compactedLsn),
    consistentLsn: fmt(m.consistentLsn),
    layers: [...m.layers],
    createdAt: m.createdAt,
    lsnTimes: m.lsnTimes.map(([lsn, ms]) => [fmt(lsn), ms]),
  };
  const text = JSON.stringify(body);
  return Buffer.from(`{"formatVersion":${METADATA_FORMAT_VERSION},"crc32c":${crc32c(Buffer.from(text))},"body":${text}}\n`);
}

export function writeMetadata(path: string, m: TimelineMetadata): void {
  writeFileDurable(path, encodeMetadata(m));
}

function bad(path: string, what: string): RepositoryError {
  return new RepositoryError('CORRUPT_METADATA', `Cannot read timeline metadata ${path}: ${what}`);
}

export function readMetadata(path: string): TimelineMetadata {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new RepositoryError('CORRUPT_METADATA', `Cannot read timeline metadata ${path}: ${(e as Error).message}`, { cause: e });
  }
  // The body's exact text is what the checksum covers: cut it out rather than re-serialise it.
  const m = /^\{"formatVersion":(\d+),"crc32c":(\d+),"body":(.*)\}\n?$/s.exec(text);
  if (m === null) throw bad(path, 'it is not a strata metadata file');
  if (!METADATA_FORMAT_VERSIONS_READ.includes(Number(m[1]))) throw bad(path, `format version ${m[1]} is not one of the supported ${METADATA_FORMAT_VERSIONS_READ.join(', ')}`);
  const bodyText = m[3] as string;
  if (crc32c(Buffer.from(bodyText)) !== Number(m[2])) throw bad(path, 'the checksum does not match');
  let body: MetadataBody;
  try {
    body = JSON.parse(bodyText) as MetadataBody;
  } catch (e) {
    throw bad(path, `the body is not JSON: ${(e as Error).message}`);
  }
  const lsn = (text: string, field: string): number => {
    try {
      return Number(parseLsn(text));
    } catch {
      throw bad(path, `${field} ${JSON.stringify(text)} is not an LSN`);
    }
  };
  return {
    timelineId: body.timelineId,
    ancestorTimelineId: body.ancestorTimelineId,
    ancestorLsn: lsn(body.ancestorLsn, 'ancestorLsn'),
    diskConsistentLsn: lsn(body.diskConsistentLsn, 'diskConsistentLsn'),
    gcCutoff: lsn(body.gcCutoff, 'gcCutoff'),
    compactedLsn: lsn(body.compactedLsn, 'compactedLsn'),
    consistentLsn: body.consistentLsn === undefined ? 0 : lsn(body.consistentLsn, 'consistentLsn'),
    layers: body.layers,
    createdAt: body.createdAt,
    lsnTimes: (body.lsnTimes ?? []).map(([l, ms]) => [lsn(l, 'lsnTimes'), ms] as const),
  };
}
