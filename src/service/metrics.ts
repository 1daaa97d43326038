/**
 * Prometheus metrics in the text exposition format 0.0.4 (prometheus.io/docs/instrumenting/
 * exposition_formats): counters, gauges and histograms with labels, rendered at `/metrics`. Written
 * here rather than taken from prom-client: the page service observes a latency per GetPage on its
 * hot path, and a few typed arrays cost less than a general library; the format is small and the
 * HTTP test parses what this module renders.
 *
 * Gauges whose values live elsewhere (the repository, the redo engine) are read when rendered, by
 * a collect callback, so nothing has to be kept in step.
 */

type Labels = Readonly<Record<string, string>>;

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

function escapeLabelValue(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
}

function labelText(labels: Labels, extra?: [string, string]): string {
  const parts = Object.entries(labels).map(([k, v]) => `${k}="${escapeLabelValue(v)}"`);
  if (extra !== undefined) parts.push(`${extra[0]}="${escapeLabelValue(extra[1])}"`);
  return parts.length === 0 ? '' : `{${parts.join(',')}}`;
}

function formatValue(v: number): string {
  if (Number.isNaN(v)) return 'NaN';
  if (v === Infinity) return '+Inf';
  if (v === -Infinity) return '-Inf';
  return String(v);
}

function labelsKey(labels: Labels): string {
  return JSON.stringify(Object.entries(labels).sort(([a], [b]) => (a < b ? -1 : 1)));
}

interface Metric {
  readonly name: string;
  render(): string;
}

function header(name: string, help: string, type: string): string {
  return `# HELP ${name} ${help.replace(/\\/g, '\\\\').replace(/\n/g, '\\n')}\n# TYPE ${name} ${type}\n`;
}

export class Counter implements Metric {
  private readonly values = new Map<string, { labels: Labels; value: number }>();
  constructor(
    readonly name: string,
    private readonly help: string,
  ) {}

  inc(labels: Labels = {}, by = 1): void {
    this.with(labels).value += by;
  }

  /** The series for `labels`: keep it to count without a label lookup per increment (`series.value++`). */
  with(labels: Labels = {}): { value: number } {
    const k = labelsKey(labels);
    let e = this.values.get(k);
    if (e === undefined) this.values.set(k, (e = { labels, value: 0 }));
    return e;
  }

  get(labels: Labels = {}): number {
    return this.values.get(labelsKey(labels))?.value ?? 0;
  }

  render(): string {
    let out = header(this.name, this.help, 'counter');
    for (const e of this.values.values()) out += `${this.name}${labelText(e.labels)} ${formatValue(e.value)}\n`;
    return out;
  }
}

/** A gauge read at render time: `collect` returns its samples. */
export class Gauge implements Metric {
  constructor(
    readonly name: string,
    private readonly help: string,
    private readonly collect: () => Iterable<readonly [Labels, number]>,
  ) {}

  render(): string {
    let out = header(this.name, this.help, 'gauge');
    for (const [labels, v] of this.collect()) out += `${this.name}${labelText(labels)} ${formatValue(v)}\n`;
    return out;
  }
}

/** One labelled series of a histogram: counts per bucket (not cumulative), sum and count. */
export class HistogramSeries {
  readonly counts: Float64Array;
  sum = 0;
  count = 0;
  constructor(private readonly bounds: Float64Array) {
    this.counts = new Float64Array(bounds.length + 1);
  }

  observe(v: number): void {
    const b = this.bounds;
    let i = 0;
    while (i < b.length && v > (b[i] as number)) i++;
    this.counts[i] = (this.counts[i] as number) + 1;
    this.sum += v;
    this.count++;
  }
}

export class Histogram implements Metric {
  private readonly series = new Map<string, { labels: Labels; s: HistogramSeries }>();
  private readonly bounds: Float64Array;

  constructor(
    readonly name: string,
    private readonly help: string,
    bounds: readonly number[],
  ) {
    this.bounds = Float64Array.from(bounds);
    for (let i = 1; i < bounds.length; i++) if ((bounds[i] as number) <= (bounds[i - 1] as number)) throw new Error(`assert: histogram ${name} bounds must increase`);
  }

