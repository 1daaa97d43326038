/**
 * A strata process that only follows a primary into one timeline: the child the follower crash
 * test kills with SIGKILL and starts again. Arguments: repository root, tenant id, timeline id,
 * WAL log folder, primary port, slot name. Prints "following <lsn>" once streaming, and
 * "at <last record LSN> <disk-consistent LSN>" every 200 ms.
 */
import { formatLsn } from '../pg/lsn.js';
import { InProcessRedoEngine } from '../redo/engine.js';
import { RedoReconstructor } from '../repository/redo-reconstructor.js';
import { Repository } from '../repository/repository.js';
import { TimelineFollower } from '../ingest/follower.js';

const [root, tenantId, timelineId, walLogDir, port, slotName] = process.argv.slice(2) as [string, string, string, string, string, string];
const engine = new InProcessRedoEngine();
const repo = Repository.open(root, { reconstructorFor: (id) => new RedoReconstructor(engine, id, () => ({ hintBitsLogged: false })) });
const timeline = repo.timeline(tenantId, timelineId);
const follower = await TimelineFollower.start({
  timeline,
  walLogDir,
  slotName,
  connect: { host: '127.0.0.1', port: Number(port), user: 'postgres', applicationName: 'strata' },
  onError: (e) => {
    process.stderr.write(`follower failed: ${(e as Error).stack ?? String(e)}\n`);
    process.exit(3);
  },
});
process.stdout.write(`following ${formatLsn(timeline.lastRecordLsn)}\n`);
setInterval(() => process.stdout.write(`at ${formatLsn(timeline.lastRecordLsn)} ${formatLsn(timeline.diskConsistentLsn)}\n`), 200);
process.on('SIGTERM', () => {
  void follower.stop().then(() => repo.close(true)).then(() => process.exit(0));
});
