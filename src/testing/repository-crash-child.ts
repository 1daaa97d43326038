/**
 * The child process of the repository's crash test (src/repository/crash.test.ts): opens a
 * Repository, runs the seeded script of repository-crash-workload.ts against it, and is killed with
 * SIGKILL somewhere along the way, by the test or by itself.
 *
 * Usage: node repository-crash-child.js <root> <seed> <records> <from> <to> [<crash point> <count>]
 *
 * Like ingest after a restart, it first puts again every record above each timeline's
 * disk-consistent LSN (the records before operation `from`), without the flushes, compactions and
 * GC runs between them; from operation `from` on it runs everything, up to operation `to`
 * (exclusive), then flushes, closes and says `done`. With a crash point it kills
 * itself with SIGKILL the `count`-th time it reaches that point of a durable write (on any thread:
 * repository-crash-points.ts is installed in the layer flush worker too): the fs calls the
 * repository makes are wrapped (and node's ESM bindings of node:fs synced to the wrappers) so the
 * death falls exactly between two system calls, e.g. after a layer file's rename and before the
 * metadata names it.
 *
 * It reports on stdout, one line each, written synchronously so that a line the test has read
 * happened before the kill:
 *   ready                      the repository is open
 *   op <i> <kind>              operation i of the script starts (i >= from)
 *   adv <timeline> <lsn>       the timeline's last record LSN moved to lsn
 *   branch <lsn>               B was made
 *   flushed <timeline> <lsn>   an explicit flush finished: the disk-consistent LSN is lsn
 *   crash <point>              the child kills itself now
 *   done                       the script ran to its end; everything is flushed and closed
 */
import { setImmediate as yieldToEventLoop, setTimeout as sleep } from 'node:timers/promises';
import { configureFlushWorker } from '../repository/layer-flush.js';
import { Repository } from '../repository/repository.js';
import type { Tenant } from '../repository/tenant.js';
import type { Timeline } from '../repository/timeline.js';
import { installCrashPoint, say, type CrashPointSetup } from './repository-crash-points.js';
import { CRASH_POINTS, CRASH_TENANT_CONFIG, lsnOf, makeCrashWorkload, TIMELINE_A, TIMELINE_B, type CrashPoint } from './repository-crash-workload.js';
import { toyReconstructor } from './repository-model.js';

function fail(what: string, e: unknown): never {
  process.stderr.write(`crash child: ${what}: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
  process.exit(3);
}

async function main(): Promise<void> {
  const [root, seedText, recordsText, fromText, toText, pointText, countText] = process.argv.slice(2);
  if (root === undefined || seedText === undefined || recordsText === undefined || fromText === undefined || toText === undefined)
    throw new Error('usage: repository-crash-child.js <root> <seed> <records> <from> <to> [<crash point> <count>]');
  if (pointText !== undefined) {
    if (!(CRASH_POINTS as readonly string[]).includes(pointText)) throw new Error(`Cannot crash at ${pointText}: it is not one of ${CRASH_POINTS.join(', ')}`);
    // One count for the whole process: layer files are written on this thread (compaction) and in the flush worker.
    const crash: CrashPointSetup = { point: pointText as CrashPoint, count: Number(countText ?? '1'), seen: new Int32Array(new SharedArrayBuffer(4)) };
    installCrashPoint(crash);
    configureFlushWorker({ module: new URL('./repository-crash-points.js', import.meta.url).href, data: crash });
  }
  const w = makeCrashWorkload(Number(seedText), Number(recordsText));
  const from = Number(fromText);
  const to = Math.min(Number(toText), w.ops.length);
  const repo = Repository.open(root, {
    reconstructorFor: () => toyReconstructor,
    pageCacheBytes: 1 << 20,
    events: { onBackgroundError: (_tenant, timeline, e) => fail(`background work on ${timeline}`, e) },
  });
  const tenant: Tenant = repo.list().find((t) => t.id === w.tenantId) ?? repo.createTenant(w.tenantId, CRASH_TENANT_CONFIG);
  const find = (i: number): Timeline | undefined => tenant.list().find((t) => t.id === w.timelineIds[i]);
  const timelines: (Timeline | undefined)[] = [find(TIMELINE_A) ?? tenant.createTimeline(w.timelineIds[TIMELINE_A]), find(TIMELINE_B)];
  const timeline = (i: number): Timeline => {
    const t = timelines[i];
    if (t === undefined) throw new Error(`assert: timeline ${i} used before the script made it`);
    return t;
  };
  say('ready');
  const background: Promise<unknown>[] = [];
  const layerWork = (p: Promise<unknown>, wait: boolean): Promise<unknown> => {
    const q = p.catch((e: unknown) => fail('compaction or GC', e));
    if (!wait) background.push(q);
    return wait ? q : Promise.resolve();
  };
  for (let i = 0; i < to; i++) {
    const op = w.ops[i]!;
    const live = i >= from;
    if (live) say(`op ${i} ${op.kind}`);
    switch (op.kind) {
      case 'record': {
        const t = timeline(op.timeline);
        if (op.lsn <= t.lastRecordLsnNumber) break; // on disk already
        for (const p of op.puts) t.put(p.key, lsnOf(p.lsn), p.value);
        t.advance(lsnOf(op.lsn));
        say(`adv ${op.timeline} ${op.lsn}`);
        // Lets a flush that advance() started go on beside the next puts.
        await yieldToEventLoop();
        break;
      }
      case 'branch':
        if (timelines[TIMELINE_B] === undefined) {
          timelines[TIMELINE_B] = tenant.branch(w.timelineIds[TIMELINE_A], lsnOf(op.lsn), w.timelineIds[TIMELINE_B]);
          say(`branch ${op.lsn}`);
        }
        break;
      case 'flush':
        if (live) {
          const t = timeline(op.timeline);
          await t.flush();
          say(`flushed ${op.timeline} ${t.diskConsistentLsnNumber}`);
        }
        break;
      case 'compact':
        if (live)
          await layerWork(
            tenant.compactAll(op.force).then((results) => {
              for (const r of results) if (r.imageLayerErrors.length > 0) fail('image layer creation', new Error(r.imageLayerErrors.join('; ')));
            }),
            op.wait,
          );
        break;
      case 'gc':
        if (live) await layerWork(tenant.gcAll(), op.wait);
        break;
      case 'pause':
        if (live) await sleep(op.ms);
        break;
    }
  }
  await Promise.all(background);
  for (const [i, t] of timelines.entries()) {
    if (t === undefined) continue;
    await t.flush();
    say(`flushed ${i} ${t.diskConsistentLsnNumber}`);
  }
  await repo.close(true);
  say('done');
}

main().catch((e: unknown) => fail('the script failed', e));
