/**
 * pg_waldump's text for transaction records (xactdesc.c), made from the descriptions in xact.ts and
 * written as bytes: a commit is one record in seven on pgbench WAL.
 */
import { Fork, type RelFileNode, type TransactionId } from '../../pg/types.js';
import { literals, putAscii, putInt, putLiteral, putLsn, putText, putUint } from '../text-buffer.js';
import { relPathPerm } from './smgr.js';
import { formatInvalidations } from './standby.js';
import { putTimestamptz } from './timestamp.js';
import type { XactAbort, XactCommit, XactOrigin, XactPrepare, XactRecord, XactStatsItem } from './xact.js';

const SPACE = 0x20;
const SLASH = 0x2f;
const COLON = 0x3a;

/** The fixed pieces of this module's text, encoded once. */
const T = literals({
  semi: '; ',
  sSubxacts: '; subxacts:',
  droppedStats: 'dropped stats:',
  sOriginNode: '; origin: node ',
  cLsn: ', lsn ',
  cAt: ', at ',
  sApplyFeedback: '; apply_feedback',
  sSync: '; sync',
  gid: 'gid ',
  xtop: 'xtop ',
  subxacts: ': subxacts:',
});

/** xact_desc_relations */
function putRelations(b: Uint8Array, o: number, label: string, rels: readonly RelFileNode[]): number {
  if (rels.length === 0) return o;
  o = putLiteral(b, o, T.semi);
  o = putAscii(b, o, label);
  b[o++] = COLON;
  for (const r of rels) {
    b[o++] = SPACE;
    o = putText(b, o, relPathPerm(r, Fork.Main));
  }
  return o;
}

/** xact_desc_subxacts */
function putSubxacts(b: Uint8Array, o: number, xids: readonly TransactionId[]): number {
  if (xids.length === 0) return o;
  o = putLiteral(b, o, T.sSubxacts);
  return putXidList(b, o, xids);
}

/** ` %u` for each xid. */
function putXidList(b: Uint8Array, o: number, xids: readonly TransactionId[]): number {
  for (const x of xids) {
    b[o++] = SPACE;
    o = putUint(b, o, x);
  }
  return o;
}

/** xact_desc_stats */
function putStats(b: Uint8Array, o: number, label: string, items: readonly XactStatsItem[]): number {
  if (items.length === 0) return o;
  o = putLiteral(b, o, T.semi);
  o = putAscii(b, o, label);
  o = putLiteral(b, o, T.droppedStats);
  for (const i of items) {
    b[o++] = SPACE;
    o = putInt(b, o, i.kind);
    b[o++] = SLASH;
    o = putUint(b, o, i.dbOid);
    b[o++] = SLASH;
    o = putUint(b, o, i.objOid);
  }
  return o;
}

function putOrigin(b: Uint8Array, o: number, originId: number, origin: XactOrigin): number {
  o = putLiteral(b, o, T.sOriginNode);
  o = putUint(b, o, originId);
  o = putLiteral(b, o, T.cLsn);
  o = putLsn(b, o, origin.lsn);
  o = putLiteral(b, o, T.cAt);
  return putTimestamptz(b, o, origin.timestamp);
}

/** If this completes a prepared transaction, the original xact's xid leads. */
function putTwophasePrefix(b: Uint8Array, o: number, d: XactCommit | XactAbort): number {
  if (d.twophaseXid === 0) return o;
  o = putUint(b, o, d.twophaseXid);
  b[o++] = COLON;
  b[o++] = SPACE;
  return o;
}

/** xact_desc_commit */
function putCommit(b: Uint8Array, o: number, d: XactCommit): number {
  o = putTwophasePrefix(b, o, d);
  o = putTimestamptz(b, o, d.xactTime);
  o = putRelations(b, o, 'rels', d.rels);
  o = putSubxacts(b, o, d.subxacts);
  o = putStats(b, o, '', d.droppedStats);
  if (d.invalidations.length > 0) o = putText(b, o, formatInvalidations(d.invalidations, d.dbId, d.tsId, d.relcacheInitFileInval));
  if (d.applyFeedback) o = putLiteral(b, o, T.sApplyFeedback);
  if (d.forceSyncCommit) o = putLiteral(b, o, T.sSync);
  if (d.origin !== undefined) o = putOrigin(b, o, d.originId, d.origin);
  return o;
}

/** xact_desc_abort */
function putAbort(b: Uint8Array, o: number, d: XactAbort): number {
  o = putTwophasePrefix(b, o, d);
  o = putTimestamptz(b, o, d.xactTime);
  o = putRelations(b, o, 'rels', d.rels);
  o = putSubxacts(b, o, d.subxacts);
  if (d.origin !== undefined) o = putOrigin(b, o, d.originId, d.origin);
  return putStats(b, o, '', d.droppedStats);
}

/** xact_desc_prepare */
function putPrepare(b: Uint8Array, o: number, d: XactPrepare): number {
  o = putLiteral(b, o, T.gid);
  o = putText(b, o, d.gid);
  b[o++] = COLON;
  b[o++] = SPACE;
  o = putTimestamptz(b, o, d.preparedAt);
  o = putRelations(b, o, 'rels(commit)', d.commitRels);
  o = putRelations(b, o, 'rels(abort)', d.abortRels);
  o = putStats(b, o, 'commit ', d.commitStats);
  o = putStats(b, o, 'abort ', d.abortStats);
  o = putSubxacts(b, o, d.subxacts);
  // ParsePrepareRecord leaves tsId zero.
  if (d.invalidations.length > 0) o = putText(b, o, formatInvalidations(d.invalidations, d.dbId, 0, d.initFileInval));
  if (d.originId !== 0) o = putOrigin(b, o, d.originId, { lsn: d.originLsn, timestamp: d.originTimestamp });
  return o;
}

/** xact_desc */
export function putXact(b: Uint8Array, o: number, d: XactRecord): number {
  switch (d.kind) {
    case 'xact.commit':
    case 'xact.commitPrepared':
      return putCommit(b, o, d);
    case 'xact.abort':
    case 'xact.abortPrepared':
      return putAbort(b, o, d);
    case 'xact.prepare':
      return putPrepare(b, o, d);
    case 'xact.assignment':
      o = putLiteral(b, o, T.xtop);
      o = putUint(b, o, d.xtop);
      o = putLiteral(b, o, T.subxacts);
      return putXidList(b, o, d.xsub);
    case 'xact.invalidations':
      return putText(b, o, formatInvalidations(d.invalidations, 0, 0, false));
  }
}
