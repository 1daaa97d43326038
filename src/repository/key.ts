/**
 * Keys: the address of every value the repository stores, from a relation block to the checkpoint.
 * Ingest turns each WAL record into writes under these keys; the page service reads them back. A key
 * is 18 bytes, compared bytewise; in memory it is those bytes as 36 lowercase hex digits, which
 * compare the same way as strings and are usable as Map keys and in layer file names.
 *
 * ```
 *  byte  0      1..4          5..8        9..12        13      14..17
 *       kind   field2        field3      field4       field5  field6      (all big-endian)
 *
 *  0x00  spcNode       dbNode      relNode      fork    blkno        relation block (relNode != 0)
 *  0x00  spcNode       dbNode      relNode      fork    0xFFFFFFFF   relation size: u32 LE block count
 *  0x00  spcNode       dbNode      0            0       0            relation directory of a database
 *  0x00  spcNode       dbNode      0            0       1            relmapper file (pg_filenode.map)
 *  0x01  slru          segno       0            0       blkno        SLRU page
 *  0x01  slru          segno       0            0       0xFFFFFFFF   SLRU segment size: u32 LE blocks
 *  0x02  slru          0           0            0       0            SLRU directory (its segments)
 *  0x03  0             0           0            0       0            database directory
 *  0x04  0             0           0            0       0            two-phase directory
 *  0x04  0             0           0            1       xid          two-phase state file
 *  0x05  0             0           0            0       0            pg_control
 *  0x05  0             0           0            0       1            checkpoint (CheckPoint struct)
 * ```
 *
 * Big-endian fields make the bytewise order the numeric order, so one relation fork's blocks are
 * contiguous and in block order, followed by that fork's size; a database's relation directory and
 * relmapper file sort before its relations. The layout follows Neon's `Key` (pgdatadir_mapping.rs);
 * the kinds and their order are strata's.
 */
import type { BlockNumber, Oid, RelFileNode, TransactionId } from '../pg/types.js';

/** 36 lowercase hex digits: the key's 18 bytes. */
export type Key = string & { readonly __brand: 'Key' };

export const KEY_BYTES = 18;
export const KEY_HEX_LENGTH = KEY_BYTES * 2;

/** The smallest and the past-the-end key: every key k has MIN_KEY <= k < MAX_KEY. */
export const MIN_KEY = '0'.repeat(KEY_HEX_LENGTH) as Key;
export const MAX_KEY = 'f'.repeat(KEY_HEX_LENGTH) as Key;

export const enum KeyKind {
  Relation = 0x00,
  SlruPage = 0x01,
  SlruDirectory = 0x02,
  DatabaseDirectory = 0x03,
  TwoPhase = 0x04,
  Control = 0x05,
}

/** SLRUs whose pages the repository keeps (SlruCtl in PostgreSQL). */
export const enum Slru {
  Clog = 0,
  MultiXactOffsets = 1,
  MultiXactMembers = 2,
  CommitTs = 3,
}

export const SLRU_DIRECTORY_NAMES: readonly string[] = ['pg_xact', 'pg_multixact/offsets', 'pg_multixact/members', 'pg_commit_ts'];

/** field6 of a relation's or SLRU segment's size key. */
const SIZE_FIELD = 0xffff_ffff;

const scratch = Buffer.alloc(18);

/** A key from its six fields, checked to fit their widths. */
export function makeKey(kind: number, field2: number, field3: number, field4: number, field5: number, field6: number): Key {
  if (!fits(kind, 0xff) || !fits(field5, 0xff) || !fits(field2, 0xffff_ffff) || !fits(field3, 0xffff_ffff) || !fits(field4, 0xffff_ffff) || !fits(field6, 0xffff_ffff))
    throw new RangeError(`Cannot make a key from fields ${kind}, ${field2}, ${field3}, ${field4}, ${field5}, ${field6}: a field is out of range`);
  // One native hex conversion: keys are made for every block of every record ingested.
  scratch[0] = kind;
  scratch.writeUInt32BE(field2, 1);
  scratch.writeUInt32BE(field3, 5);
  scratch.writeUInt32BE(field4, 9);
  scratch[13] = field5;
  scratch.writeUInt32BE(field6, 14);
  return scratch.toString('hex') as Key;
}

