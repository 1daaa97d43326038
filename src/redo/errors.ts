/**
 * The redo engine's one error type: whatever stops it from producing a page is a `RedoError` with
 * a code, the LSN of the record and the block it was applying.
 */
import { formatLsn, type Lsn } from '../pg/lsn.js';

export type RedoErrorCode =
  /** The rmgr or record type has no redo routine in strata (yet). */
  | 'UNSUPPORTED_RECORD'
  /** The record does not say what its type needs (it decoded, but its payload is wrong). */
  | 'CORRUPT_RECORD'
  /** The page the record applies to is not what the record expects (an offset past its items, say). */
  | 'CORRUPT_PAGE'
  /** The caller's input is wrong: the block reference is not this page, records out of order. */
  | 'BAD_INPUT'
  // The codes below come from the engines that run redo (engine.ts), not from the redo routines.
  /** Redo of the request took longer than its deadline; the worker running it was killed and replaced. */
  | 'TIMEOUT'
  /** The worker running the request exited or was killed before it answered. */
  | 'WORKER_CRASHED'
  /** Redo of the request ran out of memory: an allocation was refused, or the worker hit its heap cap. */
  | 'OUT_OF_MEMORY'
  /** The worker answered bytes that break the protocol; it was killed and replaced. */
  | 'WORKER_PROTOCOL'
  /** A worker could not be started, or did not complete its handshake. */
  | 'WORKER_START_FAILED'
  /** Redo failed with an error that is not a verdict on the input: a bug in the engine. */
  | 'INTERNAL'
  /** The tenant was detached, or the engine closed, before the request was answered. */
  | 'CANCELLED'
  /** The tenant has too many requests waiting already. */
  | 'OVERLOADED';

export class RedoError extends Error {
  constructor(
    readonly code: RedoErrorCode,
    message: string,
    readonly lsn?: Lsn,
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.name = 'RedoError';
  }
}

/** "Cannot redo <what> at <lsn>, block <id>: <why>" */
export function redoError(code: RedoErrorCode, lsn: Lsn, blockId: number, what: string, why: string): RedoError {
  return new RedoError(code, `Cannot redo ${what} at ${formatLsn(lsn)}, block ${blockId}: ${why}`, lsn);
}
