/**
 * Timeline history files (`0000000N.history`): which timelines a timeline descends from and at
 * which LSN each one was switched off.
 *
 * A standby's promotion starts a new timeline; its history file lists every ancestor with the LSN
 * where the next timeline forked from it ("switch point"). WAL readers use it to know which
 * timeline's segments hold a given LSN. Mirrors timeline.c's readTimeLineHistory,
 * tliOfPointInHistory and tliSwitchPoint. Pure: text in, entries out.
 *
 * The file is text, one line per ancestor: `parentTLI <tab> switchpoint <tab> reason`; blank lines
 * and lines starting with '#' are ignored.
 */
import { formatLsn, MAX_LSN, parseLsn, type Lsn, INVALID_LSN } from './lsn.js';

/** TimeLineHistoryEntry: timeline `tli` holds WAL in [begin, end); end is MAX_LSN for the newest. */
export interface TimelineHistoryEntry {
  readonly tli: number;
  readonly begin: Lsn;
  readonly end: Lsn;
}

export class TimelineHistoryError extends Error {
  readonly code = 'TIMELINE_HISTORY_INVALID';
  constructor(message: string) {
    super(message);
    this.name = 'TimelineHistoryError';
  }
}

/** TLHistoryFileName */
export function timelineHistoryFileName(tli: number): string {
  return tli.toString(16).toUpperCase().padStart(8, '0') + '.history';
}

/**
 * readTimeLineHistory: the entries for `targetTli`, oldest first, the last one being `targetTli`
 * itself (open-ended). `text` is the content of `targetTli`'s history file; timeline 1 has none
 * (pass undefined).
 */
export function parseTimelineHistory(targetTli: number, text: string | undefined): TimelineHistoryEntry[] {
  const entries: TimelineHistoryEntry[] = [];
  let prevEnd: Lsn = INVALID_LSN;
  let lastTli = 0;
  for (const raw of (text ?? '').split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const m = /^(\d+)\s+([0-9A-Fa-f]{1,8}\/[0-9A-Fa-f]{1,8})/.exec(line);
    if (m === null) throw new TimelineHistoryError(`Cannot parse the history of timeline ${targetTli}: expected "tli<TAB>X/X", received "${line}"`);
    const tli = Number(m[1]);
    if (!Number.isSafeInteger(tli) || tli <= lastTli)
      throw new TimelineHistoryError(`Cannot parse the history of timeline ${targetTli}: timeline IDs must be in increasing sequence, received ${tli} after ${lastTli}`);
    const switchpoint = parseLsn(m[2]!);
    if (switchpoint < prevEnd)
      throw new TimelineHistoryError(`Cannot parse the history of timeline ${targetTli}: switch point ${formatLsn(switchpoint)} of timeline ${tli} is before ${formatLsn(prevEnd)}`);
    entries.push({ tli, begin: prevEnd, end: switchpoint });
    prevEnd = switchpoint;
    lastTli = tli;
  }
  if (targetTli <= lastTli)
    throw new TimelineHistoryError(`Cannot parse the history of timeline ${targetTli}: timeline IDs must be less than child timeline's ID, received ${lastTli}`);
  entries.push({ tli: targetTli, begin: prevEnd, end: MAX_LSN });
  return entries;
}

/** tliOfPointInHistory: the timeline that holds `ptr` (a switch point belongs to the newer one). */
export function timelineOfPoint(ptr: Lsn, history: readonly TimelineHistoryEntry[]): number {
  for (const e of history) {
    if ((e.begin === INVALID_LSN || e.begin <= ptr) && (e.end === MAX_LSN || ptr < e.end)) return e.tli;
  }
  throw new TimelineHistoryError(`Cannot find the timeline of ${formatLsn(ptr)} in a history ending with timeline ${history.at(-1)?.tli ?? 0}`);
}

/**
 * tliSwitchPoint: where `tli` was switched off (MAX_LSN when it is the newest) and the timeline
 * that follows it; undefined when `tli` is not in the history at all.
 */
export function timelineSwitchPoint(tli: number, history: readonly TimelineHistoryEntry[]): { end: Lsn; nextTli: number | undefined } | undefined {
  for (let i = 0; i < history.length; i++) {
    const e = history[i]!;
    if (e.tli === tli) return { end: e.end, nextTli: history[i + 1]?.tli };
  }
  return undefined;
}