function fits(n: number, max: number): boolean {
  return Number.isInteger(n) && n >= 0 && n <= max;
}

export interface KeyFields {
  readonly kind: number;
  readonly field2: number;
  readonly field3: number;
  readonly field4: number;
  readonly field5: number;
  readonly field6: number;
}

export function keyFields(key: Key): KeyFields {
  return {
    kind: parseInt(key.slice(0, 2), 16),
    field2: parseInt(key.slice(2, 10), 16),
    field3: parseInt(key.slice(10, 18), 16),
    field4: parseInt(key.slice(18, 26), 16),
    field5: parseInt(key.slice(26, 28), 16),
    field6: parseInt(key.slice(28, 36), 16),
  };
}


/** A hex digit's value, from its character code. */
function hexDigit(key: Key, i: number): number {
  const c = key.charCodeAt(i);
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  if (c >= 0x61 && c <= 0x66) return c - 0x61 + 10;
  if (c >= 0x41 && c <= 0x46) return c - 0x41 + 10;
  throw new Error(`assert: key ${JSON.stringify(key)} has a character that is not a hex digit at ${i}`);
}

// Every entry a layer file writes goes through here: digits by character code, no substring and parseInt per byte.
export function keyToBytes(key: Key, out: Uint8Array = new Uint8Array(KEY_BYTES), offset = 0): Uint8Array {
  for (let i = 0; i < KEY_BYTES; i++) out[offset + i] = (hexDigit(key, i * 2) << 4) | hexDigit(key, i * 2 + 1);
  return out;
}

export function keyFromBytes(b: Uint8Array, offset = 0): Key {
  const buf = Buffer.isBuffer(b) ? b : Buffer.from(b.buffer, b.byteOffset, b.length);
  return buf.toString('hex', offset, offset + KEY_BYTES) as Key;
}

/** The key right after `key` in key order (for half-open ranges ending at a key). */
export function nextKey(key: Key): Key {
  const b = keyToBytes(key);
  for (let i = KEY_BYTES - 1; i >= 0; i--) {
    if (b[i] !== 0xff) {
      b[i] = (b[i] as number) + 1;
      return keyFromBytes(b);
    }
    b[i] = 0;
  }
  throw new RangeError('Cannot take the key after the largest key');
}

// ---- relations ----

export function relBlockKey(rel: RelFileNode, fork: number, blkno: BlockNumber | number): Key {
  if (rel.relNode === 0) throw new RangeError(`Cannot make a block key for relation ${rel.spcNode}/${rel.dbNode}/0: relNode 0 is reserved`);
  if (blkno === SIZE_FIELD) throw new RangeError('Cannot make a block key for block 0xFFFFFFFF (InvalidBlockNumber)');
  return makeKey(KeyKind.Relation, rel.spcNode, rel.dbNode, rel.relNode, fork, blkno);
}

/**
 * The first 28 hex digits of every block key of one relation fork (kind, spcNode, dbNode, relNode,
 * fork): ingest keeps it per fork and puts blocks by it and their number (Timeline.putBlockFrom), so
 * that no key string is built per block reference; relBlockKeyAt makes the key when one is needed.
 */
export function relBlockKeyPrefix(rel: RelFileNode, fork: number): string {
  return relBlockKey(rel, fork, 0).slice(0, KEY_HEX_LENGTH - 8);
}

/** relBlockKey(rel, fork, blkno) from relBlockKeyPrefix(rel, fork). */
export function relBlockKeyAt(prefix: string, blkno: BlockNumber | number): Key {
  if (!fits(blkno, SIZE_FIELD - 1)) throw new RangeError(`Cannot make a block key for block ${blkno}: block numbers are below 0xFFFFFFFF`);
  return (prefix + blkno.toString(16).padStart(8, '0')) as Key;
}

