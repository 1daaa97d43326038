/**
 * Synchronous writes to a file descriptor that may be a non-blocking pipe: output is produced
 * faster than a reader takes it, and buffering it all in memory (process.stdout.write on a pipe)
 * would grow without bound on a large WAL.
 */
import { writeSync } from 'node:fs';

const EAGAIN_WAIT_MS = 1;
const sleeper = new Int32Array(new SharedArrayBuffer(4));

export function writeAllSync(fd: number, bytes: Uint8Array): void {
  let off = 0;
  while (off < bytes.length) {
    try {
      off += writeSync(fd, bytes, off, bytes.length - off);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EAGAIN') throw e;
      Atomics.wait(sleeper, 0, 0, EAGAIN_WAIT_MS);
    }
  }
}
