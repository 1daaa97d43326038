/**
 * SP-GiST's page format for redo (spgist_private.h): the special space, leaf, inner and dead
 * tuples, and the page routines spgxlog.c shares with spgutils.c and spgdoinsert.c. `rmgr/spgist.ts`
 * applies records with these; each routine names the PostgreSQL one it mirrors.
 *
 * SpGistPageOpaqueData (8 bytes at pd_special):
 *   0 flags u16   2 nRedirection u16   4 nPlaceholder u16   6 spgist_page_id u16 (0xFF82)
 * SpGistLeafTupleData: 0 word (tupstate in bits 0-1, size in bits 2-31)   4 t_info u16 (nextOffset
 *   in the low 14 bits)   6 heapPtr (ItemPointerData)
 * SpGistDeadTupleData (SGDTSIZE 16): 0 word as a leaf's   4 t_info u16   6 pointer (ItemPointerData)
 *   12 xid u32
 * SpGistInnerTupleData: 0 word (tupstate bits 0-1, allTheSame bit 2, nNodes bits 3-15, prefixSize
 *   bits 16-31)   4 size u16; the prefix at 8 (SGITHDRSZ), then nNodes node tuples (IndexTuples).
 *
 * A page that does not hold what these routines read throws RedoError CORRUPT_PAGE (without an
 * LSN: the redo module adds the record's).
 */
import { BLCKSZ } from '../pg/constants.js';
import { RedoError } from './errors.js';
import { pageAddItem, pageIndexMultiDelete, pageIndexTupleDelete, pageInit, pageItem, pageMaxOffset, pageSpecial } from './page.js';
import { setU16, setU32, u16, u32 } from './page-layout.js';

export const SPGIST_META = 1 << 0;
export const SPGIST_LEAF = 1 << 2;
export const SPGIST_NULLS = 1 << 3;
export const SPGIST_PAGE_ID = 0xff82;
/** sizeof(SpGistPageOpaqueData) */
export const SPGIST_OPAQUE_SIZE = 8;

export const SPGIST_LIVE = 0;
export const SPGIST_REDIRECT = 1;
export const SPGIST_DEAD = 2;
export const SPGIST_PLACEHOLDER = 3;

/** SGDTSIZE: MAXALIGN(sizeof(SpGistDeadTupleData)). */
export const SGDT_SIZE = 16;
/** SGITHDRSZ: MAXALIGN(sizeof(SpGistInnerTupleData)). */
const SGIT_HDR_SIZE = 8;
const INVALID_BLOCK_NUMBER = 0xffff_ffff;

function corruptPage(why: string): RedoError {
  return new RedoError('CORRUPT_PAGE', why);
}

/** SpGistPageGetOpaque: where the special space starts, checked to hold a SpGistPageOpaqueData. */
function opaqueAt(page: Uint8Array): number {
  const special = pageSpecial(page);
  if (special < 24 || special + SPGIST_OPAQUE_SIZE > BLCKSZ) throw corruptPage(`its pd_special ${special} leaves no room for a SpGistPageOpaqueData`);
  return special;
}

export function spgFlags(page: Uint8Array): number {
  return u16(page, opaqueAt(page));
}

export function spgNRedirection(page: Uint8Array): number {
  return u16(page, opaqueAt(page) + 2);
}

export function spgNPlaceholder(page: Uint8Array): number {
  return u16(page, opaqueAt(page) + 4);
}

/** nRedirection += delta, as uint16 arithmetic wraps in C. */
export function addNRedirection(page: Uint8Array, delta: number): void {
  const o = opaqueAt(page) + 2;
  setU16(page, o, (u16(page, o) + delta) & 0xffff);
}

/** nPlaceholder += delta, as uint16 arithmetic wraps in C. */
export function addNPlaceholder(page: Uint8Array, delta: number): void {
  const o = opaqueAt(page) + 4;
  setU16(page, o, (u16(page, o) + delta) & 0xffff);
}

/** SpGistInitPage / SpGistInitBuffer */
export function spgInitPage(page: Uint8Array, flags: number): void {
  pageInit(page, SPGIST_OPAQUE_SIZE);
  const o = opaqueAt(page);
  setU16(page, o, flags);
  setU16(page, o + 6, SPGIST_PAGE_ID);
}

/** Item `offnum` of the page, at least `min` bytes long (the fields the caller touches). */
export function spgItem(page: Uint8Array, offnum: number, min: number, what: string): Uint8Array {
  const max = pageMaxOffset(page);
  if (offnum < 1 || offnum > max) throw corruptPage(`${what}: it has no item at offset ${offnum} (max offset ${max})`);
  const item = pageItem(page, offnum);
  if (item.length < min) throw corruptPage(`${what}: item ${offnum} is ${item.length} bytes, less than the ${min} needed`);
  return item;
}

/** The tupstate of a tuple (leaf, inner or dead): the low 2 bits of its first word. */
export function tupState(t: Uint8Array): number {
  return t[0]! & 0x3;
}

