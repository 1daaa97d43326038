/**
 * Full-page images: from what a block reference stores (compressed, or with the page's unused
 * middle cut out) back to an 8 KiB page. Mirrors xlogreader.c's RestoreBlockImage.
 *
 * pglz is PostgreSQL's own format, decoded here (pg_lzcompress.c's pglz_decompress); so is LZ4 (bare
 * blocks, as LZ4_compress_default writes them; lz4.ts). zstd frames use fzstd. All three are plain
 * JavaScript: redo also runs in a worker process where native addons are refused (src/redo/worker/).
 */
import { decompress as zstdDecompress } from 'fzstd';
import { BKPIMAGE_COMPRESS_LZ4, BKPIMAGE_COMPRESS_PGLZ, BKPIMAGE_COMPRESS_ZSTD, BKPIMAGE_COMPRESSED_MASK, BLCKSZ } from '../pg/constants.js';
import { formatLsn, type Lsn } from '../pg/lsn.js';
import { WalDecodeError } from './errors.js';
import { lz4DecompressBlock } from './lz4.js';
import type { BlockRef } from './record.js';

/**
 * pglz_decompress with check_complete: decodes `src` into exactly `rawSize` bytes, or returns null
 * when the input is corrupt or does not fill the output exactly.
 */
export function pglzDecompress(src: Uint8Array, rawSize: number): Uint8Array | null {
  const dest = new Uint8Array(rawSize);
  let sp = 0;
  let dp = 0;
  const srcEnd = src.length;
  while (sp < srcEnd && dp < rawSize) {
    let ctrl = src[sp++]!;
    for (let c = 0; c < 8 && sp < srcEnd && dp < rawSize; c++) {
      if ((ctrl & 1) !== 0) {
        // A match tag: length - 3 in the low nibble, a 12-bit offset back into the output.
        if (sp + 2 > srcEnd) return null;
        const b0 = src[sp]!;
        let len = (b0 & 0x0f) + 3;
        const off = ((b0 & 0xf0) << 4) | src[sp + 1]!;
        sp += 2;
        if (len === 18) {
          if (sp >= srcEnd) return null;
          len += src[sp++]!;
        }
        if (off === 0 || off > dp) return null;
        len = Math.min(len, rawSize - dp);
        // Overlapping copies repeat the last `off` bytes, as the format intends.
        if (off >= len) {
          dest.copyWithin(dp, dp - off, dp - off + len);
          dp += len;
        } else {
          for (let i = 0; i < len; i++, dp++) dest[dp] = dest[dp - off]!;
        }
      } else {
        dest[dp++] = src[sp++]!;
      }
      ctrl >>= 1;
    }
  }
  if (dp !== rawSize || sp !== srcEnd) return null;
  return dest;
}

function zstdDecompressExact(src: Uint8Array, rawSize: number): Uint8Array | null {
  try {
    const out = zstdDecompress(src, new Uint8Array(rawSize));
    return out.length === rawSize ? out : null;
  } catch {
    return null;
  }
}

/**
 * The page a block reference's image stands for. Throws BAD_IMAGE (naming the LSN and block id) when
 * the block has no image or its image does not decompress to the expected size.
 */
export function restoreBlockImage(block: BlockRef, lsn: Lsn): Uint8Array {
  const fail = (why: string): never => {
    throw new WalDecodeError('BAD_IMAGE', `could not restore image at ${formatLsn(lsn)}, block ${block.id}: ${why}`, lsn);
  };
  if (!block.hasImage) fail('the block reference has no image');
  const rawSize = BLCKSZ - block.holeLength;
  let raw: Uint8Array | null = block.image;
  const method = block.bimgInfo & BKPIMAGE_COMPRESSED_MASK;
  if (method !== 0) {
    if ((method & BKPIMAGE_COMPRESS_PGLZ) !== 0) raw = pglzDecompress(block.image, rawSize);
    else if ((method & BKPIMAGE_COMPRESS_LZ4) !== 0) raw = lz4DecompressBlock(block.image, rawSize);
    else if ((method & BKPIMAGE_COMPRESS_ZSTD) !== 0) raw = zstdDecompressExact(block.image, rawSize);
    if (raw === null) fail(`the ${method === BKPIMAGE_COMPRESS_PGLZ ? 'pglz' : method === BKPIMAGE_COMPRESS_LZ4 ? 'lz4' : 'zstd'} data is corrupt`);
  }
  if (raw!.length !== rawSize) fail(`image is ${raw!.length} bytes, expected ${rawSize}`);
  const page = new Uint8Array(BLCKSZ);
  if (block.holeLength === 0) {
    page.set(raw!, 0);
  } else {
    page.set(raw!.subarray(0, block.holeOffset), 0);
    page.set(raw!.subarray(block.holeOffset), block.holeOffset + block.holeLength);
  }
  return page;
}
