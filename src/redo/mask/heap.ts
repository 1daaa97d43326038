/**
 * heap_mask (heapam.c): how a heap page is masked before strata's redo of a Heap or Heap2 record
 * is compared with PostgreSQL's after-image. On top of the shared masks: tuple hint bits (unless
 * xmin is frozen, then only the xmax hints), the command id (redo writes FirstCommandId), a
 * speculative insertion's token in t_ctid, and the padding after each item.
 */
import { BLCKSZ } from '../../pg/constants.js';
import { RedoError } from '../errors.js';
import { LP_NORMAL, itemIdFlags, itemIdLength, itemIdOffset, maxAlign, pageMaxOffset } from '../page.js';
import { MASK_MARKER, mask_page_hint_bits, mask_page_lsn_and_checksum, mask_unused_space } from './common.js';

// HeapTupleHeaderData field offsets (htup_details.h)
const T_CID = 8;
const T_CTID = 12;
const T_INFOMASK = 20;
/** The header bytes heap_mask reads or writes: up to t_infomask. */
const HEADER_BYTES_TOUCHED = T_INFOMASK + 2;

const HEAP_XMIN_FROZEN = 0x0300;
const HEAP_XMAX_COMMITTED = 0x0400;
const HEAP_XMAX_INVALID = 0x0800;
/** HEAP_XACT_MASK: the visibility bits, hints among them. */
const HEAP_XACT_MASK = 0xfff0;
/** SpecTokenOffsetNumber: t_ctid's offset while a speculative insertion is unconfirmed. */
const SPEC_TOKEN_OFFSET_NUMBER = 0xfffe;

function corruptItem(off: number, why: string): RedoError {
  return new RedoError('CORRUPT_PAGE', `Cannot mask heap item ${off}: ${why}`);
}

/** heap_mask */
export function heap_mask(page: Uint8Array, blkno: number): void {
  mask_page_lsn_and_checksum(page);
  mask_page_hint_bits(page);
  mask_unused_space(page);
  const maxoff = pageMaxOffset(page);
  for (let off = 1; off <= maxoff; off++) {
    const item = itemIdOffset(page, off);
    const len = itemIdLength(page, off);
    if (itemIdFlags(page, off) === LP_NORMAL) {
      if (item + HEADER_BYTES_TOUCHED > BLCKSZ) throw corruptItem(off, `its tuple header at ${item} runs past the page`);
      let infomask = page[item + T_INFOMASK]! | (page[item + T_INFOMASK + 1]! << 8);
      if ((infomask & HEAP_XMIN_FROZEN) !== HEAP_XMIN_FROZEN) infomask &= ~HEAP_XACT_MASK;
      else infomask &= ~(HEAP_XMAX_INVALID | HEAP_XMAX_COMMITTED);
      page[item + T_INFOMASK] = infomask & 0xff;
      page[item + T_INFOMASK + 1] = infomask >>> 8;
      page.fill(MASK_MARKER, item + T_CID, item + T_CID + 4);
      const posid = page[item + T_CTID + 4]! | (page[item + T_CTID + 5]! << 8);
      if (posid === SPEC_TOKEN_OFFSET_NUMBER) {
        // ItemPointerSet(&t_ctid, blkno, off): bi_hi, bi_lo, ip_posid.
        const hi = Math.floor(blkno / 0x10000) & 0xffff;
        const lo = blkno & 0xffff;
        const bytes = [hi & 0xff, hi >>> 8, lo & 0xff, lo >>> 8, off & 0xff, off >>> 8];
        page.set(bytes, item + T_CTID);
      }
    }
    if (len !== 0) {
      const end = item + maxAlign(len);
      if (end > BLCKSZ) throw corruptItem(off, `its ${len} bytes at ${item} run past the page`);
      page.fill(MASK_MARKER, item + len, end);
    }
  }
}
