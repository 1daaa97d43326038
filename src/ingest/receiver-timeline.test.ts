/**
 * Timeline switches with a real PostgreSQL 15 primary and standby, strata streaming from the
 * standby (cascading) and following it through two promotions, in the shape of seed 003: the
 * primary dies in the middle of writing a multi-segment record, so the standby (and strata) hold a
 * partial record on timeline 1; the promoted standby's timeline 2 begins where that record began;
 * timeline 2 is kept tiny (promotion records only) and then timeline 3 begins right after it, in
 * the same WAL page when the promotion records fit in it. strata must follow each switch once, drop
 * the partial record, deliver every record exactly once in LSN order, and hold byte-identical
 * segments for every timeline.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { chown, writeFile } from 'node:fs/promises';
import { execFileSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { formatLsn, lsn, pageStart, parseLsn, type Lsn } from '../pg/lsn.js';
import { isRoot, PgCluster, pgBin, run } from '../testing/cluster.js';
import { ReplicationConnection } from './replication/connection.js';
import { compareWithServerSegments, waldumpRecordLsns } from '../testing/wal-compare.js';
import type { WalRecord } from '../wal/record.js';
import { WalLog } from './wal-log.js';
import { WalReceiver, type ReceiverEvent } from './receiver.js';

const WAIT_MS = 60_000;
/** Big enough to cross several segments, so the primary flushes (and sends) part of it before dying. */
const MESSAGE_BYTES = 128 * 1024 * 1024;
/** Kill the primary once strata has this much of the message. */
const KILL_AFTER_BYTES = 16 * 1024 * 1024;

interface Delivered {
  readonly lsn: number;
  readonly end: number;
  readonly tli: number;
}

function collector(into: Delivered[]): (records: readonly WalRecord[], tli: number) => void {
  return (records, tli) => {
    for (const r of records) into.push({ lsn: r.lsnNumber, end: r.endLsnNumber, tli });
  };
}

async function waitUntil(what: string, cond: () => boolean | Promise<boolean>, timeoutMs = WAIT_MS): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`Timed out waiting until ${what}`);
    await sleep(20);
  }
}

/** The process is alive (signal 0 reaches it) and is not a zombie. */
async function isRunning(pid: number): Promise<boolean> {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return !/\) [ZX] /.test(stat);
  } catch {
    return false;
  }
}

function childrenOf(pid: number): number[] {
  const out: number[] = [];
  for (const e of readdirSync('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    try {
      const stat = readFileSync(`/proc/${e}/stat`, 'utf8');
      if (Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) === pid) out.push(Number(e));
    } catch {
      // Exited while we looked.
    }
  }
  return out;
}

/** Turns a stopped primary back into a standby (standby.signal), as an operator would to promote it again. */
async function makeStandby(c: PgCluster): Promise<void> {
  const signal = path.join(c.dataDir, 'standby.signal');
  await writeFile(signal, '');
  if (isRoot()) {
    const uid = Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).trim());
    const gid = Number(execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).trim());
    await chown(signal, uid, gid);
  }
}

