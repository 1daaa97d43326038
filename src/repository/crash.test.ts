/**
 * Crash tests of the repository (issue 5): a child process (src/testing/repository-crash-child.ts)
 * writing, flushing, compacting and collecting garbage is killed with SIGKILL, at random moments,
 * right after it says it started a flush, a compaction or a GC, and at exact points of its durable
 * writes (it kills itself there). After each kill the test opens the repository and checks that what
 * a crash leaves (temporary files, layer files no metadata names, ephemeral files) is gone and none
 * of it is used, that the disk-consistent LSN of every timeline is at most what the child had
 * advanced to and at least what was durable before, and that reads up to it equal the model. Then
 * the next child goes on from there, putting again what lay above the disk-consistent LSN, as
 * ingest does from its WAL log.
 *
 * A SIGKILL leaves the kernel's page cache alone, so these tests prove the order of renames, metadata
 * writes and deletions, not the fsyncs; durable.ts and its callers are read for those.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import {
  CRASH_POINTS,
  CRASH_TENANT_CONFIG,
  lsnOf,
  makeCrashWorkload,
  TIMELINE_A,
  TIMELINE_B,
  type CrashPoint,
  type CrashWorkload,
} from '../testing/repository-crash-workload.js';
import { expectRead, keyPool, modelRead, prng, randomValue, toyReconstructor, type ModelTimeline } from '../testing/repository-model.js';
import { compact } from './compaction.js';
import { TEMP_SUFFIX } from './durable.js';
import { RepositoryError } from './errors.js';
import type { Key } from './key.js';
import { LayerFile, LayerKind, parseLayerFileName } from './layer-file.js';
import { METADATA_FILE, readMetadata } from './metadata.js';
import { Repository } from './repository.js';
import type { Timeline } from './timeline.js';

const CHILD = fileURLToPath(new URL('../testing/repository-crash-child.js', import.meta.url));
/** Longer than any run of kills gets through: the children are always stopped mid-script. */
const RECORDS = 6000;
const SEEDS = [101, 202, 303];
const ROUNDS_PER_SEED = 13;
/** Operations the last, unkilled child of a seed runs before it closes the repository cleanly. */
const FINAL_OPS = 400;
/** A child not dead by then is killed anyway (a crash point it never reached). */
const BACKSTOP_MS = 5000;
/** STRATA_CRASH_TEST_VERBOSE=1 prints each round: its kill, how long the child ran, and where it got to. */
const VERBOSE = process.env['STRATA_CRASH_TEST_VERBOSE'] !== undefined;

type KillMode =
  | { readonly kind: 'delay'; readonly ms: number }
  /** Right after the child made the branch B (A's newest values are then in memory only). */
  | { readonly kind: 'on-branch' }
  | { readonly kind: 'on-op'; readonly op: 'flush' | 'compact' | 'gc'; readonly nth: number; readonly delayMs: number }
  | { readonly kind: 'point'; readonly point: CrashPoint; readonly count: number };

type ModeName = CrashPoint | 'delay' | 'on-flush' | 'on-compact' | 'on-gc' | 'on-branch';

interface ChildRun {
  readonly signal: NodeJS.Signals | null;
  readonly code: number | null;
  /** The last operation the child started (a line `op i`), if any. */
  readonly lastOp: number | undefined;
  readonly advanced: [number, number];
  readonly flushed: [number, number];
  readonly crashFired: CrashPoint | undefined;
  readonly done: boolean;
  readonly stderr: string;
}

