/**
 * A tenant's redo worker process: the far end of worker/protocol.ts. The page server starts one per
 * tenant (engine.ts's ProcessRedoEngine) and sends it requests over stdin; it answers each with the
 * page or a typed error over stdout. It sees nothing but what it is sent: it runs under Node's
 * permission model with read access to its own code only (no other files, no writes, no child
 * processes, no worker threads, no native addons), under a heap cap and a data size limit, with an
 * empty environment, and where the host allows it in a network namespace of its own, as nobody
 * without capabilities, and killed when the page server dies (sandbox.ts has the whole list).
 *
 * It reads frames, keeps each open request's base image and inputs until its 'G' frame, then runs
 * the same redo as the in-process engine (request.ts) and writes the answer, strictly in the order
 * the requests were completed. A frame that breaks the protocol means the page server is confused
 * (it is trusted): the worker says so on stderr and exits with PROTOCOL_EXIT_CODE. End of stdin is
 * the order to stop: it exits with 0 once the frames before it are answered.
 *
 * Nothing but frames may be written to stdout: diagnostics go to stderr.
 */
import { writeSync } from 'node:fs';
import { asRedoError, runRedoRequest } from '../request.js';
import type { PageKey, RedoSettings } from '../types.js';
import { encodeErrorReply, encodeHello, encodePageReply, FrameParser, PROTOCOL_EXIT_CODE, PROTOCOL_VERSION, ProtocolError, WORKER_ERROR_CODES, type ToWorkerFrame, type WorkerErrorCode } from './protocol.js';
import { isTestHook, runTestHook, TEST_HOOKS_ENV } from './test-hooks.js';

/** Requests begun and not yet asked for: more means the page server lost count. */
const OPEN_REQUESTS_MAX = 65536;

const testHooks = process.env[TEST_HOOKS_ENV] === '1';

interface OpenRequest {
  readonly key: PageKey;
  readonly settings: RedoSettings;
  readonly inputCount: number;
  base: Uint8Array | undefined;
  readonly inputs: Uint8Array[];
}

const open = new Map<number, OpenRequest>();
const parser = new FrameParser<ToWorkerFrame>('to-worker');
let helloSeen = false;
/** Frames not yet handled because an asynchronous test hook is running. */
let waiting: ToWorkerFrame[] = [];
let busy = false;
let stdinEnded = false;

function fatal(message: string): never {
  // Synchronous, so that the message is out before the process is.
  writeSync(2, `strata redo worker ${process.pid}: ${message}\n`);
  process.exit(PROTOCOL_EXIT_CODE);
}

function send(bytes: Uint8Array): void {
  process.stdout.write(bytes);
}

function requestOf(requestId: number, what: string): OpenRequest {
  const r = open.get(requestId);
  if (r === undefined) fatal(`protocol error: ${what} for request ${requestId}, which is not open`);
  return r;
}

/** Handles one frame; returns a promise only while a test hook runs. */
function handle(frame: ToWorkerFrame): Promise<void> | undefined {
  if (!helloSeen) {
    if (frame.kind !== 'hello') fatal(`protocol error: the first frame must be hello, received ${frame.kind}`);
    if (frame.version !== PROTOCOL_VERSION) fatal(`protocol error: this worker speaks version ${PROTOCOL_VERSION}, the page server ${frame.version}`);
    helloSeen = true;
    return undefined;
  }
  switch (frame.kind) {
    case 'hello':
      fatal('protocol error: a second hello');
    case 'begin':
      if (open.has(frame.requestId)) fatal(`protocol error: request ${frame.requestId} begun twice`);
      if (open.size >= OPEN_REQUESTS_MAX) fatal(`protocol error: more than ${OPEN_REQUESTS_MAX} requests open`);
      open.set(frame.requestId, { key: frame.key, settings: frame.settings, inputCount: frame.inputCount, base: undefined, inputs: [] });
      return undefined;
    case 'push-page': {
      const r = requestOf(frame.requestId, 'a base image');
      if (r.base !== undefined || r.inputs.length > 0) fatal(`protocol error: request ${frame.requestId} got a base image after its base image or inputs`);
      r.base = frame.page;
      return undefined;
    }
    case 'apply': {
      const r = requestOf(frame.requestId, 'an input');
      if (r.inputs.length >= r.inputCount) fatal(`protocol error: request ${frame.requestId} got more than the ${r.inputCount} inputs it announced`);
      r.inputs.push(frame.input);
      return undefined;
    }
    case 'get-page': {
      const r = requestOf(frame.requestId, 'get page');
      if (r.inputs.length !== r.inputCount) fatal(`protocol error: request ${frame.requestId} asked for its page after ${r.inputs.length} of ${r.inputCount} inputs`);
      open.delete(frame.requestId);
      return redo(frame.requestId, r);
    }
  }
}

function answerError(requestId: number, e: unknown): void {
  const err = asRedoError(e);
  const code: WorkerErrorCode = (WORKER_ERROR_CODES as readonly string[]).includes(err.code) ? (err.code as WorkerErrorCode) : 'INTERNAL';
  send(encodeErrorReply(requestId, code, err.message, err.lsn));
}

function redoNow(requestId: number, r: OpenRequest, inputs: Uint8Array[]): void {
  let page: Uint8Array;
  try {
    page = runRedoRequest({ key: r.key, base: r.base, inputs, settings: r.settings });
  } catch (e) {
    answerError(requestId, e);
    return;
  }
  send(encodePageReply(requestId, page));
}

function redo(requestId: number, r: OpenRequest): Promise<void> | undefined {
  if (!testHooks || !r.inputs.some(isTestHook)) {
    redoNow(requestId, r, r.inputs);
    return undefined;
  }
  const hooks = r.inputs.filter(isTestHook);
  const rest = r.inputs.filter((i) => !isTestHook(i));
  return (async () => {
    try {
      for (const h of hooks) await runTestHook(h);
    } catch (e) {
      answerError(requestId, e);
      return;
    }
    redoNow(requestId, r, rest);
  })();
}

/** Handles frames in order; an asynchronous hook holds the rest until it is done. */
function run(frames: ToWorkerFrame[]): void {
  if (busy) {
    waiting.push(...frames);
    return;
  }
  for (let i = 0; i < frames.length; i++) {
    const pending = handle(frames[i]!);
    if (pending !== undefined) {
      busy = true;
      waiting = frames.slice(i + 1).concat(waiting);
      void pending.then(() => {
        busy = false;
        const next = waiting;
        waiting = [];
        run(next);
      });
      return;
    }
  }
  if (stdinEnded) stop();
}

function stop(): void {
  if (!parser.atFrameBoundary) fatal('protocol error: stdin ended inside a frame');
  if (open.size > 0) fatal(`protocol error: stdin ended with ${open.size} requests open`);
  // Let stdout drain, then go.
  process.stdout.end(() => process.exit(0));
}

process.stdin.on('data', (chunk: Buffer) => {
  let frames: ToWorkerFrame[];
  try {
    frames = parser.push(chunk);
  } catch (e) {
    if (e instanceof ProtocolError) fatal(`protocol error: ${e.message}`);
    throw e;
  }
  // The answers to the frames of one chunk go out in one write.
  process.stdout.cork();
  run(frames);
  process.stdout.uncork();
});
process.stdin.on('end', () => {
  stdinEnded = true;
  if (!busy) stop();
});
process.stdout.on('error', () => process.exit(0)); // the page server went away: nothing to answer
send(encodeHello());
