/**
 * bench/pagebench's load generator, run in a worker thread so that the clients' event loop is not
 * the server's: N pagestream connections, each keeping `depth` GetPage requests in flight at the
 * latest LSN for uniformly random blocks, refilling after every socket read with one write. Latency
 * is per request, from the write that sent it to the read that brought its answer.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { MAX_LSN, type Lsn } from '../src/pg/lsn.js';
import { encodePagestreamRequest, PagestreamTag } from '../src/service/pagestream.js';
import { copyDataMessage } from '../src/service/pgwire.js';
import { PagestreamClient } from '../src/testing/pagestream-client.js';

export interface LoadConfig {
  readonly port: number;
  readonly tenantId: string;
  readonly timelineId: string;
  readonly notModifiedSince: string;
  /** [spcNode, dbNode, relNode, blocks] of every relation to read from. */
  readonly rels: readonly (readonly [number, number, number, number])[];
  readonly clients: number;
  readonly depth: number;
  readonly warmupMs: number;
  readonly measureMs: number;
  /** Read every block once in order, on one connection, then stop (a prewarm pass; timings still measured). */
  readonly sequential?: boolean;
}

export interface LoadResult {
  readonly requests: number;
  readonly errors: number;
  readonly firstError: string | undefined;
  readonly seconds: number;
  /** Microseconds, sorted. */
  readonly latenciesUs: Float64Array;
}

const cfg = workerData as LoadConfig;
const totalBlocks = cfg.rels.reduce((n, r) => n + r[3], 0);
const cumulative = cfg.rels.map((_, i) => cfg.rels.slice(0, i + 1).reduce((n, r) => n + r[3], 0));

let nextSequential = 0;

function randomBlock(): [number, number, number, number] {
  const x = cfg.sequential === true ? nextSequential++ : Math.floor(Math.random() * totalBlocks);
  let i = 0;
  while ((cumulative[i] as number) <= x) i++;
  const r = cfg.rels[i] as readonly [number, number, number, number];
  return [r[0], r[1], r[2], x - (i === 0 ? 0 : (cumulative[i - 1] as number))];
}

let measuring = false;
let stopped = false;
let requests = 0;
let errors = 0;
let firstError: string | undefined;
/**
 * Latencies in microseconds, in a typed array grown by doubling: the load generator's own garbage
 * collections (a growing JS array, a Buffer per socket read) paused it for milliseconds and showed
 * up in the p99 as if the server had been slow.
 */
let latencies = new Float64Array(1 << 20);
let latencyCount = 0;
function recordLatency(us: number): void {
  if (latencyCount === latencies.length) {
    const grown = new Float64Array(latencies.length * 2);
    grown.set(latencies);
    latencies = grown;
  }
  latencies[latencyCount++] = us;
}
/** Each connection's receive buffer: answers are parsed in place, leftovers moved to the front. */
const RECEIVE_BYTES = 4 << 20;

async function runClient(): Promise<void> {
  const c = await PagestreamClient.connect(cfg.port);
  await c.startPagestream(cfg.tenantId, cfg.timelineId);
  const socket = c.socket;
  socket.removeAllListeners('data');
  const nms = BigInt(cfg.notModifiedSince) as Lsn;
  // Request ids count up from 0, so the low 32 bits name a request; at most `depth` are in flight.
  const sentAt = new Float64Array(cfg.depth * 4);
  let reqid = 0;
  let inFlight = 0;
  const fill = () => {
    const out: Buffer[] = [];
    while (inFlight < cfg.depth && !stopped) {
      if (cfg.sequential === true && nextSequential >= totalBlocks) {
        stopped = true;
        break;
      }
      const [spcNode, dbNode, relNode, blkno] = randomBlock();
      const id = reqid++;
      out.push(copyDataMessage(encodePagestreamRequest({ kind: 'getpage', hdr: { reqid: BigInt(id), requestLsn: MAX_LSN, notModifiedSince: nms }, rel: { spcNode, dbNode, relNode, forkNum: 0 }, blkno })));
      sentAt[id % sentAt.length] = performance.now();
      inFlight++;
    }
    if (out.length > 0) socket.write(out.length === 1 ? (out[0] as Buffer) : Buffer.concat(out));
  };
  const buf = Buffer.allocUnsafe(RECEIVE_BYTES);
  let end = 0;
  await new Promise<void>((resolve, reject) => {
    socket.on('data', (chunk: Buffer) => {
      if (end + chunk.length > buf.length) {
        reject(new Error(`the page service sent a message over ${RECEIVE_BYTES} bytes`));
        return;
      }
      buf.set(chunk, end);
      end += chunk.length;
      let o = 0;
      const now = performance.now();
      while (end - o >= 5) {
        const len = buf.readInt32BE(o + 1);
        if (end - o < len + 1) break;
        const type = buf[o];
        if (type !== 0x64) {
          reject(new Error(`unexpected message type ${String.fromCharCode(type as number)} from the page service`));
          return;
        }
        const tag = buf[o + 5];
        // The response's request id (u64 after the tag): its low half.
        const id = buf.readUInt32BE(o + 10);
        const t0 = sentAt[id % sentAt.length] as number;
        inFlight--;
        if (measuring) {
          requests++;
          recordLatency((now - t0) * 1000);
          if (tag !== PagestreamTag.GetPageResponse) {
            errors++;
            firstError ??= buf.toString('utf8', o + 5 + 25, o + len);
          }
        }
        o += len + 1;
      }
      if (o > 0) {
        buf.copyWithin(0, o, end);
        end -= o;
      }
      if (stopped && inFlight === 0) {
        c.close();
        resolve();
        return;
      }
      fill();
    });
    socket.on('error', reject);
    fill();
  });
}

function finish(t0: number): void {
  measuring = false;
  const seconds = (performance.now() - t0) / 1000;
  stopped = true;
  Promise.all(clients).then(
    () => {
      const sorted = latencies.slice(0, latencyCount).sort();
      const result: LoadResult = { requests, errors, firstError, seconds, latenciesUs: sorted };
      parentPort?.postMessage(result);
    },
    (e: unknown) => parentPort?.postMessage({ error: String((e as Error).stack ?? e) }),
  );
}

let clients: Promise<void>[];
if (cfg.sequential === true) {
  measuring = true;
  const t0 = performance.now();
  clients = [runClient()];
  void Promise.all(clients).then(() => finish(t0));
} else {
  clients = Array.from({ length: cfg.clients }, () => runClient());
  setTimeout(() => {
    measuring = true;
    const t0 = performance.now();
    setTimeout(() => finish(t0), cfg.measureMs);
  }, cfg.warmupMs);
}