function runChild(root: string, seed: number, from: number, to: number, mode: KillMode | undefined, backstopMs: number): Promise<ChildRun> {
  const args = [CHILD, root, String(seed), String(RECORDS), String(from), String(to)];
  if (mode?.kind === 'point') args.push(mode.point, String(mode.count));
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  const advanced: [number, number] = [0, 0];
  const flushed: [number, number] = [0, 0];
  let lastOp: number | undefined;
  let crashFired: CrashPoint | undefined;
  let done = false;
  let stderr = '';
  let opsSeen = 0;
  const kill = () => child.kill('SIGKILL');
  const backstop = setTimeout(kill, backstopMs);
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  createInterface({ input: child.stdout }).on('line', (line) => {
    const f = line.split(' ');
    switch (f[0]) {
      case 'ready':
        if (mode?.kind === 'delay') setTimeout(kill, mode.ms);
        break;
      case 'op':
        lastOp = Number(f[1]);
        if (mode?.kind === 'on-op' && f[2] === mode.op && ++opsSeen === mode.nth) {
          if (mode.delayMs === 0) kill();
          else setTimeout(kill, mode.delayMs);
        }
        break;
      case 'adv': {
        const i = Number(f[1]);
        advanced[i] = Math.max(advanced[i] as number, Number(f[2]));
        break;
      }
      case 'flushed': {
        const i = Number(f[1]);
        flushed[i] = Math.max(flushed[i] as number, Number(f[2]));
        break;
      }
      case 'branch':
        if (mode?.kind === 'on-branch') kill();
        break;
      case 'crash':
        crashFired = f[1] as CrashPoint;
        break;
      case 'done':
        done = true;
        break;
    }
  });
  return new Promise((resolve) => {
    child.on('close', (code, signal) => {
      clearTimeout(backstop);
      resolve({ signal, code, lastOp, advanced, flushed, crashFired, done, stderr });
    });
  });
}

/** What the test knows of one seed's repository across its children. */
interface SeedState {
  from: number;
  /** Per timeline: the highest LSN any child said it advanced to (B: at least its branch point). */
  readonly advanced: [number, number];
  /** Per timeline: the disk-consistent LSN may not be below this (explicit flushes, and what the last check saw). */
  readonly durable: [number, number];
}

interface Totals {
  rounds: number;
  finishedEarly: number;
  readonly killedBy: Record<string, number>;
  readonly pointsFired: Set<CrashPoint>;
  readonly leftovers: { layerTemp: number; metadataTemp: number; ephemeral: number; unnamedLayer: number; timelineWithoutMetadata: number };
  layersVerified: number;
  reads: number;
  /** Reads of B below its branch point while A was still behind it: they must wait, not answer. */
  readsWaitingForAncestor: number;
  diskConsistentAdvanced: number;
}

const readOptions = { reconstructorFor: () => toyReconstructor, pageCacheBytes: 0 };


function timelineDirs(root: string, w: CrashWorkload): string[] {
  const dir = join(root, 'tenants', w.tenantId, 'timelines');
  return existsSync(dir) ? readdirSync(dir).map((n) => join(dir, n)) : [];
}

/** Counts what a crash left in the timeline folders: files the next open must remove. Returns their paths. */
function scanLeftovers(root: string, w: CrashWorkload, totals: Totals): string[] {
  const left: string[] = [];
  for (const dir of timelineDirs(root, w)) {
    if (!existsSync(join(dir, METADATA_FILE))) {
      totals.leftovers.timelineWithoutMetadata++;
      left.push(dir);
      continue;
    }
    const named = new Set(readMetadata(join(dir, METADATA_FILE)).layers);
    for (const f of readdirSync(dir)) {
      if (f === METADATA_FILE || named.has(f)) continue;
      if (f.endsWith(TEMP_SUFFIX)) {
        if (f.startsWith('layer-')) totals.leftovers.layerTemp++;
        else if (f.startsWith(METADATA_FILE)) totals.leftovers.metadataTemp++;
      } else if (f.startsWith('ephemeral-')) totals.leftovers.ephemeral++;
      else if (parseLayerFileName(f) !== undefined) totals.leftovers.unnamedLayer++;
      left.push(join(dir, f));
    }
  }
  return left;
}

/**
 * Opens the repository a child left and checks it: leftovers removed and unused, every layer whole,
 * disk-consistent LSNs within what was advanced and at least what was durable, reads equal the model.
 */
