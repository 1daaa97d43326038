/**
 * BRIN records (RM_BRIN_ID): access/brin_xlog.h, described as brindesc.c does and decoded as far as
 * brin_xlog.c's redo reads them.
 *
 * The high bit of the rmgr info (XLOG_BRIN_INIT_PAGE) says an insert or cross-page update put the
 * first tuple on a fresh regular page, which redo initializes. An insert or update also points the
 * range's revmap entry at the new tuple (block 1 'revmap', registered without an image).
 */
import { RM_BRIN_ID } from '../../pg/rmgr-ids.js';
import type { BlockNumber } from '../../pg/types.js';
import { NO_EFFECTS, type DescriptionBase } from '../describe.js';
import type { WalRecord } from '../record.js';
import { withBlockData } from './index-am.js';
import { blockUses, rmgrInfo, unknownType, withMainData, type RmgrModule, putVia } from './rmgr.js';

export const XLOG_BRIN_CREATE_INDEX = 0x00;
export const XLOG_BRIN_INSERT = 0x10;
export const XLOG_BRIN_UPDATE = 0x20;
export const XLOG_BRIN_SAMEPAGE_UPDATE = 0x30;
export const XLOG_BRIN_REVMAP_EXTEND = 0x40;
export const XLOG_BRIN_DESUMMARIZE = 0x50;
export const XLOG_BRIN_OPMASK = 0x70;
export const XLOG_BRIN_INIT_PAGE = 0x80;

/** brin_identify: the INIT_PAGE bit is only named for INSERT and UPDATE. */
const NAMES: Readonly<Record<number, string>> = {
  [XLOG_BRIN_CREATE_INDEX]: 'CREATE_INDEX',
  [XLOG_BRIN_INSERT]: 'INSERT',
  [XLOG_BRIN_INSERT | XLOG_BRIN_INIT_PAGE]: 'INSERT+INIT',
  [XLOG_BRIN_UPDATE]: 'UPDATE',
  [XLOG_BRIN_UPDATE | XLOG_BRIN_INIT_PAGE]: 'UPDATE+INIT',
  [XLOG_BRIN_SAMEPAGE_UPDATE]: 'SAMEPAGE_UPDATE',
  [XLOG_BRIN_REVMAP_EXTEND]: 'REVMAP_EXTEND',
  [XLOG_BRIN_DESUMMARIZE]: 'DESUMMARIZE',
};

/** Block 0 'meta' (initialized). */
export interface BrinCreateIndex extends DescriptionBase {
  readonly kind: 'brin.createIndex';
  readonly pagesPerRange: number;
  readonly version: number;
}

/** Block 0 'regular' (initialized when initPage; data: the BrinTuple), block 1 'revmap'. */
export interface BrinInsert extends DescriptionBase {
  readonly kind: 'brin.insert';
  readonly initPage: boolean;
  readonly heapBlk: BlockNumber;
  readonly pagesPerRange: number;
  readonly offnum: number;
  /** Undefined when block 0 is restored from an image. */
  readonly tuple: Uint8Array | undefined;
}

/** As INSERT for block 0 'new' and block 1 'revmap', and block 2 'old' loses oldOffnum. */
export interface BrinUpdate extends DescriptionBase {
  readonly kind: 'brin.update';
  readonly initPage: boolean;
  readonly oldOffnum: number;
  readonly heapBlk: BlockNumber;
  readonly pagesPerRange: number;
  readonly offnum: number;
  readonly tuple: Uint8Array | undefined;
}

/** Block 0 'regular' (data: the BrinTuple that overwrites offnum). */
export interface BrinSamepageUpdate extends DescriptionBase {
  readonly kind: 'brin.samepageUpdate';
  readonly offnum: number;
  readonly tuple: Uint8Array | undefined;
}

/** Block 0 'meta' (lastRevmapPage = targetBlk), block 1 'revmap' (initialized). */
export interface BrinRevmapExtend extends DescriptionBase {
  readonly kind: 'brin.revmapExtend';
  readonly targetBlk: BlockNumber;
}

/** Block 0 'revmap' (the range's entry cleared), block 1 'regular' (regOffset deleted). */
export interface BrinDesummarize extends DescriptionBase {
  readonly kind: 'brin.desummarize';
  readonly pagesPerRange: number;
  readonly heapBlk: BlockNumber;
  readonly regOffset: number;
}

