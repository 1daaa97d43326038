/**
 * Unit tests for the core rmgr modules (XLOG, Transaction, Storage, CLOG, Database, Tablespace,
 * MultiXact, RelMap, Standby, CommitTs, ReplicationOrigin, LogicalMessage) over hand-built records:
 * decoded fields, effects, pg_waldump text, and the errors for short or unknown records. The
 * comparison with pg_waldump over real WAL is in the workload tests.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RMGR_NAMES } from '../../pg/rmgr-ids.js';
import type { Oid, RelFileNode } from '../../pg/types.js';
import type { DescriptionBase } from '../describe.js';
import { WalDecodeError } from '../errors.js';
import type { WalRecord } from '../record.js';
import { fakeRecord } from '../../testing/fake-records.js';
import { clogRmgr } from './clog.js';
import { committsRmgr } from './committs.js';
import { dbaseRmgr } from './dbase.js';
import { logicalMsgRmgr } from './logicalmsg.js';
import { multixactRmgr } from './multixact.js';
import { relmapRmgr } from './relmap.js';
import { replOriginRmgr } from './replorigin.js';
import { formatDesc, type RmgrModule } from './rmgr.js';
import { smgrRmgr } from './smgr.js';
import { standbyRmgr } from './standby.js';
import { tblspcRmgr } from './tblspc.js';
import { putTimestamptz, timestamptzToStr } from './timestamp.js';
import { xactRmgr } from './xact.js';
import { xlogRmgr } from './xlog.js';

/** Little-endian struct builder. */
class Bytes {
  private readonly parts: number[] = [];
  u8(v: number): this {
    this.parts.push(v & 0xff);
    return this;
  }
  u16(v: number): this {
    return this.u8(v).u8(v >> 8);
  }
  u32(v: number): this {
    return this.u16(v & 0xffff).u16(v >>> 16);
  }
  u64(v: bigint): this {
    return this.u32(Number(v & 0xffff_ffffn)).u32(Number((BigInt.asUintN(64, v) >> 32n) & 0xffff_ffffn));
  }
  rel(r: RelFileNode): this {
    return this.u32(r.spcNode).u32(r.dbNode).u32(r.relNode);
  }
  str(s: string): this {
    for (const b of Buffer.from(s, 'utf8')) this.u8(b);
    return this.u8(0);
  }
  zeros(n: number): this {
    for (let i = 0; i < n; i++) this.u8(0);
    return this;
  }
  alignTo(n: number): this {
    while (this.parts.length % n !== 0) this.u8(0);
    return this;
  }
  get length(): number {
    return this.parts.length;
  }
  done(): Uint8Array {
    return Uint8Array.from(this.parts);
  }
}

function record(rmid: number, info: number, mainData: Uint8Array, extra: { xid?: number; origin?: number } = {}): WalRecord {
  return fakeRecord(rmid, info, mainData, { lsn: 0x1_6b3_7a0n, endLsn: 0x1_6b3_800n, ...extra });
}

/** desc text as pg_waldump shows it after the type name. */
function text<D extends DescriptionBase>(m: RmgrModule<D>, r: WalRecord): string {
  return formatDesc(m, m.describe(r), r);
}

function throwsCode(fn: () => unknown, code: string): void {
  assert.throws(fn, (e: unknown) => e instanceof WalDecodeError && e.code === code && e.message.includes('0/16B37A0'));
}

const rel = (spc: number, db: number, relNode: number): RelFileNode => ({ spcNode: spc as Oid, dbNode: db as Oid, relNode: relNode as Oid });

// 2026-11-22 00:00:38.169552 UTC as a TimestampTz.
const TS = BigInt(Date.UTC(2026, 10, 22, 0, 0, 38)) * 1000n - 946_684_800_000_000n + 169_552n;
const TS_TEXT = '2026-11-22 00:00:38.169552 UTC';

test('timestamptzToStr prints six microsecond digits in UTC, as pg_waldump under TZ=UTC', () => {
  assert.equal(timestamptzToStr(TS), TS_TEXT);
  assert.equal(timestamptzToStr(0n), '2000-01-01 00:00:00.000000 UTC');
  assert.equal(timestamptzToStr(1_500_000n), '2000-01-01 00:00:01.500000 UTC');
  // C's truncating division and remainder, as compat.c computes them.
  assert.equal(timestamptzToStr(-1n), '2000-01-01 00:00:00.-00001 UTC');
});

