/**
 * The WAL receiver against a real PostgreSQL 15 primary: the log's segments equal the primary's
 * pg_wal byte for byte, records reach the callback in pg_waldump's order, the primary sees strata
 * in pg_stat_replication and can use it as its synchronous standby, and a restart of the primary
 * or of strata loses and repeats nothing.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { formatLsn, parseLsn, type Lsn } from '../pg/lsn.js';
import { pgBin, run, withCluster, type PgCluster } from '../testing/cluster.js';
import { compareWithServerSegments, waldumpRecordLsns } from '../testing/wal-compare.js';
import type { WalRecord } from '../wal/record.js';
import { WalLog } from './wal-log.js';
import { WalReceiver, type ReceiverEvent, type WalReceiverOptions } from './receiver.js';

const FLUSH_WAIT_MS = 60_000;

/** Records as the callback saw them: start LSNs in order, and where the last one ended. */
class RecordSink {
  readonly lsns: number[] = [];
  lastEnd = 0;
  readonly onRecords = (records: readonly WalRecord[]): void => {
    for (const r of records) this.lsns.push(r.lsnNumber);
    const last = records[records.length - 1];
    if (last !== undefined) this.lastEnd = last.endLsnNumber;
  };
  async waitFor(lsn: Lsn, timeoutMs = FLUSH_WAIT_MS): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (this.lastEnd < Number(lsn)) {
      if (Date.now() > deadline) throw new Error(`records delivered only to ${formatLsn(BigInt(this.lastEnd))}, waited for ${formatLsn(lsn)}`);
      await sleep(20);
    }
  }
}

/** Every receiver a test starts; stopped in the test's finally, so a failed assertion leaves none running. */
const started: WalReceiver[] = [];

async function stopAll(): Promise<void> {
  for (const r of started.splice(0)) await r.stop();
}

function receiverFor(c: PgCluster, log: WalLog, extra: Partial<WalReceiverOptions> = {}): WalReceiver {
  const r = new WalReceiver({
    connect: { host: '127.0.0.1', port: c.port, user: 'postgres', applicationName: 'strata' },
    log,
    slotName: 'strata',
    statusIntervalMs: 500,
    reconnectDelayMsMin: 50,
    reconnectDelayMsMax: 1000,
    ...extra,
  });
  started.push(r);
  return r;
}

/** Runs one statement with psql under an application_name; returns how long it took and psql's stderr. */
async function timedStatement(c: PgCluster, sql: string, appName = 'strata-test'): Promise<{ ms: number; stderr: string }> {
  const t0 = Date.now();
  const r = await run(pgBin('psql'), ['-X', '-q', '-v', 'ON_ERROR_STOP=1', '-h', '127.0.0.1', '-p', String(c.port), '-U', 'postgres', '-d', 'postgres', '-c', sql], {
    timeoutMs: 60_000,
    env: { PGOPTIONS: '', PGSSLMODE: 'disable', PGAPPNAME: appName },
  });
  return { ms: Date.now() - t0, stderr: r.stderr };
}

/**
 * A commit with strata stopped must wait for it. statement_timeout cannot show this: PostgreSQL's
 * finish_xact_command disables the statement timeout before it commits, so the commit's wait for
 * synchronous replication is not covered. Instead: see the backend waiting on SyncRep for a while,
 * then cancel it, which ends the wait with PostgreSQL's warning.
 */
async function commitBlocksWithoutStrata(c: PgCluster, waitMs: number): Promise<{ ms: number; stderr: string; waitEvent: string }> {
  const pending = timedStatement(c, 'CREATE TABLE while_stopped (x int)', 'blocked-commit');
  await sleep(waitMs);
  const waitEvent = await c.query(`SELECT coalesce(wait_event, '') FROM pg_stat_activity WHERE application_name = 'blocked-commit'`);
  await c.query(`SELECT pg_cancel_backend(pid) FROM pg_stat_activity WHERE application_name = 'blocked-commit'`);
  return { ...(await pending), waitEvent };
}