test('seed 003: a partial record cut by a promotion, a timeline inside one page, strata follows and never loops', async (t) => {
  const logDir = mkdtempSync(path.join(tmpdir(), 'strata-tl-'));
  const primary = await PgCluster.create({ name: 'tl-primary', settings: { wal_writer_delay: '10ms' } });
  let standby: PgCluster | undefined;
  const receivers: WalReceiver[] = [];
  try {
    await primary.query('CREATE TABLE before_crash AS SELECT generate_series(1, 1000) AS a');
    standby = await PgCluster.fromDataDir(await primary.baseBackup(['-R']), { name: 'tl-standby' });
    const sb = standby;
    assert.equal(await sb.query('SELECT pg_is_in_recovery()'), 't');

    const events: ReceiverEvent[] = [];
    const delivered: Delivered[] = [];
    const log = WalLog.open(logDir);
    const receiver = new WalReceiver({
      connect: { host: '127.0.0.1', port: sb.port, user: 'postgres', applicationName: 'strata' },
      log,
      slotName: 'strata',
      statusIntervalMs: 500,
      reconnectDelayMsMin: 50,
      reconnectDelayMsMax: 500,
      onRecords: collector(delivered),
      onEvent: (e) => events.push(e),
    });
    receivers.push(receiver);
    // A small record first, so that the big record starts in the middle of a page (pg_basebackup
    // ended the last segment with XLOG_SWITCH).
    await primary.query('INSERT INTO before_crash VALUES (0)');
    await receiver.waitForFlush(parseLsn(await primary.currentLsn()), WAIT_MS);

    // The primary writes one huge record. Once it has flushed part of it, the writing backend is
    // frozen (SIGSTOP) so the record cannot complete, the flushed part reaches the standby and
    // strata, and then the primary is SIGKILLed.
    const recordFrom = parseLsn(await primary.currentLsn('insert'));
    const pidFile = path.join(logDir, '..', `${path.basename(logDir)}.pid`);
    const emitting = run(pgBin('psql'), ['-X', '-q', '-t', '-A', '-h', '127.0.0.1', '-p', String(primary.port), '-U', 'postgres', '-d', 'postgres', '-f', '-'], {
      input: `SELECT pg_backend_pid() \\g ${pidFile}\nSELECT pg_logical_emit_message(false, 'strata', repeat('x', ${MESSAGE_BYTES}));\n`,
      timeoutMs: WAIT_MS,
      env: { PGOPTIONS: '', PGSSLMODE: 'disable' },
    }).catch((e: unknown) => e);
    const watcher = await ReplicationConnection.connect({ host: '127.0.0.1', port: primary.port, user: 'postgres' });
    let frozenAt: Lsn;
    let backendPid = 0;
    try {
      await waitUntil('the emitting backend wrote its pid', () => {
        backendPid = existsSync(pidFile) ? Number(readFileSync(pidFile, 'utf8').trim()) : 0;
        return backendPid > 0;
      });
      // IDENTIFY_SYSTEM's xlogpos on a primary is its flush position; it answers in about a millisecond.
      for (;;) {
        const flushed = (await watcher.identifySystem()).xlogpos;
        if (flushed >= recordFrom + BigInt(KILL_AFTER_BYTES)) break;
        if (!(await isRunning(backendPid))) throw new Error(`the record was complete before ${formatLsn(flushed)}: nothing to cut short`);
      }
      process.kill(backendPid, 'SIGSTOP');
      await sleep(200);
      frozenAt = (await watcher.identifySystem()).xlogpos;
    } finally {
      await watcher.close();
    }
    await receiver.waitForFlush(frozenAt, WAIT_MS);
    // The frozen backend holds a WAL insertion lock: once it is gone, children waiting for that lock
    // would never notice the postmaster's death. So every child is SIGKILLed with the postmaster.
    const children = childrenOf(Number(readFileSync(path.join(primary.dataDir, 'postmaster.pid'), 'utf8').split('\n')[0]));
    assert.ok(children.includes(backendPid));
    const killing = primary.kill9();
    for (const pid of children) process.kill(pid, 'SIGKILL');
    await killing;
    assert.ok((await emitting) instanceof Error, 'the primary died before the record was complete');

    // The standby has replayed all it can (everything before the partial record); promote it.
    await waitUntil('the standby has replayed all it received', async () => {
      const [recv, replay] = (await sb.query('SELECT pg_last_wal_receive_lsn(), pg_last_wal_replay_lsn()')).split('|');
      return recv !== undefined && replay !== undefined && parseLsn(recv) > parseLsn(replay);
    });
    await sleep(300);
    assert.equal(await sb.query('SELECT pg_promote(true, 60)'), 't');
    await waitUntil('strata is on timeline 2', () => receiver.timeline === 2);
    const tl2End = parseLsn(await sb.currentLsn('flush'));
    await receiver.waitForFlush(tl2End, WAIT_MS, 2);

    // Timeline 2 ends right here: stop the new primary at once (no shutdown checkpoint), start it as
    // a standby again, and promote it: timeline 3 begins at the end of timeline 2's few records.
    await sb.stop('immediate');
    await makeStandby(sb);
    await sb.start();
    assert.equal(await sb.query('SELECT pg_promote(true, 60)'), 't');
    await waitUntil('strata is on timeline 3', () => receiver.timeline === 3);
    await sb.query('CREATE TABLE after_promotions AS SELECT generate_series(1, 5000) AS a');
    const end = parseLsn(await sb.switchWal());
    await receiver.waitForFlush(end, WAIT_MS, 3);
    await waitUntil('every record up to the end is delivered', () => (delivered.at(-1)?.end ?? 0) >= Number(end));
    await receiver.stop();
    assert.equal(receiver.error, undefined);

    // The switches: 1 -> 2 at X (where the partial record began), 2 -> 3 at Y.
    const switches = events.filter((e): e is Extract<ReceiverEvent, { kind: 'timelineSwitch' }> => e.kind === 'timelineSwitch');
    assert.deepEqual(switches.map((s) => [s.from, s.to]), [[1, 2], [2, 3]]);
    const x = switches[0]!.switchPoint;
    const y = switches[1]!.switchPoint;
    const decoderSwitches = events.filter((e): e is Extract<ReceiverEvent, { kind: 'decoderSwitch' }> => e.kind === 'decoderSwitch');
    assert.deepEqual(decoderSwitches.map((s) => [s.from, s.to, s.at]), [[1, 2, x], [2, 3, y]]);
    assert.ok(decoderSwitches[0]!.droppedPartialBytes >= KILL_AFTER_BYTES, `the partial record on timeline 1 was dropped (${decoderSwitches[0]!.droppedPartialBytes} bytes)`);
    // The switch point is the end of the last complete record: at or just before where the big one began.
    assert.ok(x <= recordFrom && recordFrom - x < 8192n, `timeline 2 begins at the big record (${formatLsn(x)}, record written from ${formatLsn(recordFrom)})`);
    const samePage = pageStart(x) === pageStart(y);
    assert.ok(samePage, `timeline 2 begins and ends in one WAL page, the case that makes PostgreSQL's standby loop (${formatLsn(x)} to ${formatLsn(y)})`);
    assert.ok(y > x && y - x < 8192n, `timeline 2 holds only its promotion records (${formatLsn(x)} to ${formatLsn(y)})`);
    const streams = events.filter((e) => e.kind === 'streaming').length;
    assert.ok(streams < 20, `no loop: ${streams} START_REPLICATION in all`);

    // Every record once, in LSN order, each from the right timeline.
    for (let i = 1; i < delivered.length; i++) assert.ok(delivered[i]!.lsn > delivered[i - 1]!.lsn, `records in order at ${i}`);
    for (const d of delivered) assert.equal(d.tli, d.lsn < Number(x) ? 1 : d.lsn < Number(y) ? 2 : 3);
    assert.equal(delivered.filter((d) => d.tli === 1).at(-1)?.end, Number(x), 'timeline 1\'s last record ends at the switch point');
    assert.equal(delivered.filter((d) => d.tli === 2).at(-1)?.end, Number(y), 'timeline 2\'s last record ends at the next switch point');
    // pg_waldump agrees: timeline 1 from the dead primary's pg_wal, timelines 2 and 3 from the
    // last primary's timeline-3 segments (which copy timeline 2's bytes before Y).
    const first = lsn(delivered[0]!.lsn);
    assert.deepEqual(delivered.filter((d) => d.tli === 1).map((d) => d.lsn), waldumpRecordLsns(primary.walDir, first, x, 1));
    // Up to `end` as pg_waldump -e: the receiver streams on until it is stopped, and a record the
    // new primary writes after the switch (its next running-xacts) may already be delivered.
    assert.deepEqual(delivered.filter((d) => d.tli > 1 && d.lsn < Number(end)).map((d) => d.lsn), waldumpRecordLsns(sb.walDir, x, end, 3));

    // Bytes: each timeline's segments equal the servers'. Timeline 1 against the dead primary's
    // pg_wal: at promotion the standby removed its timeline-1 segments past the switch point, and the
    // primary wrote at least what it sent.
    const cmp1 = compareWithServerSegments(logDir, primary.walDir, 1);
    const cmp2 = compareWithServerSegments(logDir, sb.walDir, 2);
    const cmp3 = compareWithServerSegments(logDir, sb.walDir, 3);
    assert.ok(cmp1.complete >= 1 && cmp2.segments >= 1 && cmp3.segments >= 1, JSON.stringify([cmp1, cmp2, cmp3]));

    // Replay after a restart: the log alone yields the same records across both switches.
    await log.close();
    const log2 = WalLog.open(logDir);
    assert.equal(log2.timeline, 3);
    assert.deepEqual(log2.history.map((e) => [e.tli, e.end]), [[1, x], [2, y], [3, 0xffff_ffff_ffff_ffffn]]);
    const replayed: Delivered[] = [];
    const replayer = new WalReceiver({
      connect: { host: '127.0.0.1', port: sb.port, user: 'postgres', applicationName: 'strata' },
      log: log2,
      slotName: 'strata',
      replayFrom: first as Lsn,
      onRecords: collector(replayed),
    });
    receivers.push(replayer);
    await waitUntil('the log is replayed', () => (replayed.at(-1)?.end ?? 0) >= Number(end));
    await replayer.stop();
    await log2.close();
    assert.deepEqual(replayed.filter((d) => d.lsn < Number(end)), delivered.filter((d) => d.lsn < Number(end)));
    t.diagnostic(
      `partial record at ${formatLsn(x)} dropped (${decoderSwitches[0]!.droppedPartialBytes} bytes of it received); timeline 2 = [${formatLsn(x)}, ${formatLsn(y)}) ` +
        `inside one WAL page (the seed 003 shape); ${delivered.length} records, ${streams} streams; ` +
        `segments equal: tli1 ${cmp1.segments} (${cmp1.complete} complete), tli2 ${cmp2.segments}, tli3 ${cmp3.segments}`,
    );
  } finally {
    for (const r of receivers) await r.stop();
    await standby?.destroy();
    await primary.destroy();
    rmSync(logDir, { recursive: true, force: true });
    rmSync(`${logDir}.pid`, { force: true });
  }
});
