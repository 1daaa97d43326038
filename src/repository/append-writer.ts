/**
 * Buffered appends to a file at known positions: the in-memory layer's ephemeral file and the
 * layer files a writer fills front to back both write many small values; one `pwrite` per MiB
 * instead of one per value. Bytes not yet written out can be read back from the buffer.
 */
import { writeSync } from 'node:fs';

const BUFFER_BYTES = 1 << 20;

export function writeAllAt(fd: number, bytes: Uint8Array, position: number): void {
  let o = 0;
  while (o < bytes.length) o += writeSync(fd, bytes, o, bytes.length - o, position + o);
}

export class AppendWriter {
  private readonly buffer = Buffer.allocUnsafe(BUFFER_BYTES);
  private buffered = 0;

  /** `position`: where the next byte goes. */
  constructor(
    private readonly fd: number,
    public position: number,
  ) {}

  /** Where the bytes written out to the file end; the buffer holds [flushedEnd, position). */
  get flushedEnd(): number {
    return this.position - this.buffered;
  }

  append(bytes: Uint8Array): void {
    if (this.buffered + bytes.length > this.buffer.length) this.flush();
    if (bytes.length > this.buffer.length) {
      writeAllAt(this.fd, bytes, this.position);
    } else {
      this.buffer.set(bytes, this.buffered);
      this.buffered += bytes.length;
    }
    this.position += bytes.length;
  }

  /** Writes the buffered bytes out (no fsync). */
  flush(): void {
    if (this.buffered === 0) return;
    writeAllAt(this.fd, this.buffer.subarray(0, this.buffered), this.position - this.buffered);
    this.buffered = 0;
  }

  /** A copy of buffered bytes at file offset `offset` (at or past flushedEnd). */
  readBuffered(offset: number, length: number): Uint8Array {
    const from = offset - this.flushedEnd;
    if (from < 0 || from + length > this.buffered) throw new Error(`assert: ${length} bytes at ${offset} are not in the write buffer`);
    return Uint8Array.prototype.slice.call(this.buffer, from, from + length);
  }
}
