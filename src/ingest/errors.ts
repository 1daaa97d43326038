/**
 * Ingest's operating errors: what could not be ingested or imported, and why. One failing timeline
 * stops its own ingest with one of these; other timelines go on.
 */
export type IngestErrorCode =
  | 'IMPORT_FAILED' // a data directory or backup that cannot be imported
  | 'BAD_ARCHIVE' // a base backup's archive that is not the tar PostgreSQL writes, or holds what no backup holds
  | 'BAD_RECORD' // a record whose effects cannot be applied (it decoded, but says something impossible)
  | 'WAL_GAP'; // WAL that does not continue where the timeline is

export class IngestError extends Error {
  override readonly name = 'IngestError';
  constructor(
    readonly code: IngestErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}
