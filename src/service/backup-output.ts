/**
 * Where a base backup's bytes go: a Node stream (a socket in CopyOut, an HTTP response, a file), a
 * stream whose every chunk is one framed message (the page service's CopyOut: each chunk a CopyData),
 * or a function, optionally through gzip (Node's zlib). The archive is assembled in 1 MiB chunks,
 * so the sink sees few, large writes; a stream holds at most IN_FLIGHT_BYTES_MAX of them unwritten
 * (the writer then waits for the oldest to be written), a function slows the writer with its
 * promise, so a slow client holds at most a few chunks in memory. A framed stream's chunks are
 * reused once written (its write callback says so): a new 1 MiB buffer per chunk cost its allocation
 * and page faults, and its external memory drove the garbage collector (a tenth of a backup's time).
 * The sink is never ended: the caller owns it (a CopyOut socket carries more after the archive).
 */
import { createGzip, type Gzip } from 'node:zlib';

/**
 * A stream that takes each chunk as one message: `frame` writes the message's header, `headerBytes`
 * long, for a payload of `payloadBytes`, into the bytes in front of the chunk, which go out with it
 * in one write (the page service: a CopyData header before each chunk of the archive). The stream
 * must be done with a chunk when its write callback runs (a socket, a file; not a PassThrough, whose
 * reader may still hold it): its buffers are reused then.
 */
export interface FramedStreamSink {
  readonly stream: NodeJS.WritableStream;
  readonly headerBytes: number;
  frame(header: Buffer, payloadBytes: number): void;
  /** What the stream is, for error messages ("the client"). */
  readonly what: string;
}

/** A stream, a framed stream, or a function that takes each chunk (and may return a promise to slow the writer down). */
export type BackupSink = NodeJS.WritableStream | FramedStreamSink | ((chunk: Buffer) => void | Promise<void>);

export const OUTPUT_CHUNK_BYTES = 1 << 20;
/** Bytes a sink stream may hold unwritten before the writer waits for it. */
const IN_FLIGHT_BYTES_MAX = 4 * OUTPUT_CHUNK_BYTES;

export class BackupOutputError extends Error {
  override readonly name = 'BackupOutputError';
  readonly code = 'OUTPUT_FAILED';
}

function isFramed(sink: BackupSink): sink is FramedStreamSink {
  return typeof sink === 'object' && 'frame' in sink && 'headerBytes' in sink;
}

/**
 * Writes chunks to a stream with a few chunks in flight: up to IN_FLIGHT_BYTES_MAX wait in the
 * stream while the next chunks are assembled, and past that the writer waits for the oldest chunk's
 * write to complete, not for the stream to empty. Waiting for 'drain' (the stream's whole buffer
 * written) let the stream go idle while the next chunks were assembled: making and writing took
 * turns instead of overlapping, and a backup into a file ran at half the rate of one whose bytes
 * were dropped (bench/basebackup). Each write's callback says when that chunk is out (`written`
 * then runs: its buffer may be reused). A stream that closes with writes in flight fails them: a
 * stream destroyed without an error never calls back a write it had not finished, and the writer
 * would wait for it for ever.
 */
export function streamEmitter(stream: NodeJS.WritableStream, what: string): { emit: (chunk: Buffer, written?: () => void) => Promise<void>; settle: () => Promise<void>; release: () => void } {
  let failed: unknown;
  /** Chunks written and not yet waited for, oldest first, with their sizes. */
  const inFlight: { readonly done: Promise<void>; readonly bytes: number }[] = [];
  /** How to fail each write not yet complete (also one the writer is waiting for). */
  const pending = new Set<(e: BackupOutputError) => void>();
  let inFlightBytes = 0;
  const fail = (e: unknown): BackupOutputError => new BackupOutputError(`Cannot write the base backup to ${what}: ${(e as Error).message}`, { cause: e });
  const closedError = (): BackupOutputError => new BackupOutputError(`Cannot write the base backup to ${what}: it was closed`);
  // A write can fail after write() returned: remember it and fail the next write.
  const onError = (e: unknown): void => {
    failed ??= e;
  };
  const onClose = (): void => {
    failed ??= closedError();
    for (const reject of pending) reject(failed instanceof BackupOutputError ? failed : fail(failed));
    pending.clear();
  };
  stream.on('error', onError);
  stream.on('close', onClose);
  const destroyed = (): boolean => (stream as { destroyed?: boolean }).destroyed === true;
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
    emit: async (chunk, written) => {
      while (inFlightBytes + chunk.length > IN_FLIGHT_BYTES_MAX && inFlight.length > 0) await waitOldest();
      if (failed !== undefined) throw failed instanceof BackupOutputError ? failed : fail(failed);
      if (destroyed()) throw closedError();
      const done = new Promise<void>((resolve, reject) => {
        pending.add(reject);
        stream.write(chunk, (e?: Error | null) => {
          pending.delete(reject);
          if (e === undefined || e === null) {
            written?.();
            resolve();
          } else {
            reject(fail(e));
          }
        });
      });
      done.catch(() => undefined);
      inFlight.push({ done, bytes: chunk.length });
      inFlightBytes += chunk.length;
    },
    settle,
    release: () => {
      stream.off('error', onError);
      stream.off('close', onClose);
    },
  };
}

