/**
 * Storage manager records (catalog/storage.c, smgrdesc.c): a relation fork's file is created, or a
 * relation is truncated. Neither references a block; both are effects on relation sizes that
 * ingest must apply before the block records that follow.
 */
import { XLR_RMGR_INFO_MASK } from '../../pg/constants.js';
import type { ByteReader } from '../../pg/bytes.js';
import { RM_SMGR_ID } from '../../pg/rmgr-ids.js';
import {
  DEFAULTTABLESPACE_OID,
  FORK_NAMES,
  Fork,
  GLOBALTABLESPACE_OID,
  type BlockNumber,
  type Oid,
  type RelFileNode,
} from '../../pg/types.js';
import { NO_BLOCKS, type DescriptionBase } from '../describe.js';
import type { WalRecord } from '../record.js';
import { rmgrInfo, unknownType, withMainData, type RmgrModule, putVia } from './rmgr.js';

export const XLOG_SMGR_CREATE = 0x10;
export const XLOG_SMGR_TRUNCATE = 0x20;

/** xl_smgr_truncate.flags */
export const SMGR_TRUNCATE_HEAP = 0x0001;
export const SMGR_TRUNCATE_VM = 0x0002;
export const SMGR_TRUNCATE_FSM = 0x0004;

/** TABLESPACE_VERSION_DIRECTORY (relpath.h) for PostgreSQL 15, catalog version 202209061. */
export const TABLESPACE_VERSION_DIRECTORY = 'PG_15_202209061';

/** Reads a RelFileNode (spcNode, dbNode, relNode: 12 bytes, 4-aligned). */
export function readRelFileNode(r: ByteReader, what = 'RelFileNode'): RelFileNode {
  const spcNode = r.u32(`${what}.spcNode`) as Oid;
  const dbNode = r.u32(`${what}.dbNode`) as Oid;
  const relNode = r.u32(`${what}.relNode`) as Oid;
  return { spcNode, dbNode, relNode };
}

/** relpathperm: GetRelationPath for a permanent relation (common/relpath.c). */
export function relPathPerm(rel: RelFileNode, fork: number): string {
  const suffix = fork === Fork.Main ? '' : `_${FORK_NAMES[fork] ?? fork}`;
  if (rel.spcNode === GLOBALTABLESPACE_OID) return `global/${rel.relNode}${suffix}`;
  if (rel.spcNode === DEFAULTTABLESPACE_OID) return `base/${rel.dbNode}/${rel.relNode}${suffix}`;
  return `pg_tblspc/${rel.spcNode}/${TABLESPACE_VERSION_DIRECTORY}/${rel.dbNode}/${rel.relNode}${suffix}`;
}


/** xl_smgr_create */
export interface SmgrCreate extends DescriptionBase {
  readonly kind: 'smgr.create';
  readonly rel: RelFileNode;
  readonly fork: number;
}

/** xl_smgr_truncate */
export interface SmgrTruncate extends DescriptionBase {
  readonly kind: 'smgr.truncate';
  /** The main fork's new length; the FSM and VM are cut to cover it. */
  readonly blkno: BlockNumber;
  readonly rel: RelFileNode;
  /** SMGR_TRUNCATE_* bits. */
  readonly flags: number;
}

export type SmgrRecord = SmgrCreate | SmgrTruncate;

/** The forks smgr_redo truncates for these flags (the FSM and VM only if they exist). */
export function truncatedForks(flags: number): number[] {
  const forks: number[] = [];
  if ((flags & SMGR_TRUNCATE_HEAP) !== 0) forks.push(Fork.Main);
  if ((flags & SMGR_TRUNCATE_FSM) !== 0) forks.push(Fork.Fsm);
  if ((flags & SMGR_TRUNCATE_VM) !== 0) forks.push(Fork.VisibilityMap);
  return forks;
}

/** Decodes what smgr_redo reads. */
function describe(record: WalRecord): SmgrRecord {
  switch (rmgrInfo(record)) {
    case XLOG_SMGR_CREATE:
      return withMainData(record, (r) => {
        const rel = readRelFileNode(r, 'rnode');
        const fork = r.i32('forkNum');
        return { kind: 'smgr.create', rel, fork, blocks: NO_BLOCKS, effects: [{ kind: 'relation.create', rel, fork }] };
      });
    case XLOG_SMGR_TRUNCATE:
      return withMainData(record, (r) => {
        const blkno = r.u32('blkno') as BlockNumber;
        const rel = readRelFileNode(r, 'rnode');
        const flags = r.i32('flags');
        return {
          kind: 'smgr.truncate',
          blkno,
          rel,
          flags,
          blocks: NO_BLOCKS,
          effects: [{ kind: 'relation.truncate', rel, forks: truncatedForks(flags), blocks: blkno }],
        };
      });
    default:
      return unknownType(record);
  }
}

/** smgr_desc */
function format(d: SmgrRecord): string {
  switch (d.kind) {
    case 'smgr.create':
      return relPathPerm(d.rel, d.fork);
    case 'smgr.truncate':
      return `${relPathPerm(d.rel, Fork.Main)} to ${d.blkno} blocks flags ${d.flags}`;
  }
}

export const smgrRmgr: RmgrModule<SmgrRecord> = {
  id: RM_SMGR_ID,
  name: 'Storage',
  identify(info) {
    switch (info & XLR_RMGR_INFO_MASK) {
      case XLOG_SMGR_CREATE:
        return 'CREATE';
      case XLOG_SMGR_TRUNCATE:
        return 'TRUNCATE';
      default:
        return undefined;
    }
  },
  describe,
  put: putVia(format),
};