  /** The series for `labels`: keep it to observe without a label lookup per observation. */
  with(labels: Labels = {}): HistogramSeries {
    const k = labelsKey(labels);
    let e = this.series.get(k);
    if (e === undefined) this.series.set(k, (e = { labels, s: new HistogramSeries(this.bounds) }));
    return e.s;
  }

  observe(v: number, labels: Labels = {}): void {
    this.with(labels).observe(v);
  }

  render(): string {
    let out = header(this.name, this.help, 'histogram');
    for (const { labels, s } of this.series.values()) {
      let cumulative = 0;
      for (let i = 0; i <= this.bounds.length; i++) {
        cumulative += s.counts[i] as number;
        const le = i < this.bounds.length ? formatValue(this.bounds[i] as number) : '+Inf';
        out += `${this.name}_bucket${labelText(labels, ['le', le])} ${cumulative}\n`;
      }
      out += `${this.name}_sum${labelText(labels)} ${formatValue(s.sum)}\n`;
      out += `${this.name}_count${labelText(labels)} ${s.count}\n`;
    }
    return out;
  }
}

export class Registry {
  private readonly metrics = new Map<string, Metric>();

  register<M extends Metric>(m: M): M {
    if (!NAME.test(m.name)) throw new Error(`assert: metric name ${m.name} is not a Prometheus name`);
    if (this.metrics.has(m.name)) throw new Error(`assert: metric ${m.name} registered twice`);
    this.metrics.set(m.name, m);
    return m;
  }

  render(): string {
    return [...this.metrics.values()].map((m) => m.render()).join('');
  }
}

/** Seconds buckets for request latencies: 50 µs to 10 s. */
export const LATENCY_BUCKETS_S: readonly number[] = [0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

export function checkLabelNames(labels: Labels): void {
  for (const k of Object.keys(labels)) if (!LABEL.test(k)) throw new Error(`assert: label name ${k} is not a Prometheus label name`);
}

/** A histogram whose counts are kept elsewhere (e.g. the redo engine's): rendered from snapshots. */
export interface HistogramSnapshot {
  readonly labels: Labels;
  /** Upper bounds, increasing; +Inf is implied. */
  readonly bounds: readonly number[];
  /** Per bucket, not cumulative; one more than `bounds` (the +Inf bucket). */
  readonly counts: readonly number[];
  readonly sum: number;
  readonly count: number;
}

export class CollectedHistogram implements Metric {
  constructor(
    readonly name: string,
    private readonly help: string,
    private readonly collect: () => Iterable<HistogramSnapshot>,
  ) {}

  render(): string {
    let out = header(this.name, this.help, 'histogram');
    for (const s of this.collect()) {
      if (s.counts.length !== s.bounds.length + 1) throw new Error(`assert: histogram ${this.name} has ${s.counts.length} counts for ${s.bounds.length} bounds`);
      let cumulative = 0;
      s.counts.forEach((c, i) => {
        cumulative += c;
        const le = i < s.bounds.length ? formatValue(s.bounds[i] as number) : '+Inf';
        out += `${this.name}_bucket${labelText(s.labels, ['le', le])} ${cumulative}\n`;
      });
      out += `${this.name}_sum${labelText(s.labels)} ${formatValue(s.sum)}\n`;
      out += `${this.name}_count${labelText(s.labels)} ${s.count}\n`;
    }
    return out;
  }
}

/** A counter whose value lives elsewhere: read at render time. */
export class CollectedCounter implements Metric {
  constructor(
    readonly name: string,
    private readonly help: string,
    private readonly collect: () => Iterable<readonly [Labels, number]>,
  ) {}

  render(): string {
    let out = header(this.name, this.help, 'counter');
    for (const [labels, v] of this.collect()) out += `${this.name}${labelText(labels)} ${formatValue(v)}\n`;
    return out;
  }
}