test('putTimestamptz writes what timestamptzToStr returns, across days, leap years and the fallbacks', () => {
  const b = new Uint8Array(64);
  const written = (dt: bigint) => Buffer.from(b.buffer, 0, putTimestamptz(b, 0, dt)).toString('latin1');
  const DAY = 86_400_000_000n;
  const samples: bigint[] = [0n, 1n, 999_999n, 1_000_000n, DAY - 1n, DAY, TS, -1n, -DAY - 7n, 2n ** 62n, -(2n ** 62n)];
  // Month and year ends from 2000 to 2404 (2100 is not a leap year, 2400 is), a second either side.
  for (let y = 2000; y <= 2404; y += y < 2010 || y > 2395 || y % 100 === 0 ? 1 : 17)
    for (let m = 0; m < 12; m++) {
      const dt = (BigInt(Date.UTC(y, m, 1)) * 1000n - 946_684_800_000_000n);
      samples.push(dt - 1_000_000n, dt, dt + 1n);
    }
  let seed = 7;
  for (let i = 0; i < 2000; i++) {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    samples.push(BigInt(seed) * 123_456_789n + BigInt(i));
  }
  for (const dt of samples) assert.equal(written(dt), timestamptzToStr(dt), `TimestampTz ${dt}`);
  // The exact end offset even when the bytes do not fit.
  assert.equal(putTimestamptz(new Uint8Array(4), 0, TS), TS_TEXT.length);
});

test('xlog checkpoint: the whole CheckPoint struct, its effect and its text', () => {
  const data = new Bytes()
    .u64(0x2000028n) // redo
    .u32(2)
    .u32(1)
    .u8(1)
    .zeros(7)
    .u64((3n << 32n) | 1048500n)
    .u32(13572)
    .u32(2045)
    .u32(1630)
    .u32(716)
    .u32(1)
    .u32(1)
    .u32(0)
    .zeros(4)
    .u64(1_700_000_000n)
    .u32(724)
    .u32(725)
    .u32(1048499)
    .zeros(4)
    .done();
  assert.equal(data.length, 88);
  const r = record(0, 0x10, data);
  const d = xlogRmgr.describe(r);
  assert.equal(d.kind, 'xlog.checkpoint');
  assert.equal(xlogRmgr.identify(0x10), 'CHECKPOINT_ONLINE');
  assert.equal(
    text(xlogRmgr, r),
    'redo 0/2000028; tli 2; prev tli 1; fpw true; xid 3:1048500; oid 13572; multi 2045; offset 1630; oldest xid 716 in DB 1; ' +
      'oldest multi 1 in DB 0; oldest/newest commit timestamp xid: 724/725; oldest running xid 1048499; online',
  );
  const e = d.effects[0];
  assert.ok(e !== undefined && e.kind === 'checkpoint');
  assert.equal(e.shutdown, false);
  assert.equal(e.checkpoint.nextXid, (3n << 32n) | 1048500n);
  assert.equal(e.checkpoint.time, 1_700_000_000n);
  assert.equal(e.checkpoint.oldestActiveXid, 1048499);
  throwsCode(() => xlogRmgr.describe(record(0, 0x00, data.subarray(0, 80))), 'MALFORMED_PAYLOAD');
});

test('xlog NEXTOID, END_OF_RECOVERY, PARAMETER_CHANGE, RESTORE_POINT and OVERWRITE_CONTRECORD', () => {
  const nextOid = record(0, 0x30, new Bytes().u32(24576).done());
  assert.deepEqual(xlogRmgr.describe(nextOid).effects, [{ kind: 'nextOid', nextOid: 24576 }]);
  assert.equal(text(xlogRmgr, nextOid), '24576');

  const eor = record(0, 0x90, new Bytes().u64(TS).u32(2).u32(1).done());
  assert.deepEqual(xlogRmgr.describe(eor).effects, [{ kind: 'timeline.switch', thisTimeLineId: 2, prevTimeLineId: 1 }]);
  assert.equal(text(xlogRmgr, eor), `tli 2; prev tli 1; time ${TS_TEXT}`);

  const pc = record(0, 0x60, new Bytes().u32(100).u32(8).u32(10).u32(0).u32(64).u32(2).u8(0).u8(1).zeros(2).done());
  assert.equal(
    text(xlogRmgr, pc),
    'max_connections=100 max_worker_processes=8 max_wal_senders=10 max_prepared_xacts=0 max_locks_per_xact=64 wal_level=logical wal_log_hints=off track_commit_timestamp=on',
  );
  const pe = xlogRmgr.describe(pc).effects[0];
  assert.ok(pe !== undefined && pe.kind === 'parameter.change');
  assert.equal(pe.fields['walLevel'], 2);

  const rp = record(0, 0x70, new Bytes().u64(TS).str('before_upgrade').zeros(64 - 15).done());
  assert.equal(text(xlogRmgr, rp), 'before_upgrade');

  const oc = record(0, 0xd0, new Bytes().u64(0x50f5640n).u64(TS).done());
  assert.equal(xlogRmgr.identify(0xd0), 'OVERWRITE_CONTRECORD');
  assert.equal(text(xlogRmgr, oc), `lsn 0/50F5640; time ${TS_TEXT}`);

  assert.equal(xlogRmgr.identify(0xc0), undefined);
  throwsCode(() => xlogRmgr.describe(record(0, 0xc0, new Uint8Array(0))), 'UNKNOWN_RECORD_TYPE');
});

