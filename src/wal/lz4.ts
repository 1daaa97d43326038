/**
 * LZ4 block decoding, for full-page images written with wal_compression = lz4 (PostgreSQL calls
 * LZ4_compress_default and stores the bare block, no frame and no size before it).
 *
 * Plain JavaScript on purpose: redo runs in a worker process started under Node's permission model
 * with native addons refused (src/redo/worker/), so the decoder cannot be a native addon such as
 * lz4-napi. An 8 KiB page decodes in a few microseconds here, faster than lz4-napi's call, which
 * also wants a copy of the block with a size prefix in front.
 *
 * A block is a list of sequences (lz4_Block_format.md):
 *
 *   token (1)      literal length      literals   offset (u16 LE)   match length
 *   | lit 4 | ml 4 | +255... if lit=15 | lit bytes | 1..65535        | +255... if ml=15 (ml + 4 bytes)
 *
 * The last sequence has literals only. Every length and offset is checked against the input and the
 * output before use: a corrupt block gives null, never a read or write out of range.
 */

/** The minimum match length: a token's match nibble counts from here. */
const MIN_MATCH = 4;
/** Literal runs shorter than this are copied byte by byte. */
const LITERAL_LOOP_BYTES_MAX = 32;

/**
 * LZ4_decompress_safe into exactly `rawSize` bytes: the decoded block, or null when `src` is
 * corrupt or does not decode to exactly `rawSize` bytes using all of its input.
 */
export function lz4DecompressBlock(src: Uint8Array, rawSize: number): Uint8Array | null {
  const dest = new Uint8Array(rawSize);
  const srcEnd = src.length;
  let sp = 0;
  let dp = 0;
  while (sp < srcEnd) {
    const token = src[sp++]!;
    // Literals.
    let lit = token >>> 4;
    if (lit === 15) {
      let b: number;
      do {
        if (sp >= srcEnd) return null;
        b = src[sp++]!;
        lit += b;
      } while (b === 255);
    }
    if (lit > srcEnd - sp || lit > rawSize - dp) return null;
    if (lit < LITERAL_LOOP_BYTES_MAX) {
      // Short runs by hand: a subarray view per run costs more than the copy.
      for (const end = sp + lit; sp < end; ) dest[dp++] = src[sp++]!;
    } else {
      dest.set(src.subarray(sp, sp + lit), dp);
      sp += lit;
      dp += lit;
    }
    if (sp === srcEnd) break; // the last sequence: literals only
    // Match: an offset back into the output, then its length.
    if (sp + 2 > srcEnd) return null;
    const offset = src[sp]! | (src[sp + 1]! << 8);
    sp += 2;
    if (offset === 0 || offset > dp) return null;
    let len = token & 0x0f;
    if (len === 15) {
      let b: number;
      do {
        if (sp >= srcEnd) return null;
        b = src[sp++]!;
        len += b;
      } while (b === 255);
    }
    len += MIN_MATCH;
    if (len > rawSize - dp) return null;
    if (offset >= len) {
      dest.copyWithin(dp, dp - offset, dp - offset + len);
      dp += len;
    } else if (len < LITERAL_LOOP_BYTES_MAX) {
      // An overlapping match repeats the last `offset` bytes, as the format intends.
      for (const end = dp + len; dp < end; dp++) dest[dp] = dest[dp - offset]!;
    } else {
      // A long overlapping match (a run of zeros, say): [from, dp) is always whole periods of the
      // pattern, so copying it forward keeps the pattern, in doubling chunks.
      const from = dp - offset;
      for (const end = dp + len; dp < end; ) {
        const n = Math.min(dp - from, end - dp);
        dest.copyWithin(dp, from, from + n);
        dp += n;
      }
    }
  }
  return dp === rawSize ? dest : null;
}
