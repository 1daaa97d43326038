/**
 * Running PostgreSQL's programs: for the control plane's endpoints (stock PostgreSQL on branches)
 * and for the tests (src/testing re-exports this).
 *
 * This module finds the PostgreSQL 15 binaries, runs them with a time limit and an output limit,
 * and turns a failure into a `PgCommandError` that names the command and shows the tail of its
 * stderr. The server refuses to run as root, so when strata runs as root the server-side programs
 * (initdb, pg_ctl, postgres) go through `runuser -u postgres --`; client programs (psql, pgbench,
 * pg_waldump) run directly.
 */

import { spawn, execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

/** Where Debian's `postgresql-15` package puts the binaries. */
export const DEFAULT_PG_BINDIR = '/usr/lib/postgresql/15/bin';
/** The operating-system user that owns clusters when the tests run as root. */
export const PG_OS_USER = 'postgres';

const COMMAND_TIMEOUT_MS_DEFAULT = 120_000;
const OUTPUT_BYTES_MAX_DEFAULT = 256 * 1024 * 1024;
const STDERR_TAIL_CHARS_MAX = 2_000;

export type PgCommandErrorCode = 'PG_COMMAND_FAILED' | 'PG_COMMAND_TIMEOUT' | 'PG_COMMAND_OUTPUT_TOO_LARGE' | 'PG_BINARY_NOT_FOUND';

/** An operating error from running a PostgreSQL program: it exited non-zero, timed out, or was not found. */
export class PgCommandError extends Error {
  readonly code: PgCommandErrorCode;
  readonly command: readonly string[];
  readonly exitCode: number | null;
  readonly stdout: string;
  readonly stderr: string;

  constructor(code: PgCommandErrorCode, message: string, details: { command: readonly string[]; exitCode?: number | null; stdout?: string; stderr?: string }) {
    super(message);
    this.name = 'PgCommandError';
    this.code = code;
    this.command = details.command;
    this.exitCode = details.exitCode ?? null;
    this.stdout = details.stdout ?? '';
    this.stderr = details.stderr ?? '';
  }
}

/** True when this process runs as root, so the server must run as `postgres`. */
export function isRoot(): boolean {
  return typeof process.getuid === 'function' && process.getuid() === 0;
}

let resolvedBinDir: string | undefined;

/** The folder holding PostgreSQL's binaries: $STRATA_PG_BINDIR, else Debian's folder, else `pg_config --bindir`. */
export function pgBinDir(): string {
  if (resolvedBinDir !== undefined) return resolvedBinDir;
  const fromEnv = process.env['STRATA_PG_BINDIR'];
  if (fromEnv !== undefined && fromEnv !== '') {
    if (!existsSync(path.join(fromEnv, 'pg_ctl'))) {
      throw new PgCommandError('PG_BINARY_NOT_FOUND', `Cannot use STRATA_PG_BINDIR as it has no pg_ctl: received "${fromEnv}"`, { command: [] });
    }
    resolvedBinDir = fromEnv;
  } else if (existsSync(path.join(DEFAULT_PG_BINDIR, 'pg_ctl'))) {
    resolvedBinDir = DEFAULT_PG_BINDIR;
  } else {
    try {
      resolvedBinDir = execFileSync('pg_config', ['--bindir'], { encoding: 'utf8', timeout: 10_000 }).trim();
    } catch (err: unknown) {
      throw new PgCommandError(
        'PG_BINARY_NOT_FOUND',
        `Cannot find PostgreSQL binaries: STRATA_PG_BINDIR is unset, ${DEFAULT_PG_BINDIR} has no pg_ctl, and pg_config failed (${String(err)}); install postgresql-15`,
        { command: ['pg_config', '--bindir'] },
      );
    }
  }
  return resolvedBinDir;
}

/** The absolute path of one PostgreSQL program, e.g. `pgBin('pg_waldump')`. */
export function pgBin(name: string): string {
  return path.join(pgBinDir(), name);
}

export interface RunOptions {
  readonly cwd?: string;
  /** Added to (and overriding) this process's environment. */
  readonly env?: Readonly<Record<string, string>>;
  /** Written to the program's stdin, which is then closed. */
  readonly input?: string | Uint8Array;
  readonly timeoutMs?: number;
  /** stdout and stderr are each cut off (and the run fails) past this many bytes. */
  readonly outputBytesMax?: number;
  /** Exit codes that count as success; `[0]` unless told. */
  readonly okExitCodes?: readonly number[];
}

export interface RunResult {
  readonly exitCode: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Spawns `cmd args` directly and collects its output; throws `PgCommandError` on failure. */
export function run(cmd: string, args: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
  return spawnCollect([cmd, ...args], [cmd, ...args], opts);
}

/** Spawns `cmd args` as the `postgres` user when this process is root, else directly. */
export function runAsPostgres(cmd: string, args: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
  const argv = isRoot() ? ['runuser', '-u', PG_OS_USER, '--', cmd, ...args] : [cmd, ...args];
  // postgres cannot enter root's working folder; initdb and pg_ctl complain if they cannot.
  const withCwd: RunOptions = opts.cwd === undefined ? { ...opts, cwd: tmpdir() } : opts;
  return spawnCollect(argv, [cmd, ...args], withCwd);
}

/** The same argv `runAsPostgres` would use, for synchronous callers (the exit-time safety net). */
export function asPostgresArgv(cmd: string, args: readonly string[]): string[] {
  return isRoot() ? ['runuser', '-u', PG_OS_USER, '--', cmd, ...args] : [cmd, ...args];
}

function spawnCollect(argv: readonly string[], shown: readonly string[], opts: RunOptions): Promise<RunResult> {
  const [file, ...args] = argv;
  if (file === undefined) throw new Error('spawnCollect needs a program to run');
  const timeoutMs = opts.timeoutMs ?? COMMAND_TIMEOUT_MS_DEFAULT;
  const outputBytesMax = opts.outputBytesMax ?? OUTPUT_BYTES_MAX_DEFAULT;
  const okExitCodes = opts.okExitCodes ?? [0];
  const commandText = shellQuote(shown);

  return new Promise<RunResult>((resolve, reject) => {
    // A process group of its own, so a timeout can kill the program and anything it started
    // (runuser does not pass SIGKILL on to its child).
    const child = spawn(file, args, {
      cwd: opts.cwd,
      env: opts.env === undefined ? process.env : { ...process.env, ...opts.env },
      stdio: ['pipe', 'pipe', 'pipe'],
      detached: true,
    });
    const stdout: Buffer[] = [];
    const stderr: Buffer[] = [];
    let stdoutBytes = 0;
    let stderrBytes = 0;
    let failure: PgCommandError | undefined;
    let settled = false;

    const killGroup = (): void => {
      if (child.pid === undefined) return;
      try {
        process.kill(-child.pid, 'SIGKILL');
      } catch {
        // Already gone.
      }
    };
    const timer = setTimeout(() => {
      failure ??= new PgCommandError('PG_COMMAND_TIMEOUT', `Cannot finish ${commandText}: no exit after ${timeoutMs} ms; killed it\n${tailOf(Buffer.concat(stderr).toString('utf8'))}`, {
        command: shown,
      });
      killGroup();
    }, timeoutMs);

    child.stdout.on('data', (chunk: Buffer) => {
      stdoutBytes += chunk.length;
      if (stdoutBytes > outputBytesMax) {
        failure ??= new PgCommandError('PG_COMMAND_OUTPUT_TOO_LARGE', `Cannot collect the output of ${commandText}: stdout passed ${outputBytesMax} bytes`, { command: shown });
        killGroup();
        return;
      }
      stdout.push(chunk);
    });
    child.stderr.on('data', (chunk: Buffer) => {
      stderrBytes += chunk.length;
      if (stderrBytes <= outputBytesMax) stderr.push(chunk);
    });
    // The program may exit before reading all its input (EPIPE); its exit code tells the story.
    child.stdin.on('error', () => undefined);
    if (opts.input !== undefined) child.stdin.end(opts.input);
    else child.stdin.end();

    child.on('error', (err: Error) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      reject(new PgCommandError('PG_COMMAND_FAILED', `Cannot start ${commandText}: ${err.message}`, { command: shown }));
    });
    child.on('close', (code: number | null, signal: NodeJS.Signals | null) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      const out = Buffer.concat(stdout).toString('utf8');
      const err = Buffer.concat(stderr).toString('utf8');
      if (failure !== undefined) {
        reject(failure);
        return;
      }
      if (code === null || !okExitCodes.includes(code)) {
        const how = code === null ? `killed by ${signal ?? 'a signal'}` : `exit code ${code}`;
        reject(new PgCommandError('PG_COMMAND_FAILED', `Command failed (${how}): ${commandText}\n${tailOf(err || out)}`, { command: shown, exitCode: code, stdout: out, stderr: err }));
        return;
      }
      resolve({ exitCode: code, stdout: out, stderr: err });
    });
  });
}

/** The last lines of a program's output, enough to see why it failed without flooding the log. */
export function tailOf(text: string, charsMax = STDERR_TAIL_CHARS_MAX): string {
  const trimmed = text.trimEnd();
  if (trimmed === '') return '(no output)';
  if (trimmed.length <= charsMax) return trimmed;
  return '...' + trimmed.slice(trimmed.length - charsMax);
}

function shellQuote(argv: readonly string[]): string {
  return argv
    .map((a) => {
      const shown = a.length > 200 ? a.slice(0, 200) + `...(${a.length} chars)` : a;
      return /^[\w./=:@,+-]+$/.test(shown) ? shown : `'${shown.replace(/'/g, `'\\''`)}'`;
    })
    .join(' ');
}
