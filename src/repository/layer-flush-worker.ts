/**
 * The flush worker thread (layer-flush.ts): takes one FlushJob at a time from the main thread,
 * writes its L0 layer file, and answers with the file's path or the error. It touches nothing but
 * the job's chunks of values (reads only), its ephemeral file and the new layer file; the layer map and metadata stay with the main
 * thread.
 */
import assert from 'node:assert/strict';
import { parentPort, workerData } from 'node:worker_threads';
import { writeFlushJob, type FlushJob, type FlushReply, type FlushWorkerSetup } from './layer-flush.js';

assert.ok(parentPort !== null, 'layer-flush-worker runs as a worker thread');
const port = parentPort;
const setup = (workerData as { setup?: FlushWorkerSetup } | undefined)?.setup;
if (setup !== undefined) {
  const m = (await import(setup.module)) as { setupFlushWorker: (data: unknown) => void };
  m.setupFlushWorker(setup.data);
}

port.on('message', (m: { id: number; job: FlushJob }) => {
  let reply: FlushReply;
  try {
    reply = { id: m.id, path: writeFlushJob(m.job) };
  } catch (e) {
    reply = { id: m.id, error: e instanceof Error ? e.message : String(e) };
  }
  port.postMessage(reply);
});