function setItemPointer(t: Uint8Array, at: number, blkno: number, offnum: number): void {
  setU16(t, at, blkno >>> 16);
  setU16(t, at + 2, blkno & 0xffff);
  setU16(t, at + 4, offnum);
}

/** spgFormDeadTuple: a REDIRECT to (blkno, offnum) by `xid`, or a DEAD / PLACEHOLDER tuple. */
export function spgFormDeadTuple(tupstate: number, blkno: number, offnum: number, xid: number): Uint8Array {
  const t = new Uint8Array(SGDT_SIZE);
  setU32(t, 0, ((SGDT_SIZE << 2) | tupstate) >>> 0);
  setU16(t, 4, 0);
  if (tupstate === SPGIST_REDIRECT) {
    setItemPointer(t, 6, blkno, offnum);
    setU32(t, 12, xid);
  } else {
    setItemPointer(t, 6, INVALID_BLOCK_NUMBER, 0);
    setU32(t, 12, 0);
  }
  return t;
}

/** A dead tuple turned into a placeholder in place (spgRedoVacuumRedirect). */
export function makePlaceholder(t: Uint8Array): void {
  t[0] = (t[0]! & ~0x3) | SPGIST_PLACEHOLDER;
  setItemPointer(t, 6, INVALID_BLOCK_NUMBER, 0);
}

/** SGLT_SET_NEXTOFFSET */
export function setLeafNextOffset(t: Uint8Array, offnum: number): void {
  setU16(t, 4, (u16(t, 4) & 0xc000) | (offnum & 0x3fff));
}

/** SpGistLeafTupleData.size */
export function leafTupleSize(t: Uint8Array): number {
  return u32(t, 0) >>> 2;
}

/** SpGistInnerTupleData.size */
export function innerTupleSize(t: Uint8Array): number {
  return u16(t, 4);
}

/** spgUpdateNodeLink: node `nodeN` of inner tuple `tup` now points at (blkno, offnum). */
export function spgUpdateNodeLink(tup: Uint8Array, nodeN: number, blkno: number, offnum: number): void {
  if (tup.length < SGIT_HDR_SIZE) throw corruptPage(`an inner tuple of ${tup.length} bytes is shorter than its header`);
  const word = u32(tup, 0);
  const nNodes = (word >>> 3) & 0x1fff;
  const prefixSize = word >>> 16;
  let at = SGIT_HDR_SIZE + prefixSize;
  for (let i = 0; i < nNodes; i++) {
    if (at + 8 > tup.length) throw corruptPage(`node ${i} of an inner tuple of ${tup.length} bytes lies outside it`);
    if (i === nodeN) {
      setItemPointer(tup, at, blkno, offnum);
      return;
    }
    const size = u16(tup, at + 6) & 0x1fff;
    if (size < 8) throw corruptPage(`node ${i} of an inner tuple has size ${size}`);
    at += size;
  }
  throw corruptPage(`failed to find requested node ${nodeN} in SPGiST inner tuple`);
}

/** PageAddItem at exactly `offnum`, or the "failed to add item" error. */
export function spgAddItemAt(page: Uint8Array, item: Uint8Array, offnum: number): void {
  if (pageAddItem(page, item, offnum, false, false) !== offnum)
    throw corruptPage(`failed to add item of size ${item.length} to SPGiST index page at offset ${offnum}`);
}

/** spgxlog.c's addOrReplaceTuple: a placeholder at `offnum` is replaced, or the tuple goes there. */
export function addOrReplaceTuple(page: Uint8Array, tuple: Uint8Array, offnum: number): void {
  if (offnum >= 1 && offnum <= pageMaxOffset(page)) {
    const dt = spgItem(page, offnum, 4, 'addOrReplaceTuple');
    if (tupState(dt) !== SPGIST_PLACEHOLDER) throw corruptPage('SPGiST tuple to be replaced is not a placeholder');
    addNPlaceholder(page, -1);
    pageIndexTupleDelete(page, offnum);
  }
  spgAddItemAt(page, tuple, offnum);
}

/** spgxlog.c's fillFakeState: what spgFormDeadTuple reads from the SpGistState. */
export interface FakeState {
  readonly myXid: number;
  readonly isBuild: boolean;
}

/**
 * spgPageIndexMultiDelete: items `itemnos` replaced by dead tuples, the first listed one of state
 * `firstState`, the rest `restState`, with the redirection counters kept.
 */
export function spgPageIndexMultiDelete(
  page: Uint8Array,
  state: FakeState,
  itemnos: readonly number[],
  firstState: number,
  restState: number,
  blkno: number,
  offnum: number,
): void {
  if (itemnos.length === 0) return;
  const sorted = [...itemnos].sort((a, b) => a - b);
  pageIndexMultiDelete(page, sorted);
  const firstItem = itemnos[0];
  for (const itemno of sorted) {
    const tupstate = itemno === firstItem ? firstState : restState;
    spgAddItemAt(page, spgFormDeadTuple(tupstate, blkno, offnum, state.myXid), itemno);
    if (tupstate === SPGIST_REDIRECT) addNRedirection(page, 1);
    else if (tupstate === SPGIST_PLACEHOLDER) addNPlaceholder(page, 1);
  }
}
