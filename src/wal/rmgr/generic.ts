/**
 * Generic records (RM_GENERIC_ID): generic_xlog.c's page deltas, written by access methods that have
 * no resource manager of their own (contrib/bloom, extensions). Each referenced page's block data
 * is a list of fragments — (offset, length, bytes) — that redo copies over the page, or there is no
 * data and the block carries a full-page image (GENERIC_XLOG_FULL_IMAGE).
 *
 * Mirrors genericdesc.c (generic_identify, generic_desc) and generic_xlog.c's generic_redo /
 * applyPageRedo. generic_desc walks the record's main data, which GenericXLogFinish leaves empty, so
 * pg_waldump prints nothing after the type name; the text here is made the same way.
 */
import type { ByteReader } from '../../pg/bytes.js';
import { RM_GENERIC_ID } from '../../pg/rmgr-ids.js';
import { NO_EFFECTS, type DescriptionBase } from '../describe.js';
import type { WalRecord } from '../record.js';
import { allBlocks, withBytes, withMainData, type RmgrModule, putVia } from './rmgr.js';

/** One region of a page that redo overwrites. */
export interface GenericFragment {
  readonly offset: number;
  readonly length: number;
  /** The new bytes, a view into the record. */
  readonly data: Uint8Array;
}

/** The delta for one referenced page. */
export interface GenericPageDelta {
  readonly blockId: number;
  /** Empty when the block carries a full-page image instead. */
  readonly fragments: readonly GenericFragment[];
}

/**
 * A generic record. Redo applies each page's fragments, then zeroes the page between pd_lower and
 * pd_upper.
 */
export interface GenericRecord extends DescriptionBase {
  readonly kind: 'generic';
  readonly pages: readonly GenericPageDelta[];
  /** Fragments in the main data, which generic_desc prints; GenericXLogFinish writes none. */
  readonly mainDataFragments: readonly GenericFragment[];
}

/** applyPageRedo's walk over a delta. */
function readFragments(r: ByteReader): GenericFragment[] {
  const out: GenericFragment[] = [];
  while (r.remaining > 0) {
    const offset = r.u16('fragment offset');
    const length = r.u16('fragment length');
    out.push({ offset, length, data: r.bytesView(length, 'fragment bytes') });
  }
  return out;
}

function describe(record: WalRecord): GenericRecord {
  const pages: GenericPageDelta[] = [];
  for (const b of record.blocks) {
    if (b === undefined) continue;
    pages.push({ blockId: b.id, fragments: withBytes(record, b.data, `block ${b.id} data`, readFragments) });
  }
  return {
    kind: 'generic',
    pages,
    mainDataFragments: withMainData(record, readFragments),
    blocks: allBlocks(record, 'page'),
    effects: NO_EFFECTS,
  };
}

/** generic_desc */
function format(d: GenericRecord): string {
  return d.mainDataFragments.map((f) => `offset ${f.offset}, length ${f.length}`).join('; ');
}

export const genericRmgr: RmgrModule<GenericRecord> = {
  id: RM_GENERIC_ID,
  name: 'Generic',
  /** generic_identify: one record type. */
  identify: () => 'Generic',
  describe,
  put: putVia(format),
};
