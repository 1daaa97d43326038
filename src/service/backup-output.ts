/**
 * Where a base backup's bytes go: a Node stream (a socket in CopyOut, an HTTP response, a file) or a
 * function, optionally through gzip (Node's zlib). The archive is assembled in 1 MiB chunks, so the
 * sink sees few, large writes; a stream holds at most IN_FLIGHT_BYTES_MAX of them unwritten (the
 * writer then waits for the oldest to be written), a function slows the writer with its promise, so
 * a slow client holds at most a few chunks in memory.
 * The sink is never ended: the caller owns it (a CopyOut socket carries more after the archive).
 */
import { createGzip, type Gzip } from 'node:zlib';

/** A stream, or a function that takes each chunk (and may return a promise to slow the writer down). */
export type BackupSink = NodeJS.WritableStream | ((chunk: Buffer) => void | Promise<void>);

export const OUTPUT_CHUNK_BYTES = 1 << 20;
/** Bytes a sink stream may hold unwritten before the writer waits for it. */
const IN_FLIGHT_BYTES_MAX = 4 * OUTPUT_CHUNK_BYTES;

export class BackupOutputError extends Error {
  override readonly name = 'BackupOutputError';
  readonly code = 'OUTPUT_FAILED';
}

/**
 * Writes chunks to a stream with a few chunks in flight: up to IN_FLIGHT_BYTES_MAX wait in the
 * stream while the next chunks are assembled, and past that the writer waits for the oldest chunk's
 * write to complete, not for the stream to empty. Waiting for 'drain' (the stream's whole buffer
 * written) let the stream go idle while the next chunks were assembled: making and writing took
 * turns instead of overlapping, and a backup into a file ran at half the rate of one whose bytes
 * were dropped (bench/basebackup). Each write's callback says when that chunk is out.
 */
export function streamEmitter(stream: NodeJS.WritableStream, what: string): { emit: (chunk: Buffer) => Promise<void>; settle: () => Promise<void>; release: () => void } {
  let failed: unknown;
  /** Chunks written and not yet complete, oldest first, with their sizes. */
  const inFlight: { readonly done: Promise<void>; readonly bytes: number }[] = [];
  let inFlightBytes = 0;
  // A write can fail after write() returned: remember it and fail the next write.
  const onError = (e: unknown): void => {
    failed ??= e;
  };
  stream.on('error', onError);
  const destroyed = (): boolean => (stream as { destroyed?: boolean }).destroyed === true;
  const fail = (e: unknown): BackupOutputError => new BackupOutputError(`Cannot write the base backup to ${what}: ${(e as Error).message}`, { cause: e });
  const waitOldest = async (): Promise<void> => {
    const oldest = inFlight.shift();
    if (oldest === undefined) return;
    inFlightBytes -= oldest.bytes;
    await oldest.done;
  };
  const settle = async (): Promise<void> => {
    while (inFlight.length > 0) await waitOldest();
  };
  return {
    emit: async (chunk) => {
      while (inFlightBytes + chunk.length > IN_FLIGHT_BYTES_MAX && inFlight.length > 0) await waitOldest();
      if (failed !== undefined) throw fail(failed);
      if (destroyed()) throw new BackupOutputError(`Cannot write the base backup to ${what}: it was closed`);
      const done = new Promise<void>((resolve, reject) => {
        stream.write(chunk, (e?: Error | null) => (e === undefined || e === null ? resolve() : reject(fail(e))));
      });
      done.catch(() => undefined);
      inFlight.push({ done, bytes: chunk.length });
      inFlightBytes += chunk.length;
    },
    settle,
    release: () => stream.off('error', onError),
  };
}

/** Accumulates archive bytes into chunks and hands them on, through gzip if asked. */
export class BackupOutput {
  private chunk = Buffer.allocUnsafe(OUTPUT_CHUNK_BYTES);
  private used = 0;
  /** Archive bytes (before compression). */
  tarBytes = 0;
  /** Bytes handed to the sink. */
  sinkBytes = 0;
  private readonly emitRaw: (chunk: Buffer) => Promise<void>;
  private readonly settle: () => Promise<void>;
  private readonly release: () => void;
  /** Writes into gzip, one chunk in flight as for a stream sink. */
  private readonly gzipWriter: ReturnType<typeof streamEmitter> | undefined;
  private readonly gzip: Gzip | undefined;
  private readonly pump: Promise<void> | undefined;
  private sinkError: unknown;

