/**
 * bench/waldump: strata's WAL decoder and `strata waldump` beside pg_waldump, on the same WAL, in
 * the same run.
 *
 * Makes WAL with a stock PostgreSQL 15 (pgbench -i at STRATA_BENCH_SCALE, then STRATA_BENCH_SECONDS
 * of pgbench with 4 clients), or reads an existing pg_wal folder given as STRATA_BENCH_WAL_DIR, then
 * times, best of STRATA_BENCH_RUNS (the commands in rounds, one run of each per round):
 *   - the decoder alone (segments already in memory, one thread): MB/s of WAL and records/s, with
 *     fresh records and with records reused (reuseMemory, as waldump and ingest decode);
 *   - the decoder with every record described (typed description), one thread;
 *   - the decoder reading the segment files on THREADS threads (runWaldump --quiet, in this process);
 *   - `strata waldump > /dev/null` on one thread and on THREADS, and `pg_waldump > /dev/null`;
 *   - `strata waldump --stats` on THREADS and `pg_waldump --stats > /dev/null`, which decode without
 *     printing;
 * each with its wall time and its CPU time (all threads'; the wall times swing with the load of a
 * shared machine, and a figure on two threads means little unless the machine is otherwise idle),
 * and prints the ratios. The commands run with TZ=UTC and without NODE_EXTRA_CA_CERTS (commandEnv).
 * `npm run bench:waldump` runs this file bundled as CommonJS (scripts/bundle.js), so that the
 * decoder it times in this process is the code as bin/strata.js runs it.
 * THREADS is STRATA_WALDUMP_THREADS, else the machine's cores. Targets
 * (issue 2): strata waldump at least as fast as pg_waldump; the decoder alone at least as fast as
 * pg_waldump --stats.
 */
