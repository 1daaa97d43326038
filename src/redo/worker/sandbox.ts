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
 * - Privileges: `setpriv` sets no_new_privs and a parent-death signal (SIGKILL: a worker spinning
 *   in a crafted record dies with the page server instead of spinning on), and when the page server
 *   runs as root it also makes the worker `nobody` (WORKER_UID) with no capabilities, so that even
 *   code that escaped Node (a V8 bug) holds no privilege. That is used only where the probe shows
 *   that user can read the worker's code.
 * - Environment: empty (it holds nothing of the page server's), but for the test-hook switch when
 *   a test asks for it; working folder `/`.
 *
 * `unshare`, `setpriv` and `prlimit` (util-linux) each set up their part and exec the next program
 * in place, so the child's pid is the worker's own and killing it kills the worker. Each is used
 * where a probe (once per page server process) shows it works; what is missing is reported in
 * WorkerCommand and the worker runs with the rest (the permission model and the heap cap always).
 * This is not seccomp: the worker's system calls are not filtered.
 */
import { spawn } from 'node:child_process';
import { accessSync, constants, existsSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { delimiter, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { TEST_HOOKS_ENV } from './test-hooks.js';

export type NetworkNamespaceMode = 'on' | 'off' | 'auto';

/** Room above the heap cap for the data segment: Node's own ~80 MiB, the young generation, buffers. */
export const DATA_HEADROOM_MIB = 128;
const PROBE_TIMEOUT_MS = 10_000;

/**
 * The worker's script beside this module: the build's CommonJS bundle of main.js when there is one
 * at least as new as it (scripts/bundle.js: one file to load, and code V8 runs faster;
 * STRATA_BUNDLE=0 says not to), else main.js itself. Both lie in the folders the worker may read.
 */
function defaultWorkerScript(): string {
  const here = dirname(fileURLToPath(import.meta.url));
  const module = join(here, 'main.js');
  if (process.env['STRATA_BUNDLE'] === '0') return module;
  const bundle = join(here, 'main.bundle.cjs');
  try {
    return statSync(bundle).mtimeMs >= statSync(module).mtimeMs ? bundle : module;
  } catch {
    return module;
  }
}

/** The compiled worker entry point beside this module (see defaultWorkerScript). */
export const DEFAULT_WORKER_SCRIPT = defaultWorkerScript();

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
  /** The user id it runs as, when it is not the page server's (WORKER_UID, without capabilities). */
  readonly user: number | undefined;
  /** Whether it is killed when the page server dies (PR_SET_PDEATHSIG). */
  readonly parentDeathSignal: boolean;
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

/** The user a worker runs as when the page server runs as root: nobody. */
export const WORKER_UID = 65534;
export const WORKER_GID = 65534;

const DROP_PRIVILEGES_ARGS = [`--reuid=${WORKER_UID}`, `--regid=${WORKER_GID}`, '--clear-groups', '--inh-caps=-all', '--bounding-set=-all'];
const SETPRIV_ARGS = ['--no-new-privs', '--pdeathsig', 'KILL'];

/** Checks, as the worker's user, that every file below the paths given as arguments is readable. */
const READ_CHECK_SCRIPT = `
const fs = require('fs'), path = require('path');
const walk = (p) => { if (fs.statSync(p).isDirectory()) { fs.accessSync(p, fs.constants.R_OK | fs.constants.X_OK); for (const e of fs.readdirSync(p)) walk(path.join(p, e)); } else fs.accessSync(p, fs.constants.R_OK); };
for (const p of process.argv.slice(1)) walk(p);`;

interface SandboxTools {
  /** `unshare`, when `unshare -n` works here. */
  readonly unshare: string | undefined;
  /** `prlimit`, when it works here. */
  readonly prlimit: string | undefined;
  /** `setpriv`, when it works here (no_new_privs, the parent-death signal). */
  readonly setpriv: string | undefined;
  /** Whether workers run as WORKER_UID without capabilities: the page server is root, and that user can read the worker's code. */
  readonly dropPrivileges: boolean;
}

const toolsProbes = new Map<string, Promise<SandboxTools>>();

/** What this host allows for this worker script, checked once (the answer does not change while the server runs). */
export function sandboxTools(workerScript: string = DEFAULT_WORKER_SCRIPT): Promise<SandboxTools> {
  let probe = toolsProbes.get(workerScript);
  if (probe === undefined) {
    probe = (async () => {
      const unshare = findExecutable('unshare');
      const prlimit = findExecutable('prlimit');
      const setpriv = findExecutable('setpriv');
      const node = process.execPath;
      const root = process.getuid?.() === 0;
      const [netOk, limitOk, setprivOk, dropOk] = await Promise.all([
        unshare === undefined ? false : succeeds(unshare, ['-n', '--', node, '-e', '']),
        prlimit === undefined ? false : succeeds(prlimit, [`--data=${1 << 30}`, '--', node, '-e', '']),
        setpriv === undefined ? false : succeeds(setpriv, [...SETPRIV_ARGS, '--', node, '-e', '']),
        setpriv === undefined || !root ? false : succeeds(setpriv, [...DROP_PRIVILEGES_ARGS, ...SETPRIV_ARGS, '--', node, '-e', READ_CHECK_SCRIPT, workerScript, ...workerReadPaths()]),
      ]);
      return { unshare: netOk ? unshare : undefined, prlimit: limitOk ? prlimit : undefined, setpriv: setprivOk ? setpriv : undefined, dropPrivileges: setprivOk && dropOk };
    })();
    toolsProbes.set(workerScript, probe);
  }
  return probe;
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
  const tools = await sandboxTools(o.workerScript);
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
  // unshare first (it needs the page server's privileges), then setpriv drops them; the parent-death
  // signal is set last, as a change of user clears it.
  const prefix: string[] = [];
  if (networkNamespace) prefix.push(tools.unshare!, '-n', '--');
  if (tools.setpriv !== undefined) prefix.push(tools.setpriv, ...(tools.dropPrivileges ? DROP_PRIVILEGES_ARGS : []), ...SETPRIV_ARGS, '--');
  if (dataLimitBytes !== undefined) prefix.push(tools.prlimit!, `--data=${dataLimitBytes}`, '--');
  const argv = [...prefix, ...node];
  return {
    file: argv[0]!,
    args: argv.slice(1),
    env: o.testHooks ? { [TEST_HOOKS_ENV]: '1' } : {},
    networkNamespace,
    dataLimitBytes,
    readPaths,
    user: tools.dropPrivileges ? WORKER_UID : undefined,
    parentDeathSignal: tools.setpriv !== undefined,
  };
}
