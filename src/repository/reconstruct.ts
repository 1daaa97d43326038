/**
 * How the repository turns a key's history into its value: the newest image at or below the LSN
 * (if any) and the records and operations above it, oldest first. The repository never interprets
 * records; the tenant's Reconstructor does (the redo engine for relation pages, strata's own code
 * for SLRU pages, a toy in the repository's model test).
 */
import type { Key } from './key.js';

export interface HistoryValue {
  readonly lsn: number;
  /** Value flags (value.ts): the kind and whether it initialises the key. */
  readonly flags: number;
  readonly bytes: Uint8Array;
}

export interface Reconstructor {
  /**
   * The value of `key` at `lsn`: `base` (an image, or undefined when the oldest record initialises
   * the key) with `records` applied, oldest first. Rejects with an Error that says what failed.
   */
  reconstruct(key: Key, lsn: number, base: HistoryValue | undefined, records: readonly HistoryValue[]): Promise<Uint8Array>;
}
