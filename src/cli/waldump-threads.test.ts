/**
 * `strata waldump` on several threads against itself on one and against pg_waldump, on WAL a real
 * PostgreSQL 15 wrote in 1 MiB segments (many ranges) while it ran every workload, with
 * pg_switch_wal() between them and a record longer than two segments: the output must be the same bytes, and reading must end at the same
 * place with the same error, also where the WAL ends inside a range with segments after it, from a
 * start inside a segment and up to an end inside another.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, cpSync, mkdtempSync, readdirSync, rmSync, truncateSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { formatLsn, lsn, parseLsn, parseWalFileName, walFileName } from '../pg/lsn.js';
import { withCluster } from '../testing/cluster.js';
import { ALL_WORKLOADS, runAllWorkloads } from '../testing/workloads.js';
import { diffLines, firstSegmentStart, pgWaldump, strataWaldump, type StrataDumpResult } from '../testing/waldump-oracle.js';
import type { WaldumpOptions } from './waldump.js';
import { readRange, readRangeAhead } from './wal-range.js';

const SEGMENT_MB = 1;

function assertSame(expected: { lines: string[]; error: string }, actual: StrataDumpResult, what: string): void {
  assert.equal(diffLines(expected.lines, actual.lines, 10), '', `${what}: every line must be identical`);
  assert.equal(actual.error, expected.error, `${what}: reading must end at the same place for the same reason`);
}

test('waldump on 2 and 3 threads prints what it prints on one and what pg_waldump prints', { timeout: 20 * 60_000 }, async () => {
  await withCluster({ name: 'waldump-threads', walSegSizeMb: SEGMENT_MB, settings: { track_commit_timestamp: true, wal_compression: 'lz4' } }, async (c) => {
    // Segment switches between workloads: ranges that end in an XLOG_SWITCH and its unused rest.
    const names = ALL_WORKLOADS.map((w) => w.name);
    for (let i = 0; i < names.length; i++) {
      await runAllWorkloads(c, { only: [names[i]!] });
      if (i % 3 === 0) await c.query('SELECT pg_switch_wal()');
    }
    // A record longer than two segments: the ranges inside it hold no record start of their own,
    // so they cannot join and are read again on the main thread.
    await c.query(`SELECT pg_logical_emit_message(false, 'strata-long', repeat('z', ${3 * SEGMENT_MB} << 20))`);
    await runAllWorkloads(c, { only: [names[0]!] });
    await c.stop('fast');
    const walDir = join(c.dataDir, 'pg_wal');
    const start = firstSegmentStart(walDir, c.walSegSizeBytes);

    const expected = pgWaldump(['-b', '-p', walDir, '-s', start]);
    assert.ok(expected.lines.some((l) => l.includes('desc: SWITCH')), 'the WAL must hold XLOG_SWITCH records');
    const options: WaldumpOptions = { path: walDir, start, bkpDetails: true };
    const serial = await strataWaldump([], { ...options, threads: '1' });
    assert.equal(serial.threaded, undefined, 'one thread reads serially');

    // Reading ahead, a serial dump closes each segment once read: few files open however many segments.
    const segments = readdirSync(walDir).filter((n) => parseWalFileName(n, c.walSegSizeBytes) !== null).length;
    const baseline = readdirSync('/proc/self/fd').length;
    let mostOpen = baseline;
    let seen = 0;
    const ahead = await readRangeAhead(
      { dir: walDir, timeline: 1, segmentSize: c.walSegSizeBytes, start: Number(parseLsn(start)), stopAt: Number.MAX_SAFE_INTEGER, end: undefined },
      () => {
        if (seen++ % 500 === 0) mostOpen = Math.max(mostOpen, readdirSync('/proc/self/fd').length);
      },
    );
    assert.ok(segments > 20 && ahead.records === serial.lines.filter((l) => l.startsWith('rmgr: ')).length, `read ahead over ${segments} segments, ${ahead.records} records`);
    assert.ok(mostOpen - baseline <= 8, `at most a few more files open while reading ${segments} segments ahead (${mostOpen - baseline})`);

    // A segment cut short (a short read, then a read of nothing): both readers end there, alike.
    const cut = mkdtempSync(join(tmpdir(), 'strata-wal-cut-'));
    try {
      cpSync(walDir, cut, { recursive: true });
      const names = readdirSync(cut).filter((n) => parseWalFileName(n, c.walSegSizeBytes) !== null).sort();
      truncateSync(join(cut, names[10]!), 300_000);
      const read = { dir: cut, timeline: 1, segmentSize: c.walSegSizeBytes, start: Number(parseLsn(start)), stopAt: Number.MAX_SAFE_INTEGER, end: undefined };
      const sync = readRange(read, () => {});
      const aheadCut = await readRangeAhead(read, () => {});
      assert.match(sync.ended ?? '', new RegExp(`^could not read from file ${names[10]}, offset 30\\d{4}: read 0 of \\d+$`));
      assert.deepEqual(aheadCut, sync);
    } finally {
      rmSync(cut, { recursive: true, force: true });
    }
    assertSame(expected, serial, 'one thread');
    for (const threads of ['2', '3']) {
      const parallel = await strataWaldump([], { ...options, threads });
      assert.ok(parallel.threaded !== undefined, `${threads} threads must read on threads`);
      assert.ok(parallel.threaded.ranges >= 20, `the WAL must make many ranges: ${parallel.threaded.ranges}`);
      // Ranges join unless something stands between them; most must, or nothing ran in parallel.
      assert.ok(parallel.threaded.rangesReread * 4 < parallel.threaded.ranges, `most ranges must join: ${JSON.stringify(parallel.threaded)}`);
      assert.ok(parallel.threaded.rangesReread >= 2, `the ranges inside the long record are read again: ${JSON.stringify(parallel.threaded)}`);
      assertSame(expected, parallel, `${threads} threads`);
    }

    const stats = await strataWaldump([], { path: walDir, start, stats: true, statsPerRecord: true, threads: '2' });
    assertSame(pgWaldump(['--stats=record', '-p', walDir, '-s', start]), stats, '--stats=record on 2 threads');

    // From inside one segment to inside another, with a filter.
    const lsns = expected.lines.map((l) => /lsn: ([0-9A-F]+\/[0-9A-F]+)/.exec(l)?.[1]).filter((x) => x !== undefined);
    const from = formatLsn(lsn(parseLsn(lsns[Math.floor(lsns.length * 0.3)]!) + 5n));
    const to = formatLsn(lsn(parseLsn(lsns[Math.floor(lsns.length * 0.7)]!) + 13n));
    for (const extra of [[], ['-r', 'Heap']]) {
      const pg = pgWaldump(['-p', walDir, '-s', from, '-e', to, ...extra]);
      const ours = await strataWaldump([], { path: walDir, start: from, end: to, threads: '2', ...(extra.length > 0 ? { rmgr: 'Heap' } : {}) });
      assert.ok(pg.lines[0]!.startsWith('first record is after'), pg.lines[0]);
      assert.ok(ours.threaded !== undefined && ours.threaded.ranges > 2);
      assertSame(pg, ours, `-s ${from} -e ${to} ${extra.join(' ')}`);
    }

    // Segments after the end of WAL (a recycled one: old WAL under a later name): reading ends
    // inside a range, and the ranges after it must not be taken.
    const segs = readdirSync(walDir)
      .map((n) => parseWalFileName(n, c.walSegSizeBytes))
      .filter((p) => p !== null)
      .sort((a, b) => (a.segNo < b.segNo ? -1 : 1));
    const last = segs[segs.length - 1]!;
    copyFileSync(join(walDir, walFileName(1, segs[1]!.segNo, c.walSegSizeBytes)), join(walDir, walFileName(1, last.segNo + 1n, c.walSegSizeBytes)));
    copyFileSync(join(walDir, walFileName(1, segs[2]!.segNo, c.walSegSizeBytes)), join(walDir, walFileName(1, last.segNo + 2n, c.walSegSizeBytes)));
    const pgRecycled = pgWaldump(['-p', walDir, '-s', start]);
    const recycled = await strataWaldump([], { path: walDir, start, threads: '2' });
    assert.ok(recycled.threaded !== undefined && recycled.threaded.ranges === segs.length + 2, JSON.stringify(recycled.threaded));
    assertSame(pgRecycled, recycled, 'recycled segments after the end');
  });
});
