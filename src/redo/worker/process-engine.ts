/**
 * ProcessRedoEngine: redo in a worker process per tenant (worker/main.ts), the page server's default
 * (engine.ts). A tenant's worker is started on its first request, stopped when idle or when the
 * tenant is detached, and replaced when it misses a deadline, crashes or answers garbage. It only
 * ever sees its own tenant's pages and WAL, so a record crafted to hijack, stall or exhaust redo
 * hurts nobody but the tenant that wrote it.
 *
 * Requests are pipelined: up to `inFlightRequestsMax` are written to the worker without waiting,
 * the rest wait in a queue here. The worker answers in order, so the oldest request in flight is
 * the one it is working on (the "head"), and that is the one the deadline watches: its clock starts
 * when it becomes the head (sent to an idle worker, or the one before it answered), so requests
 * waiting behind a slow one are not charged for it.
 *
 * When a worker is lost:
 *   - deadline: the head fails with TIMEOUT and is not retried (it would likely time out again);
 *   - crash (exit, signal, heap cap): the head fails with WORKER_CRASHED (OUT_OF_MEMORY when the
 *     worker died of its heap cap) and is not retried: it is the request being redone, the likely
 *     cause;
 *   - garbage on stdout (a frame that does not parse, an answer out of order or to no request): the
 *     head fails with WORKER_PROTOCOL;
 *   and the worker is killed (SIGKILL). Every other request in flight on it was waiting behind the
 *   head, not running: it is sent once more to the next worker (redo is a pure function, so running
 *   it again is always safe; the only risk is that it is the real culprit, and then it fails the
 *   second time). A request lost twice fails with the error of the second loss.
 * A worker that does not start or does not say hello fails the queued requests with
 * WORKER_START_FAILED (no retry loop: the next request tries again).
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { BLCKSZ } from '../../pg/constants.js';
import { RedoError, type RedoErrorCode } from '../errors.js';
import { RedoMetrics, type TenantCounters, type TenantRedoMetrics } from '../metrics.js';
import { checkRedoRequest, type RedoRequest } from '../request.js';
import type { RedoEngine } from '../engine.js';
import type { PageKey } from '../types.js';
import { encodeHello, encodeRequest, FrameParser, PROTOCOL_VERSION, ProtocolError, type FromWorkerFrame } from './protocol.js';
import { DEFAULT_WORKER_SCRIPT, workerCommand, type NetworkNamespaceMode, type WorkerCommand } from './sandbox.js';

export interface ProcessRedoEngineOptions {
  /** How long the worker may work on one request before it is killed; 10 s unless told. */
  readonly requestDeadlineMs?: number;
  /** The worker's JavaScript heap cap (its data segment gets DATA_HEADROOM_MIB more); 256 unless told. */
  readonly memoryMiBMax?: number;
  /** A worker with nothing to do for this long is stopped; 60 s unless told, 0 never. */
  readonly idleStopMs?: number;
  /** A network namespace of its own for each worker: 'auto' (where the host allows it) unless told. */
  readonly networkNamespace?: NetworkNamespaceMode;
  /** Requests written to a worker and not yet answered; 32 unless told. */
  readonly inFlightRequestsMax?: number;
  /** Requests waiting per tenant beyond those in flight; 10 000 unless told. */
  readonly queuedRequestsMax?: number;
  /** How long a new worker has to say hello; 10 s unless told. */
  readonly startTimeoutMs?: number;
  /** How long a worker told to stop (idle) has before it is killed; 2 s unless told. */
  readonly stopGraceMs?: number;
  /** TESTS ONLY: start workers that honour test hooks (worker/test-hooks.ts). */
  readonly testHooks?: boolean;
  /** The compiled worker entry point; the one beside this module unless told. */
  readonly workerScript?: string;
}

const STDERR_TAIL_BYTES_MAX = 4096;

interface Pending {
  readonly request: RedoRequest;
  readonly submittedAt: number;
  /** How many workers it has been sent to. */
  sends: number;
  readonly resolve: (page: Uint8Array) => void;
  readonly reject: (e: RedoError) => void;
}

type WorkerState = 'starting' | 'ready' | 'stopping' | 'killed';

/** One worker process and what is in flight on it. */
class WorkerProcess {
  state: WorkerState = 'starting';
  child: ChildProcessWithoutNullStreams | undefined;
  command: WorkerCommand | undefined;
  readonly parser = new FrameParser<FromWorkerFrame>('from-worker');
  /** In the order sent: the first is the head. */
  readonly inFlight = new Map<number, Pending>();
  private nextId = 1;
  deadlineTimer: NodeJS.Timeout | undefined;
  startTimer: NodeJS.Timeout | undefined;
  idleTimer: NodeJS.Timeout | undefined;
  killTimer: NodeJS.Timeout | undefined;
  stderrTail = '';
  readonly closed: Promise<void>;
  markClosed!: () => void;

