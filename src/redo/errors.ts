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
  | 'BAD_INPUT';

export class RedoError extends Error {
  constructor(
    readonly code: RedoErrorCode,
    message: string,
    readonly lsn?: Lsn,
  ) {
    super(message);
    this.name = 'RedoError';
  }
}

/** "Cannot redo <what> at <lsn>, block <id>: <why>" */
export function redoError(code: RedoErrorCode, lsn: Lsn, blockId: number, what: string, why: string): RedoError {
  return new RedoError(code, `Cannot redo ${what} at ${formatLsn(lsn)}, block ${blockId}: ${why}`, lsn);
}
