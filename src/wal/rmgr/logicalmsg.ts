/**
 * Logical decoding messages (replication/logical/message.c, logicalmsgdesc.c):
 * pg_logical_emit_message's prefix and payload. Redo does nothing with them; they are there for
 * logical decoding.
 */
import { XLR_RMGR_INFO_MASK } from '../../pg/constants.js';
import type { ByteReader } from '../../pg/bytes.js';
import { RM_LOGICALMSG_ID } from '../../pg/rmgr-ids.js';
import type { Oid } from '../../pg/types.js';
import { NO_BLOCKS, NO_EFFECTS, type BlockUse, type Effect } from '../describe.js';
import type { WalRecord } from '../record.js';
import { malformedPayload, rmgrInfo, unknownType, withMainData, type RmgrModule, putVia } from './rmgr.js';

export const XLOG_LOGICAL_MESSAGE = 0x00;

/** xl_logical_message: dbId@0, transactional@4, prefix_size@8, message_size@16, message@24. */
export interface LogicalMessage {
  readonly kind: 'logicalmsg.message';
  readonly dbId: Oid;
  readonly transactional: boolean;
  /** The prefix, up to its NUL (prefix_size counts the NUL). */
  readonly prefix: string;
  readonly payload: Uint8Array;
  readonly blocks: readonly BlockUse[];
  readonly effects: readonly Effect[];
}

export type LogicalMsgRecord = LogicalMessage;

/** A Size field as a number; a size beyond the record cannot be right. */
function readSize(record: WalRecord, r: ByteReader, what: string): number {
  const n = r.u64(what);
  if (n > BigInt(r.remaining)) malformedPayload(record, `${what} ${n} exceeds the ${r.remaining} bytes that follow`);
  return Number(n);
}

/** Decodes what logicalmsg_desc (and logical decoding) reads. */
function describe(record: WalRecord): LogicalMsgRecord {
  if (rmgrInfo(record) !== XLOG_LOGICAL_MESSAGE) return unknownType(record);
  return withMainData(record, (r) => {
    const dbId = r.u32('dbId') as Oid;
    const transactional = r.bool('transactional');
    r.skip(3);
    const prefixSize = readSize(record, r, 'prefix_size');
    const messageSize = readSize(record, r, 'message_size');
    const prefixBytes = r.bytesView(prefixSize, 'prefix');
    const nul = prefixBytes.indexOf(0);
    const prefix = Buffer.from(prefixBytes.subarray(0, nul < 0 ? prefixSize : nul)).toString('utf8');
    const payload = r.bytesView(messageSize, 'message');
    return { kind: 'logicalmsg.message', dbId, transactional, prefix, payload, blocks: NO_BLOCKS, effects: NO_EFFECTS };
  });
}

/** logicalmsg_desc: the payload as space-separated %02X bytes. */
function format(d: LogicalMsgRecord): string {
  const hex = Buffer.from(d.payload.buffer, d.payload.byteOffset, d.payload.byteLength).toString('hex').toUpperCase();
  const bytes = hex.length === 0 ? '' : hex.replace(/(..)(?!$)/g, '$1 ');
  return `${d.transactional ? 'transactional' : 'non-transactional'}, prefix "${d.prefix}"; payload (${d.payload.length} bytes): ${bytes}`;
}

export const logicalMsgRmgr: RmgrModule<LogicalMsgRecord> = {
  id: RM_LOGICALMSG_ID,
  name: 'LogicalMessage',
  identify: (info) => ((info & XLR_RMGR_INFO_MASK) === XLOG_LOGICAL_MESSAGE ? 'MESSAGE' : undefined),
  describe,
  put: putVia(format),
};
