/**
 * The crash test's fault points (src/repository/crash.test.ts, repository-crash-child.ts): wrappers
 * around the fs calls of the repository's durable writes that kill the process with SIGKILL at the
 * `count`-th arrival at a named point, exactly between two system calls. Each thread has its own
 * node:fs bindings, so the child installs them on its main thread and, through
 * configureFlushWorker, in the layer flush worker (setupFlushWorker); one shared counter makes the
 * `count`-th arrival the process's, whichever thread gets there.
 */
import { basename, dirname } from 'node:path';
import { createRequire, syncBuiltinESMExports } from 'node:module';
import { TEMP_SUFFIX } from '../repository/durable.js';
import { LayerKind, parseLayerFileName } from '../repository/layer-file.js';
import { METADATA_FILE } from '../repository/metadata.js';
import type { CrashPoint } from './repository-crash-workload.js';

type WriteSync = (fd: number, buffer: Uint8Array, offset?: number, length?: number, position?: number | null) => number;

/** The fs functions the repository's durable writes go through (the CommonJS object, which can be patched). */
interface PatchableFs {
  openSync: (path: string, flags: string) => number;
  closeSync: (fd: number) => void;
  writeSync: WriteSync;
  fsyncSync: (fd: number) => void;
  renameSync: (from: string, to: string) => void;
  unlinkSync: (path: string) => void;
  mkdirSync: (path: string, options?: { recursive?: boolean }) => string | undefined;
}

const fs = createRequire(import.meta.url)('node:fs') as PatchableFs;
const originalWriteSync = fs.writeSync;

export function say(line: string): void {
  const b = Buffer.from(line + '\n');
  let o = 0;
  while (o < b.length) o += originalWriteSync(1, b, o, b.length - o);
}

function die(point: CrashPoint): never {
  say(`crash ${point}`);
  process.kill(process.pid, 'SIGKILL');
  // The kernel ends the process before kill() returns to it; this line is never reached.
  throw new Error('assert: still running after SIGKILL');
}

const isLayerTemp = (path: string) => basename(path).startsWith('layer-') && path.endsWith(TEMP_SUFFIX);
const isMetadataTemp = (path: string) => basename(path) === METADATA_FILE + TEMP_SUFFIX;

/** Where to die, and the arrivals so far, counted across threads (a shared Int32Array of one). */
export interface CrashPointSetup {
  readonly point: CrashPoint;
  readonly count: number;
  readonly seen: Int32Array;
}

/** Wraps this thread's fs calls so that the process's `count`-th arrival at `point` kills it. */
export function installCrashPoint({ point, count, seen }: CrashPointSetup): void {
  const o = { ...fs };
  const fdPaths = new Map<number, string>();
  const at = (p: CrashPoint, hit: boolean): boolean => hit && p === point && Atomics.add(seen, 0, 1) + 1 === count;
  fs.openSync = (path, flags) => {
    const fd = o.openSync(path, flags);
    fdPaths.set(fd, path);
    return fd;
  };
  fs.closeSync = (fd) => {
    fdPaths.delete(fd);
    o.closeSync(fd);
  };
  fs.writeSync = (fd, buffer, offset = 0, length = buffer.length - offset, position) => {
    const path = fdPaths.get(fd) ?? '';
    const header = isLayerTemp(path) && position === 0;
    if (at('layer-partial-write', isLayerTemp(path) && !header && length > 1) || at('metadata-partial-write', isMetadataTemp(path) && length > 1)) {
      o.writeSync(fd, buffer, offset, length >> 1, position);
      die(point);
    }
    if (at('layer-before-header', header) || at('image-before-header', header && buffer[offset + 10] === LayerKind.Image)) die(point);
    return o.writeSync(fd, buffer, offset, length, position);
  };
  fs.fsyncSync = (fd) => {
    if (at('layer-before-fsync', isLayerTemp(fdPaths.get(fd) ?? ''))) die(point);
    o.fsyncSync(fd);
  };
  fs.renameSync = (from, to) => {
    if (at('layer-before-rename', isLayerTemp(from)) || at('metadata-before-rename', isMetadataTemp(from))) die(point);
    o.renameSync(from, to);
    const layer = isLayerTemp(from) ? parseLayerFileName(basename(to)) : undefined;
    if (at('layer-after-rename', layer !== undefined) || at('image-after-rename', layer?.kind === LayerKind.Image) || at('metadata-after-rename', isMetadataTemp(from))) die(point);
  };
  fs.unlinkSync = (path) => {
    if (at('layer-before-unlink', parseLayerFileName(basename(path)) !== undefined)) die(point);
    o.unlinkSync(path);
  };
  fs.mkdirSync = (path, options) => {
    const made = o.mkdirSync(path, options);
    if (at('timeline-after-mkdir', basename(dirname(path)) === 'timelines')) die(point);
    return made;
  };
  // node:fs's ESM named exports (which the repository imports) follow the CommonJS object only when told.
  syncBuiltinESMExports();
}

/** The flush worker's setup hook (layer-flush.ts FlushWorkerSetup): the same fault point in that thread. */
export function setupFlushWorker(data: unknown): void {
  installCrashPoint(data as CrashPointSetup);
}