import { spawnSync } from 'node:child_process';
import { closeSync, existsSync, openSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { crc32cImplementation, strataCrc32cAddon } from '../src/pg/crc32c.js';
import { formatLsn, lsn, parseWalFileName, segmentStart } from '../src/pg/lsn.js';
import { WalDecoder } from '../src/wal/decoder.js';
import { WalDecodeError } from '../src/wal/errors.js';
import { describeRecord } from '../src/wal/rmgr/index.js';
import { PgCluster, pgBin } from '../src/testing/cluster.js';
import { runWaldump } from '../src/cli/waldump.js';

const scale = Number(process.env['STRATA_BENCH_SCALE'] ?? 10);
const seconds = Number(process.env['STRATA_BENCH_SECONDS'] ?? 30);
const runs = Number(process.env['STRATA_BENCH_RUNS'] ?? 3);
const threadsEnv = process.env['STRATA_WALDUMP_THREADS'];
/** The threads of the many-thread figures: STRATA_WALDUMP_THREADS (a number or `all`), else one per core. */
const threads = threadsEnv === undefined || threadsEnv === 'all' ? availableParallelism() : Number(threadsEnv);

function segmentsOf(walDir: string): { files: string[]; start: bigint } {
  const segs = readdirSync(walDir)
    .map((n) => ({ n, p: parseWalFileName(n) }))
    .filter((s) => s.p !== null && s.p.timeline === 1)
    .sort((a, b) => (a.p!.segNo < b.p!.segNo ? -1 : 1));
  const files: string[] = [];
  let last: bigint | undefined;
  for (const s of segs) {
    if (last !== undefined && s.p!.segNo !== last + 1n) break;
    files.push(join(walDir, s.n));
    last = s.p!.segNo;
  }
  return { files, start: segmentStart(segs[0]!.p!.segNo) };
}

/**
 * The best of several runs: the fastest by wall time, and the least CPU time (user + system) of any
 * run. On a machine shared with other work the wall times swing with its load; CPU times less so.
 */
function bestOf<T extends { ms: number; cpuMs: number }>(results: readonly T[]): T {
  let b: T | undefined;
  let cpuMs = Infinity;
  for (const r of results) {
    if (b === undefined || r.ms < b.ms) b = r;
    cpuMs = Math.min(cpuMs, r.cpuMs);
  }
  return { ...b!, cpuMs };
}

/** The best of `runs` runs of `f`. */
function best<T extends { ms: number; cpuMs: number }>(f: () => T): T {
  return bestOf(Array.from({ length: runs }, f));
}

async function bestAsync<T extends { ms: number; cpuMs: number }>(f: () => Promise<T>): Promise<T> {
  const results: T[] = [];
  for (let i = 0; i < runs; i++) results.push(await f());
  return bestOf(results);
}

/**
 * The decoder over segments in memory. 'fresh': every record its own objects, kept by nobody here
 * (the record API as a caller that keeps records gets it); 'reused': the decoder's reuseMemory, as
 * the callers that are done with each record before the next run it (waldump, --stats, ingest),
 * the end LSN kept as a number; 'described': fresh records, each given its typed description.
 */
function decodeInMemory(buffers: Buffer[], start: bigint, mode: 'fresh' | 'reused' | 'described'): { ms: number; cpuMs: number; records: number; bytes: number } {
  const t0 = performance.now();
  const cpu0 = process.cpuUsage();
  const reused = mode === 'reused';
  const d = new WalDecoder({ startLsn: lsn(start), reuseMemory: reused });
  let records = 0;
  let last = start;
  let lastNumber = Number(start);
  try {
    for (const b of buffers) {
      d.push(b);
      for (;;) {
        const r = d.next();
        if (r === undefined) break;
        if (mode === 'described') describeRecord(r);
        records++;
        if (reused) lastNumber = r.endLsnNumber;
        else last = r.endLsn;
      }
    }
  } catch (e) {
    if (!(e instanceof WalDecodeError)) throw e;
  }
  const ms = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  return { ms, cpuMs: (cpu.user + cpu.system) / 1000, records, bytes: reused ? lastNumber - Number(start) : Number(last - start) };
}

/** runWaldump --quiet in this process: the decoder reading the files on `threads` threads, nothing made of the records. */
async function decodeFiles(walDir: string, startText: string): Promise<{ ms: number; cpuMs: number; threadsUsed: number }> {
  const t0 = performance.now();
  const cpu0 = process.cpuUsage();
  let threadsUsed = 1;
  await runWaldump([], { path: walDir, start: startText, quiet: true, threads: String(threads) }, () => {}, () => {}, (e) => (threadsUsed = e.threads));
  const ms = performance.now() - t0;
  // process.cpuUsage counts every thread of the process.
  const cpu = process.cpuUsage(cpu0);
  return { ms, cpuMs: (cpu.user + cpu.system) / 1000, threadsUsed };
}

/**
 * The environment the commands run in: TZ=UTC (pg_waldump otherwise stats /etc/localtime for each
 * commit's timestamp), and without NODE_EXTRA_CA_CERTS, which makes every Node process read and
 * parse that CA bundle as it starts (~40 ms on these machines, whose environment sets it): strata
 * waldump uses no TLS. The bench prints what the variable costs a Node start here (nodeStartCost).
 */
function commandEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, TZ: 'UTC', ...extra };
  delete env['NODE_EXTRA_CA_CERTS'];
  return env;
}

/** A bare Node start (`node -e 0`), best of 5, with the environment given. */
function nodeStartMs(env: NodeJS.ProcessEnv): number {
  let best = Infinity;
  for (let i = 0; i < 5; i++) {
    const t0 = performance.now();
    spawnSync(process.execPath, ['-e', '0'], { stdio: 'ignore', env });
    best = Math.min(best, performance.now() - t0);
  }
  return best;
}

/** What NODE_EXTRA_CA_CERTS, when set, costs a Node start here: the line the bench prints about it. */
function nodeStartCost(): string {
  const without = nodeStartMs(commandEnv());
  if (process.env['NODE_EXTRA_CA_CERTS'] === undefined) return `a bare Node start: ${without.toFixed(0)} ms`;
  const withIt = nodeStartMs({ ...process.env });
  return `a bare Node start: ${without.toFixed(0)} ms without NODE_EXTRA_CA_CERTS, as the commands run, ${withIt.toFixed(0)} ms with it as this environment sets it`;
}

/** GNU time, to learn a child's CPU time (spawnSync does not say); NaN is printed without it. */
const GNU_TIME = '/usr/bin/time';

