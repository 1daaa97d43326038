/**
 * Read-ahead gives what the serial reader gives: the same records (LSNs and bytes), in the same
 * order, and the same end, on WAL from a real PostgreSQL: whole, up to an end LSN, stopped early,
 * with a corrupted page, and with a segment missing. The WAL is longer than the ring (it wraps many
 * times) and holds a record longer than RING_RECORD_BYTES_MAX (it goes by message).
 */
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, rmSync, unlinkSync, writeFileSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { crc32c } from '../pg/crc32c.js';
import { lsn, parseLsn, parseWalFileName } from '../pg/lsn.js';
import { PgCluster } from '../testing/cluster.js';
import { walRecords, type WalReadOptions } from './wal-folder.js';
import { RING_BYTES, RING_RECORD_BYTES_MAX, walRecordsReadAhead } from './wal-read-ahead.js';

interface Seen {
  readonly records: string[];
  readonly end: string | undefined;
}

/** Each record as LSN, end LSN, length, CRC of its bytes and block count; then how reading ended. */
function collect(it: Generator<{ lsnNumber: number; endLsnNumber: number; raw: Uint8Array; blocks: readonly unknown[] }, string | undefined>, stopAfter = Infinity): Seen {
  const records: string[] = [];
  for (;;) {
    if (records.length >= stopAfter) {
      it.return(undefined);
      return { records, end: 'stopped' };
    }
    const n = it.next();
    if (n.done === true) return { records, end: n.value };
    const r = n.value;
    records.push(`${r.lsnNumber} ${r.endLsnNumber} ${r.raw.length} ${crc32c(r.raw)} ${r.blocks.length}`);
  }
}

test('read-ahead yields the serial reader\'s records and end: whole WAL, an end LSN, an early stop, a corrupt page, a missing segment', { timeout: 600_000 }, async () => {
  const c = await PgCluster.create({ start: true });
  const dir = mkdtempSync(join(tmpdir(), 'strata-read-ahead-'));
  try {
    const start = parseLsn(await c.currentLsn('insert'));
    await c.pgbench(['-i', '-s', '2', '-q']);
    // A logical message of 2 MB: one WAL record longer than a ring entry may be.
    await c.query(`SELECT pg_logical_emit_message(true, 'strata', repeat('x', 2000000))`);
    await c.pgbench(['-c', '2', '-t', '300', '-n']);
    await c.stop('fast');
    const wal = join(dir, 'wal');
    mkdirSync(wal);
    for (const n of readdirSync(c.walDir)) if (parseWalFileName(n) !== null) copyFileSync(join(c.walDir, n), join(wal, n));
    const o: WalReadOptions = { dir: wal, start, timeline: 1, segmentSize: c.walSegSizeBytes, recordsDieInCallback: true };

    const serial = collect(walRecords(o));
    const ahead = collect(walRecordsReadAhead(o));
    const bytes = serial.records.reduce((n, r) => n + Number(r.split(' ')[2]), 0);
    assert.ok(bytes > 3 * RING_BYTES, `the WAL (${bytes} bytes of records) wraps the ring several times`);
    assert.ok(serial.records.some((r) => Number(r.split(' ')[2]) > RING_RECORD_BYTES_MAX), 'a record goes by message');
    assert.deepEqual(ahead, serial);
    assert.match(serial.end ?? '', /error in WAL record|could not find file/, 'reading ended at the end of valid WAL');

    // Up to an end LSN in the middle.
    const middle = serial.records[Math.floor(serial.records.length / 2)] as string;
    const end = lsn(BigInt(Number(middle.split(' ')[1])));
    assert.deepEqual(collect(walRecordsReadAhead({ ...o, end })), collect(walRecords({ ...o, end })));

    // Stopped early: the generator returns, the worker goes.
    assert.deepEqual(collect(walRecordsReadAhead(o), 1000), collect(walRecords(o), 1000));

    // A corrupt byte in the second segment's middle: valid WAL ends there, for both, with the same words.
    const segments = readdirSync(wal).filter((n) => parseWalFileName(n) !== null).sort();
    const second = join(wal, segments[1] as string);
    const b = readFileSync(second);
    b[b.length >> 1] = (b[b.length >> 1] as number) ^ 0x55;
    writeFileSync(second, b);
    const corrupt = collect(walRecords(o));
    assert.ok(corrupt.records.length < serial.records.length);
    assert.deepEqual(collect(walRecordsReadAhead(o)), corrupt);

    // The second segment missing.
    unlinkSync(second);
    const missing = collect(walRecords(o));
    assert.match(missing.end ?? '', /could not find file/);
    assert.deepEqual(collect(walRecordsReadAhead(o)), missing);
  } finally {
    await c.destroy();
    rmSync(dir, { recursive: true, force: true });
  }
});
