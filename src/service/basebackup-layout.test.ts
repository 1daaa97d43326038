/**
 * The archive's layout, from a timeline whose values the test writes itself (no PostgreSQL): 1 GiB
 * segment files, zero pages for blocks without a value, an unlogged relation's main fork made from
 * its init fork, a tablespace's folder, PG_VERSION only in a database's own folder, page
 * checksums, two-phase files from a PREPARE record's data and from an imported file, SLRU segments,
 * and pg_control last, pointing at the checkpoint record in pg_wal.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { pageChecksum } from '../pg/checksum.js';
import { CHECKPOINT_BYTES, CheckPointStruct, ControlFile } from '../pg/control.js';
import { crc32c, crc32cRange } from '../pg/crc32c.js';
import type { Lsn } from '../pg/lsn.js';
import type { Oid, RelFileNode } from '../pg/types.js';
import { encodeDatabaseDirectory, encodeNumberList, encodeRelDirectory, encodeU32 } from '../repository/datadir.js';
import {
  CHECKPOINT_KEY,
  CONTROL_FILE_KEY,
  DATABASE_DIRECTORY_KEY,
  relBlockKey,
  relDirectoryKey,
  relmapKey,
  relSizeKey,
  Slru,
  slruDirectoryKey,
  slruPageKey,
  slruSegmentSizeKey,
  TWO_PHASE_DIRECTORY_KEY,
  twoPhaseFileKey,
} from '../repository/key.js';
import { Repository } from '../repository/repository.js';
import { toyReconstructor } from '../testing/repository-model.js';
import { decodeAll } from '../wal/decoder.js';
import { twoPhaseStateFile } from './basebackup-files.js';
import { writeBaseBackup } from './basebackup.js';

const LSN = 0x0300_1238n as Lsn;
const SEG = 16 << 20;

function controlFile(): Uint8Array {
  const b = Buffer.alloc(8192);
  b.writeBigUInt64LE(7350000000000000001n, 0);
  b.writeUInt32LE(1300, 8);
  b.writeUInt32LE(202209061, 12);
  b.writeUInt32LE(6, 16); // in production: the primary's state when it was imported
  b.writeBigUInt64LE(0x0200_0028n, 136); // a stale minRecoveryPoint, to be cleared
  b.writeInt32LE(1, 172);
  for (const [o, v] of [[180, 100], [184, 8], [188, 10], [192, 5], [196, 64]] as const) b.writeInt32LE(v, o);
  b.writeUInt32LE(8, 204);
  b.writeDoubleLE(1234567.0, 208);
  for (const [o, v] of [[216, 8192], [220, 131072], [224, 8192], [228, SEG], [232, 64], [236, 32], [240, 1996], [244, 2048]] as const) b.writeUInt32LE(v, o);
  b[248] = 1;
  b.writeUInt32LE(1, 252); // data checksums on
  b.writeUInt32LE(crc32cRange(b, 0, 288), 288);
  return new ControlFile(b).encode();
}

function checkpoint(): Uint8Array {
  const c = new CheckPointStruct(new Uint8Array(CHECKPOINT_BYTES));
  c.redo = 0x0100_0028n;
  c.thisTimeLineId = 1;
  c.prevTimeLineId = 1;
  c.nextXid = 1200n;
  c.nextOid = 30000;
  c.nextMulti = 1;
  c.oldestXid = 700;
  c.oldestXidDb = 1;
  c.oldestMulti = 1;
  c.oldestMultiDb = 1;
  c.oldestActiveXid = 1100;
  return c.bytes;
}

/** An initialised heap page (pd_lower 24, pd_upper 8192) whose body is `tag`. */
function page(tag: number): Uint8Array {
  const p = Buffer.alloc(8192);
  p.writeUInt16LE(24, 12);
  p.writeUInt16LE(8192, 14);
  p.writeUInt16LE(8192 | 4, 16);
  p.fill(tag, 100, 200);
  return p;
}

/** A TwoPhaseFileHeader-led state of `bytes` bytes (total_len counts the CRC that follows it in a file). */
function twoPhaseState(xid: number, bytes: number): Buffer {
  const b = Buffer.alloc(bytes, xid & 0xff);
  b.writeUInt32LE(0x57f94534, 0);
  b.writeUInt32LE(bytes + 4, 4);
  b.writeUInt32LE(xid, 8);
  return b;
}