/** Runs a command with stdout to /dev/null; its wall and CPU time, exit status and stderr (how it ended). */
function timeCommand(cmd: string, args: string[], env: Record<string, string> = {}): { ms: number; cpuMs: number; status: number | null; stderr: string } {
  const devnull = openSync('/dev/null', 'w');
  const timing = join(tmpdir(), `strata-bench-time-${process.pid}`);
  const timed = existsSync(GNU_TIME);
  try {
    const t0 = performance.now();
    const r = timed
      ? spawnSync(GNU_TIME, ['-f', '%U %S', '-o', timing, cmd, ...args], { stdio: ['ignore', devnull, 'pipe'], env: commandEnv(env) })
      : spawnSync(cmd, args, { stdio: ['ignore', devnull, 'pipe'], env: commandEnv(env) });
    const ms = performance.now() - t0;
    if (r.error) throw r.error;
    let cpuMs = NaN;
    if (timed) {
      // GNU time says "Command exited with non-zero status N" on a line before the times.
      const [user, system] = readFileSync(timing, 'utf8').trim().split('\n').pop()!.split(' ').map(Number);
      cpuMs = (user! + system!) * 1000;
    }
    return { ms, cpuMs, status: r.status, stderr: r.stderr.toString('utf8') };
  } finally {
    closeSync(devnull);
    rmSync(timing, { force: true });
  }
}

/**
 * A command that fails at once would look fast: strata waldump must end as pg_waldump does (both
 * exit 1 with "error in WAL record at ..." where the WAL ends), in every run.
 */
function sameEnd(strata: { status: number | null; stderr: string }, pg: { status: number | null; stderr: string }): void {
  const strataEnd = strata.stderr.replace(/^strata waldump: /, '').trim();
  const pgEnd = pg.stderr.replace(/^pg_waldump: /, '').trim();
  if (strata.status !== pg.status || strataEnd !== pgEnd)
    throw new Error(`strata waldump did not end as pg_waldump did:\n  strata (exit ${strata.status}): ${strataEnd}\n  pg_waldump (exit ${pg.status}): ${pgEnd}`);
}