async function checkRecovered(root: string, w: CrashWorkload, state: SeedState, totals: Totals, rand: () => number, context: string): Promise<void> {
  const leftovers = scanLeftovers(root, w, totals);
  const repo = Repository.open(root, readOptions);
  try {
    const tenant = repo.list().find((t) => t.id === w.tenantId);
    if (tenant === undefined) {
      assert.deepEqual(state.advanced, [0, 0], `${context}: the tenant is gone, yet the child had advanced`);
      return;
    }
    for (const path of leftovers) assert.ok(!existsSync(path), `${context}: ${path}, left by the crash, is still there after open`);
    for (const dir of timelineDirs(root, w)) {
      const named = new Set(readMetadata(join(dir, METADATA_FILE)).layers);
      for (const f of readdirSync(dir)) assert.ok(f === METADATA_FILE || named.has(f), `${context}: ${join(dir, f)} is neither the metadata nor a layer it names`);
    }
    const timelines = w.timelineIds.map((id) => tenant.list().find((t) => t.id === id));
    const a = timelines[TIMELINE_A];
    const b = timelines[TIMELINE_B];
    if (a === undefined) {
      assert.equal(state.advanced[TIMELINE_A], 0, `${context}: A is gone, yet the child had advanced it`);
      return;
    }
    if (b === undefined) assert.equal(state.advanced[TIMELINE_B], 0, `${context}: B is gone, yet the child had advanced it`);
    for (const [i, t] of timelines.entries()) {
      if (t === undefined) continue;
      const m = w.models[i] as ModelTimeline;
      // No half-written file is used: every layer the timeline opened is one its metadata names, whole.
      const named = readMetadata(join(t.dir, METADATA_FILE)).layers;
      assert.deepEqual(t.layers.map((l) => l.name).sort(), [...named].sort(), `${context}: layers in use are those the metadata names`);
      for (const l of t.layers) {
        assert.ok(l instanceof LayerFile, `${context}: layer ${l.path} did not open: ${'error' in l ? l.error.message : ''}`);
        l.verify();
        totals.layersVerified++;
      }
      const disk = t.diskConsistentLsnNumber;
      const advanced = Math.max(state.advanced[i] as number, i === TIMELINE_B ? m.ancestorLsn : 0);
      assert.ok(disk <= advanced, `${context}: timeline ${i} reopened at ${disk}, beyond the ${advanced} its child had advanced to`);
      assert.ok(disk >= (state.durable[i] as number), `${context}: timeline ${i} reopened at ${disk}, below the ${state.durable[i]} that was durable`);
      assert.equal(t.lastRecordLsnNumber, disk, `${context}: a reopened timeline resumes at its disk-consistent LSN`);
      if (disk > (state.durable[i] as number)) totals.diskConsistentAdvanced++;
      state.durable[i] = disk;
    }
    // Reads: every key at several LSNs between the GC cutoff (or the branch point) and the disk-consistent LSN.
    for (const [i, t] of timelines.entries()) {
      if (t === undefined) continue;
      const m = w.models[i] as ModelTimeline;
      const disk = t.diskConsistentLsnNumber;
      const low = Math.max(t.gcCutoffNumber, i === TIMELINE_B ? m.ancestorLsn : 0);
      const points = new Set([disk, low, ...Array.from({ length: 3 }, () => low + Math.floor(rand() * (disk - low + 1)))]);
      for (const p of t.retainedLsns()) if (p < t.gcCutoffNumber) points.add(p);
      for (const lsn of points) {
        if (i === TIMELINE_B && a.lastRecordLsnNumber < Math.min(lsn, m.ancestorLsn)) {
          // A restarted below B's branch point: its values up to there come back only as A's WAL is
          // replayed. Until then a read of B that reaches A must wait, not answer from a stale A.
          for (const key of w.keys.slice(0, 4)) {
            await assert.rejects(t.get(key, lsnOf(lsn), 1), (e: unknown) => e instanceof RepositoryError && e.code === 'LSN_TIMEOUT', `${context}: B at ${lsn} with A at ${a.lastRecordLsnNumber}`);
            totals.readsWaitingForAncestor++;
          }
          continue;
        }
        for (const key of w.keys) {
          await expectRead(t, m, key, lsn, context);
          totals.reads++;
        }
      }
    }
  } finally {
    await repo.close(false);
  }
}

