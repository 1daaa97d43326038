/**
 * The redo input codec on real WAL: every block reference of every record a real PostgreSQL 15
 * wrote (pgbench, updates and deletes with VACUUM, index builds; lz4 images) round-trips, its
 * initialises-the-page flag read from the bytes equals the decoded block's, and malformed bytes of
 * every kind are refused with BAD_INPUT (and nothing else) by both decodeRedoInput and
 * redoInputInitializesPage.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { readWal } from '../cli/wal-files.js';
import { lsn, parseLsn } from '../pg/lsn.js';
import type { BlockNumber } from '../pg/types.js';
import { withCluster } from '../testing/cluster.js';
import { fixRecordInputCrc } from '../testing/redo-requests.js';
import { firstSegmentStart } from '../testing/waldump-oracle.js';
import { runAllWorkloads } from '../testing/workloads.js';
import type { WalRecord } from '../wal/record.js';
import { decodeRedoInput, encodeOp, encodeRecordInput, RECORD_INPUT_HEADER_SIZE, redoInputEndLsn, redoInputInitializesPage } from './codec.js';
import { RedoError } from './errors.js';
import type { RecordInput, VmClearInput, VmTruncateInput } from './types.js';

function refused(f: () => unknown, pattern: RegExp, what: string): void {
  assert.throws(f, (e: unknown) => {
    assert.ok(e instanceof RedoError, `${what}: not a RedoError: ${e instanceof Error ? e.stack : String(e)}`);
    assert.equal(e.code, 'BAD_INPUT', `${what}: ${e.message}`);
    assert.match(e.message, pattern, what);
    return true;
  }, what);
}

/** Both readers give a RedoError BAD_INPUT or an answer, never any other exception; true if both answered. */
function decodesOrRefuses(bytes: Uint8Array, what: string): boolean {
  let answered = 0;
  for (const f of [() => decodeRedoInput(bytes), () => redoInputInitializesPage(bytes)]) {
    try {
      f();
      answered++;
    } catch (e) {
      assert.ok(e instanceof RedoError && e.code === 'BAD_INPUT', `${what}: ${e instanceof Error ? e.stack : String(e)}`);
    }
  }
  return answered === 2;
}

