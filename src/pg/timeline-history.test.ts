import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MAX_LSN, parseLsn } from './lsn.js';
import { parseTimelineHistory, timelineHistoryFileName, timelineOfPoint, timelineSwitchPoint, TimelineHistoryError } from './timeline-history.js';

// The text PostgreSQL 15 writes (writeTimeLineHistory): parent TLI, switch point, reason.
const HISTORY_3 = '1\t0/3000158\tno recovery target specified\n\n2\t0/5000000\tno recovery target specified\n';

test('a history file parses into entries oldest first, the target open-ended', () => {
  const h = parseTimelineHistory(3, HISTORY_3);
  assert.deepEqual(h, [
    { tli: 1, begin: 0n, end: parseLsn('0/3000158') },
    { tli: 2, begin: parseLsn('0/3000158'), end: parseLsn('0/5000000') },
    { tli: 3, begin: parseLsn('0/5000000'), end: MAX_LSN },
  ]);
  assert.deepEqual(parseTimelineHistory(1, undefined), [{ tli: 1, begin: 0n, end: MAX_LSN }]);
  assert.equal(timelineHistoryFileName(3), '00000003.history');
  assert.equal(timelineHistoryFileName(0x1a), '0000001A.history');
});

test('the timeline of a point: a switch point belongs to the newer timeline', () => {
  const h = parseTimelineHistory(3, HISTORY_3);
  assert.equal(timelineOfPoint(parseLsn('0/0'), h), 1);
  assert.equal(timelineOfPoint(parseLsn('0/3000157'), h), 1);
  assert.equal(timelineOfPoint(parseLsn('0/3000158'), h), 2);
  assert.equal(timelineOfPoint(parseLsn('0/4FFFFFF'), h), 2);
  assert.equal(timelineOfPoint(parseLsn('0/5000000'), h), 3);
  assert.equal(timelineOfPoint(parseLsn('FF/0'), h), 3);
  assert.deepEqual(timelineSwitchPoint(1, h), { end: parseLsn('0/3000158'), nextTli: 2 });
  assert.deepEqual(timelineSwitchPoint(3, h), { end: MAX_LSN, nextTli: undefined });
  assert.equal(timelineSwitchPoint(4, h), undefined);
});

test('malformed histories are refused with the line that is wrong', () => {
  assert.throws(() => parseTimelineHistory(3, '1\tnonsense\n'), TimelineHistoryError);
  assert.throws(() => parseTimelineHistory(3, '2\t0/1\n1\t0/2\n'), /increasing sequence/);
  assert.throws(() => parseTimelineHistory(2, '2\t0/1\n'), /less than child/);
  assert.throws(() => parseTimelineHistory(3, '1\t0/5\n2\t0/4\n'), /before/);
  // Comments and blank lines are skipped, as readTimeLineHistory does.
  assert.equal(parseTimelineHistory(2, '# comment\n\n1\t0/10\treason\n').length, 2);
});
