/**
 * The search for a record that makes redo loop, allocate without bound or fail untyped, kept as a
 * test: real records of every page rmgr (from the workloads, on a real PostgreSQL 15) with each 1-,
 * 2- and 4-byte field of the first 128 bytes of their block data and main data set to extreme values
 * (counts, offsets and lengths at 0, 0x7fff, 0x8000, 0xffff, 0x7fffffff, 0xffffffff, ...), applied
 * to the page they were written for. Every variant gives a page or a typed error, quickly, and the
 * heap does not grow: no such record was found (worker/test-hooks.ts says why that matters).
 * fuzz.test.ts flips random bits instead.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { readWal } from '../cli/wal-files.js';
import { formatLsn, parseLsn } from '../pg/lsn.js';
import { withCluster } from '../testing/cluster.js';
import { firstSegmentStart } from '../testing/waldump-oracle.js';
import { runAllWorkloads } from '../testing/workloads.js';
import { WalDecodeError } from '../wal/errors.js';
import { decodeRecord, type WalRecord } from '../wal/record.js';
import { RMGRS } from '../wal/rmgr/index.js';
import { RedoError } from './errors.js';
import { applyRecord, DEFAULT_REDO_SETTINGS } from './redo.js';
import type { PageKey } from './types.js';

// XLOG, Heap2, Heap, Btree, Hash, Gin, Gist, Sequence, SPGist, BRIN, Generic: every page rmgr.
const COVERED_RMGRS = new Set([0, 9, 10, 11, 12, 13, 14, 15, 16, 17, 20]);
const RECORDS_PER_TYPE_MAX = 25;
const FIELD_BYTES_SCANNED = 128;
/** [width in bytes, value] written little-endian at every offset. */
const EXTREMES: readonly (readonly [1 | 2 | 4, number])[] = [
  [1, 0xff],
  [2, 0x0000],
  [2, 0x1fff],
  [2, 0x2000],
  [2, 0x7fff],
  [2, 0x8000],
  [2, 0xffff],
  [4, 0x7fffffff],
  [4, 0xffffffff],
];
const APPLY_MS_MAX = 200;
const HEAP_GROWTH_BYTES_MAX = 256 << 20;

test('records with extreme counts, offsets and lengths give a page or a typed error, in bounded time and memory', { timeout: 10 * 60_000 }, async () => {
  await withCluster({ name: 'redo-extremes', settings: { wal_compression: 'lz4' } }, async (c) => {
    await runAllWorkloads(c, { scale: 0.1, only: ['pgbench', 'bulk_copy', 'update_delete_vacuum', 'index_btree', 'index_hash', 'index_gin', 'index_gist', 'index_spgist', 'index_brin', 'sequences', 'index_bloom'] });
    await c.stop('fast');
    const dir = join(c.dataDir, 'pg_wal');
    const start = parseLsn(firstSegmentStart(dir, c.walSegSizeBytes));
    const pages = new Map<string, Uint8Array>();
    const keyOf = (k: PageKey): string => `${k.rel.spcNode}/${k.rel.dbNode}/${k.rel.relNode}/${k.fork}/${k.blkno}`;
    const perType = new Map<string, number>();
    const untyped: string[] = [];
    let tried = 0;
    let typed = 0;
    let slowest = { ms: 0, what: '' };
    const heapBefore = process.memoryUsage().heapUsed;
    let heapMax = heapBefore;
    readWal({ dir, start, timeline: 1, segmentSize: c.walSegSizeBytes }, (r: WalRecord) => {
      const type = `${RMGRS[r.rmid]?.name}/${RMGRS[r.rmid]?.identify(r.info)}`;
      for (const b of r.blocks) {
        if (b === undefined) continue;
        const key: PageKey = { rel: b.rel, fork: b.fork, blkno: b.blkno };
        const k = keyOf(key);
        const prior = pages.get(k);
        const n = perType.get(type) ?? 0;
        if (COVERED_RMGRS.has(r.rmid) && !b.applyImage && (prior !== undefined || b.willInit) && n < RECORDS_PER_TYPE_MAX) {
          perType.set(type, n + 1);
          for (const part of [b.data, r.mainData]) {
            const base = part.byteOffset - r.raw.byteOffset;
            for (let off = 0; off < Math.min(part.length, FIELD_BYTES_SCANNED); off++) {
              for (const [width, value] of EXTREMES) {
                if (off + width > part.length) continue;
                const raw = Uint8Array.from(r.raw);
                for (let i = 0; i < width; i++) raw[base + off + i] = (value >>> (8 * i)) & 0xff;
                tried++;
                const what = `${type} at ${formatLsn(r.lsn)} block ${b.id}, ${width} bytes at ${off} of ${part === b.data ? 'block data' : 'main data'} = 0x${value.toString(16)}`;
                const t0 = performance.now();
                try {
                  const bad = decodeRecord(raw, r.lsnNumber, r.endLsnNumber);
                  applyRecord(prior === undefined ? undefined : Uint8Array.from(prior), key, { kind: 'record', record: bad, blockId: b.id }, DEFAULT_REDO_SETTINGS);
                } catch (e) {
                  if (e instanceof RedoError || e instanceof WalDecodeError) typed++;
                  else untyped.push(`${what}: ${e instanceof Error ? e.stack : String(e)}`);
                }
                const ms = performance.now() - t0;
                if (ms > slowest.ms) slowest = { ms, what };
              }
            }
          }
          heapMax = Math.max(heapMax, process.memoryUsage().heapUsed);
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
    assert.deepEqual(untyped.slice(0, 5), [], `${untyped.length} variants failed with an untyped error`);
    assert.ok(tried > 100_000 && perType.size > 40, `${tried} variants of ${perType.size} record types`);
    assert.ok(typed > tried / 10, `${typed} of ${tried} refused`);
    assert.ok(slowest.ms < APPLY_MS_MAX, `the slowest variant took ${slowest.ms.toFixed(1)} ms: ${slowest.what}`);
    assert.ok(heapMax - heapBefore < HEAP_GROWTH_BYTES_MAX, `the heap grew by ${((heapMax - heapBefore) / 2 ** 20).toFixed(0)} MiB`);
    process.stdout.write(`# ${tried} variants of ${perType.size} record types, ${typed} refused; slowest ${slowest.ms.toFixed(2)} ms (${slowest.what})\n`);
  });
});