interface Entry {
  readonly path: string;
  readonly type: string;
  readonly size: number;
  /** The first and last 8 KiB (all of a small file). */
  readonly head: Buffer;
  readonly tail: Buffer;
}

/** A streaming ustar reader: headers, sizes, and the ends of each file. */
function tarReader(): { push: (chunk: Buffer) => void; entries: Entry[]; ended: () => boolean } {
  const entries: Entry[] = [];
  let buf = Buffer.alloc(0);
  let current: { path: string; type: string; size: number; left: number; head: Buffer[]; headBytes: number; tail: Buffer } | undefined;
  let zeroBlocks = 0;
  const push = (chunk: Buffer): void => {
    buf = Buffer.concat([buf, chunk]);
    for (;;) {
      if (current !== undefined) {
        const n = Math.min(current.left, buf.length);
        if (n === 0 && current.left > 0) return;
        const part = buf.subarray(0, n);
        if (current.headBytes < 8192) {
          current.head.push(Buffer.from(part.subarray(0, 8192 - current.headBytes)));
          current.headBytes += Math.min(part.length, 8192 - current.headBytes);
        }
        current.tail = part.length >= 8192 ? Buffer.from(part.subarray(-8192)) : Buffer.concat([current.tail, part]).subarray(-8192);
        current.left -= n;
        buf = buf.subarray(n);
        if (current.left > 0) return;
        const padded = (512 - (current.size % 512)) % 512;
        if (buf.length < padded) {
          current.left = 0;
          if (padded > 0) return;
        }
        buf = buf.subarray(padded);
        entries.push({ path: current.path, type: current.type, size: current.size, head: Buffer.concat(current.head), tail: Buffer.from(current.tail) });
        current = undefined;
      }
      if (buf.length < 512) return;
      const h = buf.subarray(0, 512);
      buf = buf.subarray(512);
      if (h.every((x) => x === 0)) {
        zeroBlocks++;
        continue;
      }
      assert.equal(zeroBlocks, 0, 'nothing follows the end of the archive');
      const field = (o: number, n: number) => h.toString('latin1', o, o + n).replace(/\0.*$/s, '');
      assert.equal(field(257, 6), 'ustar');
      let sum = 0;
      for (let i = 0; i < 512; i++) sum += i >= 148 && i < 156 ? 32 : (h[i] as number);
      assert.equal(parseInt(field(148, 8), 8), sum, 'header checksum');
      const prefix = field(345, 155);
      const name = field(0, 100);
      const size = parseInt(field(124, 12), 8);
      current = { path: prefix === '' ? name : `${prefix}/${name}`, type: field(156, 1), size, left: size, head: [], headBytes: 0, tail: Buffer.alloc(0) };
    }
  };
  return { push, entries, ended: () => zeroBlocks === 2 && current === undefined && buf.length === 0 };
}

