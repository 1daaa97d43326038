/**
 * The base backup's WAL segment, read back by pg_waldump (PostgreSQL's own reader checks every page
 * header it reads and the record's CRC) and by strata's decoder, for record positions at a segment's
 * first record, mid-page, right after a page boundary, inside a page header, and so near a page's or
 * a segment's end that the record continues on the next page or in the next segment.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { CHECKPOINT_BYTES, CheckPointStruct } from '../pg/control.js';
import { SIZE_OF_XLOG_LONG_PHD, SIZE_OF_XLOG_SHORT_PHD, XLOG_BLCKSZ } from '../pg/constants.js';
import { formatLsn, formatLsnPadded, type Lsn } from '../pg/lsn.js';
import { pgBin, run } from '../testing/process.js';
import { CHECKPOINT_RECORD_BYTES, encodeShutdownCheckpointRecord, recordSegments, recordStartAtOrAfter } from './checkpoint-segment.js';
import { decodeAll } from './decoder.js';

const SYSTEM_ID = 7350123456789012345n;
const PAGE = BigInt(XLOG_BLCKSZ);

function checkpointAt(at: Lsn): CheckPointStruct {
  const cp = new CheckPointStruct(new Uint8Array(CHECKPOINT_BYTES));
  cp.redo = at;
  cp.thisTimeLineId = 1;
  cp.prevTimeLineId = 1;
  cp.bytes[16] = 1; // fullPageWrites
  cp.nextXid = (2n << 32n) | 1000n;
  cp.nextOid = 24576;
  cp.nextMulti = 7;
  cp.nextMultiOffset = 13;
  cp.oldestXid = 726;
  cp.oldestXidDb = 1;
  cp.oldestMulti = 1;
  cp.oldestMultiDb = 5;
  cp.time = 1_700_000_000n;
  return cp;
}

test('recordStartAtOrAfter: MAXALIGNed, past the page header, never before the LSN', () => {
  const seg = 16 << 20;
  const s = 5n * BigInt(seg);
  const cases: [bigint, bigint][] = [
    [s, s + 40n],
    [s + 40n, s + 40n],
    [s + 41n, s + 48n],
    [s + PAGE, s + PAGE + 24n],
    [s + PAGE + 10n, s + PAGE + 24n],
    [s + PAGE + 24n, s + PAGE + 24n],
    [s + PAGE - 3n, s + PAGE + 24n],
    [s + 3n * PAGE + 1003n, s + 3n * PAGE + 1008n],
    [s + BigInt(seg) - 1n, s + BigInt(seg) + 40n],
  ];
  for (const [lsn, want] of cases) assert.equal(formatLsn(recordStartAtOrAfter(lsn as Lsn, seg)), formatLsn(want), `for ${formatLsn(lsn)}`);
});

for (const segMb of [16, 1]) {
  test(`checkpoint segments (${segMb} MiB) read by pg_waldump and strata's decoder`, async () => {
    const seg = segMb << 20;
    const s = 5n * BigInt(seg);
    const lsns: [string, bigint][] = [
      ['segment start', s],
      ['first page, mid', s + 1001n],
      ['page boundary', s + 3n * PAGE],
      ['inside a page header', s + 7n * PAGE + 9n],
      ['crosses a page', s + 5n * PAGE + PAGE - 40n],
      ['crosses a segment', s + BigInt(seg) - 56n],
      ['last page, mid', s + BigInt(seg) - PAGE + 4000n],
    ];
    for (const [what, lsn] of lsns) {
      const at = recordStartAtOrAfter(lsn as Lsn, seg);
      const record = encodeShutdownCheckpointRecord(checkpointAt(at).bytes);
      assert.equal(record.length, CHECKPOINT_RECORD_BYTES);
      const files = recordSegments({ systemId: SYSTEM_ID, segmentSize: seg, timeline: 1, at, record });
      const end = recordEnd(at, seg);
      const crosses = end / BigInt(seg) !== at / BigInt(seg);
      assert.equal(files.length, crosses ? 2 : 1, `${what}: segment files`);
      assert.equal(what === 'crosses a segment', crosses, `${what}: crosses a segment boundary`);
      for (const f of files) assert.equal(f.bytes.length, seg);

      const dir = mkdtempSync(join(tmpdir(), 'strata-ckpt-seg-'));
      try {
        for (const f of files) writeFileSync(join(dir, f.name), f.bytes);
        // From the segment's start: XLogFindNextRecord skips the continuation data up to the record.
        for (const start of [s, at]) {
          const r = await run(pgBin('pg_waldump'), ['-p', dir, '-t', '1', '-s', formatLsn(start), '-e', formatLsn(end)]);
          const lines = r.stdout.trim().split('\n');
          assert.equal(lines.length, 1, `${what} from ${formatLsn(start)}: ${r.stdout}${r.stderr}`);
          assert.match(lines[0] as string, new RegExp(`^rmgr: XLOG +len \\(rec/tot\\): +114/ +114, tx: +0, lsn: ${formatLsnPadded(at)}, prev 0/00000000, desc: CHECKPOINT_SHUTDOWN redo ${formatLsn(at)}; tli 1; prev tli 1; fpw true; xid 2:1000; oid 24576; multi 7; offset 13; oldest xid 726 in DB 1; oldest multi 1 in DB 5; oldest/newest commit timestamp xid: 0/0; oldest running xid 0; shutdown$`));
        }

        // strata's decoder, fed the files from the segment's start.
        const all = Buffer.concat(files.map((f) => f.bytes));
        const { records } = decodeAll(all, { startLsn: s as Lsn, segmentSize: seg, systemId: SYSTEM_ID });
        assert.equal(records.length, 1, `${what}: one record`);
        assert.equal(records[0]?.lsn, at);
        // EndRecPtr is MAXALIGNed, as xlogreader.c's NextRecPtr.
        assert.equal(records[0]?.endLsn, (end + 7n) & ~7n);
        assert.ok(Buffer.from(records[0]?.mainData ?? []).equals(checkpointAt(at).bytes));

        // Nothing but page headers and the record: every other byte is zero.
        let nonZero = 0;
        for (let o = 0; o < all.length; o++) if (all[o] !== 0) nonZero++;
        let written = 0;
        for (const f of files) for (let p = 0; p < seg; p += XLOG_BLCKSZ) if (f.bytes.readUInt16LE(p) !== 0) written++;
        assert.ok(nonZero <= record.length + written * SIZE_OF_XLOG_LONG_PHD, `${what}: ${nonZero} non-zero bytes`);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    }
  });
}

/** Where the record ends: its bytes plus the page headers it crosses. */
function recordEnd(at: bigint, seg: number): bigint {
  let pos = at;
  let left = CHECKPOINT_RECORD_BYTES;
  for (;;) {
    const pageEnd = (pos & ~(PAGE - 1n)) + PAGE;
    const n = Math.min(left, Number(pageEnd - pos));
    left -= n;
    pos += BigInt(n);
    if (left === 0) return pos;
    pos = pageEnd + BigInt(pageEnd % BigInt(seg) === 0n ? SIZE_OF_XLOG_LONG_PHD : SIZE_OF_XLOG_SHORT_PHD);
  }
}
