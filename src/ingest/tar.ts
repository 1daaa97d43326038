/**
 * A streaming tar reader: the archives of a base backup (BASE_BACKUP, import-backup.ts) arrive as
 * tar streams in CopyData messages of any size, and are read here entry by entry as the bytes come,
 * never held whole: file contents pass through as views of the chunks pushed.
 *
 * The format PostgreSQL 15 writes (src/port/tar.c tarCreateHeader; basebackup.c), POSIX ustar:
 * ```
 *  offset  size  field
 *       0   100  name (NUL-terminated if shorter; directories and symlinks end in '/')
 *     100     8  mode          octal, space- or NUL-terminated
 *     108     8  uid           octal
 *     116     8  gid           octal
 *     124    12  size          octal, or 0x80 then big-endian base-256 (GNU) when it does not fit
 *     136    12  mtime         octal (seconds)
 *     148     8  chksum        octal sum of the header's bytes, this field counted as 8 spaces
 *     156     1  typeflag      '0' (or NUL) file, '5' directory, '2' symlink
 *     157   100  linkname      a symlink's target
 *     257     6  magic         "ustar\0" (POSIX) or "ustar " (GNU, with version " \0")
 *     263     2  version       "00"
 *     265    32  uname, 297 32 gname, 329 8 devmajor, 337 8 devminor
 *     345   155  prefix        (POSIX) prepended to name with a '/' when not empty
 * ```
 * A header is one 512-byte block; a file's bytes follow, padded with zeros to a multiple of 512;
 * two zero blocks end the archive (more zeros may follow, as GNU tar pads to its record size).
 *
 * Written here rather than taken from a package (tar-stream): the subset PostgreSQL writes is small,
 * and this reader is synchronous, like the path it sits on (socket read, CopyData, tar, timeline
 * put, with no await between), so TCP alone holds the primary back and no stream backpressure or
 * buffering between async stages is needed; nor is another dependency.
 *
 * PostgreSQL writes no long-name entries (a name over 99 bytes is an error on the server: "file name
 * too long for tar format"), so pax ('x', 'g') and GNU long-name ('L', 'K') entries, hard links and
 * devices are refused with an error naming the entry type rather than misread.
 */
import { IngestError } from './errors.js';

export const TAR_BLOCK_BYTES = 512;

export type TarEntryKind = 'file' | 'directory' | 'symlink';

export interface TarEntry {
  readonly kind: TarEntryKind;
  /** The path inside the archive, without a trailing '/'. */
  readonly name: string;
  /** Bytes of content (0 for directories and symlinks). */
  readonly size: number;
  readonly linkTarget: string;
  readonly mode: number;
  readonly mtimeS: number;
  /** Where the header starts in the archive. */
  readonly offset: number;
}

/** Called synchronously from push(); what one throws propagates out of push(). */
export interface TarHandlers {
  onEntry(entry: TarEntry): void;
  /** The next bytes of the current file: a view into a pushed chunk, valid only during the call. */
  onData(entry: TarEntry, data: Buffer): void;
  onEntryEnd(entry: TarEntry): void;
}

const ENTRY_TYPE_NAMES: Readonly<Record<string, string>> = {
  '1': 'a hard link',
  '3': 'a character device',
  '4': 'a block device',
  '6': 'a FIFO',
  '7': 'a contiguous file',
  x: 'a pax extended header',
  g: 'a pax global header',
  L: 'a GNU long name',
  K: 'a GNU long link name',
};

type State =
  | { readonly kind: 'header' }
  | { readonly kind: 'data'; readonly entry: TarEntry; remaining: number }
  | { readonly kind: 'padding'; remaining: number }
  /** One zero block seen: the next must be zero too. */
  | { readonly kind: 'zero' }
  | { readonly kind: 'end' };

export class TarReader {
  private state: State = { kind: 'header' };
  private readonly header = Buffer.alloc(TAR_BLOCK_BYTES);
  private headerFill = 0;
  private position = 0;
  private entries = 0;

  /** `what` names the archive in errors (e.g. "archive base.tar of the backup from 127.0.0.1:5432"). */
  constructor(
    private readonly what: string,
    private readonly handlers: TarHandlers,
  ) {}

  /** Bytes read so far. */
  get offset(): number {
    return this.position;
  }

  get entryCount(): number {
    return this.entries;
  }

  /** Whether the end-of-archive blocks were read. */
  get ended(): boolean {
    return this.state.kind === 'end';
  }

  private bad(at: number, why: string): IngestError {
    return new IngestError('BAD_ARCHIVE', `Cannot read ${this.what} at offset ${at}: ${why}`);
  }

