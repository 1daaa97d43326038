/**
 * A primary killed with SIGKILL while it writes a record that crosses pages, then restarted:
 * PostgreSQL finds the record cut short, writes XLOG_OVERWRITE_CONTRECORD where the missing piece
 * would be and flags that page XLP_FIRST_IS_OVERWRITE_CONTRECORD. strata must drop the partial
 * record and decode the WAL exactly as pg_waldump does (seed 003's case, on one timeline).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseLsn, parseWalFileName, segmentStart } from '../pg/lsn.js';
import { PgCluster, pgBin, run } from '../testing/cluster.js';
import { diffLines, firstSegmentStart, pgWaldump, strataWaldump } from '../testing/waldump-oracle.js';
import { WalDecoder } from './decoder.js';
import { WalDecodeError } from './errors.js';

const MESSAGE_BYTES = 300 << 20;
const ATTEMPTS_MAX = 4;
const POLL_DEADLINE_MS = 60_000;

/** Starts the big record, waits until PostgreSQL has reserved its WAL space, and kills it mid-copy. */
async function killWhileWritingBigRecord(c: PgCluster): Promise<bigint> {
  const before = parseLsn(await c.query('SELECT pg_current_wal_insert_lsn()'));
  const writer = run(pgBin('psql'), ['-X', '-q', '-h', '127.0.0.1', '-p', String(c.port), '-U', 'postgres', '-c', `SELECT pg_logical_emit_message(false, 'strata-crash', repeat('z', ${MESSAGE_BYTES}))`], {
    okExitCodes: [0, 1, 2],
    timeoutMs: 120_000,
  }).catch(() => undefined);
  const deadline = Date.now() + POLL_DEADLINE_MS;
  for (;;) {
    const now = parseLsn(await c.query('SELECT pg_current_wal_insert_lsn()'));
    if (now - before >= BigInt(MESSAGE_BYTES)) break;
    if (Date.now() > deadline) throw new Error('the big record never started');
    await sleep(5);
  }
  await c.kill9();
  await writer;
  return before;
}

test('WAL with an overwritten contrecord decodes as pg_waldump decodes it', { timeout: 10 * 60_000 }, async () => {
  for (let attempt = 1; ; attempt++) {
    const c = await PgCluster.create({ name: 'overwrite', settings: { wal_buffers: '1MB' } });
    try {
      await c.query(`CREATE TABLE before_crash AS SELECT g AS id FROM generate_series(1, 1000) g`);
      await killWhileWritingBigRecord(c);
      await c.start();
      await c.query(`CREATE TABLE after_crash AS SELECT g AS id FROM generate_series(1, 1000) g`);
      await c.stop('fast');

      const walDir = join(c.dataDir, 'pg_wal');
      const start = firstSegmentStart(walDir);
      const expected = pgWaldump(['-b', '-p', walDir, '-s', start]);
      if (!expected.lines.some((l) => l.includes('OVERWRITE_CONTRECORD'))) {
        // The record was complete on disk before the kill landed: try again.
        assert.ok(attempt < ATTEMPTS_MAX, `no OVERWRITE_CONTRECORD after ${attempt} attempts`);
        continue;
      }
      const actual = await strataWaldump([], { path: walDir, start, bkpDetails: true, threads: '1' });
      assert.equal(diffLines(expected.lines, actual.lines), '');
      assert.equal(actual.error, expected.error);
      // On two threads: the ranges inside the partial record have no record of their own and the one
      // after it starts with the overwrite record; the output must not change.
      const threaded = await strataWaldump([], { path: walDir, start, bkpDetails: true, threads: '2' });
      assert.ok(threaded.threaded !== undefined && threaded.threaded.ranges > 10, `many ranges: ${JSON.stringify(threaded.threaded)}`);
      assert.equal(diffLines(expected.lines, threaded.lines), '', 'on 2 threads');
      assert.equal(threaded.error, expected.error, 'on 2 threads');

      // The decoder says which record it dropped: the one that started the big message.
      const segs = readdirSync(walDir).map((n) => ({ n, p: parseWalFileName(n) })).filter((s) => s.p !== null && s.p.timeline === 1);
      segs.sort((a, b) => (a.p!.segNo < b.p!.segNo ? -1 : 1));
      const d = new WalDecoder({ startLsn: segmentStart(segs[0]!.p!.segNo) });
      let overwriteSeen = false;
      try {
        for (const s of segs) {
          d.push(readFileSync(join(walDir, s.n)));
          for (const r of d.records()) if (r.rmid === 0 && (r.info & 0xf0) === 0xd0) overwriteSeen = true;
        }
      } catch (e) {
        assert.ok(e instanceof WalDecodeError);
      }
      assert.ok(overwriteSeen, 'the XLOG_OVERWRITE_CONTRECORD record is decoded');
      assert.equal(d.overwrittenRecords.length, 1, 'exactly one partial record dropped');
      const overwrittenLine = expected.lines.find((l) => l.includes('OVERWRITE_CONTRECORD'))!;
      const named = /desc: OVERWRITE_CONTRECORD lsn ([0-9A-F]+\/[0-9A-F]+)/.exec(overwrittenLine);
      assert.ok(named !== null, `pg_waldump names the overwritten record: ${overwrittenLine}`);
      assert.equal(d.overwrittenRecords[0], parseLsn(named[1]!), 'the dropped record is the one the overwrite record names');
      return;
    } finally {
      await c.destroy();
    }
  }
});