test('archive layout: segments, zero pages, unlogged and tablespace relations, checksums, two-phase files, SLRUs, WAL and pg_control', { timeout: 120_000 }, async () => {
  const root = mkdtempSync(join(tmpdir(), 'strata-bb-layout-'));
  const repo = Repository.open(root, { reconstructorFor: () => toyReconstructor });
  try {
    const t = repo.createTenant().createTimeline();
    const put = (key: Parameters<typeof t.put>[0], bytes: Uint8Array) => t.put(key, LSN, { kind: 'image', bytes });
    const rel = (spc: number, db: number, relNode: number): RelFileNode => ({ spcNode: spc as Oid, dbNode: db as Oid, relNode: relNode as Oid });
    put(CONTROL_FILE_KEY, controlFile());
    put(CHECKPOINT_KEY, checkpoint());
    put(DATABASE_DIRECTORY_KEY, encodeDatabaseDirectory([{ spcNode: 1663, dbNode: 5 }, { spcNode: 16400, dbNode: 5 }]));
    put(relDirectoryKey(1664, 0), encodeRelDirectory([{ relNode: 1262, fork: 0 }]));
    put(relSizeKey(rel(1664, 0, 1262), 0), encodeU32(1));
    put(relBlockKey(rel(1664, 0, 1262), 0, 0), page(1));
    put(relmapKey(1664, 0), Buffer.alloc(512, 0x11));
    put(relmapKey(1663, 5), Buffer.alloc(512, 0x55));
    // 16384: one block past 1 GiB, only the first and the last with a value. 16385: unlogged, with a
    // stale main fork (as an import of a running cluster's files leaves it) and a 1-page init fork.
    put(relDirectoryKey(1663, 5), encodeRelDirectory([{ relNode: 16384, fork: 0 }, { relNode: 16385, fork: 0 }, { relNode: 16385, fork: 1 }, { relNode: 16385, fork: 3 }]));
    put(relSizeKey(rel(1663, 5, 16384), 0), encodeU32(131073));
    put(relBlockKey(rel(1663, 5, 16384), 0, 0), page(2));
    put(relBlockKey(rel(1663, 5, 16384), 0, 131072), page(3));
    put(relSizeKey(rel(1663, 5, 16385), 0), encodeU32(5));
    for (let b = 0; b < 5; b++) put(relBlockKey(rel(1663, 5, 16385), 0, b), page(40 + b));
    put(relSizeKey(rel(1663, 5, 16385), 1), encodeU32(3));
    put(relSizeKey(rel(1663, 5, 16385), 3), encodeU32(1));
    put(relBlockKey(rel(1663, 5, 16385), 3, 0), page(4));
    put(relDirectoryKey(16400, 5), encodeRelDirectory([{ relNode: 16390, fork: 0 }]));
    put(relSizeKey(rel(16400, 5, 16390), 0), encodeU32(2));
    put(relBlockKey(rel(16400, 5, 16390), 0, 1), page(5));
    put(slruDirectoryKey(Slru.Clog), encodeNumberList([0]));
    put(slruSegmentSizeKey(Slru.Clog, 0), encodeU32(2));
    put(slruPageKey(Slru.Clog, 0, 0), Buffer.alloc(8192, 0x55));
    put(slruPageKey(Slru.Clog, 0, 1), Buffer.alloc(8192, 0x01));
    const fromRecord = twoPhaseState(1000, 200);
    const fromFile = twoPhaseState(1001, 96);
    const file1001 = Buffer.concat([fromFile, Buffer.alloc(4)]);
    file1001.writeUInt32LE(crc32c(fromFile), 96);
    put(TWO_PHASE_DIRECTORY_KEY, encodeNumberList([1000, 1001]));
    put(twoPhaseFileKey(1000), fromRecord);
    put(twoPhaseFileKey(1001), file1001);
    t.advance(LSN);

    const reader = tarReader();
    const result = await writeBaseBackup(t, undefined, (c) => reader.push(c), { now: new Date('2024-01-02T03:04:05Z') });
    assert.ok(reader.ended(), 'the archive ends with two zero blocks');
    const byPath = new Map(reader.entries.map((e) => [e.path, e]));
    const file = (p: string): Entry => {
      const e = byPath.get(p);
      assert.ok(e !== undefined && e.type === '0', `${p} is a file`);
      return e;
    };
    assert.equal(result.entries, reader.entries.length);
    assert.equal(result.tarBytes, result.bytes);
    assert.equal(reader.entries.at(-1)?.path, 'global/pg_control', 'pg_control is last');
    for (const d of ['pg_wal', 'pg_xact', 'pg_multixact/offsets', 'pg_commit_ts', 'pg_tblspc', 'pg_logical/snapshots', 'pg_subtrans', 'base/5', 'pg_tblspc/16400/PG_15_202209061/5'])
      assert.equal(byPath.get(`${d}/`)?.type, '5', `folder ${d}`);

    // 1 GiB segments; blocks without a value are zero pages; checksums stamped on initialised pages only.
    const seg0 = file('base/5/16384');
    const seg1 = file('base/5/16384.1');
    assert.equal(seg0.size, 1 << 30);
    assert.equal(seg1.size, 8192);
    assert.equal(seg0.head[150], 2);
    assert.equal(seg0.head.readUInt16LE(8), pageChecksum(seg0.head, 0));
    assert.ok(seg0.tail.every((x) => x === 0), 'block 131071 (no value) is a zero page');
    assert.equal(seg1.head[150], 3);
    assert.equal(seg1.head.readUInt16LE(8), pageChecksum(seg1.head, 131072));
    // Unlogged: init fork, and the main fork made from it; no FSM, no stale main pages.
    assert.equal(file('base/5/16385_init').size, 8192);
    assert.ok(file('base/5/16385').head.equals(file('base/5/16385_init').head));
    assert.equal(file('base/5/16385').head[150], 4);
    assert.equal(byPath.has('base/5/16385_fsm'), false);
    // The tablespace's folder: its relation, no PG_VERSION or relmapper file (the database's own folder is base/5).
    const ts = file('pg_tblspc/16400/PG_15_202209061/5/16390');
    assert.equal(ts.size, 16384);
    assert.equal(byPath.has('pg_tblspc/16400/PG_15_202209061/5/PG_VERSION'), false);
    assert.equal(file('base/5/PG_VERSION').head.toString(), '15\n');
    assert.equal(file('PG_VERSION').head.toString(), '15\n');
    assert.equal(byPath.has('global/PG_VERSION'), false);
    assert.ok(file('base/5/pg_filenode.map').head.equals(Buffer.alloc(512, 0x55)));
    assert.ok(file('global/pg_filenode.map').head.equals(Buffer.alloc(512, 0x11)));
    assert.equal(file('global/1262').size, 8192);
    assert.match(file('postgresql.conf').head.toString(), /max_prepared_transactions = 5\n/);

    // Two-phase files: the state and its CRC-32C, whichever form the repository held.
    const f1000 = file('pg_twophase/000003E8').head;
    assert.equal(f1000.length, 204);
    assert.ok(f1000.subarray(0, 200).equals(fromRecord));
    assert.equal(f1000.readUInt32LE(200), crc32c(fromRecord));
    assert.ok(file('pg_twophase/000003E9').head.equals(file1001));

    const clog = file('pg_xact/0000');
    assert.equal(clog.size, 16384);
    assert.equal(clog.head[0], 0x55);
    assert.equal(clog.tail[0], 0x01);

    // pg_control: shut down at the checkpoint record, which is in pg_wal at that position.
    const control = new ControlFile(file('global/pg_control').head);
    assert.equal(control.state, 1);
    assert.equal(control.checkPoint, result.checkpointLsn);
    assert.equal(control.minRecoveryPoint, 0n);
    assert.equal(control.time, BigInt(Date.parse('2024-01-02T03:04:05Z') / 1000));
    const cp = control.checkPointCopy;
    assert.equal(cp.redo, result.checkpointLsn);
    assert.equal(cp.oldestActiveXid, 0);
    assert.equal(cp.nextXid, 1200n);
    assert.equal(result.checkpointLsn, 0x0300_1238n);
    const wal = file('pg_wal/000000010000000000000003');
    assert.equal(wal.size, SEG);
    const walBytes = Buffer.concat([wal.head, Buffer.alloc(SEG - 8192)]);
    const { records } = decodeAll(walBytes, { startLsn: 0x0300_0000n as Lsn, segmentSize: SEG });
    assert.equal(records.length, 1);
    assert.equal(records[0]?.lsn, result.checkpointLsn);
    assert.ok(Buffer.from(records[0]?.mainData ?? []).equals(cp.bytes));
  } finally {
    await repo.close(false);
    rmSync(root, { recursive: true, force: true });
  }
});

test('two-phase state that cannot become its file is refused, saying why', () => {
  const state = twoPhaseState(7, 64);
  const withCrc = Buffer.concat([state, Buffer.alloc(4)]);
  withCrc.writeUInt32LE(crc32c(state), 64);
  assert.ok(Buffer.from(twoPhaseStateFile(7, state)).equals(withCrc));
  assert.ok(Buffer.from(twoPhaseStateFile(7, withCrc)).equals(withCrc));
  const badCrc = Buffer.from(withCrc);
  badCrc[20] = (badCrc[20] as number) ^ 1;
  assert.throws(() => twoPhaseStateFile(7, badCrc), { code: 'CORRUPT_STATE', message: /CRC does not match/ });
  const badMagic = Buffer.from(state);
  badMagic[0] = 0;
  assert.throws(() => twoPhaseStateFile(7, badMagic), { code: 'CORRUPT_STATE', message: /magic/ });
  assert.throws(() => twoPhaseStateFile(7, state.subarray(0, 40)), { code: 'CORRUPT_STATE', message: /40 bytes and its header says the file is 68/ });
  assert.throws(() => twoPhaseStateFile(7, state.subarray(0, 5)), { code: 'CORRUPT_STATE' });
});