  constructor() {
    this.closed = new Promise((resolve) => (this.markClosed = resolve));
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  takeId(): number {
    const id = this.nextId;
    this.nextId = id === 0xffff_ffff ? 1 : id + 1;
    return id;
  }

  head(): [number, Pending] | undefined {
    return this.inFlight.entries().next().value;
  }

  clearTimers(): void {
    clearTimeout(this.deadlineTimer);
    clearTimeout(this.startTimer);
    clearTimeout(this.idleTimer);
    this.deadlineTimer = this.startTimer = this.idleTimer = undefined;
  }

  kill(): void {
    this.state = 'killed';
    this.clearTimers();
    clearTimeout(this.killTimer);
    this.child?.kill('SIGKILL');
  }
}

/** A FIFO with cheap removal at the front and re-insertion there (retries). */
class RequestQueue {
  private items: Pending[] = [];
  private start = 0;

  get length(): number {
    return this.items.length - this.start;
  }

  push(p: Pending): void {
    this.items.push(p);
  }

  shift(): Pending | undefined {
    if (this.start >= this.items.length) return undefined;
    const p = this.items[this.start++];
    if (this.start > 1024 && this.start * 2 > this.items.length) {
      this.items = this.items.slice(this.start);
      this.start = 0;
    }
    return p;
  }

  unshiftAll(ps: readonly Pending[]): void {
    this.items = [...ps, ...this.items.slice(this.start)];
    this.start = 0;
  }

  drain(): Pending[] {
    const all = this.items.slice(this.start);
    this.items = [];
    this.start = 0;
    return all;
  }
}

class Tenant {
  worker: WorkerProcess | undefined;
  readonly queue = new RequestQueue();
  /** Workers killed or told to stop whose process has not exited yet. */
  readonly dying = new Set<WorkerProcess>();
  /** A pump is due at the end of this turn of the event loop (requests made meanwhile join it). */
  pumpScheduled = false;
  constructor(
    readonly id: string,
    readonly counters: TenantCounters,
  ) {}
}

function pageName(k: PageKey): string {
  return `${k.rel.spcNode}/${k.rel.dbNode}/${k.rel.relNode} fork ${k.fork} block ${k.blkno}`;
}

type Loss = 'timeout' | 'crash' | 'garbage' | 'start';

export class ProcessRedoEngine implements RedoEngine {
  private readonly tenants = new Map<string, Tenant>();
  private readonly counters = new RedoMetrics();
  private closed = false;
  private readonly deadlineMs: number;
  private readonly memoryMiBMax: number;
  private readonly idleStopMs: number;
  private readonly networkNamespace: NetworkNamespaceMode;
  private readonly inFlightMax: number;
  private readonly queuedMax: number;
  private readonly startTimeoutMs: number;
  private readonly stopGraceMs: number;
  private readonly testHooks: boolean;
  private readonly workerScript: string;

  constructor(o: ProcessRedoEngineOptions = {}) {
    this.deadlineMs = o.requestDeadlineMs ?? 10_000;
    this.memoryMiBMax = o.memoryMiBMax ?? 256;
    this.idleStopMs = o.idleStopMs ?? 60_000;
    this.networkNamespace = o.networkNamespace ?? 'auto';
    this.inFlightMax = o.inFlightRequestsMax ?? 32;
    this.queuedMax = o.queuedRequestsMax ?? 10_000;
    this.startTimeoutMs = o.startTimeoutMs ?? 10_000;
    this.stopGraceMs = o.stopGraceMs ?? 2_000;
    this.testHooks = o.testHooks ?? false;
    this.workerScript = o.workerScript ?? DEFAULT_WORKER_SCRIPT;
    for (const [name, v] of [['requestDeadlineMs', this.deadlineMs], ['memoryMiBMax', this.memoryMiBMax], ['inFlightRequestsMax', this.inFlightMax], ['queuedRequestsMax', this.queuedMax], ['startTimeoutMs', this.startTimeoutMs]] as const)
      if (!Number.isInteger(v) || v < 1) throw new RangeError(`Cannot make a ProcessRedoEngine with ${name} ${v}: it must be a positive integer`);
  }

