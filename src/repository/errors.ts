/**
 * The repository's operating errors: each names what could not be done and why. Callers (the page
 * service, ingest) turn them into an error for that one request or timeline; nothing else stops.
 */
export type RepositoryErrorCode =
  | 'CORRUPT_LAYER' // a layer file fails its checksum, is truncated, or is not a layer file
  | 'CORRUPT_METADATA' // a timeline's or tenant's metadata file is damaged
  | 'NOT_FOUND' // no such tenant or timeline, or no value for a key at an LSN
  | 'ALREADY_EXISTS'
  | 'BAD_REQUEST' // an LSN or argument the operation cannot take
  | 'BELOW_GC_HORIZON' // a read below the timeline's GC cutoff
  | 'NOT_CONSISTENT' // a read below the LSN the timeline is consistent from (a base backup's end LSN)
  | 'LSN_TIMEOUT' // WAL up to the LSN did not arrive before the deadline
  | 'RECONSTRUCT_FAILED' // redo of a key failed
  | 'FLUSH_FAILED' // an in-memory layer could not be written to a layer file (it stays in memory)
  | 'LAYER_REMOVED' // a bulk reader's layer file was closed (GC removed it): read its keys through the timeline again
  | 'SHUT_DOWN'; // the timeline or tenant is shutting down

export class RepositoryError extends Error {
  override readonly name = 'RepositoryError';
  constructor(
    readonly code: RepositoryErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}
