/**
 * Corrupted records never crash or hang redo: real WAL records of the covered rmgrs, with random
 * bits flipped in their block data and main data, are applied to the pages they were written for.
 * Each gives a page or a typed error (RedoError, or the decoder's WalDecodeError for a record that no
 * longer takes apart), in bounded time.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { readWal } from '../cli/wal-files.js';
import { parseLsn } from '../pg/lsn.js';
import { withCluster } from '../testing/cluster.js';
import { firstSegmentStart } from '../testing/waldump-oracle.js';
import { runAllWorkloads } from '../testing/workloads.js';
import { WalDecodeError } from '../wal/errors.js';
import { decodeRecord, type WalRecord } from '../wal/record.js';
import { RedoError } from './errors.js';
import { applyRecord, DEFAULT_REDO_SETTINGS } from './redo.js';
import type { PageKey } from './types.js';

// XLOG, Heap2, Heap, Btree, Hash, Gin, Gist, Sequence, SPGist, BRIN, Generic: every page rmgr.
const COVERED_RMGRS = new Set([0, 9, 10, 11, 12, 13, 14, 15, 16, 17, 20]);
const MUTATIONS_PER_RECORD = 6;
const APPLY_MS_MAX = 200;

test('randomly corrupted records give a page or a typed error, in bounded time', { timeout: 15 * 60_000 }, async () => {
  await withCluster({ name: 'redo-fuzz' }, async (c) => {
    await runAllWorkloads(c, { scale: 0.1, only: ['pgbench', 'bulk_copy', 'update_delete_vacuum', 'index_btree', 'index_hash', 'index_gin', 'index_gist', 'index_spgist', 'index_brin', 'sequences', 'index_bloom'] });
    await c.stop('fast');
    const dir = join(c.dataDir, 'pg_wal');
    const start = parseLsn(firstSegmentStart(dir, c.walSegSizeBytes));

    // Follow every page so that each corrupted record meets the page it was written for.
    const pages = new Map<string, Uint8Array>();
    const keyOf = (k: PageKey) => `${k.rel.spcNode}/${k.rel.dbNode}/${k.rel.relNode}/${k.fork}/${k.blkno}`;
    let seed = 20261122;
    const rnd = (n: number) => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) >> 8) % n;
    let tried = 0;
    let typed = 0;
    let slowestMs = 0;
    readWal({ dir, start, timeline: 1, segmentSize: c.walSegSizeBytes }, (r: WalRecord) => {
      for (const b of r.blocks) {
        if (b === undefined) continue;
        const key: PageKey = { rel: b.rel, fork: b.fork, blkno: b.blkno };
        const k = keyOf(key);
        const prior = pages.get(k);
        if (COVERED_RMGRS.has(r.rmid) && !b.applyImage && (b.data.length > 0 || r.mainData.length > 0) && prior !== undefined) {
          for (let m = 0; m < MUTATIONS_PER_RECORD; m++) {
            const raw = Uint8Array.from(r.raw);
            const part = b.data.length > 0 && (r.mainData.length === 0 || rnd(2) === 0) ? b.data : r.mainData;
            const at = part.byteOffset - r.raw.byteOffset + rnd(part.length);
            raw[at] = raw[at]! ^ (1 << rnd(8));
            tried++;
            const t0 = performance.now();
            try {
              const bad = decodeRecord(raw, r.lsnNumber, r.endLsnNumber);
              applyRecord(Uint8Array.from(prior), key, { kind: 'record', record: bad, blockId: b.id }, DEFAULT_REDO_SETTINGS);
            } catch (e) {
              assert.ok(e instanceof RedoError || e instanceof WalDecodeError, `record at ${r.lsn}: ${e instanceof Error ? e.stack : String(e)}`);
              typed++;
            }
            slowestMs = Math.max(slowestMs, performance.now() - t0);
          }
        }
        try {
          pages.set(k, applyRecord(prior, key, { kind: 'record', record: r, blockId: b.id }, DEFAULT_REDO_SETTINGS));
        } catch (e) {
          if (!(e instanceof RedoError)) throw e;
          pages.delete(k);
        }
      }
      return true;
    });
    assert.ok(tried > 5000, `only ${tried} corrupted records tried`);
    assert.ok(typed > 0, 'some corruptions must be refused');
    assert.ok(slowestMs < APPLY_MS_MAX, `the slowest corrupted record took ${slowestMs.toFixed(1)} ms`);
  });
});