test('pgbench: the log equals the primary\'s pg_wal, records match pg_waldump, and strata is a synchronous standby', async (t) => {
  const logDir = mkdtempSync(path.join(tmpdir(), 'strata-recv-'));
  try {
    await withCluster({ name: 'recv-sync' }, async (c) => {
      const log = WalLog.open(logDir);
      const sink = new RecordSink();
      const receiver = receiverFor(c, log, { onRecords: sink.onRecords });
      await receiver.waitForFlush(parseLsn(await c.currentLsn()), FLUSH_WAIT_MS);
      assert.equal(await c.query(`SELECT slot_type || ' ' || active::text FROM pg_replication_slots WHERE slot_name = 'strata'`), 'physical true');
      await c.configure({ synchronous_standby_names: 'strata', synchronous_commit: 'on' });
      await c.reload();
      // Sample pg_stat_replication while pgbench runs: strata's write and flush positions move.
      const samples: string[] = [];
      let sampling = true;
      const sampler = (async () => {
        while (sampling) {
          samples.push(await c.query(`SELECT application_name, sync_state, write_lsn, flush_lsn FROM pg_stat_replication`));
          await sleep(300);
        }
      })();
      await c.pgbench(['-i', '-s', '3', '-q']);
      const bench = await c.pgbench(['-c', '4', '-j', '2', '-T', '6']);
      sampling = false;
      await sampler;
      assert.match(bench.stdout, /number of failed transactions: 0/);
      const tps = Number(/tps = ([\d.]+)/.exec(bench.stdout)?.[1]);
      assert.ok(tps > 10, `pgbench committed with strata as synchronous standby (${tps} tps)`);
      const rows = samples.filter((s) => s !== '').map((s) => s.split('|'));
      assert.ok(rows.length >= 5, `sampled pg_stat_replication ${rows.length} times`);
      for (const r of rows) assert.deepEqual(r.slice(0, 2), ['strata', 'sync']);
      const flushes = new Set(rows.map((r) => r[3]));
      assert.ok(flushes.size >= 3, `flush_lsn moved during the workload: ${[...flushes].join(' ')}`);
      const writes = rows.map((r) => parseLsn(r[2]!));
      assert.ok(writes.every((w, i) => i === 0 || w >= writes[i - 1]!), 'write_lsn never goes back');

      // apply is what the caller says ingest has applied; the primary shows it as replay_lsn.
      const applied = parseLsn(await c.currentLsn());
      receiver.setApplied(applied);
      const deadline = Date.now() + 5000;
      while ((await c.query(`SELECT replay_lsn FROM pg_stat_replication WHERE application_name = 'strata'`)) !== formatLsn(applied)) {
        assert.ok(Date.now() < deadline, 'replay_lsn shows the applied position within a few status intervals');
        await sleep(100);
      }

      // Commits go through while strata runs; with strata stopped they wait for it.
      const ok = await timedStatement(c, 'CREATE TABLE while_running (x int)');
      assert.doesNotMatch(ok.stderr, /synchronous replication/);
      assert.ok(ok.ms < 10_000);

      const end = parseLsn(await c.switchWal());
      await receiver.waitForFlush(end, FLUSH_WAIT_MS);
      await sink.waitFor(end);
      await receiver.stop();
      assert.equal(receiver.error, undefined);

      const blocked = await commitBlocksWithoutStrata(c, 2000);
      assert.equal(blocked.waitEvent, 'SyncRep', 'after 2 s the commit still waits for synchronous replication');
      assert.match(blocked.stderr, /canceling wait for synchronous replication/);
      assert.ok(blocked.ms >= 2000, `the commit waited for strata (${blocked.ms} ms)`);

      const cmp = compareWithServerSegments(logDir, c.walDir, 1);
      assert.ok(cmp.complete >= 3, `several complete segments compared (${JSON.stringify(cmp)})`);
      const first = sink.lsns[0];
      assert.ok(first !== undefined);
      const expected = waldumpRecordLsns(c.walDir, BigInt(first) as Lsn, end);
      // A workload of some size (6 s of pgbench: ~45-90k records here, fewer on a loaded machine).
      assert.ok(expected.length > 20_000, `pg_waldump lists ${expected.length} records`);
      const got = sink.lsns.filter((x) => x < Number(end));
      assert.equal(got.length, expected.length, 'as many records as pg_waldump');
      assert.deepEqual(got, expected);
      t.diagnostic(`${tps} tps with strata as the synchronous standby; ${cmp.segments} segments (${cmp.complete} complete, ${cmp.bytes} bytes) equal the primary's; ${got.length} records equal pg_waldump's; flush_lsn took ${flushes.size} values in ${rows.length} samples; blocked commit waited ${blocked.ms} ms`);
      await log.close();

      // A new receiver on the same log resumes at its end: commits go through again.
      const log2 = WalLog.open(logDir);
      assert.ok(log2.flushedLsn >= end);
      const again = receiverFor(c, log2);
      await again.waitForFlush(parseLsn(await c.currentLsn()), FLUSH_WAIT_MS);
      const resumed = await timedStatement(c, 'CREATE TABLE after_restart (x int)');
      assert.doesNotMatch(resumed.stderr, /synchronous replication/);
      await again.stop();
      await log2.close();
      assert.ok(compareWithServerSegments(logDir, c.walDir, 1).bytes > cmp.bytes);
    });
  } finally {
    await stopAll();
    rmSync(logDir, { recursive: true, force: true });
  }
});

