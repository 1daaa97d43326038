/**
 * The page server's metrics, served by the HTTP API at `/metrics`: what the page service observes
 * per request (latency per request kind, GetPage included; batch sizes; LSN waits), and what the
 * repository and the redo engine already count, read when rendered (layers, LSNs, flush lag, time
 * since the last ingested record, page cache, redo requests and time).
 *
 * "Ingest lag" has two halves: received-but-not-ingested WAL belongs to the replication receiver
 * (a later issue), so what is exported here is ingested-but-not-flushed WAL
 * (`strata_timeline_flush_lag_bytes`) and how long ago a timeline's last record LSN last moved
 * (`strata_timeline_ingest_idle_seconds`).
 */
import { LATENCY_BUCKET_BOUNDS_MS } from '../redo/metrics.js';
import type { RedoEngine } from '../redo/engine.js';
import { LayerKind } from '../repository/layer-file.js';
import type { Repository } from '../repository/repository.js';
import { BrokenLayer } from '../repository/timeline.js';
import { CollectedCounter, CollectedHistogram, Counter, Gauge, Histogram, LATENCY_BUCKETS_S, Registry, type HistogramSeries } from './metrics.js';
import type { PageServiceMetrics } from './page-service.js';
import type { PagestreamRequest } from './pagestream.js';

const REQUEST_KINDS: readonly PagestreamRequest['kind'][] = ['exists', 'nblocks', 'getpage', 'dbsize', 'slru'];

export class ServiceMetrics implements PageServiceMetrics {
  readonly registry = new Registry();
  private readonly requests: Counter;
  private readonly latency = new Map<string, HistogramSeries>();
  /** Request counters by `kind` or `kind/error`, looked up once. */
  private readonly requestSeries = new Map<string, { value: number }>();
  private readonly batchSize: HistogramSeries;
  private readonly lsnWaitTimeouts: Counter;
  readonly lsnWait: HistogramSeries;
  readonly httpRequests: Counter;
  readonly httpLatency: Histogram;
  private connections = 0;

