/**
 * Full-page images restored from WAL equal the pages PostgreSQL wrote. A btree build logs every
 * page it writes as an XLOG_FPI image (log_newpage) and nothing changes those pages afterwards, so
 * get_raw_page() on the primary must return the restored image byte for byte, but for pd_lsn and
 * pd_checksum, which PostgreSQL stamps after taking the image, and the unused middle of the page.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { lsn, parseWalFileName, segmentStart, type Lsn } from '../pg/lsn.js';
import { withCluster } from '../testing/cluster.js';
import { WalDecoder } from './decoder.js';
import { WalDecodeError } from './errors.js';
import { pglzDecompress, restoreBlockImage } from './image.js';
import type { BlockRef } from './record.js';

for (const method of ['pglz', 'lz4', 'zstd', 'off'] as const) {
  test(`images restored from ${method} WAL equal the pages on disk`, { timeout: 5 * 60_000 }, async () => {
    await withCluster({ name: `image-${method}`, settings: { wal_compression: method } }, async (c) => {
      await c.query(`
        CREATE EXTENSION pageinspect;
        CREATE TABLE img (id int, t text);
        INSERT INTO img SELECT g, lpad((g % 100)::text, 40, 'x') FROM generate_series(1, 20000) g;
        CREATE INDEX img_idx ON img (id, t);
        CHECKPOINT;`);
      const relfilenode = Number(await c.query(`SELECT relfilenode FROM pg_class WHERE relname = 'img_idx'`));
      const nblocks = Number(await c.query(`SELECT pg_relation_size('img_idx') / 8192`));
      const onDisk = new Map<number, Buffer>();
      const hex = await c.query(`SELECT b, encode(get_raw_page('img_idx', b::int), 'hex') FROM generate_series(0, ${nblocks - 1}) b`);
      for (const line of hex.split('\n')) {
        const [b, h] = line.split('|');
        onDisk.set(Number(b), Buffer.from(h!, 'hex'));
      }
      await c.stop('fast');

      const walDir = join(c.dataDir, 'pg_wal');
      const segs = readdirSync(walDir)
        .map((n) => ({ n, p: parseWalFileName(n) }))
        .filter((s) => s.p !== null)
        .sort((a, b) => (a.p!.segNo < b.p!.segNo ? -1 : 1));
      const d = new WalDecoder({ startLsn: segmentStart(segs[0]!.p!.segNo) });
      const images = new Map<number, { block: BlockRef; lsn: Lsn }>();
      try {
        for (const s of segs) {
          d.push(readFileSync(join(walDir, s.n)));
          for (const r of d.records())
            for (const b of r.blocks)
              if (b !== undefined && b.hasImage && b.rel.relNode === relfilenode && b.fork === 0) images.set(b.blkno, { block: b, lsn: r.lsn });
        }
      } catch (e) {
        if (!(e instanceof WalDecodeError)) throw e;
      }
      assert.equal(images.size, nblocks, 'every index page was logged');
      let compressed = 0;
      for (const [blkno, { block, lsn: at }] of images) {
        if ((block.bimgInfo & 0x1c) !== 0) compressed++;
        const page = Buffer.from(restoreBlockImage(block, at));
        const disk = onDisk.get(blkno)!;
        // pd_lsn (0-7) and pd_checksum (8-9) are set after the image is taken, and the image leaves
        // out the unused space between pd_lower and pd_upper (mask_unused_space): zero it on disk too.
        disk.fill(0, disk.readUInt16LE(12), disk.readUInt16LE(14));
        const firstDiff = page.subarray(10).findIndex((v, i) => v !== disk[10 + i]);
        assert.equal(firstDiff, -1, `block ${blkno} differs from byte ${firstDiff + 10}: image ${page.subarray(0, 24).toString('hex')} disk ${disk.subarray(0, 24).toString('hex')}`);
      }
      if (method !== 'off') assert.ok(compressed > nblocks / 2, `${compressed} of ${nblocks} images compressed`);
    });
  });
}

test('corrupt compressed images are refused with BAD_IMAGE', () => {
  assert.equal(pglzDecompress(Uint8Array.of(0x01, 0x00, 0x00), 10), null, 'offset 0');
  assert.equal(pglzDecompress(Uint8Array.of(0x00, 0x41), 2), null, 'too short');
  assert.deepEqual(pglzDecompress(Uint8Array.of(0x02, 0x41, 0x0f, 0x01, 0x00), 19), new Uint8Array(19).fill(0x41));
  const block = {
    id: 0, rel: { spcNode: 1663, dbNode: 5, relNode: 16384 }, fork: 0, blkno: 0, flags: 0x10, willInit: false, hasData: false,
    hasImage: true, applyImage: true, bimgLen: 4, bimgInfo: 0x08 | 0x02, holeOffset: 0, holeLength: 0,
    image: Uint8Array.of(1, 2, 3, 4), data: new Uint8Array(0),
  } as unknown as BlockRef;
  assert.throws(() => restoreBlockImage(block, lsn(0x1000)), (e: unknown) => e instanceof WalDecodeError && e.code === 'BAD_IMAGE' && /0\/1000, block 0/.test(e.message));
});
