import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, statSync, writeFileSync, readFileSync, openSync, writeSync, closeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { formatLsn, lsn, parseLsn, walFileName, type Lsn } from '../pg/lsn.js';
import { walLogTestBytes } from './wal-log-crash-child.js';
import { WalLog, WalLogError, WAL_LOG_STATE_FILE } from './wal-log.js';

const SEG = 1024 * 1024;

function tempDir(name: string): string {
  return mkdtempSync(path.join(tmpdir(), `strata-wallog-${name}-`));
}

async function readAll(log: WalLog, tli: number, start: Lsn, end: Lsn, chunk?: number): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of log.read(tli, start, end, chunk)) parts.push(c);
  return Buffer.concat(parts);
}

test('writes cross segments, flush moves the flushed LSN, and the bytes read back equal what was written', async () => {
  const dir = tempDir('basic');
  try {
    const log = WalLog.open(dir, { segmentSize: SEG });
    assert.equal(log.timeline, 0);
    await log.beginTimeline(1, lsn(SEG));
    const start = SEG;
    const total = 2 * SEG + 12345;
    let pos = start;
    for (const n of [100, SEG - 100, 1, 7000, SEG, total - (100 + SEG - 100 + 1 + 7000 + SEG)]) {
      log.write(lsn(pos), walLogTestBytes(pos, n));
      pos += n;
    }
    assert.equal(log.writtenLsn, lsn(start + total));
    assert.equal(log.flushedLsn, lsn(start), 'nothing is flushed before flush()');
    assert.equal(await log.flush(), lsn(start + total));
    assert.equal(log.flushedLsn, lsn(start + total));
    const names = readdirSync(dir).filter((n) => n.length === 24).sort();
    assert.deepEqual(names, [walFileName(1, 1n, SEG), walFileName(1, 2n, SEG), walFileName(1, 3n, SEG)]);
    assert.equal(statSync(path.join(dir, names[0]!)).size, SEG);
    assert.equal(statSync(path.join(dir, names[2]!)).size, 12345);
    const back = await readAll(log, 1, lsn(start + 50), lsn(start + total), 300_000);
    assert.ok(back.equals(walLogTestBytes(start + 50, total - 50)));
    assert.throws(() => log.write(lsn(pos + 1), Buffer.alloc(1)), (e: unknown) => e instanceof WalLogError && e.code === 'NOT_CONTIGUOUS');
    assert.throws(() => log.write(lsn(pos - 1), Buffer.alloc(1)), /contiguous/);
    await assert.rejects(readAll(log, 1, lsn(start), lsn(start + total + 1)), /flushed/);
    await log.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('after reopening, the log ends at the last flush: later bytes are cut off and writing resumes there', async () => {
  const dir = tempDir('reopen');
  try {
    let log = WalLog.open(dir, { segmentSize: SEG });
    await log.beginTimeline(1, lsn(0));
    log.setSystemId(7355608n);
    log.write(lsn(0), walLogTestBytes(0, 5000));
    await log.flush();
    // Written, never flushed: 2 more segments' worth.
    log.write(lsn(5000), walLogTestBytes(5000, 2 * SEG));
    await log.close();
    log = WalLog.open(dir, { segmentSize: SEG });
    assert.equal(log.timeline, 1);
    assert.equal(log.systemId, 7355608n);
    assert.equal(log.flushedLsn, lsn(5000));
    assert.equal(log.writtenLsn, lsn(5000));
    assert.deepEqual(readdirSync(dir).filter((n) => n.length === 24), [walFileName(1, 0n, SEG)]);
    assert.equal(statSync(path.join(dir, walFileName(1, 0n, SEG))).size, 5000);
    log.write(lsn(5000), walLogTestBytes(5000, SEG));
    await log.flush();
    assert.ok((await readAll(log, 1, lsn(0), lsn(5000 + SEG))).equals(walLogTestBytes(0, 5000 + SEG)));
    await log.close();
    assert.throws(() => WalLog.open(dir, { segmentSize: 2 * SEG }), (e: unknown) => e instanceof WalLogError && e.code === 'SEGMENT_SIZE_MISMATCH');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a torn state slot falls back to the other one; both torn, or segments without state, is an error', async () => {
  const dir = tempDir('state');
  try {
    const log = WalLog.open(dir, { segmentSize: SEG });
    await log.beginTimeline(1, lsn(0)); // sequence 1, in slot 1 (sequence % 2)
    log.write(lsn(0), walLogTestBytes(0, 1000));
    await log.flush(); // sequence 2
    log.write(lsn(1000), walLogTestBytes(1000, 1000));
    await log.flush(); // sequence 3
    await log.close();
    const statePath = path.join(dir, WAL_LOG_STATE_FILE);
    const state = readFileSync(statePath);
    // Sequence 3 went to slot 1 (3 % 2): tear it, and the log must come back at sequence 2's LSN.
    const fd = openSync(statePath, 'r+');
    writeSync(fd, Buffer.from([0xde, 0xad]), 0, 2, 512 + 40);
    closeSync(fd);
    const reopened = WalLog.open(dir, { segmentSize: SEG });
    assert.equal(reopened.flushedLsn, lsn(1000));
    await reopened.close();
    writeFileSync(statePath, Buffer.alloc(state.length));
    assert.throws(() => WalLog.open(dir, { segmentSize: SEG }), (e: unknown) => e instanceof WalLogError && e.code === 'CORRUPT_STATE');
    rmSync(statePath);
    assert.throws(() => WalLog.open(dir, { segmentSize: SEG }), /no strata-wal-log.state/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('timelines: a new one begins at a segment start with its history file, older ones stay readable', async () => {
  const dir = tempDir('timelines');
  try {
    const log = WalLog.open(dir, { segmentSize: SEG });
    await log.beginTimeline(1, lsn(0));
    log.write(lsn(0), walLogTestBytes(0, SEG + 3000));
    // Timeline 2 forks at SEG + 2000: its segment 1 copies timeline 1's bytes before the fork.
    const history = Buffer.from(`1\t${formatLsn(lsn(SEG + 2000))}\tno recovery target specified\n`);
    await assert.rejects(log.beginTimeline(2, lsn(SEG + 2000), history), /segment start/);
    await assert.rejects(log.beginTimeline(2, lsn(SEG)), /history file is missing/);
    await log.beginTimeline(2, lsn(SEG), history);
    assert.equal(log.timeline, 2);
    assert.equal(log.flushedLsn, lsn(SEG));
    assert.deepEqual(log.history.map((e) => e.tli), [1, 2]);
    assert.ok(readFileSync(path.join(dir, '00000002.history')).equals(history));
    const tl2 = Buffer.concat([walLogTestBytes(SEG, 2000), Buffer.from('new timeline'), walLogTestBytes(0, 10)]);
    log.write(lsn(SEG), tl2);
    await log.flush();
    await assert.rejects(log.beginTimeline(2, lsn(SEG), history), (e: unknown) => e instanceof WalLogError && e.code === 'TIMELINE_ORDER');
    assert.deepEqual(log.timelineRange(1), { start: lsn(0), end: lsn(SEG + 3000) });
    assert.deepEqual(log.timelineRange(2), { start: lsn(SEG), end: lsn(SEG + tl2.length) });
    assert.ok((await readAll(log, 1, lsn(SEG), lsn(SEG + 3000))).equals(walLogTestBytes(SEG, 3000)));
    assert.ok((await readAll(log, 2, lsn(SEG), lsn(SEG + tl2.length))).equals(tl2));
    await log.close();
    const reopened = WalLog.open(dir, { segmentSize: SEG });
    assert.equal(reopened.timeline, 2);
    assert.equal(reopened.flushedLsn, lsn(SEG + tl2.length));
    assert.deepEqual(reopened.history.map((e) => [e.tli, formatLsn(e.end)]), [[1, formatLsn(lsn(SEG + 2000))], [2, 'FFFFFFFF/FFFFFFFF']]);
    // removeBelow drops whole segments of every timeline below the LSN's segment.
    assert.equal(reopened.removeBelow(lsn(SEG + 5)), 1);
    assert.deepEqual(readdirSync(dir).filter((n) => n.length === 24).sort(), [walFileName(1, 1n, SEG), walFileName(2, 1n, SEG)]);
    await assert.rejects(readAll(reopened, 1, lsn(0), lsn(10)), (e: unknown) => e instanceof WalLogError && e.code === 'MISSING_SEGMENT');
    assert.throws(() => reopened.removeBelow(parseLsn('1/0')), /flushed only/);
    await reopened.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('kill -9 of a writer between write and flush: the log ends at or after the last flush reported, with the bytes sent', async () => {
  const child = path.join(path.dirname(fileURLToPath(import.meta.url)), 'wal-log-crash-child.js');
  const dir = tempDir('kill9');
  try {
    let lastReported: Lsn = lsn(SEG);
    for (let round = 0; round < 5; round++) {
      const proc = spawn(process.execPath, [child, dir, String(SEG), String(1000 + round)], { stdio: ['ignore', 'pipe', 'pipe'] });
      let stderr = '';
      proc.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      let buffered = '';
      let flushes = 0;
      // Kill after a varying number of flushes, at a moment the child is most likely writing.
      const killAfter = 3 + round * 4;
      const exited = new Promise<void>((resolve) => proc.on('exit', () => resolve()));
      await new Promise<void>((resolve, reject) => {
        proc.stdout.on('data', (d: Buffer) => {
          buffered += d.toString();
          let nl: number;
          while ((nl = buffered.indexOf('\n')) >= 0) {
            const line = buffered.slice(0, nl);
            buffered = buffered.slice(nl + 1);
            const m = /^flushed (\S+)$/.exec(line);
            if (m === null) continue;
            lastReported = parseLsn(m[1]!);
            if (++flushes === killAfter) {
              proc.kill('SIGKILL');
              resolve();
            }
          }
        });
        proc.on('exit', (code, signal) => {
          if (signal !== 'SIGKILL') reject(new Error(`child exited ${code} ${signal}: ${stderr}`));
        });
      });
      await exited;
      const log = WalLog.open(dir, { segmentSize: SEG });
      assert.ok(log.flushedLsn >= lastReported, `round ${round}: log ends at ${formatLsn(log.flushedLsn)}, last reported ${formatLsn(lastReported)}`);
      const bytes = await readAll(log, 1, lsn(SEG), log.flushedLsn);
      assert.ok(bytes.equals(walLogTestBytes(SEG, bytes.length)), `round ${round}: the bytes on disk are the bytes sent`);
      await log.close();
    }
    assert.ok(lastReported > lsn(SEG + 2 * SEG), `the writer got past a few segments (${formatLsn(lastReported)})`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
