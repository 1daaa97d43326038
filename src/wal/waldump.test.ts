/**
 * strata waldump against pg_waldump, on WAL that a real PostgreSQL 15 wrote while it ran every
 * workload in src/testing/workloads.ts, once per full-page-image compression setting and with data
 * checksums on and off. Every line must be identical (the fixed part and the desc text), and so must
 * `--stats=record`.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { withCluster } from '../testing/cluster.js';
import { runAllWorkloads } from '../testing/workloads.js';
import { diffLines, firstSegmentStart, fixedPart, pgWaldump, strataWaldump, strataWaldumpCommand } from '../testing/waldump-oracle.js';
import { fakeRecord, le } from '../testing/fake-records.js';
import { RM_XACT_ID } from '../pg/rmgr-ids.js';
import { TextBuffer } from './text-buffer.js';
import { writeRecord } from './waldump.js';

test('a line longer than the room guessed for it is written whole, into a small buffer as into a large one', () => {
  // XLOG_XACT_ASSIGNMENT with 3000 subtransactions: about 15 kB of desc text.
  const xsub = Array.from({ length: 3000 }, (_, i) => 1000 + i);
  const assignment = fakeRecord(RM_XACT_ID, 0x50, le([4, 999], [4, xsub.length], ...xsub.map((x) => [4, x] as const)), { xid: 999 });
  const short = fakeRecord(RM_XACT_ID, 0x50, le([4, 5], [4, 1], [4, 6]), { xid: 5, lsn: 0x2000028n, prev: 0x1000028n });
  const dump = (bufferBytes: number): string => {
    const out: Buffer[] = [];
    const t = new TextBuffer((bytes) => out.push(Buffer.from(bytes)), bufferBytes);
    for (const r of [short, assignment, short, assignment]) writeRecord(t, r, false);
    t.flush();
    return Buffer.concat(out).toString('latin1');
  };
  const long =
    `rmgr: Transaction len (rec/tot):  12032/ 12032, tx:        999, lsn: 0/01000028, prev 0/00000000, desc: ASSIGNMENT ` +
    `xtop 999: subxacts: ${xsub.join(' ')}\n`;
  const shortLine = 'rmgr: Transaction len (rec/tot):     36/    36, tx:          5, lsn: 0/02000028, prev 0/01000028, desc: ASSIGNMENT xtop 5: subxacts: 6\n';
  const expected = shortLine + long + shortLine + long;
  assert.equal(dump(1 << 20), expected);
  assert.equal(dump(1024), expected);
});

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
        const actual = await strataWaldump([], { path: walDir, start, bkpDetails: true, threads: '1' });
        assert.ok(expected.lines.length > 10_000, `expected a lot of WAL, pg_waldump printed ${expected.lines.length} lines`);
        assert.equal(
          diffLines(expected.lines.map(fixedPart), actual.lines.map(fixedPart), 10),
          '',
          'the fixed part of every line (rmgr, lengths, tx, lsn, prev, record type, block references) must be identical',
        );
        assert.equal(diffLines(expected.lines, actual.lines, 10), '', 'every line, desc text included, must be identical');
        assert.equal(actual.error, expected.error, 'both must stop at the same place for the same reason');
        // On two threads (one range per segment), the same.
        const threaded = await strataWaldump([], { path: walDir, start, bkpDetails: true, threads: '2' });
        assert.equal(diffLines(expected.lines, threaded.lines, 10), '', 'on 2 threads, every line must be identical');
        assert.equal(threaded.error, expected.error, 'on 2 threads, reading must end at the same place for the same reason');
        if (r.compression !== 'off') {
          assert.ok(
            actual.lines.some((l) => l.includes(`method: ${r.compression}`)),
            `the WAL must hold ${r.compression}-compressed images`,
          );
        }

        const expectedStats = pgWaldump(['--stats=record', '-p', walDir, '-s', start]);
        const actualStats = await strataWaldump([], { path: walDir, start, stats: true, statsPerRecord: true });
        assert.equal(diffLines(expectedStats.lines, actualStats.lines, 10), '', '--stats=record must be identical');
        const expectedRmgr = pgWaldump(['--stats', '-p', walDir, '-s', start]);
        const actualRmgr = await strataWaldump([], { path: walDir, start, stats: true });
        assert.equal(diffLines(expectedRmgr.lines, actualRmgr.lines, 10), '', '--stats must be identical');

        if (r === RUNS[0]) {
          // The command as a user runs it, from the build's one-file bundle and from its modules:
          // the same bytes, the same last line on stderr, the same exit status as pg_waldump.
          const dist = new URL('../cli/', import.meta.url);
          assert.ok(
            statSync(new URL('waldump.bundle.cjs', dist)).mtimeMs >= statSync(new URL('main.js', dist)).mtimeMs,
            'the build bundled strata waldump (npm run build runs scripts/bundle.js after tsc)',
          );
          for (const bundle of ['1', '0']) {
            const cmd = strataWaldumpCommand(['-b', '-p', walDir, '-s', start], { STRATA_BUNDLE: bundle });
            assert.equal(diffLines(expected.lines, cmd.lines, 10), '', `strata waldump -b (STRATA_BUNDLE=${bundle}): every line identical`);
            assert.equal(cmd.error, expected.error, `strata waldump -b (STRATA_BUNDLE=${bundle}): the same end`);
            assert.equal(cmd.status, expected.status, `strata waldump -b (STRATA_BUNDLE=${bundle}): the same exit status`);
            const stats = strataWaldumpCommand(['--stats=record', '-p', walDir, '-s', start], { STRATA_BUNDLE: bundle });
            assert.equal(diffLines(expectedStats.lines, stats.lines, 10), '', `strata waldump --stats=record (STRATA_BUNDLE=${bundle}) identical`);
          }
        }
      },
    );
  });
}