test('primary restarted mid-workload, then strata restarted: it resumes, no gap and no duplicate in the log or the records', async (t) => {
  const logDir = mkdtempSync(path.join(tmpdir(), 'strata-recv-'));
  try {
    await withCluster({ name: 'recv-restart' }, async (c) => {
      const events: ReceiverEvent[] = [];
      let log = WalLog.open(logDir);
      const sink = new RecordSink();
      let receiver = receiverFor(c, log, { onRecords: sink.onRecords, onEvent: (e) => events.push(e) });
      await receiver.waitForFlush(parseLsn(await c.currentLsn()), FLUSH_WAIT_MS);
      await c.pgbench(['-i', '-s', '1', '-q']);
      // pgbench's clients abort when the server goes away; what matters is that WAL flows before and after.
      const bench = c.pgbench(['-c', '2', '-j', '2', '-T', '6'], {}).catch((e: unknown) => e);
      await sleep(2500);
      await c.restart('fast');
      await bench;
      await c.pgbench(['-c', '2', '-j', '2', '-T', '3']);
      const mid = parseLsn(await c.currentLsn());
      await receiver.waitForFlush(mid, FLUSH_WAIT_MS);
      await sink.waitFor(mid);
      const streams = events.filter((e) => e.kind === 'streaming');
      assert.ok(events.some((e) => e.kind === 'disconnected'), 'the receiver saw the primary go away');
      assert.ok(streams.length >= 2, `the receiver streamed again after the restart (${streams.length} streams)`);
      await receiver.stop();
      await log.close();

      // strata itself restarts: a new log object on the folder, replaying from the last record delivered.
      await c.pgbench(['-c', '2', '-j', '2', '-T', '2']);
      log = WalLog.open(logDir);
      const resumeFrom = BigInt(sink.lastEnd) as Lsn;
      receiver = receiverFor(c, log, { onRecords: sink.onRecords, replayFrom: resumeFrom, onEvent: (e) => events.push(e) });
      await c.pgbench(['-c', '2', '-j', '2', '-T', '2']);
      const end = parseLsn(await c.switchWal());
      await receiver.waitForFlush(end, FLUSH_WAIT_MS);
      await sink.waitFor(end);
      await receiver.stop();
      await log.close();
      assert.equal(receiver.error, undefined);

      const cmp = compareWithServerSegments(logDir, c.walDir, 1);
      assert.ok(cmp.complete >= 2, JSON.stringify(cmp));
      const expected = waldumpRecordLsns(c.walDir, BigInt(sink.lsns[0]!) as Lsn, end);
      const got = sink.lsns.filter((x) => x < Number(end));
      assert.equal(new Set(got).size, got.length, 'no record delivered twice');
      assert.equal(got.length, expected.length);
      assert.deepEqual(got, expected);
      t.diagnostic(`${events.filter((e) => e.kind === 'disconnected').length} disconnects, ${events.filter((e) => e.kind === 'streaming').length} streams; ${cmp.segments} segments (${cmp.complete} complete) equal the primary's; ${got.length} records equal pg_waldump's, none twice`);
    });
  } finally {
    await stopAll();
    rmSync(logDir, { recursive: true, force: true });
  }
});