  constructor(sink: BackupSink, gzip: { level: number } | undefined) {
    let emit: (chunk: Buffer) => Promise<void>;
    if (typeof sink === 'function') {
      emit = async (c) => {
        await sink(c);
      };
      this.settle = async () => undefined;
      this.release = () => undefined;
    } else {
      const s = streamEmitter(sink, 'its stream');
      emit = s.emit;
      this.settle = s.settle;
      this.release = s.release;
    }
    this.emitRaw = emit;
    if (gzip !== undefined) {
      const gz = createGzip({ level: gzip.level });
      this.gzip = gz;
      // Compressed chunks go to the sink one at a time: gzip pauses while the sink takes one.
      this.pump = new Promise<void>((resolve, reject) => {
        gz.on('data', (c: Buffer) => {
          gz.pause();
          this.sinkBytes += c.length;
          emit(c).then(
            () => gz.resume(),
            (e: unknown) => {
              // The sink failed: that is the error to report, also to a writer waiting for gzip to drain.
              this.sinkError ??= e;
              gz.destroy(e as Error);
            },
          );
        });
        gz.on('end', resolve);
        gz.on('error', (e) => reject(this.sinkError ?? e));
      });
      this.pump.catch(() => undefined);
      this.gzipWriter = streamEmitter(gz, 'gzip');
    }
  }

  /** `n` bytes of the archive to fill in place (n <= OUTPUT_CHUNK_BYTES). */
  async reserve(n: number): Promise<Buffer> {
    if (n > OUTPUT_CHUNK_BYTES) throw new Error(`assert: reserve(${n}) is larger than a chunk`);
    if (this.used + n > OUTPUT_CHUNK_BYTES) await this.flush();
    const view = this.chunk.subarray(this.used, this.used + n);
    this.used += n;
    this.tarBytes += n;
    return view;
  }

  async write(bytes: Uint8Array): Promise<void> {
    for (let o = 0; o < bytes.length; ) {
      const n = Math.min(OUTPUT_CHUNK_BYTES, bytes.length - o);
      (await this.reserve(n)).set(bytes.subarray(o, o + n));
      o += n;
    }
  }

  async zeros(n: number): Promise<void> {
    for (let left = n; left > 0; ) {
      const k = Math.min(OUTPUT_CHUNK_BYTES, left);
      (await this.reserve(k)).fill(0);
      left -= k;
    }
  }

  /** Hands the current chunk on; the next one is a new buffer, as the sink may keep this one. */
  async flush(): Promise<void> {
    if (this.used === 0) return;
    const out = this.chunk.subarray(0, this.used);
    this.chunk = Buffer.allocUnsafe(OUTPUT_CHUNK_BYTES);
    this.used = 0;
    if (this.gzipWriter !== undefined) {
      if (this.gzip?.destroyed === true) await this.pump;
      try {
        await this.gzipWriter.emit(out);
      } catch (e) {
        throw this.sinkError ?? e;
      }
    } else {
      this.sinkBytes += out.length;
      await this.emitRaw(out);
    }
  }

  /** Flushes everything (and ends gzip's stream); the sink itself is left open. */
  async finish(): Promise<void> {
    try {
      await this.flush();
      if (this.gzip !== undefined && this.gzipWriter !== undefined) {
        try {
          await this.gzipWriter.settle();
        } catch (e) {
          throw this.sinkError ?? e;
        }
        this.gzip.end();
        await this.pump;
        this.gzipWriter.release();
      }
      await this.settle();
    } finally {
      this.release();
    }
  }

  /** Stops after a failure: gzip is torn down, the sink is left as it is. */
  abort(): void {
    this.gzip?.destroy();
    this.gzipWriter?.release();
    this.release();
  }
}
