/**
 * Sequence records (RM_SEQ_ID): every nextval that runs past the logged values, setval and ALTER
 * SEQUENCE write the sequence's one tuple whole, and redo rebuilds the sequence's only page from it.
 *
 * Mirrors seqdesc.c (seq_identify, seq_desc) and reads what sequence.c's seq_redo reads: the
 * relation and the tuple after it in the main data. The tuple's FormData_pg_sequence_data fields
 * (last_value, log_cnt, is_called) are decoded too, for readers that want the sequence's state.
 */
import { RM_SEQ_ID } from '../../pg/rmgr-ids.js';
import type { Oid, RelFileNode } from '../../pg/types.js';
import { NO_EFFECTS, type DescriptionBase } from '../describe.js';
import type { WalRecord } from '../record.js';
import { blockUses, malformedPayload, rmgrInfo, unknownType, withBytes, withMainData, type RmgrModule, putVia } from './rmgr.js';

export const XLOG_SEQ_LOG = 0x00;

/** offsetof(HeapTupleHeaderData, t_hoff) */
const T_HOFF_OFFSET = 22;

/** XLOG_SEQ_LOG (seq_redo). Block 0: the sequence's page, rebuilt from scratch around `tuple`. */
export interface SeqLog extends DescriptionBase {
  readonly kind: 'seq.log';
  readonly rel: RelFileNode;
  /** The whole heap tuple redo adds at FirstOffsetNumber, a view into the record. */
  readonly tuple: Uint8Array;
  readonly lastValue: bigint;
  readonly logCnt: bigint;
  readonly isCalled: boolean;
}

export type SeqRecord = SeqLog;

function describe(record: WalRecord): SeqRecord {
  if (rmgrInfo(record) !== XLOG_SEQ_LOG) return unknownType(record);
  const { rel, tuple } = withMainData(record, (r) => {
    const rel: RelFileNode = { spcNode: r.u32('node.spcNode') as Oid, dbNode: r.u32('node.dbNode') as Oid, relNode: r.u32('node.relNode') as Oid };
    return { rel, tuple: r.bytesView(r.remaining, 'sequence tuple') };
  });
  const fields = withBytes(record, tuple, 'sequence tuple', (r) => {
    r.skip(T_HOFF_OFFSET, 'tuple header');
    const hoff = r.u8('t_hoff');
    if (hoff < T_HOFF_OFFSET + 1) malformedPayload(record, `sequence tuple t_hoff is ${hoff}, less than the tuple header`);
    r.seek(hoff);
    return { lastValue: r.i64('last_value'), logCnt: r.i64('log_cnt'), isCalled: r.bool('is_called') };
  });
  if (record.blocks[0] === undefined) malformedPayload(record, 'LOG needs block reference 0, which is missing');
  return { kind: 'seq.log', rel, tuple, ...fields, blocks: blockUses(record, [[0, 'seq', true]]), effects: NO_EFFECTS };
}

/** seq_desc */
function format(d: SeqRecord): string {
  return `rel ${d.rel.spcNode}/${d.rel.dbNode}/${d.rel.relNode}`;
}

export const seqRmgr: RmgrModule<SeqRecord> = {
  id: RM_SEQ_ID,
  name: 'Sequence',
  /** seq_identify */
  identify: (info) => ((info & 0xf0) === XLOG_SEQ_LOG ? 'LOG' : undefined),
  describe,
  put: putVia(format),
};
