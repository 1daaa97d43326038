/**
 * PostgreSQL's page layout (bufpage.h) and the page routines redo needs (bufpage.c), over plain
 * 8 KiB byte arrays: header fields, line pointers, adding, deleting and overwriting items,
 * repairing fragmentation, truncating the line-pointer array. Each routine names the PostgreSQL
 * function it mirrors and produces the same bytes.
 *
 * PageHeaderData (24 bytes):
 *   0  pd_lsn (xlogid u32, xrecoff u32)   8 pd_checksum u16   10 pd_flags u16
 *   12 pd_lower u16   14 pd_upper u16   16 pd_special u16   18 pd_pagesize_version u16
 *   20 pd_prune_xid u32, then the ItemIdData array (u32 each: lp_off:15, lp_flags:2, lp_len:15).
 */
import { BLCKSZ } from '../pg/constants.js';

export const PD_LSN = 0;
export const PD_CHECKSUM = 8;
export const PD_FLAGS = 10;
export const PD_LOWER = 12;
export const PD_UPPER = 14;
export const PD_SPECIAL = 16;
export const PD_PAGESIZE_VERSION = 18;
export const PD_PRUNE_XID = 20;

function u16(p: Uint8Array, o: number): number {
  return p[o]! | (p[o + 1]! << 8);
}

function u32(p: Uint8Array, o: number): number {
  return (p[o]! | (p[o + 1]! << 8) | (p[o + 2]! << 16) | (p[o + 3]! << 24)) >>> 0;
}

function setU32(p: Uint8Array, o: number, v: number): void {
  p[o] = v & 0xff;
  p[o + 1] = (v >>> 8) & 0xff;
  p[o + 2] = (v >>> 16) & 0xff;
  p[o + 3] = (v >>> 24) & 0xff;
}

/** A zeroed page: what a relation extension, or WILL_INIT, starts from. */
export function newPage(): Uint8Array {
  return new Uint8Array(BLCKSZ);
}

/** PageGetLSN, as an exact number. */
export function pageLsn(p: Uint8Array): number {
  return u32(p, PD_LSN) * 0x1_0000_0000 + u32(p, PD_LSN + 4);
}

/** PageSetLSN */
export function setPageLsn(p: Uint8Array, lsn: number): void {
  setU32(p, PD_LSN, Math.floor(lsn / 0x1_0000_0000));
  setU32(p, PD_LSN + 4, lsn % 0x1_0000_0000);
}

/** PageIsNew: pd_upper is zero on a page nobody has initialised. */
export function pageIsNew(p: Uint8Array): boolean {
  return u16(p, PD_UPPER) === 0;
}