test('xact commit of a prepared transaction: CLOG, commit_ts, dropped relations, two-phase end, text', () => {
  const xinfo = (1 << 0) | (1 << 1) | (1 << 2) | (1 << 8) | (1 << 3) | (1 << 4) | (1 << 7) | (1 << 5) | (1 << 30) | 0x8000_0000;
  const originTs = TS - 5_000_000n;
  const data = new Bytes()
    .u64(TS)
    .u32(xinfo)
    .u32(5)
    .u32(1663) // dbinfo
    .u32(2)
    .u32(101)
    .u32(102) // subxacts
    .u32(1)
    .rel(rel(1663, 5, 16397)) // rels
    .u32(1)
    .u32(2)
    .u32(5)
    .u32(16397) // dropped stats
    .u32(2)
    .u8(0xfe)
    .zeros(3)
    .u32(5)
    .u32(16397)
    .zeros(4) // relcache 16397 in db 5
    .u8(55)
    .zeros(3)
    .u32(5)
    .u32(0xdeadbeef)
    .zeros(4) // catcache 55
    .u32(100) // twophase xid
    .str('g1')
    .u64(0x1234567n)
    .u64(originTs)
    .done();
  const r = record(1, 0x30 | 0x80, data, { origin: 1 });
  const d = xactRmgr.describe(r);
  assert.equal(d.kind, 'xact.commitPrepared');
  assert.equal(xactRmgr.identify(0xb0), 'COMMIT_PREPARED');
  assert.deepEqual(d.effects, [
    { kind: 'clog.set', xids: [100, 101, 102], status: 'committed' },
    { kind: 'commitTs.set', xids: [100, 101, 102], timestamp: originTs, originId: 1 },
    { kind: 'relation.drop', rels: [rel(1663, 5, 16397)] },
    { kind: 'twophase.end', xid: 100, committed: true },
  ]);
  assert.equal(
    text(xactRmgr, r),
    `100: ${TS_TEXT}; rels: base/5/16397; subxacts: 101 102; dropped stats: 2/5/16397; ` +
      'relcache init file inval dbid 5 tsid 1663; inval msgs: relcache 16397 catcache 55; sync; ' +
      `origin: node 1, lsn 0/1234567, at ${timestamptzToStr(originTs)}`,
  );
  throwsCode(() => xactRmgr.describe(record(1, 0x30 | 0x80, data.subarray(0, data.length - 3), { origin: 1 })), 'MALFORMED_PAYLOAD');
});

