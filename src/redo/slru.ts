/**
 * SLRU page redo: the changes transaction records make to CLOG, multixact and commit_ts pages,
 * which they never reference as blocks. Ingest turns each such change into an operation stored
 * under the SLRU page's key; a read applies them, oldest first, to the page's newest image. Pure.
 *
 * Operation bytes (little-endian), one page each:
 * ```
 *  0  'S' (0x53)
 *  1  kind: 1 clog status, 2 multixact offsets, 3 multixact members, 4 commit timestamps
 *  2  u32 n, then
 *     clog status:       status u8 (1 committed, 2 aborted, 3 sub-committed), n x xid u32
 *     multixact offsets: n x (multi u32, offset u32)
 *     multixact members: n x (member offset u32, xid u32, status u8)
 *     commit timestamps: timestamp i64, origin u16, n x xid u32
 * ```
 */
import { BLCKSZ } from '../pg/constants.js';
import { RedoError } from './errors.js';

export const SLRU_OP_TAG = 0x53;

/** TransactionIdGetStatus values (clog.h). */
export const CLOG_STATUS_COMMITTED = 1;
export const CLOG_STATUS_ABORTED = 2;
export const CLOG_STATUS_SUB_COMMITTED = 3;

/** clog.c */
export const CLOG_XACTS_PER_PAGE = BLCKSZ * 4;
/** multixact.c */
export const MULTIXACT_OFFSETS_PER_PAGE = BLCKSZ / 4;
const MULTIXACT_MEMBERS_PER_GROUP = 4;
const MULTIXACT_MEMBERGROUP_SIZE = 4 * MULTIXACT_MEMBERS_PER_GROUP + 4;
const MULTIXACT_MEMBERGROUPS_PER_PAGE = Math.floor(BLCKSZ / MULTIXACT_MEMBERGROUP_SIZE);
export const MULTIXACT_MEMBERS_PER_PAGE = MULTIXACT_MEMBERGROUPS_PER_PAGE * MULTIXACT_MEMBERS_PER_GROUP;
/** commit_ts.c: SizeOfCommitTimestampEntry = 8 + 2. */
const COMMIT_TS_ENTRY_BYTES = 10;
export const COMMIT_TS_XACTS_PER_PAGE = Math.floor(BLCKSZ / COMMIT_TS_ENTRY_BYTES);

export type SlruOp =
  | { readonly kind: 'clog.status'; readonly status: number; readonly xids: readonly number[] }
  | { readonly kind: 'multixact.offsets'; readonly entries: readonly { readonly multi: number; readonly offset: number }[] }
  | { readonly kind: 'multixact.members'; readonly members: readonly { readonly offset: number; readonly xid: number; readonly status: number }[] }
  | { readonly kind: 'commitTs.set'; readonly timestamp: bigint; readonly origin: number; readonly xids: readonly number[] };

export function encodeSlruOp(op: SlruOp): Uint8Array {
  switch (op.kind) {
    case 'clog.status':
      return encodeClogStatus(op.status, op.xids);
    case 'multixact.offsets': {
      const b = Buffer.alloc(6 + 8 * op.entries.length);
      header(b, 2, op.entries.length);
      op.entries.forEach((e, i) => {
        b.writeUInt32LE(e.multi >>> 0, 6 + 8 * i);
        b.writeUInt32LE(e.offset >>> 0, 10 + 8 * i);
      });
      return b;
    }
    case 'multixact.members': {
      const b = Buffer.alloc(6 + 9 * op.members.length);
      header(b, 3, op.members.length);
      op.members.forEach((m, i) => {
        b.writeUInt32LE(m.offset >>> 0, 6 + 9 * i);
        b.writeUInt32LE(m.xid >>> 0, 10 + 9 * i);
        b[14 + 9 * i] = m.status;
      });
      return b;
    }
    case 'commitTs.set': {
      const b = Buffer.alloc(16 + 4 * op.xids.length);
      header(b, 4, op.xids.length);
      b.writeBigInt64LE(op.timestamp, 6);
      b.writeUInt16LE(op.origin, 14);
      op.xids.forEach((x, i) => b.writeUInt32LE(x >>> 0, 16 + 4 * i));
      return b;
    }
  }
}

/**
 * encodeSlruOp of a 'clog.status' operation: ingest makes one per commit, so it is written by hand
 * into a plain Uint8Array (small ones live on the JavaScript heap; a Buffer.alloc each had its own
 * ArrayBuffer).
 */
export function encodeClogStatus(status: number, xids: readonly number[]): Uint8Array {
  const n = xids.length;
  const b = new Uint8Array(7 + 4 * n);
  b[0] = SLRU_OP_TAG;
  b[1] = 1;
  writeU32(b, 2, n);
  b[6] = status;
  for (let i = 0; i < n; i++) writeU32(b, 7 + 4 * i, (xids[i] as number) >>> 0);
  return b;
}

