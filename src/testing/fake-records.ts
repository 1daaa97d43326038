/**
 * Hand-built WAL records for the rmgr modules' unit tests: little-endian struct bytes and a
 * `WalRecord` with the block references a test names. Real WAL is the oracle elsewhere
 * (waldump.test.ts); these reach the corners real WAL rarely shows (short data, unknown types).
 */
import type { Lsn } from '../pg/lsn.js';
import type { BlockNumber, Oid, RelFileNode, TransactionId } from '../pg/types.js';
import type { BlockRef, WalRecord } from '../wal/record.js';

export const TEST_REL: RelFileNode = { spcNode: 1663 as Oid, dbNode: 5 as Oid, relNode: 16384 as Oid };

/** Little-endian bytes from a list of [size, value] fields; negative values wrap as in C. */
export function le(...fields: readonly (readonly [1 | 2 | 4 | 8, number | bigint])[]): Uint8Array {
  const out: number[] = [];
  for (const [size, value] of fields) {
    let v = BigInt.asUintN(size * 8, BigInt(value));
    for (let i = 0; i < size; i++) {
      out.push(Number(v & 0xffn));
      v >>= 8n;
    }
  }
  return Uint8Array.from(out);
}

export function cat(...parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

export interface FakeBlock {
  readonly id: number;
  /** The block id unless told. */
  readonly blkno?: number;
  readonly data?: Uint8Array;
  readonly willInit?: boolean;
  readonly fork?: number;
  /** 'apply' for a full-page image redo restores, 'verify' for one kept for wal_consistency_checking. */
  readonly image?: 'apply' | 'verify';
}

export function fakeBlock(b: FakeBlock): BlockRef {
  const data = b.data ?? new Uint8Array(0);
  const hasImage = b.image !== undefined;
  return {
    id: b.id,
    rel: TEST_REL,
    fork: b.fork ?? 0,
    blkno: (b.blkno ?? b.id) as BlockNumber,
    flags: (b.willInit === true ? 0x40 : 0) | (hasImage ? 0x10 : 0) | (data.length > 0 ? 0x20 : 0),
    willInit: b.willInit === true,
    hasData: data.length > 0,
    hasImage,
    applyImage: b.image === 'apply',
    bimgLen: hasImage ? 8192 : 0,
    bimgInfo: b.image === 'apply' ? 0x02 : 0,
    holeOffset: 0,
    holeLength: 0,
    image: new Uint8Array(0),
    data,
  };
}

export interface FakeRecordOptions {
  readonly lsn?: bigint;
  readonly endLsn?: bigint;
  readonly prev?: bigint;
  readonly xid?: number;
  readonly origin?: number;
  readonly blocks?: readonly FakeBlock[];
}

export function fakeRecord(rmid: number, info: number, mainData: Uint8Array, o: FakeRecordOptions = {}): WalRecord {
  const blocks: (BlockRef | undefined)[] = [];
  for (const b of o.blocks ?? []) blocks[b.id] = fakeBlock(b);
  const lsn = (o.lsn ?? 0x1000028n) as Lsn;
  const endLsn = (o.endLsn ?? 0x1000060n) as Lsn;
  const prev = (o.prev ?? 0n) as Lsn;
  return {
    lsn,
    endLsn,
    prev,
    lsnNumber: Number(lsn),
    endLsnNumber: Number(endLsn),
    prevNumber: Number(prev),
    totLen: 24 + mainData.length,
    xid: (o.xid ?? 0) as TransactionId,
    info,
    rmid,
    crc: 0,
    blocks,
    origin: o.origin ?? 0,
    toplevelXid: 0 as TransactionId,
    mainData,
    raw: mainData,
  };
}

/** ItemPointerData bytes: bi_hi, bi_lo (little-endian u16s), ip_posid. */
export function tid(block: number, off: number): Uint8Array {
  return Uint8Array.of((block >>> 16) & 0xff, block >>> 24, block & 0xff, (block >>> 8) & 0xff, off & 0xff, off >>> 8);
}

/** A 16-byte btree leaf tuple: heap TID, t_info, an int4 key and padding. */
export function leafTuple(key: number, block: number, off: number): Uint8Array {
  const t = new Uint8Array(16);
  t.set(tid(block, off), 0);
  t[6] = 16;
  new DataView(t.buffer).setInt32(8, key, true);
  return t;
}