  redo(tenantId: string, request: RedoRequest): Promise<Uint8Array> {
    if (this.closed) return Promise.reject(new RedoError('CANCELLED', `Cannot redo page ${pageName(request.key)} for tenant ${tenantId}: the redo engine is closed`));
    const t = this.tenant(tenantId);
    t.counters.requests++;
    try {
      checkRedoRequest(request);
    } catch (e) {
      t.counters.fail('BAD_INPUT', 0);
      return Promise.reject(e);
    }
    if (t.queue.length >= this.queuedMax) {
      t.counters.fail('OVERLOADED', 0);
      return Promise.reject(new RedoError('OVERLOADED', `Cannot redo page ${pageName(request.key)} for tenant ${tenantId}: ${t.queue.length} requests are waiting already (queuedRequestsMax)`));
    }
    return new Promise((resolve, reject) => {
      t.queue.push({ request, submittedAt: performance.now(), sends: 0, resolve, reject });
      t.counters.queued = t.queue.length;
      this.schedulePump(t);
    });
  }

  /**
   * Pumps once the current turn of the event loop is done: the redo requests of one batch of
   * GetPage reach the engine one by one, each a few awaits apart, and a pump per request was a pipe
   * write per request; now they go out together, in one write.
   */
  private schedulePump(t: Tenant): void {
    if (t.pumpScheduled) return;
    t.pumpScheduled = true;
    setImmediate(() => {
      t.pumpScheduled = false;
      this.pump(t);
    });
  }

  async detachTenant(tenantId: string): Promise<void> {
    const t = this.tenants.get(tenantId);
    if (t === undefined) return;
    this.tenants.delete(tenantId);
    const w = t.worker;
    t.worker = undefined;
    const why = `tenant ${tenantId} was detached`;
    if (w !== undefined) {
      for (const p of w.inFlight.values()) this.finish(t, p, new RedoError('CANCELLED', `Cannot redo page ${pageName(p.request.key)}: ${why}`));
      w.inFlight.clear();
      w.kill();
      t.dying.add(w);
    }
    for (const p of t.queue.drain()) this.finish(t, p, new RedoError('CANCELLED', `Cannot redo page ${pageName(p.request.key)}: ${why}`));
    t.counters.queued = 0;
    t.counters.inFlight = 0;
    for (const d of t.dying) d.kill();
    await Promise.all([...t.dying].map((d) => d.closed));
  }

  async close(): Promise<void> {
    this.closed = true;
    await Promise.all([...this.tenants.keys()].map((id) => this.detachTenant(id)));
  }

  metrics(): ReadonlyMap<string, TenantRedoMetrics> {
    return this.counters.snapshot();
  }

  /** The pids of the live worker processes, by tenant (for tests and diagnostics). */
  workerPids(): ReadonlyMap<string, number> {
    const out = new Map<string, number>();
    for (const [id, t] of this.tenants) if (t.worker?.pid !== undefined && t.worker.state !== 'killed') out.set(id, t.worker.pid);
    return out;
  }

  /** How the tenant's current worker was started (its sandbox), once it has been. */
  workerCommandOf(tenantId: string): WorkerCommand | undefined {
    return this.tenants.get(tenantId)?.worker?.command;
  }

  private tenant(id: string): Tenant {
    let t = this.tenants.get(id);
    if (t === undefined) this.tenants.set(id, (t = new Tenant(id, this.counters.tenant(id))));
    return t;
  }

  /** Sends what the worker may take; starts a worker when there is work and none. */
  private pump(t: Tenant): void {
    const w = t.worker;
    if (w === undefined) {
      if (t.queue.length > 0 && this.tenants.get(t.id) === t) this.startWorker(t);
      return;
    }
    if (w.state !== 'ready') return;
    clearTimeout(w.idleTimer);
    w.idleTimer = undefined;
    const stdin = w.child!.stdin;
    stdin.cork(); // the requests sent now go out in one write
    while (w.inFlight.size < this.inFlightMax) {
      const p = t.queue.shift();
      if (p === undefined) break;
      const id = w.takeId();
      p.sends++;
      w.inFlight.set(id, p);
      stdin.write(encodeRequest(id, p.request));
      if (w.inFlight.size === 1) this.armDeadline(t, w);
    }
    stdin.uncork();
    t.counters.queued = t.queue.length;
    t.counters.inFlight = w.inFlight.size;
    if (w.inFlight.size === 0 && t.queue.length === 0) this.armIdle(t, w);
  }

  private armDeadline(t: Tenant, w: WorkerProcess): void {
    clearTimeout(w.deadlineTimer);
    w.deadlineTimer = setTimeout(() => this.lose(t, w, 'timeout', `no answer within ${this.deadlineMs} ms`), this.deadlineMs);
  }

