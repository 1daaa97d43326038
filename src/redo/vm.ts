/**
 * The visibility map's bits (visibilitymap.c): two bits per heap block, after the page header.
 * Heap records clear them without referencing the VM page (a 'vm.clear' effect, applied here), and
 * truncating a heap clears the bits past its new end on the last VM page.
 */
import { BLCKSZ } from '../pg/constants.js';

/** MAPSIZE: the bytes of a VM page after the MAXALIGNed header. */
const MAPSIZE = BLCKSZ - 24;
const HEAPBLOCKS_PER_BYTE = 4;
export const HEAPBLOCKS_PER_PAGE = MAPSIZE * HEAPBLOCKS_PER_BYTE;
const MAP_OFFSET = 24;

export const VISIBILITYMAP_ALL_VISIBLE = 0x01;
export const VISIBILITYMAP_ALL_FROZEN = 0x02;
export const VISIBILITYMAP_VALID_BITS = 0x03;

/** HEAPBLK_TO_MAPBLOCK */
export function vmPageOf(heapBlock: number): number {
  return Math.floor(heapBlock / HEAPBLOCKS_PER_PAGE);
}

/** visibilitymap_clear: clears `flags` of `heapBlock` on its VM page `page`. */
export function vmClear(page: Uint8Array, heapBlock: number, flags: number): void {
  const inPage = heapBlock % HEAPBLOCKS_PER_PAGE;
  const byte = MAP_OFFSET + Math.floor(inPage / HEAPBLOCKS_PER_BYTE);
  const shift = (inPage % HEAPBLOCKS_PER_BYTE) * 2;
  page[byte] = page[byte]! & ~((flags & VISIBILITYMAP_VALID_BITS) << shift);
}

/** visibilitymap_set's bit change (the LSN is the caller's): sets `flags` of `heapBlock`. */
export function vmSet(page: Uint8Array, heapBlock: number, flags: number): void {
  const inPage = heapBlock % HEAPBLOCKS_PER_PAGE;
  const byte = MAP_OFFSET + Math.floor(inPage / HEAPBLOCKS_PER_BYTE);
  const shift = (inPage % HEAPBLOCKS_PER_BYTE) * 2;
  page[byte] = page[byte]! | ((flags & VISIBILITYMAP_VALID_BITS) << shift);
}

/**
 * visibilitymap_prepare_truncate on the VM page holding heap block `heapBlocks` (the new length):
 * the bits of that block and every later one on the page are cleared.
 */
export function vmTruncate(page: Uint8Array, heapBlocks: number): void {
  const inPage = heapBlocks % HEAPBLOCKS_PER_PAGE;
  if (inPage === 0) return; // the whole page goes; nothing to keep
  const byte = MAP_OFFSET + Math.floor(inPage / HEAPBLOCKS_PER_BYTE);
  const bits = (inPage % HEAPBLOCKS_PER_BYTE) * 2;
  // Keep the bits below the truncation point in the first partial byte, clear the rest of the map.
  page[byte] = page[byte]! & ((1 << bits) - 1);
  page.fill(0, byte + 1, BLCKSZ);
}
