/**
 * strata waldump against pg_waldump, on WAL that a real PostgreSQL 15 wrote while it ran every
 * workload in src/testing/workloads.ts, once per full-page-image compression setting and with data
 * checksums on and off. Every line must be identical (the fixed part and the desc text), and so must
 * `--stats=record`.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { withCluster } from '../testing/cluster.js';
import { runAllWorkloads } from '../testing/workloads.js';
import { diffLines, firstSegmentStart, fixedPart, pgWaldump, strataWaldump } from '../testing/waldump-oracle.js';

const RUNS = [
  { name: 'no compression, data checksums', compression: 'off', dataChecksums: true },
  { name: 'pglz', compression: 'pglz', dataChecksums: false },
  { name: 'lz4', compression: 'lz4', dataChecksums: false },
  { name: 'zstd, data checksums', compression: 'zstd', dataChecksums: true },
] as const;

for (const r of RUNS) {
  test(`waldump -b equals pg_waldump -b on every workload's WAL: ${r.name}`, { timeout: 15 * 60_000 }, async () => {
    await withCluster(
      { name: `waldump-${r.compression}`, dataChecksums: r.dataChecksums, settings: { wal_compression: r.compression, track_commit_timestamp: true } },
      async (c) => {
        await runAllWorkloads(c);
        await c.stop('fast');
        const walDir = join(c.dataDir, 'pg_wal');
        const start = firstSegmentStart(walDir);

        const expected = pgWaldump(['-b', '-p', walDir, '-s', start]);
        const actual = strataWaldump([], { path: walDir, start, bkpDetails: true });
        assert.ok(expected.lines.length > 10_000, `expected a lot of WAL, pg_waldump printed ${expected.lines.length} lines`);
        assert.equal(
          diffLines(expected.lines.map(fixedPart), actual.lines.map(fixedPart), 10),
          '',
          'the fixed part of every line (rmgr, lengths, tx, lsn, prev, record type, block references) must be identical',
        );
        assert.equal(diffLines(expected.lines, actual.lines, 10), '', 'every line, desc text included, must be identical');
        assert.equal(actual.error, expected.error, 'both must stop at the same place for the same reason');
        if (r.compression !== 'off') {
          assert.ok(
            actual.lines.some((l) => l.includes(`method: ${r.compression}`)),
            `the WAL must hold ${r.compression}-compressed images`,
          );
        }

        const expectedStats = pgWaldump(['--stats=record', '-p', walDir, '-s', start]);
        const actualStats = strataWaldump([], { path: walDir, start, stats: true, statsPerRecord: true });
        assert.equal(diffLines(expectedStats.lines, actualStats.lines, 10), '', '--stats=record must be identical');
        const expectedRmgr = pgWaldump(['--stats', '-p', walDir, '-s', start]);
        const actualRmgr = strataWaldump([], { path: walDir, start, stats: true });
        assert.equal(diffLines(expectedRmgr.lines, actualRmgr.lines, 10), '', '--stats must be identical');
      },
    );
  });
}
