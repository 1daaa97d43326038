/**
 * Data page checksums (storage/checksum_impl.h): the 16-bit pd_checksum PostgreSQL verifies on every
 * relation page it reads when the cluster was initialised with `--data-checksums`. PostgreSQL stamps
 * it when a buffer is written out (PageSetChecksumInplace), so a page made by redo or taken from a
 * full-page image carries a stale one; base backups stamp each page they send, as a server's write does.
 *
 * The algorithm: 32 interleaved FNV-1a-like sums over the page as u32 words (pd_checksum zeroed),
 * two extra rounds of zeros, the sums xor-folded, xor the block number, reduced to 1..65535.
 */
import { BLCKSZ } from './constants.js';

const N_SUMS = 32;
const FNV_PRIME = 16777619;
const PD_CHECKSUM_OFFSET = 8;
const PD_UPPER_OFFSET = 14;

/** checksumBaseOffsets (checksum_impl.h). */
const BASE_OFFSETS = new Uint32Array([
  0x5b1f36e9, 0xb8525960, 0x02ab50aa, 0x1de66d2a, 0x79ff467a, 0x9bb9f8a3, 0x217e7cd2, 0x83e13d2c,
  0xf8d4474f, 0xe39eb970, 0x42c6ae16, 0x993216fa, 0x7b093b5d, 0x98daff3c, 0xf718902a, 0x0b1c9cdb,
  0xe58f764b, 0x187636bc, 0x5d7b3bb1, 0xe73de7de, 0x92bec979, 0xcca6c0b2, 0x304a0979, 0x85aa43d4,
  0x783125bb, 0x6ca8eaa2, 0xe407eac6, 0x4b5cfc3e, 0x9fbf8c76, 0x15ca20be, 0xf2ca9fd3, 0x959bd756,
]);

const sums = new Uint32Array(N_SUMS);

/** pg_checksum_block over `page` with pd_checksum read as zero. */
function checksumBlock(page: Uint8Array): number {
  sums.set(BASE_OFFSETS);
  const view = new DataView(page.buffer, page.byteOffset, BLCKSZ);
  const rows = BLCKSZ / (4 * N_SUMS);
  for (let i = 0; i < rows; i++) {
    const row = i * N_SUMS * 4;
    for (let j = 0; j < N_SUMS; j++) {
      const o = row + j * 4;
      // The word holding pd_checksum (bytes 8..11: pd_checksum, pd_flags) with pd_checksum as zero.
      const word = o === PD_CHECKSUM_OFFSET ? view.getUint32(o, true) & 0xffff_0000 : view.getUint32(o, true);
      const tmp = ((sums[j] as number) ^ word) >>> 0;
      sums[j] = (Math.imul(tmp, FNV_PRIME) ^ (tmp >>> 17)) >>> 0;
    }
  }
  for (let round = 0; round < 2; round++) {
    for (let j = 0; j < N_SUMS; j++) {
      const tmp = sums[j] as number;
      sums[j] = (Math.imul(tmp, FNV_PRIME) ^ (tmp >>> 17)) >>> 0;
    }
  }
  let result = 0;
  for (let j = 0; j < N_SUMS; j++) result ^= sums[j] as number;
  return result >>> 0;
}

/** pg_checksum_page: the checksum of `page` as block `blkno` of its relation fork. */
export function pageChecksum(page: Uint8Array, blkno: number): number {
  if (page.length !== BLCKSZ) throw new RangeError(`Cannot checksum a page of ${page.length} bytes: a page is ${BLCKSZ}`);
  const checksum = (checksumBlock(page) ^ blkno) >>> 0;
  return (checksum % 65535) + 1;
}

/** PageIsNew: pd_upper is zero (an all-zero or never-initialised page, which carries no checksum). */
export function pageIsNew(page: Uint8Array): boolean {
  return page[PD_UPPER_OFFSET] === 0 && page[PD_UPPER_OFFSET + 1] === 0;
}

/** PageSetChecksumInplace: stamps pd_checksum on an initialised page, as a buffer write does. */
export function setPageChecksumInPlace(page: Uint8Array, blkno: number): void {
  if (pageIsNew(page)) return;
  const c = pageChecksum(page, blkno);
  page[PD_CHECKSUM_OFFSET] = c & 0xff;
  page[PD_CHECKSUM_OFFSET + 1] = c >>> 8;
}
