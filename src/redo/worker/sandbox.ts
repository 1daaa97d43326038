/**
 * How a redo worker process is started: the command line that confines it. Used by
 * ProcessRedoEngine (process-engine.ts) for every worker it starts.
 *
 * - Node's permission model (`--experimental-permission`): file reads only below the worker's own
 *   compiled code (dist/src/pg, dist/src/wal, dist/src/redo) and the one package it loads at run
 *   time (fzstd, pure JavaScript); no file writes, no child processes, no worker threads, no WASI,
 *   and `--no-addons` on top. Module resolution runs with `--preserve-symlinks` so that a
 *   node_modules that is a symbolic link (a git worktree's) needs no read access to the folder it
 *   points to: the worker reads fzstd through the link's path, and only that package's folder.
 * - Memory: `--max-old-space-size` caps the JavaScript heap (past it V8 aborts the process), and
 *   `prlimit --data` caps the data segment (RLIMIT_DATA), which also counts the array buffers the
 *   heap cap does not: an allocation past it fails with a RangeError, or V8 aborts.
 * - CPU: `--single-threaded-gc`, so that a worker (one per tenant) works on one core and brings no
 *   GC helper threads to compete with the page server and the other tenants' workers. A worker
 *   that spins is stopped by its request's deadline (process-engine.ts).
 * - Network: Node 20's permission model does NOT restrict sockets; a worker could open connections.
 *   Where the host allows it (Linux, enough privilege: `unshare -n` works), the worker also gets a
 *   network namespace of its own with nothing in it but a loopback interface that is down, so it
 *   cannot reach anything. Whether it does is probed once per page server process.
 * - Environment: empty (it holds nothing of the page server's), but for the test-hook switch when
 *   a test asks for it; working folder `/`.
 *
 * `unshare` and `prlimit` (util-linux) set up the limit and exec the next program in place, so the
 * child's pid is the worker's own and killing it kills the worker.
 */