test('every block reference of real WAL round-trips; malformed inputs are refused', { timeout: 10 * 60_000 }, async () => {
  await withCluster({ name: 'redo-codec', settings: { wal_compression: 'lz4' } }, async (c) => {
    await runAllWorkloads(c, { scale: 0.2, only: ['pgbench', 'update_delete_vacuum', 'index_btree', 'index_gin'] });
    await c.stop('fast');
    const dir = join(c.dataDir, 'pg_wal');
    const start = parseLsn(firstSegmentStart(dir, c.walSegSizeBytes));
    let blocks = 0;
    let initializing = 0;
    let withImage = 0;
    const samples: { record: WalRecord; blockId: number }[] = [];
    readWal({ dir, start, timeline: 1, segmentSize: c.walSegSizeBytes }, (r) => {
      for (const b of r.blocks) {
        if (b === undefined) continue;
        blocks++;
        const bytes = encodeRecordInput(r, b.id);
        const d = decodeRedoInput(bytes) as RecordInput;
        assert.equal(d.kind, 'record');
        assert.equal(d.blockId, b.id);
        assert.equal(d.record.lsn, r.lsn);
        assert.equal(d.record.endLsn, r.endLsn);
        assert.equal(Buffer.compare(d.record.raw, r.raw), 0);
        const db = d.record.blocks[b.id]!;
        assert.deepEqual([db.rel, db.fork, db.blkno, db.flags, db.bimgInfo], [b.rel, b.fork, b.blkno, b.flags, b.bimgInfo]);
        assert.equal(Buffer.compare(db.data, b.data), 0);
        assert.equal(Buffer.compare(db.image, b.image), 0);
        assert.equal(redoInputInitializesPage(bytes), b.willInit || b.applyImage, `record at ${r.lsn} block ${b.id}`);
        assert.equal(redoInputEndLsn(bytes), r.endLsn);
        if (b.willInit || b.applyImage) initializing++;
        if (b.hasImage) withImage++;
        // A few of every shape for the rejection checks: an image, block data, several blocks.
        if (samples.length < 40 && blocks % 97 === 0) samples.push({ record: r, blockId: b.id });
      }
      return true;
    });
    assert.ok(blocks > 10_000 && initializing > 100 && withImage > 100, `${blocks} blocks, ${initializing} initialising, ${withImage} with images`);
    assert.ok(samples.some((s) => s.record.blocks[s.blockId]!.hasImage) && samples.some((s) => s.record.blocks[s.blockId]!.hasData));

    for (const { record, blockId } of samples) {
      const good = encodeRecordInput(record, blockId);
      const at = `record at ${record.lsn} block ${blockId}`;
      // Cut anywhere: refused, by both readers, before or at the record's length check.
      for (let n = 0; n < good.length; n += n < 64 ? 1 : 7) {
        refused(() => decodeRedoInput(good.subarray(0, n)), /Cannot decode redo input: /, `${at} cut at ${n}`);
        assert.ok(!decodesOrRefuses(good.subarray(0, n), `${at} cut at ${n}`));
      }
      // A byte changed in the record: the CRC says so.
      for (let i = RECORD_INPUT_HEADER_SIZE; i < good.length; i += 13) {
        const bad = Uint8Array.from(good);
        bad[i]! ^= 0x20;
        refused(() => decodeRedoInput(bad), i - RECORD_INPUT_HEADER_SIZE < 4 ? /xl_tot_len|is \d+ bytes/ : /incorrect CRC/, `${at} byte ${i}`);
      }
      // The in-process engine's trusted decode (recordCrcChecked) skips the CRC alone: a changed CRC
      // field decodes to the same record, but every other check still refuses what it refused.
      const badCrc = Uint8Array.from(good);
      badCrc[RECORD_INPUT_HEADER_SIZE + 20]! ^= 0x01;
      refused(() => decodeRedoInput(badCrc), /incorrect CRC/, `${at} CRC changed`);
      const trusted = decodeRedoInput(badCrc, { recordCrcChecked: true });
      assert.ok(trusted.kind === 'record' && trusted.record.lsn === record.lsn && trusted.blockId === blockId, `${at} trusted decode`);
      refused(() => decodeRedoInput(good.subarray(0, good.length - 1), { recordCrcChecked: true }), /xl_tot_len/, `${at} trusted, cut`);
      const wrongBlock = Uint8Array.from(good);
      wrongBlock[1] = record.blocks.length;
      refused(() => decodeRedoInput(wrongBlock, { recordCrcChecked: true }), /no block reference|XLR_MAX_BLOCK_ID/, `${at} trusted, wrong block id`);
      // Random changes with the CRC made to agree: the record's own checks (or redo) must catch them.
      let seed = record.lsnNumber;
      const rnd = (n: number): number => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) >> 8) % n;
      for (let k = 0; k < 300; k++) {
        const bad = Uint8Array.from(good);
        const i = RECORD_INPUT_HEADER_SIZE + 24 + rnd(Math.max(1, good.length - RECORD_INPUT_HEADER_SIZE - 24));
        if (i < bad.length) bad[i] = rnd(256);
        decodesOrRefuses(fixRecordInputCrc(bad), `${at} random change at ${i}`);
      }
      const other = Uint8Array.from(good);
      other[1] = record.blocks.length; // past the last block id
      refused(() => decodeRedoInput(other), /no block reference|XLR_MAX_BLOCK_ID/, `${at} wrong block id`);
      refused(() => redoInputInitializesPage(other), /no block reference|XLR_MAX_BLOCK_ID/, `${at} wrong block id, flag reader`);
      const swapped = Uint8Array.from(good);
      swapped.set(good.subarray(10, 18), 2);
      swapped.set(good.subarray(2, 10), 10);
      refused(() => decodeRedoInput(swapped), /start < end/, `${at} LSNs swapped`);
      const far = Uint8Array.from(good);
      far.fill(0xff, 10, 18);
      refused(() => decodeRedoInput(far), /< 2\^53/, `${at} end LSN past 2^53`);
      const longer = new Uint8Array(good.length + 8);
      longer.set(good);
      refused(() => decodeRedoInput(longer), /xl_tot_len/, `${at} trailing bytes`);
      // A block header that does not take apart, CRC and all: the decoder's message comes through.
      const broken = Uint8Array.from(good);
      broken[RECORD_INPUT_HEADER_SIZE + 24] = 40; // a block id past XLR_MAX_BLOCK_ID and below the special ids
      refused(() => decodeRedoInput(fixRecordInputCrc(broken)), /invalid block_id 40/, `${at} invalid block_id`);
      refused(() => redoInputInitializesPage(broken), /invalid block_id 40/, `${at} invalid block_id, flag reader`);
    }
  });
});

test('VM ops round-trip; malformed ones and unknown tags are refused', () => {
  const ops: (VmClearInput | VmTruncateInput)[] = [
    { kind: 'vm.clear', endLsn: lsn(0x1_0000_0028n), heapBlock: 12345 as BlockNumber, flags: 3 },
    { kind: 'vm.clear', endLsn: lsn(0xffff_ffff_ffff_ffffn), heapBlock: 0xffff_fffe as BlockNumber, flags: 2 },
    { kind: 'vm.truncate', endLsn: lsn(0x28n), heapBlocks: 0 as BlockNumber },
    { kind: 'vm.truncate', endLsn: lsn(0x7_0000_0000n), heapBlocks: 32672 as BlockNumber },
  ];
  for (const op of ops) {
    const bytes = encodeOp(op);
    assert.deepEqual(decodeRedoInput(bytes), op);
    assert.equal(redoInputInitializesPage(bytes), false);
    assert.equal(redoInputEndLsn(bytes), op.endLsn);
    for (let n = 0; n < bytes.length; n++) refused(() => decodeRedoInput(bytes.subarray(0, n)), /empty|input is 1[34] bytes, received/, `${op.kind} cut at ${n}`);
  }
  const clear = encodeOp(ops[0]!);
  clear[13] = 0x04;
  refused(() => decodeRedoInput(clear), /flags must be VISIBILITYMAP_\* bits, received 0x4/, 'bad flags');
  refused(() => decodeRedoInput(Uint8Array.of(0x00, 1, 2, 3)), /unknown tag 0x00/, 'tag 0');
  refused(() => decodeRedoInput(Uint8Array.of(0xf7, 4, 0x6c, 0x6f, 0x6f, 0x70)), /unknown tag 0xf7/, 'a test hook outside a test worker');
  refused(() => redoInputInitializesPage(new Uint8Array(0)), /unknown tag \(none/, 'empty, flag reader');
});