/** Chunks kept for reuse: those in flight in a stream, and one being filled. */
const SPARE_CHUNKS_MAX = IN_FLIGHT_BYTES_MAX / OUTPUT_CHUNK_BYTES + 2;

/** Accumulates archive bytes into chunks and hands them on, through gzip if asked. */
export class BackupOutput {
  /** Bytes in front of each chunk's archive bytes, for a framed sink's header (0 otherwise). */
  private readonly headroom: number;
  private chunk: Buffer;
  /** Archive bytes in `chunk`, after the headroom. */
  private used = 0;
  /** Written chunks, to fill again (framed sinks only: a function or another stream may keep what it is given). */
  private readonly spare: Buffer[] = [];
  /** Archive bytes (before compression). */
  tarBytes = 0;
  /** Bytes handed to the sink (with gzip: compressed; without frame headers). */
  sinkBytes = 0;
  /** Writes a chunk of sink bytes (with `headroom` bytes in front of them, framed here); `written` runs once the sink is done with it. */
  private readonly emitRaw: (chunk: Buffer, written?: () => void) => Promise<void>;
  private readonly reuse: boolean;
  private readonly settle: () => Promise<void>;
  private readonly release: () => void;
  /** Writes into gzip, one chunk in flight as for a stream sink. */
  private readonly gzipWriter: ReturnType<typeof streamEmitter> | undefined;
  private readonly gzip: Gzip | undefined;
  private readonly pump: Promise<void> | undefined;
  private sinkError: unknown;

  constructor(sink: BackupSink, gzip: { level: number } | undefined) {
    let emit: (chunk: Buffer, written?: () => void) => Promise<void>;
    /** Bytes in front of what `emit` is given, for its frame header. */
    let frameBytes = 0;
    if (typeof sink === 'function') {
      emit = async (c) => {
        await sink(c);
      };
      this.settle = async () => undefined;
      this.release = () => undefined;
    } else {
      const framed = isFramed(sink) ? sink : undefined;
      const s = streamEmitter(framed?.stream ?? (sink as NodeJS.WritableStream), framed?.what ?? 'its stream');
      if (framed !== undefined) {
        frameBytes = framed.headerBytes;
        emit = (c, written) => {
          framed.frame(c.subarray(0, frameBytes), c.length - frameBytes);
          return s.emit(c, written);
        };
      } else {
        emit = s.emit;
      }
      this.settle = s.settle;
      this.release = s.release;
    }
    this.emitRaw = emit;
    if (gzip !== undefined) {
      // gzip's output chunks are its own buffers: a frame header goes in front of a copy.
      this.headroom = 0;
      this.reuse = false;
      const gz = createGzip({ level: gzip.level });
      this.gzip = gz;
      // Compressed chunks go to the sink one at a time: gzip pauses while the sink takes one.
      this.pump = new Promise<void>((resolve, reject) => {
        gz.on('data', (c: Buffer) => {
          gz.pause();
          this.sinkBytes += c.length;
          let out = c;
          if (frameBytes > 0) {
            out = Buffer.allocUnsafe(frameBytes + c.length);
            out.set(c, frameBytes);
          }
          emit(out).then(
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
    } else {
      this.headroom = frameBytes;
      this.reuse = frameBytes > 0;
    }
    this.chunk = Buffer.allocUnsafe(this.headroom + OUTPUT_CHUNK_BYTES);
  }

  /** Bytes reserve() can hand out before it must hand the current chunk on (a bulk writer fills what is left). */
  get room(): number {
    return OUTPUT_CHUNK_BYTES - this.used;
  }

  /** `n` bytes of the archive to fill in place (n <= OUTPUT_CHUNK_BYTES). */
  async reserve(n: number): Promise<Buffer> {
    if (n > OUTPUT_CHUNK_BYTES) throw new Error(`assert: reserve(${n}) is larger than a chunk`);
    if (this.used + n > OUTPUT_CHUNK_BYTES) await this.flush();
    const at = this.headroom + this.used;
    const view = this.chunk.subarray(at, at + n);
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

  /**
   * Hands the current chunk on. The next one is a written chunk of a framed sink, or a new buffer
   * (a function or another stream may keep what it is given; gzip's input is small next to its work).
   */
  async flush(): Promise<void> {
    if (this.used === 0) return;
    const full = this.chunk;
    const out = full.subarray(0, this.headroom + this.used);
    this.chunk = this.spare.pop() ?? Buffer.allocUnsafe(this.headroom + OUTPUT_CHUNK_BYTES);
    this.used = 0;
    if (this.gzipWriter !== undefined) {
      if (this.gzip?.destroyed === true) await this.pump;
      try {
        await this.gzipWriter.emit(out);
      } catch (e) {
        throw this.sinkError ?? e;
      }
    } else {
      this.sinkBytes += out.length - this.headroom;
      const written = this.reuse
        ? () => {
            if (this.spare.length < SPARE_CHUNKS_MAX) this.spare.push(full);
          }
        : undefined;
      await this.emitRaw(out, written);
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