import { spawn } from 'node:child_process';
import { accessSync, constants, existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { delimiter, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { TEST_HOOKS_ENV } from './test-hooks.js';

export type NetworkNamespaceMode = 'on' | 'off' | 'auto';

/** Room above the heap cap for the data segment: Node's own ~80 MiB, the young generation, buffers. */
export const DATA_HEADROOM_MIB = 128;
const PROBE_TIMEOUT_MS = 10_000;

/** The compiled worker entry point beside this module. */
export const DEFAULT_WORKER_SCRIPT = join(dirname(fileURLToPath(import.meta.url)), 'main.js');

export interface SandboxOptions {
  readonly workerScript: string;
  readonly memoryMiBMax: number;
  readonly networkNamespace: NetworkNamespaceMode;
  readonly testHooks: boolean;
}

export interface WorkerCommand {
  readonly file: string;
  readonly args: readonly string[];
  readonly env: Readonly<Record<string, string>>;
  /** Whether the worker gets a network namespace of its own. */
  readonly networkNamespace: boolean;
  /** RLIMIT_DATA in bytes, or undefined when prlimit is missing (the heap cap still holds). */
  readonly dataLimitBytes: number | undefined;
  /** What the worker may read. */
  readonly readPaths: readonly string[];
}

export class SandboxError extends Error {
  readonly code = 'SANDBOX_UNAVAILABLE';
}

/** An executable on the page server's PATH, as an absolute path (the worker's PATH is empty). */
function findExecutable(name: string): string | undefined {
  for (const dir of (process.env['PATH'] ?? '/usr/bin:/bin').split(delimiter)) {
    if (dir === '') continue;
    const p = join(dir, name);
    try {
      accessSync(p, constants.X_OK);
      return p;
    } catch {
      // not here
    }
  }
  return undefined;
}

/** Runs a command with an empty environment; resolves whether it exited with 0. */
function succeeds(file: string, args: readonly string[]): Promise<boolean> {
  return new Promise((done) => {
    const child = spawn(file, args, { stdio: 'ignore', env: {}, timeout: PROBE_TIMEOUT_MS });
    child.on('error', () => done(false));
    child.on('close', (code) => done(code === 0));
  });
}

interface SandboxTools {
  /** `unshare`, when `unshare -n` works here. */
  readonly unshare: string | undefined;
  /** `prlimit`, when it works here. */
  readonly prlimit: string | undefined;
}

let toolsProbe: Promise<SandboxTools> | undefined;

/** What this host allows, checked once (the answer does not change while the server runs). */
export function sandboxTools(): Promise<SandboxTools> {
  toolsProbe ??= (async () => {
    const unshare = findExecutable('unshare');
    const prlimit = findExecutable('prlimit');
    const [netOk, limitOk] = await Promise.all([
      unshare === undefined ? false : succeeds(unshare, ['-n', '--', process.execPath, '-e', '']),
      prlimit === undefined ? false : succeeds(prlimit, [`--data=${1 << 30}`, '--', process.execPath, '-e', '']),
    ]);
    return { unshare: netOk ? unshare : undefined, prlimit: limitOk ? prlimit : undefined };
  })();
  return toolsProbe;
}

/**
 * The folders the worker reads: the compiled modules it imports (this module is
 * <dist>/src/redo/worker/sandbox.js; the worker imports from <dist>/src/{pg,wal,redo}) and fzstd's
 * package folder, found as the worker's own module resolution will find it from src/wal/image.js
 * (without resolving symbolic links, as --preserve-symlinks makes it).
 */
export function workerReadPaths(): string[] {
  const src = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
  const paths = ['pg', 'wal', 'redo'].map((d) => join(src, d) + '/');
  const wal = join(src, 'wal', 'image.js');
  const candidates = createRequire(wal).resolve.paths('fzstd') ?? [];
  const fzstd = candidates.map((d) => join(d, 'fzstd')).find((d) => existsSync(join(d, 'package.json')));
  if (fzstd === undefined) throw new SandboxError(`Cannot start a redo worker: package fzstd is not installed where ${wal} would look for it`);
  paths.push(fzstd + '/');
  return paths;
}

/** The command that starts one worker. */
export async function workerCommand(o: SandboxOptions): Promise<WorkerCommand> {
  const tools = await sandboxTools();
  let networkNamespace: boolean;
  if (o.networkNamespace === 'off') networkNamespace = false;
  else if (tools.unshare !== undefined) networkNamespace = true;
  else if (o.networkNamespace === 'on') throw new SandboxError('Cannot start a redo worker in a network namespace of its own: `unshare -n` does not work on this host (needs Linux, util-linux and CAP_SYS_ADMIN or user namespaces)');
  else networkNamespace = false;

  // The script itself too, when it is not among those folders (a test's stand-in worker).
  const readPaths = workerReadPaths();
  if (!readPaths.some((p) => o.workerScript.startsWith(p))) readPaths.push(o.workerScript);
  const node = [
    process.execPath,
    '--experimental-permission',
    ...readPaths.map((p) => `--allow-fs-read=${p}`),
    '--preserve-symlinks',
    '--no-addons',
    '--single-threaded-gc',
    `--max-old-space-size=${o.memoryMiBMax}`,
    '--disable-warning=ExperimentalWarning',
    o.workerScript,
  ];
  const dataLimitBytes = tools.prlimit === undefined ? undefined : (o.memoryMiBMax + DATA_HEADROOM_MIB) * 1024 * 1024;
  const prefix: string[] = [];
  if (networkNamespace) prefix.push(tools.unshare!, '-n', '--');
  if (dataLimitBytes !== undefined) prefix.push(tools.prlimit!, `--data=${dataLimitBytes}`, '--');
  const argv = [...prefix, ...node];
  return {
    file: argv[0]!,
    args: argv.slice(1),
    env: o.testHooks ? { [TEST_HOOKS_ENV]: '1' } : {},
    networkNamespace,
    dataLimitBytes,
    readPaths,
  };
}