test('xact commit and abort without xinfo, subtransaction abort, assignment', () => {
  const commit = record(1, 0x00, new Bytes().u64(TS).done(), { xid: 777 });
  assert.equal(text(xactRmgr, commit), TS_TEXT);
  assert.deepEqual(xactRmgr.describe(commit).effects, [
    { kind: 'clog.set', xids: [777], status: 'committed' },
    { kind: 'commitTs.set', xids: [777], timestamp: TS, originId: 0 },
  ]);

  const abortData = new Bytes().u64(TS).u32((1 << 1) | (1 << 2)).u32(1).u32(779).u32(1).rel(rel(1700, 5, 16394)).done();
  const abort = record(1, 0x20 | 0x80, abortData, { xid: 778 });
  assert.equal(text(xactRmgr, abort), `${TS_TEXT}; rels: pg_tblspc/1700/PG_15_202209061/5/16394; subxacts: 779`);
  assert.deepEqual(xactRmgr.describe(abort).effects, [
    { kind: 'clog.set', xids: [778, 779], status: 'aborted' },
    { kind: 'relation.drop', rels: [rel(1700, 5, 16394)] },
  ]);

  const assignment = record(1, 0x50, new Bytes().u32(1000).u32(2).u32(1001).u32(1002).done(), { xid: 1002 });
  assert.equal(text(xactRmgr, assignment), 'xtop 1000: subxacts: 1001 1002');
  assert.deepEqual(xactRmgr.describe(assignment).effects, [{ kind: 'xid.assign', xids: [1000, 1001, 1002] }]);
  throwsCode(() => xactRmgr.describe(record(1, 0x50, new Bytes().u32(1000).u32(3).u32(1001).done())), 'MALFORMED_PAYLOAD');
  throwsCode(() => xactRmgr.describe(record(1, 0x50, new Bytes().u32(1000).u32(-1).done())), 'MALFORMED_PAYLOAD');
  assert.equal(xactRmgr.identify(0x70), undefined);
  throwsCode(() => xactRmgr.describe(record(1, 0x70, new Uint8Array(8))), 'UNKNOWN_RECORD_TYPE');
});

test('xact prepare: the state file is the effect, the parts are decoded, the text matches', () => {
  const b = new Bytes()
    .u32(0x57f94534)
    .u32(0) // total_len, patched below
    .u32(900)
    .u32(5)
    .u64(TS)
    .u32(10)
    .u32(1) // nsubxacts
    .u32(0) // ncommitrels
    .u32(1) // nabortrels
    .u32(0)
    .u32(1) // stats
    .u32(0) // ninvalmsgs
    .u8(0)
    .u8(0)
    .u16(6) // gidlen
    .u64(0n)
    .u64(0n);
  assert.equal(b.length, 72);
  b.str('gid_a').alignTo(8).u32(901).alignTo(8).rel(rel(1663, 5, 16500)).alignTo(8).u32(2).u32(5).u32(16500).alignTo(8);
  const data = b.done();
  const r = record(1, 0x10, data, { xid: 900 });
  const d = xactRmgr.describe(r);
  assert.ok(d.kind === 'xact.prepare');
  assert.equal(d.gid, 'gid_a');
  assert.deepEqual(d.subxacts, [901]);
  assert.deepEqual(d.effects, [
    { kind: 'twophase.prepare', xid: 900, gid: 'gid_a', data },
    { kind: 'xid.assign', xids: [900, 901] },
  ]);
  assert.equal(text(xactRmgr, r), `gid gid_a: ${TS_TEXT}; rels(abort): base/5/16500; abort dropped stats: 2/5/16500; subxacts: 901`);
});

test('smgr create and truncate', () => {
  const create = record(2, 0x10, new Bytes().rel(rel(1664, 0, 1262)).u32(1).done());
  assert.equal(text(smgrRmgr, create), 'global/1262_fsm');
  assert.deepEqual(smgrRmgr.describe(create).effects, [{ kind: 'relation.create', rel: rel(1664, 0, 1262), fork: 1 }]);
  const trunc = record(2, 0x20, new Bytes().u32(2).rel(rel(1663, 5, 16405)).u32(7).done());
  assert.equal(text(smgrRmgr, trunc), 'base/5/16405 to 2 blocks flags 7');
  assert.deepEqual(smgrRmgr.describe(trunc).effects, [{ kind: 'relation.truncate', rel: rel(1663, 5, 16405), forks: [0, 1, 2], blocks: 2 }]);
  const vmOnly = record(2, 0x20, new Bytes().u32(0).rel(rel(1663, 5, 1)).u32(2).done());
  const e = smgrRmgr.describe(vmOnly).effects[0];
  assert.ok(e !== undefined && e.kind === 'relation.truncate');
  assert.deepEqual(e.forks, [2]);
  throwsCode(() => smgrRmgr.describe(record(2, 0x20, new Uint8Array(12))), 'MALFORMED_PAYLOAD');
});