  private armIdle(t: Tenant, w: WorkerProcess): void {
    clearTimeout(w.idleTimer);
    if (this.idleStopMs <= 0) return;
    w.idleTimer = setTimeout(() => this.stopIdle(t, w), this.idleStopMs);
    w.idleTimer.unref();
  }

  /** Tells an idle worker to stop (end of stdin), and kills it if it does not within the grace. */
  private stopIdle(t: Tenant, w: WorkerProcess): void {
    if (t.worker !== w || w.state !== 'ready' || w.inFlight.size > 0) return;
    w.state = 'stopping';
    w.clearTimers();
    t.worker = undefined;
    t.dying.add(w);
    t.counters.idleStops++;
    w.child!.stdin.end();
    w.killTimer = setTimeout(() => w.kill(), this.stopGraceMs);
    this.pump(t); // work that came in meanwhile goes to a new worker
  }

  private startWorker(t: Tenant): void {
    const w = new WorkerProcess();
    t.worker = w;
    t.counters.workerStarts++;
    workerCommand({ workerScript: this.workerScript, memoryMiBMax: this.memoryMiBMax, networkNamespace: this.networkNamespace, testHooks: this.testHooks }).then(
      (cmd) => this.spawnWorker(t, w, cmd),
      (e: unknown) => {
        if (w.state !== 'killed') this.lose(t, w, 'start', e instanceof Error ? e.message : String(e));
        w.markClosed();
      },
    );
  }

  private spawnWorker(t: Tenant, w: WorkerProcess, cmd: WorkerCommand): void {
    if (w.state === 'killed') {
      w.markClosed(); // detached while the command was being made
      return;
    }
    w.command = cmd;
    const child = spawn(cmd.file, cmd.args, { stdio: ['pipe', 'pipe', 'pipe'], env: cmd.env, cwd: '/' });
    w.child = child;
    let gone = false;
    const onGone = (why: string): void => {
      if (gone) return;
      gone = true;
      t.dying.delete(w);
      w.clearTimers();
      clearTimeout(w.killTimer);
      if (w.state === 'starting') this.lose(t, w, 'start', why);
      else if (w.state === 'ready') this.lose(t, w, 'crash', why);
      w.markClosed();
    };
    child.on('error', (e) => {
      // Spawning failed (no 'close' follows when the process never ran), or a kill failed.
      if (child.pid === undefined) onGone(`could not be started: ${e.message}`);
    });
    child.on('close', (code, signal) => onGone(this.exitText(w, code, signal)));
    // EPIPE and friends when the worker dies with writes pending: its exit says what happened.
    child.stdin.on('error', () => undefined);
    child.stdout.on('error', () => undefined);
    child.stderr.on('error', () => undefined);
    child.stderr.on('data', (chunk: Buffer) => {
      w.stderrTail = (w.stderrTail + chunk.toString('utf8')).slice(-STDERR_TAIL_BYTES_MAX);
    });
    child.stdout.on('data', (chunk: Buffer) => this.onData(t, w, chunk));
    child.stdin.write(encodeHello());
    w.startTimer = setTimeout(() => this.lose(t, w, 'start', `did not say hello within ${this.startTimeoutMs} ms`), this.startTimeoutMs);
  }

