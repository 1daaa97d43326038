/**
 * Test-only misbehaviour for the redo worker. NOT part of the redo engine, and honoured only by a
 * worker started with STRATA_REDO_WORKER_TEST_HOOKS=1 in its environment (ProcessRedoEngine's
 * `testHooks` option, which only tests set); every other decoder refuses the tag (codec.ts knows
 * no 0xF7 and says BAD_INPUT).
 *
 * Why it exists: issue 9 asks for tests where a tenant's WAL makes redo loop, allocate without
 * bound, or fail. strata's engine was searched for real records that do so and none was found:
 * src/redo/extremes.test.ts sets every 1-, 2- and 4-byte field of the first 128 bytes of block and
 * main data of real records of every page rmgr to extreme values (about half a million variants,
 * each a page or a typed error in milliseconds), fuzz.test.ts flips random bits, and the source's
 * loops and allocations are bounded by the bytes that hold their items or by the page. The engine
 * is not made weaker to stage the tests; these hooks stand in for the record that would, so that
 * the isolation around redo (deadline, memory cap, crash handling, permissions) is what is tested.
 * (A record crafted to fail with a typed error is real: engine.test.ts uses one.)
 *
 * A hook is a redo input: | 0xF7 | action length (u8) | action (ASCII) | argument (UTF-8, the rest) |.
 * Hooks run in order before redo; a hook that returns lets redo go on with the other inputs.
 */
import { RedoError } from '../errors.js';

export const TEST_HOOK_TAG = 0xf7;
export const TEST_HOOKS_ENV = 'STRATA_REDO_WORKER_TEST_HOOKS';

export type TestHookAction =
  /** Spin forever (a record that makes redo loop). */
  | 'loop'
  /** Grow the JavaScript heap without bound (the worker dies at its heap cap). */
  | 'allocate-heap'
  /** Allocate 64 MiB buffers, up to 4 GiB (the worker's data limit refuses them first). */
  | 'allocate-buffers'
  /** Throw a TypeError, as a bug in the engine would. */
  | 'throw'
  /** process.abort(): a crash by signal. */
  | 'abort'
  /** Write `argument` (hex; some bytes that are no frame if empty) to stdout, then never answer. */
  | 'garbage'
  /** Report the names of the worker's environment variables. */
  | 'env'
  /** Report the worker's user, group and supplementary groups. */
  | 'identity'
  /** Busy-wait `argument` ms, then go on with redo. */
  | 'sleep'
  /** Try to read the file `argument`; report the outcome as an INTERNAL error. */
  | 'read-file'
  /** Try to start /bin/true; report. */
  | 'spawn'
  /** Try to start a worker thread; report. */
  | 'worker-thread'
  /** Try to load the native addon at `argument` (a .node file); report. */
  | 'addon'
  /** Try to connect to `argument` (host:port); report. */
  | 'connect';

export function encodeTestHook(action: TestHookAction, argument = ''): Uint8Array {
  const arg = Buffer.from(argument, 'utf8');
  const out = new Uint8Array(2 + action.length + arg.length);
  out[0] = TEST_HOOK_TAG;
  out[1] = action.length;
  for (let i = 0; i < action.length; i++) out[2 + i] = action.charCodeAt(i);
  out.set(arg, 2 + action.length);
  return out;
}

export function isTestHook(input: Uint8Array): boolean {
  return input[0] === TEST_HOOK_TAG;
}

/** What happened, as the error the test reads back. */
function report(action: string, outcome: string): RedoError {
  return new RedoError('INTERNAL', `test hook ${action}: ${outcome}`);
}

function outcomeOf(e: unknown): string {
  const code = (e as { code?: unknown }).code;
  return `denied (${typeof code === 'string' ? code : 'no code'}: ${e instanceof Error ? e.message : String(e)})`;
}

/** Runs one hook; resolves when redo may go on, rejects with the error the request gets. */
export async function runTestHook(input: Uint8Array): Promise<void> {
  const actionLength = input[1] ?? 0;
  const action = String.fromCharCode(...input.subarray(2, 2 + actionLength)) as TestHookAction;
  const argument = Buffer.from(input.subarray(2 + actionLength)).toString('utf8');
  switch (action) {
    case 'loop':
      for (;;);
    case 'allocate-heap': {
      const hog: number[][] = [];
      for (;;) hog.push(new Array<number>(4096).fill(hog.length));
    }
    case 'allocate-buffers': {
      const hog: Uint8Array[] = [];
      for (let i = 0; i < 64; i++) hog.push(new Uint8Array(64 << 20).fill(1));
      throw report(action, `allocated ${hog.length * 64} MiB without refusal`);
    }
    case 'throw':
      throw new TypeError('test hook throw: a simulated bug in the engine');
    case 'abort':
      process.abort();
    case 'garbage':
      process.stdout.write(argument === '' ? Buffer.from('HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nhello') : Buffer.from(argument, 'hex'));
      return new Promise<void>(() => undefined); // never answers: the page server must notice the garbage
    case 'identity':
      throw report(action, `uid ${process.getuid?.()} gid ${process.getgid?.()} groups [${process.getgroups?.().join(',')}]`);
    case 'env':
      throw report(action, `variables: ${Object.keys(process.env).sort().join(',')}`);
    case 'sleep': {
      const until = performance.now() + Number(argument);
      while (performance.now() < until);
      return;
    }
    case 'read-file': {
      const { readFileSync } = await import('node:fs');
      try {
        const bytes = readFileSync(argument);
        throw report(action, `allowed (${bytes.length} bytes)`);
      } catch (e) {
        if (e instanceof RedoError) throw e;
        throw report(action, outcomeOf(e));
      }
    }
    case 'spawn': {
      const { spawnSync } = await import('node:child_process');
      let status: number | null;
      try {
        const r = spawnSync('/bin/true');
        if (r.error !== undefined) throw r.error;
        status = r.status;
      } catch (e) {
        throw report(action, outcomeOf(e));
      }
      throw report(action, `allowed (exit status ${status})`);
    }
    case 'worker-thread': {
      const { Worker } = await import('node:worker_threads');
      try {
        const w = new Worker('0', { eval: true });
        await w.terminate();
      } catch (e) {
        throw report(action, outcomeOf(e));
      }
      throw report(action, 'allowed');
    }
    case 'addon': {
      try {
        process.dlopen({ exports: {} }, argument);
      } catch (e) {
        throw report(action, outcomeOf(e));
      }
      throw report(action, 'allowed');
    }
    case 'connect': {
      const { connect } = await import('node:net');
      const [host, port] = argument.split(':');
      const outcome = await new Promise<string>((resolve) => {
        const s = connect(Number(port), host ?? '127.0.0.1');
        s.setTimeout(5000, () => {
          s.destroy();
          resolve('timed out');
        });
        s.on('connect', () => {
          s.destroy();
          resolve('allowed (connected)');
        });
        s.on('error', (e) => resolve(outcomeOf(e)));
      });
      throw report(action, outcome);
    }
  }
  throw report(action, 'unknown action');
}