/**
 * Every kind of kill, in a seeded order. The first round of each seed is special: the first child
 * runs from the start, through the branch. Seed 0 dies as B's folder is made (the second timeline
 * folder: A's is the first), seed 1 right after B is made, seed 2 as A's folder is made.
 */
function killSchedule(seed: number, seedIndex: number): ModeName[] {
  const rand = prng(seed);
  const names: ModeName[] = [...CRASH_POINTS.filter((p) => p !== 'timeline-after-mkdir'), 'delay', 'delay', 'delay', 'on-flush', 'on-compact', 'on-gc'];
  for (let i = names.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [names[i], names[j]] = [names[j] as ModeName, names[i] as ModeName];
  }
  // Each seed starts at a different place in the order, so that every kind comes up across seeds.
  const shift = (seedIndex * (ROUNDS_PER_SEED - 1)) % names.length;
  return [seedIndex % 3 === 1 ? 'on-branch' : 'timeline-after-mkdir', ...names.slice(shift), ...names.slice(0, shift)];
}

function killMode(name: ModeName, seedIndex: number, rand: () => number): KillMode {
  switch (name) {
    case 'delay':
      return { kind: 'delay', ms: 20 + Math.floor(rand() * 600) };
    case 'on-branch':
      return { kind: 'on-branch' };
    case 'on-flush':
    case 'on-compact':
    case 'on-gc':
      return { kind: 'on-op', op: name === 'on-flush' ? 'flush' : name === 'on-compact' ? 'compact' : 'gc', nth: 1 + Math.floor(rand() * 3), delayMs: Math.floor(rand() * 4) };
    case 'timeline-after-mkdir':
      return { kind: 'point', point: name, count: seedIndex % 3 === 0 ? 2 : 1 };
    default:
      return { kind: 'point', point: name, count: 1 + Math.floor(rand() * (name.includes('partial') ? 12 : 4)) };
  }
}