  push(chunk: Buffer): void {
    let o = 0;
    while (o < chunk.length) {
      const s = this.state;
      switch (s.kind) {
        case 'header':
        case 'zero': {
          const n = Math.min(TAR_BLOCK_BYTES - this.headerFill, chunk.length - o);
          chunk.copy(this.header, this.headerFill, o, o + n);
          this.headerFill += n;
          o += n;
          this.position += n;
          if (this.headerFill === TAR_BLOCK_BYTES) {
            this.headerFill = 0;
            this.headerBlock(this.position - TAR_BLOCK_BYTES, s.kind === 'zero');
          }
          break;
        }
        case 'data': {
          const n = Math.min(s.remaining, chunk.length - o);
          s.remaining -= n;
          this.position += n;
          this.handlers.onData(s.entry, chunk.subarray(o, o + n));
          o += n;
          if (s.remaining === 0) this.endEntry(s.entry);
          break;
        }
        case 'padding': {
          const n = Math.min(s.remaining, chunk.length - o);
          s.remaining -= n;
          o += n;
          this.position += n;
          if (s.remaining === 0) this.state = { kind: 'header' };
          break;
        }
        case 'end': {
          // Zeros may follow the two end blocks (a record's padding); anything else is not tar.
          for (; o < chunk.length; o++, this.position++) if (chunk[o] !== 0) throw this.bad(this.position, 'data after the end-of-archive blocks');
          break;
        }
      }
    }
  }

  /** The archive's bytes are all pushed: it must have ended with its end-of-archive blocks. */
  end(): void {
    const s = this.state;
    if (s.kind === 'end') return;
    const where = s.kind === 'data' ? `inside ${s.entry.name} (${s.remaining} of its ${s.entry.size} bytes missing)` : s.kind === 'padding' ? 'inside the padding of a file' : this.headerFill > 0 ? 'inside a header' : 'before the end-of-archive blocks';
    throw this.bad(this.position, `the archive is cut short ${where}`);
  }

  private endEntry(entry: TarEntry): void {
    const pad = (TAR_BLOCK_BYTES - (entry.size % TAR_BLOCK_BYTES)) % TAR_BLOCK_BYTES;
    this.state = pad === 0 ? { kind: 'header' } : { kind: 'padding', remaining: pad };
    this.handlers.onEntryEnd(entry);
  }

  private headerBlock(at: number, afterZero: boolean): void {
    const h = this.header;
    if (h.every((b) => b === 0)) {
      this.state = afterZero ? { kind: 'end' } : { kind: 'zero' };
      return;
    }
    if (afterZero) throw this.bad(at, 'a header after a zero block (one zero block alone does not end an archive)');
    const entry = this.parseHeader(h, at);
    this.entries++;
    this.handlers.onEntry(entry);
    if (entry.size > 0) this.state = { kind: 'data', entry, remaining: entry.size };
    else this.endEntry(entry);
  }

  private parseHeader(h: Buffer, at: number): TarEntry {
    const stored = readNumber(h, 148, 8);
    let unsigned = 8 * 0x20;
    let signed = 8 * 0x20;
    for (let i = 0; i < TAR_BLOCK_BYTES; i++) {
      if (i >= 148 && i < 156) continue;
      unsigned += h[i] as number;
      signed += ((h[i] as number) << 24) >> 24;
    }
    // The sum is over unsigned bytes (POSIX); some old writers summed signed chars, which tar accepts too.
    if (stored !== unsigned && stored !== signed) throw this.bad(at, `the header checksum is ${stored}, its bytes sum to ${unsigned}: not a tar header, or a damaged one`);
    const magic = h.toString('latin1', 257, 263);
    const posix = magic === 'ustar\0';
    if (!posix && magic !== 'ustar ') throw this.bad(at, `the header's magic is ${JSON.stringify(magic)}, not ustar`);
    const type = String.fromCharCode(h[156] as number);
    let name = cString(h, 0, 100);
    const prefix = posix ? cString(h, 345, 155) : '';
    if (prefix !== '') name = `${prefix}/${name}`;
    const kind: TarEntryKind | undefined = type === '0' || type === '\0' ? 'file' : type === '5' ? 'directory' : type === '2' ? 'symlink' : undefined;
    if (kind === undefined) throw this.bad(at, `entry ${JSON.stringify(name)} is ${ENTRY_TYPE_NAMES[type] ?? `of type ${JSON.stringify(type)}`}, which PostgreSQL's base backups do not hold (strata reads files, directories and symlinks)`);
    const size = kind === 'file' ? readNumber(h, 124, 12) : 0;
    if (!Number.isSafeInteger(size)) throw this.bad(at, `entry ${JSON.stringify(name)} has a size field that is not a number`);
    while (name.endsWith('/')) name = name.slice(0, -1);
    return { kind, name, size, linkTarget: kind === 'symlink' ? cString(h, 157, 100) : '', mode: readNumber(h, 100, 8), mtimeS: readNumber(h, 136, 12), offset: at };
  }
}

function cString(h: Buffer, offset: number, length: number): string {
  const end = h.indexOf(0, offset);
  return h.toString('utf8', offset, end < 0 || end > offset + length ? offset + length : end);
}

/** read_tar_number (src/port/tar.c): octal up to a space or NUL, or 0x80 and base-256. NaN if neither. */
export function readNumber(h: Buffer, offset: number, length: number): number {
  if (h[offset] === 0x80) {
    let v = 0;
    for (let i = offset + 1; i < offset + length; i++) v = v * 256 + (h[i] as number);
    return v;
  }
  let v = 0;
  let i = offset;
  while (i < offset + length && h[i] === 0x20) i++; // leading spaces (some writers pad on the left)
  for (; i < offset + length; i++) {
    const c = h[i] as number;
    if (c === 0 || c === 0x20) break;
    if (c < 0x30 || c > 0x37) return Number.NaN;
    v = v * 8 + (c - 0x30);
  }
  return v;
}
