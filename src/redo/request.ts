/**
 * One redo request as the repository makes it: a page key, its base image (or none), the encoded
 * inputs that follow it (codec.ts), and the settings of the server that wrote them. `runRedoRequest`
 * is what both engines do with one (engine.ts): in the page server's process, or in a tenant's redo
 * worker (worker/main.ts). Whatever goes wrong is a RedoError.
 */
import { BLCKSZ } from '../pg/constants.js';
import { MAX_FORK_NUMBER } from '../pg/types.js';
import { WalDecodeError } from '../wal/errors.js';
import { decodeRedoInput, type DecodeOptions } from './codec.js';
import { RedoError } from './errors.js';
import { redoPage } from './redo.js';
import type { PageKey, RedoInput, RedoSettings } from './types.js';

export interface RedoRequest {
  readonly key: PageKey;
  /** The page image to start from, or none (the first input initialises the page). */
  readonly base: Uint8Array | undefined;
  /** codec-encoded inputs, oldest first. */
  readonly inputs: readonly Uint8Array[];
  readonly settings: RedoSettings;
}

/** The most bytes one encoded input may have (a worker protocol frame carries it whole). */
export const INPUT_BYTES_MAX = 64 << 20;

function isU32(n: number): boolean {
  return Number.isInteger(n) && n >= 0 && n <= 0xffff_ffff;
}

/** Throws BAD_INPUT unless the request has the shape every engine can carry out. */
export function checkRedoRequest(request: RedoRequest): void {
  const { key, base, inputs } = request;
  const bad = (why: string): never => {
    throw new RedoError('BAD_INPUT', `Cannot redo page ${key.rel.spcNode}/${key.rel.dbNode}/${key.rel.relNode} fork ${key.fork} block ${key.blkno}: ${why}`);
  };
  if (!isU32(key.rel.spcNode) || !isU32(key.rel.dbNode) || !isU32(key.rel.relNode) || !isU32(key.blkno) || !Number.isInteger(key.fork) || key.fork < 0 || key.fork > MAX_FORK_NUMBER)
    bad('the key is out of range');
  if (base !== undefined && base.length !== BLCKSZ) bad(`its base image is ${base.length} bytes, a page is ${BLCKSZ}`);
  for (let i = 0; i < inputs.length; i++) {
    const n = inputs[i]!.length;
    if (n === 0 || n > INPUT_BYTES_MAX) bad(`input ${i} is ${n} bytes, inputs are 1 to ${INPUT_BYTES_MAX} bytes`);
  }
}

/** Checks and decodes every input, then redoes the page. `decode` is for the in-process engine alone (codec.ts). */
export function runRedoRequest(request: RedoRequest, decode: DecodeOptions = {}): Uint8Array {
  try {
    checkRedoRequest(request);
    const decoded: RedoInput[] = request.inputs.map((bytes) => decodeRedoInput(bytes, decode));
    return redoPage(request.key, request.base, decoded, request.settings);
  } catch (e) {
    throw asRedoError(e);
  }
}

/**
 * Any error thrown while redoing, as a RedoError: the engine's own pass through; the decoder's are
 * corrupt records; a refused allocation is OUT_OF_MEMORY; anything else (a TypeError, say) is a bug
 * in the engine, INTERNAL, with the original as its cause.
 */
export function asRedoError(e: unknown): RedoError {
  if (e instanceof RedoError) return e;
  if (e instanceof WalDecodeError) return new RedoError('CORRUPT_RECORD', e.message, e.lsn, { cause: e });
  if (e instanceof RangeError && /Array buffer allocation failed/.test(e.message))
    return new RedoError('OUT_OF_MEMORY', `Cannot redo the page: an allocation was refused (${e.message})`, undefined, { cause: e });
  const what = e instanceof Error ? `${e.name}: ${e.message}` : String(e);
  return new RedoError('INTERNAL', `Cannot redo the page: the engine failed unexpectedly (${what})`, undefined, { cause: e });
}