test('clog, commit_ts, multixact SLRU records', () => {
  assert.equal(text(clogRmgr, record(3, 0x00, new Bytes().u32(32).done())), 'page 32');
  const ct = record(3, 0x10, new Bytes().u32(32).u32(1049333).u32(4).done());
  assert.equal(text(clogRmgr, ct), 'page 32; oldestXact 1049333');
  assert.deepEqual(clogRmgr.describe(ct).effects, [{ kind: 'clog.truncate', page: 32, oldestXid: 1049333, oldestXidDb: 4 }]);

  assert.equal(text(committsRmgr, record(18, 0x00, new Bytes().u32(1281).done())), '1281');
  assert.equal(text(committsRmgr, record(18, 0x10, new Bytes().u32(1281).u32(1049333).done())), 'pageno 1281, oldestXid 1049333');
  // commit_ts_identify and replorigin_identify look at the whole xl_info.
  assert.equal(committsRmgr.identify(0x00), 'ZEROPAGE');
  assert.equal(committsRmgr.identify(0x01), undefined);
  assert.equal(replOriginRmgr.identify(0x11), undefined);

  const create = record(6, 0x20, new Bytes().u32(2050).u32(1660).u32(2).u32(500).u32(1).u32(501).u32(4).done(), { xid: 501 });
  assert.equal(text(multixactRmgr, create), '2050 offset 1660 nmembers 2: 500 (sh) 501 (nokeyupd) ');
  assert.deepEqual(multixactRmgr.describe(create).effects, [
    { kind: 'multixact.create', mid: 2050, offset: 1660, members: [{ xid: 500, status: 'sh' }, { xid: 501, status: 'nokeyupd' }] },
    { kind: 'xid.assign', xids: [500, 501] },
  ]);
  throwsCode(() => multixactRmgr.describe(record(6, 0x20, new Bytes().u32(2050).u32(1660).u32(1).u32(500).u32(9).done())), 'MALFORMED_PAYLOAD');
  const mt = record(6, 0x30, new Bytes().u32(5).u32(1).u32(2061).u32(0).u32(1666).done());
  assert.equal(text(multixactRmgr, mt), 'offsets [1, 2061), members [0, 1666)');
  assert.equal(text(multixactRmgr, record(6, 0x10, new Bytes().u32(1).done())), '1');
});

test('database, tablespace, relmap records', () => {
  const fc = record(4, 0x00, new Bytes().u32(16408).u32(1663).u32(1).u32(1663).done());
  assert.equal(text(dbaseRmgr, fc), 'copy dir 1663/1 to 1663/16408');
  assert.deepEqual(dbaseRmgr.describe(fc).effects, [
    { kind: 'database.create', dbId: 16408, tsId: 1663, strategy: 'file_copy', srcDbId: 1, srcTsId: 1663 },
  ]);
  assert.equal(text(dbaseRmgr, record(4, 0x10, new Bytes().u32(16409).u32(1663).done())), 'create dir 1663/16409');
  const drop = record(4, 0x20, new Bytes().u32(16411).u32(2).u32(1663).u32(16410).done());
  assert.equal(text(dbaseRmgr, drop), 'dir 1663/16411 16410/16411');
  assert.deepEqual(dbaseRmgr.describe(drop).effects, [{ kind: 'database.drop', dbId: 16411, tsIds: [1663, 16410] }]);

  const tc = record(5, 0x00, new Bytes().u32(16410).str('/srv/ts').done());
  assert.equal(text(tblspcRmgr, tc), '16410 "/srv/ts"');
  assert.deepEqual(tblspcRmgr.describe(tc).effects, [{ kind: 'tablespace.create', tsId: 16410, path: '/srv/ts' }]);
  throwsCode(() => tblspcRmgr.describe(record(5, 0x00, new Bytes().u32(16410).u8(0x41).done())), 'MALFORMED_PAYLOAD');
  assert.equal(text(tblspcRmgr, record(5, 0x10, new Bytes().u32(16410).done())), '16410');

  const map = new Uint8Array(512).fill(7);
  const b = new Bytes().u32(0).u32(1664).u32(512);
  for (const x of map) b.u8(x);
  const ru = record(7, 0x00, b.done());
  assert.equal(text(relmapRmgr, ru), 'database 0 tablespace 1664 size 512');
  const e = relmapRmgr.describe(ru).effects[0];
  assert.ok(e !== undefined && e.kind === 'relmap.update');
  assert.deepEqual([...e.data], [...map]);
  throwsCode(() => relmapRmgr.describe(record(7, 0x00, new Bytes().u32(0).u32(1664).u32(512).zeros(10).done())), 'MALFORMED_PAYLOAD');
});

