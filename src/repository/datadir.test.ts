import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import type { Lsn } from '../pg/lsn.js';
import type { Oid } from '../pg/types.js';
import { toyReconstructor } from '../testing/repository-model.js';
import { DatadirReader, decodeRelDirectory, encodeDatabaseDirectory, encodeNumberList, encodeRelDirectory, encodeU32 } from './datadir.js';
import { RepositoryError } from './errors.js';
import { DATABASE_DIRECTORY_KEY, relBlockKey, relDirectoryKey, relSizeKey, Slru, slruDirectoryKey, slruPageKey, slruSegmentSizeKey } from './key.js';
import { Repository } from './repository.js';

const L = (n: number) => BigInt(n) as Lsn;

test('directory values round-trip, sorted', () => {
  const rels = [{ relNode: 16390, fork: 0 }, { relNode: 16384, fork: 1 }, { relNode: 16384, fork: 0 }];
  assert.deepEqual(decodeRelDirectory(encodeRelDirectory(rels)), [{ relNode: 16384, fork: 0 }, { relNode: 16384, fork: 1 }, { relNode: 16390, fork: 0 }]);
  assert.throws(() => decodeRelDirectory(new Uint8Array([2, 0, 0, 0, 1])), /Cannot decode a relation directory/);
});

test('relation sizes, existence, database size, databases and SLRU segments read at each LSN', async () => {
  const root = mkdtempSync(join(tmpdir(), 'strata-datadir-'));
  const repo = Repository.open(root, { reconstructorFor: () => toyReconstructor });
  try {
    const t = repo.createTenant().createTimeline();
    const rel = { spcNode: 1663 as Oid, dbNode: 5 as Oid, relNode: 16384 as Oid };
    const image = (bytes: Uint8Array) => ({ kind: 'image' as const, bytes });
    // 10: database 5 exists with relation 16384 (main, 2 blocks); 20: its fsm appears, main grows; 30: dropped.
    t.put(DATABASE_DIRECTORY_KEY, L(10), image(encodeDatabaseDirectory([{ spcNode: 1663, dbNode: 5 }])));
    t.put(relDirectoryKey(1663, 5), L(10), image(encodeRelDirectory([{ relNode: 16384, fork: 0 }])));
    t.put(relSizeKey(rel, 0), L(10), image(encodeU32(2)));
    t.put(relBlockKey(rel, 0, 0), L(10), image(Buffer.alloc(8192, 1)));
    t.advance(L(10));
    t.put(relDirectoryKey(1663, 5), L(20), image(encodeRelDirectory([{ relNode: 16384, fork: 0 }, { relNode: 16384, fork: 1 }])));
    t.put(relSizeKey(rel, 0), L(20), image(encodeU32(5)));
    t.put(relSizeKey(rel, 1), L(20), image(encodeU32(3)));
    t.put(slruDirectoryKey(Slru.Clog), L(20), image(encodeNumberList([0])));
    t.put(slruSegmentSizeKey(Slru.Clog, 0), L(20), image(encodeU32(2)));
    t.put(slruPageKey(Slru.Clog, 0, 1), L(20), image(Buffer.alloc(8192, 7)));
    t.advance(L(20));
    t.put(relDirectoryKey(1663, 5), L(30), image(encodeRelDirectory([])));
    t.advance(L(30));
    await t.flush();

    const d = new DatadirReader(t);
    assert.deepEqual(await d.databases(L(5)), []);
    assert.deepEqual(await d.databases(L(30)), [{ spcNode: 1663, dbNode: 5 }]);
    assert.equal(await d.relExists(rel, 0, L(9)), false);
    assert.equal(await d.relSize(rel, 0, L(10)), 2);
    assert.equal(await d.relExists(rel, 1, L(10)), false);
    assert.equal(await d.relSize(rel, 0, L(25)), 5);
    assert.equal(await d.relSize(rel, 1, L(20)), 3);
    assert.equal(await d.databaseSize(1663, 5, L(20)), 8 * 8192);
    await assert.rejects(d.relSize(rel, 0, L(30)), (e: unknown) => e instanceof RepositoryError && e.code === 'NOT_FOUND' && /does not exist at 0\/1E/.test(e.message));
    const seg = await d.slruSegment(Slru.Clog, 0, L(20));
    assert.equal(seg.length, 2 * 8192);
    assert.equal(seg[0], 0, 'a page never written reads as zeros');
    assert.equal(seg[8192], 7);
    await assert.rejects(d.slruSegment(Slru.Clog, 1, L(20)), /segment 0001 does not exist/);
  } finally {
    await repo.close(false);
    rmSync(root, { recursive: true, force: true });
  }
});