async function crashSeed(seed: number, seedIndex: number, totals: Totals): Promise<void> {
  const w = makeCrashWorkload(seed, RECORDS);
  const root = mkdtempSync(join(tmpdir(), 'strata-crash-'));
  const rand = prng(seed ^ 0x5eed);
  const state: SeedState = { from: 0, advanced: [0, 0], durable: [0, 0] };
  const schedule = killSchedule(seed, seedIndex);
  try {
    for (let round = 0; round < ROUNDS_PER_SEED; round++) {
      const mode = killMode(schedule[round % schedule.length] as ModeName, seedIndex, rand);
      const started = Date.now();
      const run = await runChild(root, seed, state.from, w.ops.length, mode, BACKSTOP_MS);
      const ran = Date.now();
      const context = `seed ${seed} round ${round} (${JSON.stringify(mode)}, from op ${state.from})`;
      assert.ok(run.signal === 'SIGKILL' || (run.code === 0 && run.done), `${context}: the child failed (code ${run.code}, signal ${run.signal}): ${run.stderr}`);
      totals.rounds++;
      if (run.done) totals.finishedEarly++;
      const by = run.crashFired !== undefined ? `point ${run.crashFired}` : run.done ? 'none (finished)' : mode.kind;
      totals.killedBy[by] = (totals.killedBy[by] ?? 0) + 1;
      if (run.crashFired !== undefined) totals.pointsFired.add(run.crashFired);
      for (const i of [TIMELINE_A, TIMELINE_B]) {
        state.advanced[i] = Math.max(state.advanced[i] as number, run.advanced[i] as number);
        state.durable[i] = Math.max(state.durable[i] as number, run.flushed[i] as number);
      }
      await checkRecovered(root, w, state, totals, rand, context);
      if (VERBOSE) console.log(`${context}: child ${ran - started} ms, check ${Date.now() - ran} ms, last op ${run.lastOp}, by ${by}`);
      if (run.lastOp !== undefined) state.from = run.lastOp;
    }
    // The last child runs on, unkilled, for a while and closes the repository; then every key on every
    // timeline reads as the model says, at LSNs from the GC cutoff to the end.
    const to = Math.min(w.ops.length, state.from + FINAL_OPS);
    const finalStart = Date.now();
    const last = await runChild(root, seed, state.from, to, undefined, 120_000);
    if (VERBOSE) console.log(`seed ${seed} final child from ${state.from}: ${Date.now() - finalStart} ms`);
    assert.ok(last.code === 0 && last.done, `seed ${seed} final run failed (code ${last.code}, signal ${last.signal}): ${last.stderr}`);
    for (const i of [TIMELINE_A, TIMELINE_B]) state.advanced[i] = Math.max(state.advanced[i] as number, last.advanced[i] as number);
    assert.deepEqual(scanLeftovers(root, w, totals), [], `seed ${seed}: a clean close leaves nothing to remove`);
    await checkRecovered(root, w, state, totals, rand, `seed ${seed} final`);
    const repo = Repository.open(root, readOptions);
    try {
      for (const [i, m] of w.models.entries()) {
        if (i === TIMELINE_B && to <= w.branchOp) continue;
        // The script's last record on this timeline before operation `to`.
        const end = w.ops.slice(0, to).reduce((n, op) => (op.kind === 'record' && op.timeline === i ? op.lsn : n), i === TIMELINE_B ? m.ancestorLsn : 0);
        const t = repo.timeline(w.tenantId, m.id);
        assert.equal(t.diskConsistentLsnNumber, end, `seed ${seed}: timeline ${i} ends where the script was stopped`);
        const low = Math.max(t.gcCutoffNumber, m.ancestorLsn);
        for (let k = 0; k <= 8; k++) {
          const lsn = low + Math.floor(((end - low) * k) / 8);
          for (const key of w.keys) await expectRead(t, m, key, lsn, `seed ${seed} final sweep`);
          totals.reads += w.keys.length;
        }
      }
    } finally {
      await repo.close(false);
    }
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

test('crash: children killed with SIGKILL at random moments and inside durable writes; every restart reads as the model', async () => {
  const totals: Totals = {
    rounds: 0,
    finishedEarly: 0,
    killedBy: {},
    pointsFired: new Set(),
    leftovers: { layerTemp: 0, metadataTemp: 0, ephemeral: 0, unnamedLayer: 0, timelineWithoutMetadata: 0 },
    layersVerified: 0,
    reads: 0,
    readsWaitingForAncestor: 0,
    diskConsistentAdvanced: 0,
  };
  for (const [i, seed] of SEEDS.entries()) await crashSeed(seed, i, totals);
  console.log(`crash test: ${JSON.stringify({ ...totals, pointsFired: [...totals.pointsFired].sort() })}`);
  // The run proves little unless it crashed where it claims to and recovered from each kind of leftover.
  for (const p of CRASH_POINTS) assert.ok(totals.pointsFired.has(p), `crash point ${p} never fired: ${JSON.stringify(totals.killedBy)}`);
  for (const [kind, n] of Object.entries(totals.leftovers)) assert.ok(n > 0, `no crash left a ${kind}`);
  assert.ok(totals.finishedEarly === 0, 'a child ran the whole script before its kill: the script is too short to test much');
  assert.ok(totals.diskConsistentAdvanced >= SEEDS.length * 3, `the disk-consistent LSNs moved in only ${totals.diskConsistentAdvanced} rounds`);
});

test('a branch whose ancestor restarted below the branch point waits for the ancestor, and makes no image from it meanwhile', async () => {
  const root = mkdtempSync(join(tmpdir(), 'strata-behind-'));
  const keys = keyPool(12);
  const rand = prng(7);
  // Images by delta depth alone (a fraction above 1 never fires the redo-keys rule): none may exist before the crash.
  const config = { ...CRASH_TENANT_CONFIG, checkpointDistanceBytes: 1 << 30, imageLayerRedoKeysFractionMin: 2 };
  let repo = Repository.open(root, readOptions);
  try {
    const tenant = repo.createTenant(undefined, config);
    const a = tenant.createTimeline();
    const ma: ModelTimeline = { id: a.id, ancestor: undefined, ancestorLsn: 0, puts: [], last: 0 };
    const putAll = (t: Timeline, m: ModelTimeline, lsnFrom: number, lsnTo: number) => {
      for (let lsn = lsnFrom; lsn <= lsnTo; lsn += 10) {
        const key = keys[Math.floor(lsn / 10) % keys.length] as Key;
        const value = randomValue(rand, key, lsn, modelRead(m, key, lsn).kind === 'not-found');
        t.put(key, lsnOf(lsn), value);
        m.puts.push({ key, lsn, value });
        t.advance(lsnOf(lsn));
        m.last = lsn;
      }
    };
    putAll(a, ma, 10, 500);
    await a.flush();
    putAll(a, ma, 510, 1000); // in memory only: lost at the crash, replayed from the WAL log after
    const b = tenant.branch(a.id, lsnOf(1000));
    const mb: ModelTimeline = { id: b.id, ancestor: ma, ancestorLsn: 1000, puts: [], last: 1000 };
    // Two bands of B's deltas (three flushes, a compaction, three more flushes): deep enough for an image layer.
    for (let round = 0; round < 6; round++) {
      putAll(b, mb, 1005 + round * 200, 1195 + round * 200);
      await b.flush();
      if (round === 2) await compact(b, { force: true });
    }
    // The crash: nothing more is flushed. A reopens at 500, B at its own disk-consistent LSN, past 1000.
    await repo.close(false);
    repo = Repository.open(root, readOptions);
    const a2 = repo.timeline(tenant.id, a.id);
    const b2 = repo.timeline(tenant.id, b.id);
    assert.equal(a2.diskConsistentLsnNumber, 500);
    assert.equal(b2.diskConsistentLsnNumber, mb.last);
    // A read of B that needs A above 500 waits for it; one that B answers alone does not need to, but may.
    await assert.rejects(b2.get(keys[3] as Key, lsnOf(1000), 20), (e: unknown) => e instanceof RepositoryError && e.code === 'LSN_TIMEOUT' && e.message.includes(a.id));
    // Compaction of B makes no image layer out of A's stale state.
    const result = await compact(b2, { force: true });
    assert.equal(result.imageLayersCreated, 0, 'an image layer was made from an ancestor that is behind');
    assert.ok(b2.layers.every((l) => l.descriptor.kind === LayerKind.Delta));
    // A's WAL is replayed: B's reads equal the model, and now compaction may make images.
    const pending = b2.get(keys[5] as Key, lsnOf(1000), 5000);
    for (const p of ma.puts) {
      if (p.lsn <= 500) continue;
      a2.put(p.key, lsnOf(p.lsn), p.value);
      a2.advance(lsnOf(p.lsn));
    }
    assert.ok(Buffer.from(await pending).equals((modelRead(mb, keys[5] as Key, 1000) as { bytes: Buffer }).bytes));
    for (const key of keys) for (const lsn of [1000, 1100, mb.last]) await expectRead(b2, mb, key, lsn, 'after A caught up');
    const again = await compact(b2, { force: true });
    assert.ok(again.imageLayersCreated > 0, 'with A caught up, the forced compaction makes an image layer');
    for (const key of keys) await expectRead(b2, mb, key, mb.last, 'after the image layer');
  } finally {
    await repo.close(false);
    rmSync(root, { recursive: true, force: true });
  }
});
