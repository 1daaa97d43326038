/**
 * Page checksums against PostgreSQL's own: every initialised page of every relation file of a
 * cluster initialised with --data-checksums carries pd_checksum as the server computed it.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { RELATION_FILE, RELSEG_SIZE } from './relpath.js';
import { PgCluster } from '../testing/cluster.js';
import { BLCKSZ } from './constants.js';
import { pageChecksum, pageIsNew, setPageChecksumInPlace } from './checksum.js';

test('pageChecksum equals pd_checksum on every page of a checksummed cluster', async () => {
  const c = await PgCluster.create({ dataChecksums: true, start: false, name: 'checksums' });
  try {
    let checked = 0;
    for (const dir of ['global', 'base/1', 'base/5']) {
      for (const name of readdirSync(join(c.dataDir, dir))) {
        const m = RELATION_FILE.exec(name);
        if (m === null) continue;
        const file = readFileSync(join(c.dataDir, dir, name));
        const firstBlock = m[3] === undefined ? 0 : Number(m[3]) * RELSEG_SIZE;
        for (let o = 0; o + BLCKSZ <= file.length; o += BLCKSZ) {
          const page = file.subarray(o, o + BLCKSZ);
          if (pageIsNew(page)) continue;
          const blkno = firstBlock + o / BLCKSZ;
          assert.equal(pageChecksum(page, blkno), page.readUInt16LE(8), `${dir}/${name} block ${blkno}`);
          checked++;
        }
      }
    }
    assert.ok(checked > 500, `checked ${checked} pages`);

    // The block number and every byte count; stamping in place restores a stale checksum.
    const page = Buffer.from(readFileSync(join(c.dataDir, 'global', '1260')).subarray(0, BLCKSZ));
    const good = page.readUInt16LE(8);
    assert.notEqual(pageChecksum(page, 1), good);
    page[4000] = (page[4000] as number) ^ 1;
    assert.notEqual(pageChecksum(page, 0), good);
    page[4000] = (page[4000] as number) ^ 1;
    page.writeUInt16LE(0, 8);
    setPageChecksumInPlace(page, 0);
    assert.equal(page.readUInt16LE(8), good);
  } finally {
    await c.destroy();
  }
});
