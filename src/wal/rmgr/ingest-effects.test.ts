/**
 * describeRecordEffects against describeRecord: on every record of real WAL (all the workloads) the
 * block uses, effects and kind must be the same, and the fast types must be the ones met; on
 * hand-built records, the flag bits that make effects, and the same errors for short records.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RM_BTREE_ID, RM_HEAP2_ID, RM_HEAP_ID, RM_XACT_ID } from '../../pg/rmgr-ids.js';
import { readWal } from '../../ingest/wal-folder.js';
import { parseLsn } from '../../pg/lsn.js';
import { withCluster } from '../../testing/cluster.js';
import { fakeRecord, le, TEST_REL } from '../../testing/fake-records.js';
import { runAllWorkloads } from '../../testing/workloads.js';
import type { BlockUse, DescriptionBase, Effect } from '../describe.js';
import { WalDecodeError } from '../errors.js';
import type { WalRecord } from '../record.js';
import { describeRecord } from './index.js';
import { describeRecordEffects } from './ingest-effects.js';

/** A copy of what ingest reads (the result is overwritten by the next call). */
function snapshot(d: DescriptionBase): { kind: string; blocks: BlockUse[]; effects: Effect[] } {
  return { kind: d.kind, blocks: d.blocks.map((b) => ({ ...b })), effects: d.effects.map((e) => structuredClone(e)) };
}

function same(r: WalRecord): string {
  const fast = snapshot(describeRecordEffects(r));
  const full = snapshot(describeRecord(r));
  assert.deepEqual(fast, full, `record at ${r.lsnNumber.toString(16)}`);
  return fast.kind;
}

test('on real WAL of every workload, describeRecordEffects gives describeRecord block uses, effects and kind', { timeout: 600_000 }, async () => {
  await withCluster({ name: 'ingest-effects', settings: { track_commit_timestamp: 'on' } }, async (c) => {
    const start = parseLsn(await c.currentLsn('insert'));
    await runAllWorkloads(c, { scale: 0.3 });
    await c.query('CHECKPOINT');
    const kinds = new Map<string, number>();
    let vmClears = 0;
    let records = 0;
    readWal({ dir: c.walDir, start, timeline: 1, segmentSize: c.walSegSizeBytes, recordsDieInCallback: true }, (r) => {
      const kind = same(r);
      kinds.set(kind, (kinds.get(kind) ?? 0) + 1);
      if (r.rmid === RM_HEAP_ID || r.rmid === RM_HEAP2_ID) vmClears += describeRecordEffects(r).effects.filter((e) => e.kind === 'vm.clear').length;
      records++;
      return true;
    });
    assert.ok(records > 10_000, `${records} records`);
    // The fast types, each met (and so compared) at least once; VM clears among them.
    for (const k of ['heap.insert', 'heap.delete', 'heap.update', 'heap.hotUpdate', 'heap.lock', 'heap2.prune', 'heap2.vacuum', 'heap2.visible', 'heap2.multiInsert', 'btree.insertLeaf', 'btree.insertPost', 'xact.commit'])
      assert.ok((kinds.get(k) ?? 0) > 0, `no ${k} record in ${JSON.stringify([...kinds])}`);
    assert.ok(vmClears > 0, 'no VM bits cleared by a heap record');
  });
});

function record(rmid: number, info: number, mainData: Uint8Array, blocks: { id: number; blkno?: number }[] = []): WalRecord {
  return fakeRecord(rmid, info, mainData, { lsn: 0x16e2408n, endLsn: 0x16e2480n, prev: 0x16e23d0n, xid: 735, blocks });
}

test('hand-built records: the flags that clear VM bits, the INIT bit, commits, and errors of the same code as describe', () => {
  const cases: WalRecord[] = [
    // INSERT+INIT with ALL_VISIBLE_CLEARED; DELETE with it; UPDATE clearing both pages; HOT_UPDATE clearing the new one; LOCK clearing ALL_FROZEN.
    record(RM_HEAP_ID, 0x80, le([2, 1], [1, 0x01]), [{ id: 0, blkno: 7 }]),
    record(RM_HEAP_ID, 0x10, le([4, 9], [2, 3], [1, 0], [1, 0x01]), [{ id: 0, blkno: 3 }]),
    record(RM_HEAP_ID, 0xa0, le([4, 1], [2, 1], [1, 0], [1, 0x03], [4, 2], [2, 4]), [{ id: 0, blkno: 8 }, { id: 1, blkno: 2 }]),
    record(RM_HEAP_ID, 0x40, le([4, 1], [2, 1], [1, 0], [1, 0x02], [4, 2], [2, 4]), [{ id: 0, blkno: 8 }]),
    record(RM_HEAP_ID, 0x60, le([4, 1], [2, 1], [1, 0], [1, 0x01]), [{ id: 0, blkno: 5 }]),
    // MULTI_INSERT+INIT clearing VM bits; PRUNE; VISIBLE; btree INSERT_LEAF; a plain commit.
    record(RM_HEAP2_ID, 0xd0, le([1, 0x01], [1, 0], [2, 0]), [{ id: 0, blkno: 11 }]),
    record(RM_HEAP2_ID, 0x10, le([4, 0], [2, 0], [2, 0]), [{ id: 0, blkno: 11 }]),
    record(RM_HEAP2_ID, 0x40, le([4, 0], [1, 1]), [{ id: 0, blkno: 0 }, { id: 1, blkno: 11 }]),
    record(RM_BTREE_ID, 0x00, le([2, 4]), [{ id: 0, blkno: 1 }]),
    record(RM_XACT_ID, 0x00, le([8, 712345678901234n])),
  ];
  for (const r of cases) same(r);
  const rel = TEST_REL;
  assert.deepEqual(snapshot(describeRecordEffects(cases[2]!)).effects, [
    { kind: 'vm.clear', rel, heapBlock: 2, flags: 3 },
    { kind: 'vm.clear', rel, heapBlock: 8, flags: 3 },
  ]);
  assert.deepEqual(snapshot(describeRecordEffects(cases[0]!)).blocks, [{ blockId: 0, role: 'heap', init: true }]);
  assert.deepEqual(snapshot(describeRecordEffects(cases[9]!)).effects, [
    { kind: 'clog.set', xids: [735], status: 'committed' },
    { kind: 'commitTs.set', xids: [735], timestamp: 712345678901234n, originId: 0 },
  ]);
  const short: WalRecord[] = [
    record(RM_HEAP_ID, 0x00, le([2, 1]), [{ id: 0 }]),
    record(RM_HEAP_ID, 0x00, le([2, 1], [1, 0])),
    record(RM_HEAP_ID, 0x40, le([4, 1], [2, 1]), [{ id: 0 }]),
    record(RM_HEAP_ID, 0x60, le([4, 1], [2, 1], [1, 0], [1, 0])),
    record(RM_HEAP2_ID, 0x10, le([4, 0]), [{ id: 0 }]),
    record(RM_HEAP2_ID, 0x40, le([4, 0], [1, 1]), [{ id: 0 }]),
    record(RM_BTREE_ID, 0x00, le([1, 4]), [{ id: 0 }]),
    record(RM_XACT_ID, 0x00, le([4, 1])),
  ];
  for (const r of short) {
    let fullError: unknown;
    assert.throws(() => describeRecord(r), (e: unknown) => ((fullError = e), e instanceof WalDecodeError));
    assert.throws(
      () => describeRecordEffects(r),
      (e: unknown) => e instanceof WalDecodeError && e.code === (fullError as WalDecodeError).code && e.message.includes('0/16E2408'),
    );
  }
});