  private exitText(w: WorkerProcess, code: number | null, signal: NodeJS.Signals | null): string {
    const how = signal !== null ? `was killed by ${signal}` : `exited with status ${code}`;
    // The line that says why (V8's FATAL ERROR, the worker's own message), not a native stack frame.
    const lines = w.stderrTail.split('\n').map((l) => l.trim()).filter((l) => l !== '' && !/^\d+: 0x|^-+ |^<---|^\[\d+:0x/.test(l));
    const why = lines.find((l) => /FATAL ERROR|out of memory|strata redo worker|Error/.test(l)) ?? lines[lines.length - 1];
    return `${how}${why !== undefined ? ` (stderr: ${why.slice(0, 500)})` : ''}`;
  }

  private onData(t: Tenant, w: WorkerProcess, chunk: Buffer): void {
    if (w.state === 'killed') return;
    let frames: FromWorkerFrame[];
    try {
      frames = w.parser.push(chunk);
    } catch (e) {
      this.lose(t, w, 'garbage', e instanceof ProtocolError ? e.message : String(e));
      return;
    }
    for (const f of frames) {
      if ((w.state as WorkerState) === 'killed') return; // an earlier frame was garbage
      this.onFrame(t, w, f);
    }
  }

  private onFrame(t: Tenant, w: WorkerProcess, f: FromWorkerFrame): void {
    if (w.state === 'starting') {
      if (f.kind !== 'hello' || f.version !== PROTOCOL_VERSION) {
        this.lose(t, w, 'start', f.kind === 'hello' ? `it speaks protocol version ${f.version}, this page server ${PROTOCOL_VERSION}` : `its first frame was ${f.kind}, not hello`);
        return;
      }
      w.state = 'ready';
      clearTimeout(w.startTimer);
      w.startTimer = undefined;
      this.pump(t);
      return;
    }
    if (f.kind === 'hello') {
      this.lose(t, w, 'garbage', 'a second hello');
      return;
    }
    const head = w.head();
    if (head === undefined || head[0] !== f.requestId) {
      this.lose(t, w, 'garbage', `an answer to request ${f.requestId} while ${head === undefined ? 'none was in flight' : `request ${head[0]} was first`}`);
      return;
    }
    const p = head[1];
    w.inFlight.delete(f.requestId);
    if (w.inFlight.size > 0) this.armDeadline(t, w);
    else {
      clearTimeout(w.deadlineTimer);
      w.deadlineTimer = undefined;
    }
    if (f.kind === 'page') this.finish(t, p, f.page.slice()); // a copy: the frame is a view into a pipe chunk
    else this.finish(t, p, new RedoError(f.code, f.message, f.lsn));
    if (w.state === 'ready') this.pump(t);
  }

  /** Answers a request: a page, or an error. */
  private finish(t: Tenant, p: Pending, result: Uint8Array | RedoError): void {
    const ms = performance.now() - p.submittedAt;
    if (result instanceof RedoError) {
      t.counters.fail(result.code, ms);
      p.reject(result);
    } else {
      assert.equal(result.length, BLCKSZ, 'the parser lets only whole pages through');
      t.counters.succeed(p.request.inputs.length, ms);
      p.resolve(result);
    }
  }

  /**
   * The worker is lost: kill it, fail its head, send the requests behind the head to the next
   * worker (once), and start that worker if there is work (see the module header).
   */
  private lose(t: Tenant, w: WorkerProcess, loss: Loss, detail: string): void {
    if (w.state === 'killed') return;
    const pid = w.pid;
    w.kill();
    if (t.worker === w) t.worker = undefined;
    if (w.child !== undefined && w.child.exitCode === null && w.child.signalCode === null) t.dying.add(w);
    const inFlight = [...w.inFlight.values()];
    w.inFlight.clear();
    const who = `its redo worker${pid !== undefined ? ` (pid ${pid})` : ''}`;
    if (loss === 'start') {
      // Nothing was sent; what waits fails rather than starting worker after worker.
      const error = (p: Pending): RedoError => new RedoError('WORKER_START_FAILED', `Cannot redo page ${pageName(p.request.key)} for tenant ${t.id}: ${who} ${detail}`);
      for (const p of [...inFlight, ...t.queue.drain()]) this.finish(t, p, error(p));
      t.counters.queued = 0;
      t.counters.inFlight = 0;
      return;
    }
    t.counters.workerRestarts++;
    let code: RedoErrorCode;
    let what: string;
    if (loss === 'timeout') {
      t.counters.timeouts++;
      code = 'TIMEOUT';
      what = `${who} gave ${detail}; it was killed and will be replaced`;
    } else if (loss === 'garbage') {
      t.counters.protocolErrors++;
      code = 'WORKER_PROTOCOL';
      what = `${who} answered garbage (${detail}); it was killed and will be replaced`;
    } else {
      t.counters.crashes++;
      code = /out of memory|heap limit|allocation failed/i.test(detail) ? 'OUT_OF_MEMORY' : 'WORKER_CRASHED';
      what = `${who} ${detail} while redoing it; it will be replaced`;
    }
    const [head, ...behind] = inFlight;
    if (head !== undefined) this.finish(t, head, new RedoError(code, `Cannot redo page ${pageName(head.request.key)} for tenant ${t.id}: ${what}`));
    const again: Pending[] = [];
    for (const p of behind) {
      if (p.sends < 2) again.push(p);
      else this.finish(t, p, new RedoError(code === 'TIMEOUT' ? 'WORKER_CRASHED' : code, `Cannot redo page ${pageName(p.request.key)} for tenant ${t.id}: it was waiting on a second redo worker that was lost (${what})`));
    }
    t.counters.retries += again.length;
    t.queue.unshiftAll(again);
    t.counters.inFlight = 0;
    t.counters.queued = t.queue.length;
    this.pump(t);
  }
}
