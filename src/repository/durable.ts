/**
 * Durable file writes (DESIGN.md invariant 3): every file is written under a temporary name,
 * fsynced, renamed over its final name, and its folder fsynced, so a crash leaves either the old
 * file or the new one, never a half-written one under the real name.
 */
import { closeSync, fsyncSync, openSync, renameSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';

/** The suffix of files being written; a folder's leftovers with it are removed when it is opened. */
export const TEMP_SUFFIX = '.___temp';

export function fsyncDirectory(dir: string): void {
  const fd = openSync(dir, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** Writes `data` to `path` atomically and durably. */
export function writeFileDurable(path: string, data: Uint8Array): void {
  const temp = path + TEMP_SUFFIX;
  const fd = openSync(temp, 'w');
  try {
    let o = 0;
    while (o < data.length) o += writeSync(fd, data, o, data.length - o);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(temp, path);
  fsyncDirectory(dirname(path));
}