test('standby lock, running xacts, invalidations', () => {
  const lock = record(8, 0x00, new Bytes().u32(2).u32(10).u32(5).u32(16384).u32(10).u32(5).u32(16387).done());
  assert.equal(text(standbyRmgr, lock), 'xid 10 db 5 rel 16384 xid 10 db 5 rel 16387 ');
  const rx = record(8, 0x10, new Bytes().u32(2).u32(1).u8(1).zeros(3).u32(1049410).u32(1049335).u32(1049334).u32(1049335).u32(1049406).u32(1049407).done());
  assert.equal(text(standbyRmgr, rx), 'nextXid 1049410 latestCompletedXid 1049334 oldestRunningXid 1049335; 2 xacts: 1049335 1049406; subxid ovf');
  const d = standbyRmgr.describe(rx);
  assert.ok(d.kind === 'standby.runningXacts');
  assert.deepEqual(d.subxids, [1049407]);
  const inv = record(
    8,
    0x20,
    new Bytes().u32(4).u32(1663).u8(1).zeros(3).u32(3).u8(0xfc).zeros(3).u32(5).zeros(8).u8(0xfb).zeros(3).u32(5).u32(2619).zeros(4).u8(0x9c).zeros(15).done(),
  );
  assert.equal(text(standbyRmgr, inv), '; relcache init file inval dbid 4 tsid 1663; inval msgs: relmap db 5 snapshot 2619 unrecognized id -100');
  assert.equal(text(standbyRmgr, record(8, 0x20, new Bytes().u32(4).u32(1663).u8(1).zeros(3).u32(0).done())), '');
});

test('replication origin and logical messages', () => {
  assert.equal(text(replOriginRmgr, record(19, 0x00, new Bytes().u64(0xabcdefn).u16(1).u8(1).zeros(5).done())), 'set 1; lsn 0/ABCDEF; force: 1');
  assert.equal(text(replOriginRmgr, record(19, 0x10, new Bytes().u16(3).done())), 'drop 3');

  const msg = record(21, 0x00, new Bytes().u32(5).u8(1).zeros(3).u64(6n).u64(3n).str('pfx_n').u8(0).u8(0xff).u8(0x10).done());
  assert.equal(text(logicalMsgRmgr, msg), 'transactional, prefix "pfx_n"; payload (3 bytes): 00 FF 10');
  const empty = record(21, 0x00, new Bytes().u32(5).u8(0).zeros(3).u64(2n).u64(0n).str('e').done());
  assert.equal(text(logicalMsgRmgr, empty), 'non-transactional, prefix "e"; payload (0 bytes): ');
  throwsCode(() => logicalMsgRmgr.describe(record(21, 0x00, new Bytes().u32(5).u8(0).zeros(3).u64(2n).u64(1n << 40n).str('e').done())), 'MALFORMED_PAYLOAD');
});

test('every core module rejects an unknown type and a short main data', () => {
  // [module, rmgr id, an info it does not know, an info whose main data must be longer than 1 byte]
  const cases: [RmgrModule<DescriptionBase>, number, number, number][] = [
    [xlogRmgr as RmgrModule<DescriptionBase>, 0, 0xe0, 0x00],
    [xactRmgr as RmgrModule<DescriptionBase>, 1, 0x70, 0x00],
    [smgrRmgr as RmgrModule<DescriptionBase>, 2, 0x30, 0x10],
    [clogRmgr as RmgrModule<DescriptionBase>, 3, 0x20, 0x00],
    [dbaseRmgr as RmgrModule<DescriptionBase>, 4, 0x30, 0x00],
    [tblspcRmgr as RmgrModule<DescriptionBase>, 5, 0x20, 0x10],
    [multixactRmgr as RmgrModule<DescriptionBase>, 6, 0x40, 0x20],
    [relmapRmgr as RmgrModule<DescriptionBase>, 7, 0x10, 0x00],
    [standbyRmgr as RmgrModule<DescriptionBase>, 8, 0x30, 0x10],
    [committsRmgr as RmgrModule<DescriptionBase>, 18, 0x20, 0x10],
    [replOriginRmgr as RmgrModule<DescriptionBase>, 19, 0x20, 0x00],
    [logicalMsgRmgr as RmgrModule<DescriptionBase>, 21, 0x10, 0x00],
  ];
  for (const [m, rmid, badInfo, info] of cases) {
    assert.equal(m.name, RMGR_NAMES[rmid]);
    assert.equal(m.id, rmid);
    assert.equal(m.identify(badInfo), undefined, m.name);
    throwsCode(() => m.describe(record(rmid, badInfo, new Uint8Array(64))), 'UNKNOWN_RECORD_TYPE');
    throwsCode(() => m.describe(record(rmid, info, new Uint8Array(1))), 'MALFORMED_PAYLOAD');
  }
});
