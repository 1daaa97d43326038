/**
 * ustar (POSIX.1-1988) archive headers: the format base backups are sent in, which `tar xf` and
 * PostgreSQL's own tools read (pg_basebackup -Ft writes the same, src/port/tar.c tarCreateHeader).
 * strata writes the archive itself rather than through a library: it needs two header types, and
 * writing them here keeps the hot path (header, pages, padding) free of per-entry streams.
 *
 * An archive is a sequence of 512-byte blocks: for each entry a header block, then its bytes
 * padded with zeros to a block boundary; after the last entry, two zero blocks.
 *
 * ```
 *  header block (ASCII fields; numbers in octal, NUL-terminated)
 *    0 name      100   the path, or its last part when prefix is used
 *  100 mode        8   e.g. 0000600
 *  108 uid         8   124 size 12 (11 octal digits: below 8 GiB)
 *  116 gid         8   136 mtime 12 (seconds since 1970)
 *  148 chksum      8   sum of the header's bytes with this field as spaces: 6 digits, NUL, space
 *  156 typeflag    1   '0' file, '5' directory
 *  157 linkname  100
 *  257 magic       6   "ustar\0"     263 version 2 "00"
 *  265 uname      32   297 gname 32  ("postgres", as pg_basebackup writes)
 *  329 devmajor    8   337 devminor 8
 *  345 prefix    155   the path's leading folders when it passes 100 bytes
 *  500 (padding)  12
 * ```
 */

export const TAR_BLOCK_BYTES = 512;
/** The archive's end: two zero blocks. */
export const TAR_END_BYTES = 2 * TAR_BLOCK_BYTES;
/** The size field holds 11 octal digits. */
export const TAR_ENTRY_BYTES_MAX = 8 ** 11 - 1;
const NAME_BYTES = 100;
const PREFIX_BYTES = 155;

export class TarError extends Error {
  override readonly name = 'TarError';
  readonly code = 'TAR_ENTRY';
}

export type TarEntryType = 'file' | 'directory';

export interface TarEntry {
  readonly path: string;
  readonly type: TarEntryType;
  /** Bytes that follow the header (0 for a directory). */
  readonly size: number;
  /** Permission bits, e.g. 0o600. */
  readonly mode: number;
  /** Modification time, seconds since 1970. */
  readonly mtimeS: number;
}

function octal(b: Buffer, offset: number, width: number, value: number): void {
  // width - 1 digits and a NUL, as tarCreateHeader's print_tar_number writes them.
  const digits = value.toString(8).padStart(width - 1, '0');
  if (digits.length > width - 1) throw new TarError(`Cannot write ${value} in a ${width}-byte tar field`);
  b.write(digits, offset, 'ascii');
  b[offset + width - 1] = 0;
}

/** Splits a path into ustar's prefix and name, at a '/' so that each fits. */
function splitPath(path: string): { prefix: string; name: string } {
  if (Buffer.byteLength(path) <= NAME_BYTES) return { prefix: '', name: path };
  for (let i = path.indexOf('/'); i >= 0; i = path.indexOf('/', i + 1)) {
    const prefix = path.slice(0, i);
    const name = path.slice(i + 1);
    if (Buffer.byteLength(prefix) <= PREFIX_BYTES && Buffer.byteLength(name) <= NAME_BYTES && name.length > 0) return { prefix, name };
  }
  throw new TarError(`Cannot write tar entry ${JSON.stringify(path)}: a ustar path is at most ${PREFIX_BYTES} + 1 + ${NAME_BYTES} bytes, split at a '/'`);
}

/** The header block of one entry. Directory paths get a trailing '/'. */
export function tarHeader(e: TarEntry): Buffer {
  if (!Number.isSafeInteger(e.size) || e.size < 0 || e.size > TAR_ENTRY_BYTES_MAX) throw new TarError(`Cannot write tar entry ${e.path} of ${e.size} bytes: ustar entries are below 8 GiB`);
  if (e.type === 'directory' && e.size !== 0) throw new TarError(`Cannot write directory ${e.path} with ${e.size} bytes of content`);
  const path = e.type === 'directory' && !e.path.endsWith('/') ? `${e.path}/` : e.path;
  const { prefix, name } = splitPath(path);
  const b = Buffer.alloc(TAR_BLOCK_BYTES);
  b.write(name, 0, 'utf8');
  octal(b, 100, 8, e.mode & 0o7777);
  octal(b, 108, 8, 0);
  octal(b, 116, 8, 0);
  octal(b, 124, 12, e.size);
  octal(b, 136, 12, Math.max(0, Math.floor(e.mtimeS)));
  b.write('        ', 148, 'ascii');
  b.write(e.type === 'directory' ? '5' : '0', 156, 'ascii');
  b.write('ustar\0', 257, 'ascii');
  b.write('00', 263, 'ascii');
  b.write('postgres', 265, 'ascii');
  b.write('postgres', 297, 'ascii');
  octal(b, 329, 8, 0);
  octal(b, 337, 8, 0);
  b.write(prefix, 345, 'utf8');
  let sum = 0;
  for (let i = 0; i < TAR_BLOCK_BYTES; i++) sum += b[i] as number;
  b.write(sum.toString(8).padStart(6, '0'), 148, 'ascii');
  b[154] = 0;
  b[155] = 0x20;
  return b;
}

/** Zero bytes that follow `size` bytes of content up to the next block. */
export function tarPaddingBytes(size: number): number {
  return (TAR_BLOCK_BYTES - (size % TAR_BLOCK_BYTES)) % TAR_BLOCK_BYTES;
}
