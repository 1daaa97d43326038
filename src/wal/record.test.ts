/**
 * decodeRecord on hand-built records: block references and main data read in place in a larger
 * buffer, and a malformed record leaves nothing behind for the next one (block references are
 * gathered in a shared list before each record gets its own).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cat, le } from '../testing/fake-records.js';
import { WalDecodeError } from './errors.js';
import { decodeRecord } from './record.js';

const BKPBLOCK_HAS_DATA = 0x20;
const BKPBLOCK_SAME_REL = 0x80;

/** A block header: id, fork flags, data length, relation (unless SAME_REL) and block number. */
function blockHeader(id: number, flags: number, dataLen: number, blkno: number, rel?: readonly [number, number, number]): Uint8Array {
  const relBytes = rel === undefined ? new Uint8Array(0) : le([4, rel[0]], [4, rel[1]], [4, rel[2]]);
  return cat(le([1, id], [1, flags], [2, dataLen]), relBytes, le([4, blkno]));
}

/** XLogRecord (24 bytes, CRC not checked here) followed by `body`. */
function record(body: Uint8Array, rmid = 10, info = 0x40): Uint8Array {
  return cat(le([4, 24 + body.length], [4, 777], [8, 0x1000000], [1, info], [1, rmid], [2, 0], [4, 0]), body);
}

test('a record read at an offset in a larger buffer: blocks, their data and the main data', () => {
  const body = cat(
    blockHeader(0, BKPBLOCK_HAS_DATA, 3, 42, [1663, 5, 16384]),
    blockHeader(2, BKPBLOCK_HAS_DATA | BKPBLOCK_SAME_REL, 2, 43),
    le([1, 255], [1, 4]), // XLR_BLOCK_ID_DATA_SHORT, 4 bytes of main data
    Uint8Array.of(1, 2, 3), // block 0 data
    Uint8Array.of(4, 5), // block 2 data
    Uint8Array.of(9, 8, 7, 6), // main data
  );
  const raw = record(body);
  const chunk = cat(new Uint8Array(40).fill(0xee), raw, new Uint8Array(16).fill(0xee));
  const r = decodeRecord(chunk, 0x1000028, 0x1000060, 40);
  assert.equal(r.totLen, raw.length);
  assert.equal(r.xid, 777);
  assert.equal(r.rmid, 10);
  assert.equal(r.blocks.length, 3);
  assert.equal(r.blocks[1], undefined);
  assert.deepEqual([...r.blocks[0]!.data], [1, 2, 3]);
  assert.deepEqual([...r.blocks[2]!.data], [4, 5]);
  assert.equal(r.blocks[2]!.rel, r.blocks[0]!.rel, 'SAME_REL shares the relation');
  assert.deepEqual(r.blocks[2]!.rel, { spcNode: 1663, dbNode: 5, relNode: 16384 });
  assert.deepEqual([...r.mainData], [9, 8, 7, 6]);
  assert.deepEqual([...r.raw], [...raw]);
  assert.equal(r.raw.buffer, chunk.buffer, 'a view, not a copy');
});

test('after a malformed record, the next one has only its own block references', () => {
  const bad = record(cat(blockHeader(1, BKPBLOCK_HAS_DATA, 1, 7, [1663, 5, 1]), blockHeader(0, 0, 0, 8, [1663, 5, 2])));
  assert.throws(
    () => decodeRecord(bad, 0x2000000, 0x2000040),
    (e: unknown) => e instanceof WalDecodeError && e.code === 'MALFORMED_RECORD' && /out-of-order block_id 0/.test(e.message),
  );
  const good = record(cat(blockHeader(3, 0, 0, 9, [1663, 5, 3]), le([1, 255], [1, 0])));
  const r = decodeRecord(good, 0x2000040, 0x2000080);
  assert.equal(r.blocks.length, 4);
  assert.deepEqual(
    r.blocks.map((b) => b?.blkno),
    [undefined, undefined, undefined, 9],
  );
  const none = decodeRecord(record(le([1, 255], [1, 0])), 0x2000080, 0x20000c0);
  assert.equal(none.blocks.length, 0);
});