export function relSizeKey(rel: RelFileNode, fork: number): Key {
  if (rel.relNode === 0) throw new RangeError(`Cannot make a size key for relation ${rel.spcNode}/${rel.dbNode}/0: relNode 0 is reserved`);
  return makeKey(KeyKind.Relation, rel.spcNode, rel.dbNode, rel.relNode, fork, SIZE_FIELD);
}


export function relDirectoryKey(spcNode: Oid | number, dbNode: Oid | number): Key {
  return makeKey(KeyKind.Relation, spcNode, dbNode, 0, 0, 0);
}

export function relmapKey(spcNode: Oid | number, dbNode: Oid | number): Key {
  return makeKey(KeyKind.Relation, spcNode, dbNode, 0, 0, 1);
}

/** The (rel, fork, blkno) of a relation block key, or undefined for any other key. */
export function relBlockOf(key: Key): { rel: RelFileNode; fork: number; blkno: BlockNumber } | undefined {
  const f = keyFields(key);
  if (f.kind !== KeyKind.Relation || f.field4 === 0 || f.field6 === SIZE_FIELD) return undefined;
  return { rel: { spcNode: f.field2 as Oid, dbNode: f.field3 as Oid, relNode: f.field4 as Oid }, fork: f.field5, blkno: f.field6 as BlockNumber };
}


// ---- SLRUs ----

export function slruPageKey(slru: Slru, segno: number, blkno: number): Key {
  if (blkno === SIZE_FIELD) throw new RangeError('Cannot make an SLRU page key for block 0xFFFFFFFF');
  return makeKey(KeyKind.SlruPage, slru, segno, 0, 0, blkno);
}

export function slruSegmentSizeKey(slru: Slru, segno: number): Key {
  return makeKey(KeyKind.SlruPage, slru, segno, 0, 0, SIZE_FIELD);
}

export function slruDirectoryKey(slru: Slru): Key {
  return makeKey(KeyKind.SlruDirectory, slru, 0, 0, 0, 0);
}

// ---- the rest ----

export const DATABASE_DIRECTORY_KEY = makeKey(KeyKind.DatabaseDirectory, 0, 0, 0, 0, 0);
export const TWO_PHASE_DIRECTORY_KEY = makeKey(KeyKind.TwoPhase, 0, 0, 0, 0, 0);
export const CONTROL_FILE_KEY = makeKey(KeyKind.Control, 0, 0, 0, 0, 0);
export const CHECKPOINT_KEY = makeKey(KeyKind.Control, 0, 0, 0, 0, 1);

export function twoPhaseFileKey(xid: TransactionId | number): Key {
  return makeKey(KeyKind.TwoPhase, 0, 0, 0, 1, xid);
}

// ---- ranges ----

/** A half-open key range [start, end). */
export interface KeyRange {
  readonly start: Key;
  readonly end: Key;
}

export const ALL_KEYS: KeyRange = { start: MIN_KEY, end: MAX_KEY };



/** A key as a person reads it, e.g. `rel 1663/5/16384 main blk 7`. */
export function describeKey(key: Key): string {
  const f = keyFields(key);
  switch (f.kind) {
    case KeyKind.Relation:
      if (f.field4 === 0) return `${f.field6 === 0 ? 'reldir' : 'relmap'} ${f.field2}/${f.field3}`;
      return `rel ${f.field2}/${f.field3}/${f.field4} fork ${f.field5} ${f.field6 === SIZE_FIELD ? 'size' : `blk ${f.field6}`}`;
    case KeyKind.SlruPage:
      return `${SLRU_DIRECTORY_NAMES[f.field2] ?? `slru ${f.field2}`} seg ${f.field3} ${f.field6 === SIZE_FIELD ? 'size' : `blk ${f.field6}`}`;
    case KeyKind.SlruDirectory:
      return `${SLRU_DIRECTORY_NAMES[f.field2] ?? `slru ${f.field2}`} directory`;
    case KeyKind.DatabaseDirectory:
      return 'database directory';
    case KeyKind.TwoPhase:
      return f.field5 === 0 ? 'two-phase directory' : `two-phase xid ${f.field6}`;
    case KeyKind.Control:
      return f.field6 === 0 ? 'pg_control' : 'checkpoint';
    default:
      return `key ${key}`;
  }
}
