/**
 * Runs pg_waldump and strata's waldump over the same WAL and lines their output up, for the
 * comparison tests (DESIGN.md: pg_waldump is the oracle for decoding).
 */
import { closeSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseWalFileName, segmentStart, formatLsn } from '../pg/lsn.js';
import { runWaldump, type WaldumpOptions } from '../cli/waldump.js';
import { pgBin } from './process.js';

export interface DumpResult {
  readonly lines: string[];
  /** The error line, without the program name, or '' when it ended cleanly. */
  readonly error: string;
}

function splitLines(text: string): string[] {
  const lines = text.split('\n');
  if (lines[lines.length - 1] === '') lines.pop();
  return lines;
}

/** The start of the oldest segment in a pg_wal folder, as `X/X`. */
export function firstSegmentStart(walDir: string, segmentSize = 16 << 20): string {
  const segs = readdirSync(walDir)
    .map((n) => parseWalFileName(n, segmentSize))
    .filter((p) => p !== null)
    .sort((a, b) => (a.segNo < b.segNo ? -1 : a.segNo > b.segNo ? 1 : 0));
  if (segs.length === 0) throw new Error(`Cannot find a WAL segment in ${walDir}`);
  return formatLsn(segmentStart(segs[0]!.segNo, segmentSize));
}

/** A command's output and how it ended, its stdout going through a file: it can be hundreds of MB. */
function runToFile(cmd: string, args: readonly string[], env: Record<string, string>, prefix: RegExp): DumpResult & { readonly status: number | null } {
  const dir = mkdtempSync(join(tmpdir(), 'strata-waldump-'));
  try {
    const file = join(dir, 'out.txt');
    const fd = openSync(file, 'w');
    let r;
    try {
      r = spawnSync(cmd, args, { stdio: ['ignore', fd, 'pipe'], env: { ...process.env, TZ: 'UTC', ...env }, encoding: 'utf8' });
    } finally {
      closeSync(fd);
    }
    if (r.error !== undefined) throw r.error;
    const err = r.stderr.trim();
    return { lines: splitLines(readFileSync(file, 'utf8')), error: err.replace(prefix, ''), status: r.status };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Runs pg_waldump (under TZ=UTC). */
export function pgWaldump(args: readonly string[]): DumpResult & { readonly status: number | null } {
  return runToFile(pgBin('pg_waldump'), args, {}, /^pg_waldump: error: /);
}

/** bin/strata.js, from dist/src/testing/. */
const STRATA_COMMAND = fileURLToPath(new URL('../../../bin/strata.js', import.meta.url));

/**
 * `strata waldump ARGS` run as a user runs it (bin/strata.js in a new process: the one-file bundle
 * when the build made one, see scripts/bundle.js; `env` STRATA_BUNDLE=0 runs the modules).
 */
export function strataWaldumpCommand(args: readonly string[], env: Record<string, string> = {}): DumpResult & { readonly status: number | null } {
  return runToFile(process.execPath, [STRATA_COMMAND, 'waldump', ...args], env, /^strata waldump: error: /);
}

export interface StrataDumpResult extends DumpResult {
  /** For a read on several threads: how many ranges, and how many of them were read again. */
  readonly threaded?: { readonly ranges: number; readonly rangesReread: number; readonly threads: number };
}

export async function strataWaldump(segments: string[], opts: WaldumpOptions): Promise<StrataDumpResult> {
  const out: Uint8Array[] = [];
  let err = '';
  let threaded: StrataDumpResult['threaded'];
  await runWaldump(
    segments,
    opts,
    // The bytes are only valid during the call.
    (bytes) => out.push(Buffer.from(bytes)),
    (s) => (err += s),
    (e) => (threaded = { ranges: e.ranges, rangesReread: e.rangesReread, threads: e.threads }),
  );
  const text = { lines: splitLines(Buffer.concat(out).toString('utf8')), error: err.trim().replace(/^strata waldump: error: /, '') };
  return threaded === undefined ? text : { ...text, threaded };
}

/** The first `max` differences between two outputs, as readable text; '' when equal. */
export function diffLines(expected: readonly string[], actual: readonly string[], max = 10): string {
  const diffs: string[] = [];
  const n = Math.max(expected.length, actual.length);
  for (let i = 0; i < n && diffs.length < max; i++) {
    if (expected[i] !== actual[i]) diffs.push(`line ${i + 1}:\n  pg_waldump: ${expected[i] ?? '<none>'}\n  strata:     ${actual[i] ?? '<none>'}`);
  }
  if (expected.length !== actual.length) diffs.push(`line counts: pg_waldump ${expected.length}, strata ${actual.length}`);
  return diffs.join('\n');
}

/** The fixed part of a pg_waldump record line: everything up to and including `desc: TYPE`. */
export function fixedPart(line: string): string {
  const i = line.indexOf(', desc: ');
  if (i < 0) return line;
  const rest = line.slice(i + 8);
  const sp = rest.indexOf(' ');
  return line.slice(0, i + 8) + (sp < 0 ? rest : rest.slice(0, sp));
}