async function main(): Promise<void> {
  let cluster: PgCluster | undefined;
  let walDir = process.env['STRATA_BENCH_WAL_DIR'];
  try {
    if (walDir === undefined) {
      process.stdout.write(`making WAL: pgbench -i -s ${scale}, then ${seconds} s of pgbench -c 4 ...\n`);
      cluster = await PgCluster.create({ name: 'bench-waldump', settings: { max_wal_size: '4GB', checkpoint_timeout: '30min' } });
      await cluster.pgbench(['-i', '-s', String(scale), '-q']);
      await cluster.pgbench(['-c', '4', '-j', '2', '-T', String(seconds), '-n'], { timeoutMs: (seconds + 120) * 1000 });
      await cluster.stop('fast');
      walDir = join(cluster.dataDir, 'pg_wal');
    }
    // What the kernel still has to write of the WAL just made is written before anything is timed.
    spawnSync('sync');
    const { files, start } = segmentsOf(walDir);
    const startText = formatLsn(start);
    const buffers = files.map((f) => readFileSync(f));

    const alone = best(() => decodeInMemory(buffers, start, 'fresh'));
    const aloneReused = best(() => decodeInMemory(buffers, start, 'reused'));
    const described = best(() => decodeInMemory(buffers, start, 'described'));
    const mb = alone.bytes / (1 << 20);
    // dist/bench/waldump.js -> bin/strata.js, wherever the bench is run from.
    const strataBin = fileURLToPath(new URL('../../bin/strata.js', import.meta.url));
    const files2 = await bestAsync(() => decodeFiles(walDir!, startText));
    const one = { STRATA_WALDUMP_THREADS: '1' };
    const many = { STRATA_WALDUMP_THREADS: String(threads) };
    // The commands in rounds, each figure's runs spread over the whole measurement, so that a
    // disturbance (the kernel writing back the WAL just made, say) does not fall on one tool only.
    const commands = {
      strataDump1: () => timeCommand(process.execPath, [strataBin, 'waldump', '-p', walDir!, '-s', startText], one),
      pgDump: () => timeCommand(pgBin('pg_waldump'), ['-p', walDir!, '-s', startText]),
      strataStats1: () => timeCommand(process.execPath, [strataBin, 'waldump', '--stats', '-p', walDir!, '-s', startText], one),
      pgStats: () => timeCommand(pgBin('pg_waldump'), ['--stats', '-p', walDir!, '-s', startText]),
      strataDump: () => timeCommand(process.execPath, [strataBin, 'waldump', '-p', walDir!, '-s', startText], many),
      strataStats: () => timeCommand(process.execPath, [strataBin, 'waldump', '--stats', '-p', walDir!, '-s', startText], many),
    };
    const names = Object.keys(commands) as (keyof typeof commands)[];
    const rounds = new Map(names.map((k) => [k, [] as ReturnType<typeof timeCommand>[]]));
    for (let i = 0; i < runs; i++) for (const k of names) rounds.get(k)!.push(commands[k]());
    const strataDump1 = bestOf(rounds.get('strataDump1')!);
    const pgDump = bestOf(rounds.get('pgDump')!);
    const strataStats1 = bestOf(rounds.get('strataStats1')!);
    const pgStats = bestOf(rounds.get('pgStats')!);
    const strataDump = bestOf(rounds.get('strataDump')!);
    const strataStats = bestOf(rounds.get('strataStats')!);
    sameEnd(strataDump1, pgDump);
    sameEnd(strataDump, pgDump);

    const line = (name: string, r: { ms: number; cpuMs: number }) =>
      `${name.padEnd(44)} ${(mb / (r.ms / 1000)).toFixed(0).padStart(7)} MiB/s ${((alone.records / (r.ms / 1000)) / 1e6).toFixed(2).padStart(7)} M rec/s ${r.ms.toFixed(0).padStart(8)} ms ${r.cpuMs.toFixed(0).padStart(8)} ms CPU\n`;
    const startCost = nodeStartCost();
    process.stdout.write(`\nWAL: ${mb.toFixed(1)} MiB, ${alone.records} records, ${files.length} segments (best of ${runs}; CRC-32C: ${crc32cImplementation}${strataCrc32cAddon !== undefined ? ` (${strataCrc32cAddon.method})` : ''}; load average ${loadavg().map((l) => l.toFixed(2)).join(' ')})\n`);
    process.stdout.write(`(commands run with TZ=UTC; ${startCost})\n`);
    const t = `${threads} thread${threads === 1 ? '' : 's'}`;
    process.stdout.write(line('strata decoder alone (in memory), 1 thread', alone));
    process.stdout.write(line('strata decoder alone, records reused, 1 thread', aloneReused));
    process.stdout.write(line('strata decoder + typed descriptions, 1 thread', described));
    process.stdout.write(line(`strata decoder (files, -q), ${files2.threadsUsed} thread${files2.threadsUsed === 1 ? '' : 's'}`, files2));
    process.stdout.write(line('strata waldump > /dev/null, 1 thread', strataDump1));
    process.stdout.write(line(`strata waldump > /dev/null, ${t}`, strataDump));
    process.stdout.write(line('strata waldump --stats > /dev/null, 1 thread', strataStats1));
    process.stdout.write(line(`strata waldump --stats > /dev/null, ${t}`, strataStats));
    process.stdout.write(line('pg_waldump > /dev/null (1 thread)', pgDump));
    process.stdout.write(line('pg_waldump --stats > /dev/null (1 thread)', pgStats));
    const ratio = (name: string, ours: { ms: number; cpuMs: number }, theirs: { ms: number; cpuMs: number }) =>
      `ratio ${name.padEnd(52)} ${(theirs.ms / ours.ms).toFixed(2)} by wall time, ${(theirs.cpuMs / ours.cpuMs).toFixed(2)} by CPU time (target >= 1)\n`;
    process.stdout.write('\n' + ratio('strata waldump 1 thread / pg_waldump speed:', strataDump1, pgDump));
    process.stdout.write(ratio(`strata waldump ${t} / pg_waldump speed:`, strataDump, pgDump));
    process.stdout.write(ratio('decoder alone 1 thread / pg_waldump --stats speed:', alone, pgStats));
    process.stdout.write(ratio('decoder alone, reused / pg_waldump --stats speed:', aloneReused, pgStats));
    process.stdout.write(ratio(`decoder (files) ${files2.threadsUsed} thr / pg_waldump --stats speed:`, files2, pgStats));
    process.stdout.write(ratio('strata waldump --stats 1 thread / pg --stats speed:', strataStats1, pgStats));
    process.stdout.write(ratio(`strata waldump --stats ${t} / pg --stats speed:`, strataStats, pgStats));
  } finally {
    await cluster?.destroy();
  }
}

// Not a top-level await: `npm run bench:waldump` runs this bundled as CommonJS (scripts/bundle.js).
main().catch((e: unknown) => {
  process.stderr.write(`bench/waldump: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
  process.exitCode = 1;
});
