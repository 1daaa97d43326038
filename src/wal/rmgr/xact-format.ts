/**
 * pg_waldump's text for transaction records (xactdesc.c), made from the descriptions in xact.ts.
 */
import { Fork, type RelFileNode, type TransactionId } from '../../pg/types.js';
import { formatLsn } from './rmgr.js';
import { relPathPerm } from './smgr.js';
import { formatInvalidations } from './standby.js';
import { timestamptzToStr } from './timestamp.js';
import type { XactAbort, XactCommit, XactOrigin, XactPrepare, XactRecord, XactStatsItem } from './xact.js';

/** xact_desc_relations */
function relations(label: string, rels: readonly RelFileNode[]): string {
  if (rels.length === 0) return '';
  return `; ${label}:` + rels.map((r) => ` ${relPathPerm(r, Fork.Main)}`).join('');
}

/** xact_desc_subxacts */
function subxacts(xids: readonly TransactionId[]): string {
  if (xids.length === 0) return '';
  return '; subxacts:' + xids.map((x) => ` ${x}`).join('');
}

/** xact_desc_stats */
function stats(label: string, items: readonly XactStatsItem[]): string {
  if (items.length === 0) return '';
  return `; ${label}dropped stats:` + items.map((i) => ` ${i.kind}/${i.dbOid}/${i.objOid}`).join('');
}

function origin(originId: number, o: XactOrigin): string {
  return `; origin: node ${originId}, lsn ${formatLsn(o.lsn)}, at ${timestamptzToStr(o.timestamp)}`;
}

/** If this completes a prepared transaction, the original xact's xid leads. */
function twophasePrefix(d: XactCommit | XactAbort): string {
  return d.twophaseXid !== 0 ? `${d.twophaseXid}: ` : '';
}

/** xact_desc_commit */
function commit(d: XactCommit): string {
  let s = twophasePrefix(d) + timestamptzToStr(d.xactTime);
  s += relations('rels', d.rels);
  s += subxacts(d.subxacts);
  s += stats('', d.droppedStats);
  s += formatInvalidations(d.invalidations, d.dbId, d.tsId, d.relcacheInitFileInval);
  if (d.applyFeedback) s += '; apply_feedback';
  if (d.forceSyncCommit) s += '; sync';
  if (d.origin !== undefined) s += origin(d.originId, d.origin);
  return s;
}

/** xact_desc_abort */
function abort(d: XactAbort): string {
  let s = twophasePrefix(d) + timestamptzToStr(d.xactTime);
  s += relations('rels', d.rels);
  s += subxacts(d.subxacts);
  if (d.origin !== undefined) s += origin(d.originId, d.origin);
  s += stats('', d.droppedStats);
  return s;
}

/** xact_desc_prepare */
function prepare(d: XactPrepare): string {
  let s = `gid ${d.gid}: ${timestamptzToStr(d.preparedAt)}`;
  s += relations('rels(commit)', d.commitRels);
  s += relations('rels(abort)', d.abortRels);
  s += stats('commit ', d.commitStats);
  s += stats('abort ', d.abortStats);
  s += subxacts(d.subxacts);
  // ParsePrepareRecord leaves tsId zero.
  s += formatInvalidations(d.invalidations, d.dbId, 0, d.initFileInval);
  if (d.originId !== 0) s += origin(d.originId, { lsn: d.originLsn, timestamp: d.originTimestamp });
  return s;
}

/** xact_desc */
export function formatXact(d: XactRecord): string {
  switch (d.kind) {
    case 'xact.commit':
    case 'xact.commitPrepared':
      return commit(d);
    case 'xact.abort':
    case 'xact.abortPrepared':
      return abort(d);
    case 'xact.prepare':
      return prepare(d);
    case 'xact.assignment':
      return `xtop ${d.xtop}: subxacts:` + d.xsub.map((x) => ` ${x}`).join('');
    case 'xact.invalidations':
      return formatInvalidations(d.invalidations, 0, 0, false);
  }
}