  constructor(repository: Repository, redo: RedoEngine) {
    const r = this.registry;
    this.requests = r.register(new Counter('strata_pagestream_requests_total', 'Pagestream requests answered, by kind and outcome (ok or error).'));
    const latency = r.register(new Histogram('strata_pagestream_request_seconds', 'Seconds from a pagestream request\'s arrival to its answer, by kind (getpage: GetPage@LSN).', LATENCY_BUCKETS_S));
    for (const k of REQUEST_KINDS) {
      this.latency.set(k, latency.with({ kind: k }));
      this.requestSeries.set(k, this.requests.with({ kind: k, outcome: 'ok' }));
      this.requestSeries.set(`${k}/error`, this.requests.with({ kind: k, outcome: 'error' }));
    }
    this.batchSize = r.register(new Histogram('strata_pagestream_batch_requests', 'Requests served together in one batch.', [1, 2, 4, 8, 16, 32, 64, 128])).with();
    r.register(new Gauge('strata_page_service_connections', 'Open page service connections.', () => [[{}, this.connections]]));
    this.lsnWait = r.register(new Histogram('strata_lsn_wait_seconds', 'Seconds requests waited for WAL up to their LSN (waits that ended in time).', LATENCY_BUCKETS_S)).with();
    this.lsnWaitTimeouts = r.register(new Counter('strata_lsn_wait_timeouts_total', 'Requests whose wait for WAL up to their LSN timed out.'));
    this.httpRequests = r.register(new Counter('strata_http_requests_total', 'HTTP API requests, by method, route and status.'));
    this.httpLatency = r.register(new Histogram('strata_http_request_seconds', 'HTTP API request seconds, by route.', LATENCY_BUCKETS_S));

    const timelines = function* () {
      for (const tenant of repository.list()) for (const t of tenant.list()) yield { tenant: tenant.id, timeline: t.id, t };
    };
    const perTimeline = (f: (t: ReturnType<typeof timelines> extends Generator<infer T> ? T : never) => number) =>
      function* (): Generator<readonly [Record<string, string>, number]> {
        for (const x of timelines()) yield [{ tenant_id: x.tenant, timeline_id: x.timeline }, f(x)];
      };
    r.register(new Gauge('strata_timeline_last_record_lsn', 'Last record LSN ingested, as a byte position.', perTimeline((x) => x.t.lastRecordLsnNumber)));
    r.register(new Gauge('strata_timeline_disk_consistent_lsn', 'LSN up to which everything is in layer files on disk.', perTimeline((x) => x.t.diskConsistentLsnNumber)));
    r.register(new Gauge('strata_timeline_gc_cutoff_lsn', 'Reads below this LSN are refused (branch points and leases aside).', perTimeline((x) => x.t.gcCutoffNumber)));
    r.register(new Gauge('strata_timeline_flush_lag_bytes', 'WAL ingested but not yet flushed to layer files (last record LSN minus disk-consistent LSN).', perTimeline((x) => x.t.lastRecordLsnNumber - x.t.diskConsistentLsnNumber)));
    r.register(
      new Gauge('strata_timeline_ingest_idle_seconds', 'Seconds since the timeline\'s last record LSN last moved (-1: never, since it was opened).', () => {
        const now = Date.now();
        return [...timelines()].map(({ tenant, timeline, t }) => {
          const last = t.samples.at(-1);
          return [{ tenant_id: tenant, timeline_id: timeline }, last === undefined ? -1 : (now - last[1]) / 1000] as const;
        });
      }),
    );
    r.register(new Gauge('strata_timeline_in_memory_bytes', 'Bytes of values in in-memory layers.', perTimeline((x) => x.t.inMemoryBytes)));
    r.register(
      new Gauge('strata_timeline_layers', 'Layer files, by kind (delta, image, broken: named by the metadata but unreadable).', function* () {
        for (const { tenant, timeline, t } of timelines()) {
          const n = { delta: 0, image: 0, broken: 0 };
          for (const l of t.layers) {
            if (l instanceof BrokenLayer) n.broken++;
            else if (l.descriptor.kind === LayerKind.Image) n.image++;
            else n.delta++;
          }
          for (const [kind, v] of Object.entries(n)) yield [{ tenant_id: tenant, timeline_id: timeline, kind }, v] as const;
        }
      }),
    );
    r.register(new Gauge('strata_page_cache_bytes', 'Bytes of materialised pages in the page cache.', () => [[{}, repository.pageCache.bytes]]));
    r.register(new CollectedCounter('strata_page_cache_lookups_total', 'Page cache lookups, by result.', () => [[{ result: 'hit' }, repository.pageCache.hits], [{ result: 'miss' }, repository.pageCache.misses]]));
    r.register(new Gauge('strata_tenants_broken', 'Tenants that could not be opened.', () => [[{}, repository.broken.size]]));
    r.register(
      new CollectedCounter('strata_redo_requests_total', 'Redo requests, by tenant and outcome.', function* () {
        for (const [tenant, m] of redo.metrics()) {
          yield [{ tenant_id: tenant, outcome: 'ok' }, m.succeeded] as const;
          yield [{ tenant_id: tenant, outcome: 'error' }, m.failed] as const;
        }
      }),
    );
    r.register(
      new CollectedCounter('strata_redo_worker_restarts_total', 'Redo worker processes replaced after a deadline, crash or protocol error.', function* () {
        for (const [tenant, m] of redo.metrics()) yield [{ tenant_id: tenant }, m.workerRestarts] as const;
      }),
    );
    r.register(
      new CollectedHistogram('strata_redo_seconds', 'Seconds per redo request, from submission to answer, by tenant.', function* () {
        const bounds = LATENCY_BUCKET_BOUNDS_MS.map((ms) => ms / 1000);
        for (const [tenant, m] of redo.metrics()) yield { labels: { tenant_id: tenant }, bounds, counts: m.latency.counts, sum: m.latency.sumMs / 1000, count: m.latency.count };
      }),
    );
  }

  onRequest(kind: PagestreamRequest['kind'], failed: boolean, seconds: number): void {
    const series = this.requestSeries.get(failed ? `${kind}/error` : kind);
    if (series !== undefined) series.value++;
    this.latency.get(kind)?.observe(seconds);
  }

  onBatch(requests: number): void {
    this.batchSize.observe(requests);
  }

  onConnection(delta: 1 | -1): void {
    this.connections += delta;
  }

  onLsnWaitTimeout(): void {
    this.lsnWaitTimeouts.inc();
  }

  render(): string {
    return this.registry.render();
  }
}
