/**
 * Durable file writes (DESIGN.md invariant 3): every file is written under a temporary name,
 * fsynced, renamed over its final name, and its folder fsynced, so a crash leaves either the old
 * file or the new one, never a half-written one under the real name.
 */
import { closeSync, fsyncSync, mkdirSync, openSync, renameSync, writeSync } from 'node:fs';
import { dirname, resolve } from 'node:path';

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

/**
 * Makes `dir` and any missing parents, and fsyncs the folder holding each one it made. A folder's
 * name is an entry in its parent: without that fsync a power loss can take a new folder away, and
 * with it every file fsynced inside it (a timeline reported created, its metadata, its layers).
 */
export function mkdirDurable(dir: string): void {
  const made = mkdirSync(dir, { recursive: true });
  if (made === undefined) return;
  const first = resolve(made);
  for (let d = resolve(dir); ; d = dirname(d)) {
    fsyncDirectory(dirname(d));
    if (d === first || dirname(d) === d) break;
  }
}

/**
 * Renames a folder away (to delete it) and fsyncs its parent before anything inside is removed: a
 * power loss must not bring the folder back under its real name with half its files gone.
 */
export function renameAwayDurable(dir: string, gone: string): void {
  renameSync(dir, gone);
  fsyncDirectory(dirname(gone));
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