function writeU32(b: Uint8Array, o: number, v: number): void {
  b[o] = v & 0xff;
  b[o + 1] = (v >>> 8) & 0xff;
  b[o + 2] = (v >>> 16) & 0xff;
  b[o + 3] = v >>> 24;
}

function header(b: Buffer, kind: number, n: number): void {
  b[0] = SLRU_OP_TAG;
  b[1] = kind;
  b.writeUInt32LE(n, 2);
}

function bad(why: string): RedoError {
  return new RedoError('BAD_INPUT', `Cannot apply an SLRU operation: ${why}`);
}

export function decodeSlruOp(bytes: Uint8Array): SlruOp {
  const b = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length);
  if (b.length < 6 || b[0] !== SLRU_OP_TAG) throw bad(`${b.length} bytes that do not start with the SLRU tag`);
  const n = b.readUInt32LE(2);
  const expect = (len: number) => {
    if (b.length !== len) throw bad(`kind ${b[1]} with ${n} entries should be ${len} bytes, is ${b.length}`);
  };
  switch (b[1]) {
    case 1:
      expect(7 + 4 * n);
      return { kind: 'clog.status', status: b[6] as number, xids: Array.from({ length: n }, (_, i) => b.readUInt32LE(7 + 4 * i)) };
    case 2:
      expect(6 + 8 * n);
      return { kind: 'multixact.offsets', entries: Array.from({ length: n }, (_, i) => ({ multi: b.readUInt32LE(6 + 8 * i), offset: b.readUInt32LE(10 + 8 * i) })) };
    case 3:
      expect(6 + 9 * n);
      return {
        kind: 'multixact.members',
        members: Array.from({ length: n }, (_, i) => ({ offset: b.readUInt32LE(6 + 9 * i), xid: b.readUInt32LE(10 + 9 * i), status: b[14 + 9 * i] as number })),
      };
    case 4:
      expect(16 + 4 * n);
      return { kind: 'commitTs.set', timestamp: b.readBigInt64LE(6), origin: b.readUInt16LE(14), xids: Array.from({ length: n }, (_, i) => b.readUInt32LE(16 + 4 * i)) };
    default:
      throw bad(`kind ${b[1]} is unknown`);
  }
}

/** Applies one operation to an SLRU page in place. */
export function applySlruOp(page: Uint8Array, op: SlruOp): void {
  if (page.length !== BLCKSZ) throw bad(`the page is ${page.length} bytes`);
  const view = new DataView(page.buffer, page.byteOffset, page.length);
  switch (op.kind) {
    case 'clog.status':
      // TransactionIdSetStatusBit: two bits per transaction.
      for (const xid of op.xids) {
        const inPage = xid % CLOG_XACTS_PER_PAGE;
        const byte = inPage >>> 2;
        const shift = (inPage & 3) * 2;
        page[byte] = ((page[byte] as number) & ~(3 << shift)) | (op.status << shift);
      }
      return;
    case 'multixact.offsets':
      // RecordNewMultiXact: offsets[multi] = offset.
      for (const e of op.entries) view.setUint32((e.multi % MULTIXACT_OFFSETS_PER_PAGE) * 4, e.offset, true);
      return;
    case 'multixact.members':
      // RecordNewMultiXact: each member's xid and its status byte in its member group.
      for (const m of op.members) {
        const groupOffset = (Math.floor(m.offset / MULTIXACT_MEMBERS_PER_GROUP) % MULTIXACT_MEMBERGROUPS_PER_PAGE) * MULTIXACT_MEMBERGROUP_SIZE;
        const inGroup = m.offset % MULTIXACT_MEMBERS_PER_GROUP;
        view.setUint32(groupOffset + 4 + inGroup * 4, m.xid, true);
        page[groupOffset + inGroup] = m.status;
      }
      return;
    case 'commitTs.set':
      // TransactionIdSetCommitTs: CommitTimestampEntry {time, nodeid}.
      for (const xid of op.xids) {
        const at = (xid % COMMIT_TS_XACTS_PER_PAGE) * COMMIT_TS_ENTRY_BYTES;
        view.setBigInt64(at, op.timestamp, true);
        view.setUint16(at + 8, op.origin, true);
      }
      return;
  }
}

/** The page after the operations (encoded), oldest first, applied to `base` (or to a zero page). */
export function redoSlruPage(base: Uint8Array | undefined, ops: readonly Uint8Array[]): Uint8Array {
  const page = base === undefined ? new Uint8Array(BLCKSZ) : Uint8Array.from(base);
  for (const op of ops) applySlruOp(page, decodeSlruOp(op));
  return page;
}