export type BrinRecord = BrinCreateIndex | BrinInsert | BrinUpdate | BrinSamepageUpdate | BrinRevmapExtend | BrinDesummarize;

const tupleOf = (record: WalRecord) => withBlockData(record, 0, (b) => b.bytesView(b.remaining, 'BrinTuple'));

/** Mirrors brin_redo's dispatch (on info & XLOG_BRIN_OPMASK) with the fields each routine reads. */
function describe(record: WalRecord): BrinRecord {
  const info = rmgrInfo(record);
  const initPage = (info & XLOG_BRIN_INIT_PAGE) !== 0;
  switch (info & XLOG_BRIN_OPMASK) {
    case XLOG_BRIN_CREATE_INDEX:
      return withMainData(record, (r) => ({
        kind: 'brin.createIndex',
        pagesPerRange: r.u32('pagesPerRange'),
        version: r.u16('version'),
        blocks: blockUses(record, [[0, 'meta', true]]),
        effects: NO_EFFECTS,
      }));
    case XLOG_BRIN_INSERT:
      return withMainData(record, (r) => ({
        kind: 'brin.insert',
        initPage,
        heapBlk: r.u32('heapBlk') as BlockNumber,
        pagesPerRange: r.u32('pagesPerRange'),
        offnum: r.u16('offnum'),
        tuple: tupleOf(record),
        blocks: blockUses(record, [
          [0, 'regular', initPage],
          [1, 'revmap'],
        ]),
        effects: NO_EFFECTS,
      }));
    case XLOG_BRIN_UPDATE:
      return withMainData(record, (r) => {
        const oldOffnum = r.u16('oldOffnum');
        r.skip(2);
        return {
          kind: 'brin.update',
          initPage,
          oldOffnum,
          heapBlk: r.u32('heapBlk') as BlockNumber,
          pagesPerRange: r.u32('pagesPerRange'),
          offnum: r.u16('offnum'),
          tuple: tupleOf(record),
          blocks: blockUses(record, [
            [0, 'new', initPage],
            [1, 'revmap'],
            [2, 'old'],
          ]),
          effects: NO_EFFECTS,
        };
      });
    case XLOG_BRIN_SAMEPAGE_UPDATE:
      return withMainData(record, (r) => ({
        kind: 'brin.samepageUpdate',
        offnum: r.u16('offnum'),
        tuple: tupleOf(record),
        blocks: blockUses(record, [[0, 'regular']]),
        effects: NO_EFFECTS,
      }));
    case XLOG_BRIN_REVMAP_EXTEND:
      return withMainData(record, (r) => ({
        kind: 'brin.revmapExtend',
        targetBlk: r.u32('targetBlk') as BlockNumber,
        blocks: blockUses(record, [
          [0, 'meta'],
          [1, 'revmap', true],
        ]),
        effects: NO_EFFECTS,
      }));
    case XLOG_BRIN_DESUMMARIZE:
      return withMainData(record, (r) => ({
        kind: 'brin.desummarize',
        pagesPerRange: r.u32('pagesPerRange'),
        heapBlk: r.u32('heapBlk') as BlockNumber,
        regOffset: r.u16('regOffset'),
        blocks: blockUses(record, [
          [0, 'revmap'],
          [1, 'regular'],
        ]),
        effects: NO_EFFECTS,
      }));
    default:
      return unknownType(record);
  }
}

/** Mirrors brin_desc. */
function format(d: BrinRecord): string {
  switch (d.kind) {
    case 'brin.createIndex':
      return `v${d.version} pagesPerRange ${d.pagesPerRange}`;
    case 'brin.insert':
      return `heapBlk ${d.heapBlk} pagesPerRange ${d.pagesPerRange} offnum ${d.offnum}`;
    case 'brin.update':
      return `heapBlk ${d.heapBlk} pagesPerRange ${d.pagesPerRange} old offnum ${d.oldOffnum}, new offnum ${d.offnum}`;
    case 'brin.samepageUpdate':
      return `offnum ${d.offnum}`;
    case 'brin.revmapExtend':
      return `targetBlk ${d.targetBlk}`;
    case 'brin.desummarize':
      return `pagesPerRange ${d.pagesPerRange}, heapBlk ${d.heapBlk}, page offset ${d.regOffset}`;
  }
}

export const brinRmgr: RmgrModule<BrinRecord> = {
  id: RM_BRIN_ID,
  name: 'BRIN',
  identify: (info) => NAMES[info & 0xf0],
  describe,
  put: putVia(format),
};
