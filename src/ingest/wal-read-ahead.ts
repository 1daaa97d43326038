/**
 * WAL from a folder, read ahead on a second thread (wal-folder.ts's walRecords, split in two): a
 * worker (wal-read-ahead-worker.ts) reads the segment files and runs the serial decoder over them
 * (page headers, reassembly, prev-links, CRCs: every check, in the same order), and copies each
 * record it yields into a ring of shared memory; this thread takes the records apart again
 * (decodeRecord, cheap: its bytes are known good) and hands them on. Ingest thus gets the second
 * core for what a standby's startup process does itself, reading and checking WAL.
 *
 * The records, their order, where reading ends and what it says there are those of walRecords with
 * the same options, since the worker runs walRecords itself: a record the worker's decoder refuses
 * never reaches the ring, and the end it returns comes back as this generator's return value. Like
 * walRecords with `recordsDieInCallback`, a record (its views, its description) is dead once the
 * next one is asked for: its bytes in the ring are then written over.
 *
 * Ring layout (RING_BYTES of a SharedArrayBuffer), one entry per record, each 8-byte aligned:
 * ```
 *   u32 xl_tot_len (or WRAP: the next entry is at offset 0; or END: reading ended)
 *   u32 unused
 *   f64 start LSN, f64 end LSN (exact numbers below 2^53)
 *   xl_tot_len bytes of the record
 * ```
 * A record longer than RING_RECORD_BYTES_MAX does not go through the ring: the entry holds its
 * header only (OUT_OF_RING) and its bytes come as a message on the port, read synchronously.
 * Control words (Int32Array): the writer's and the reader's offsets, and who waits for whom.
 */
import assert from 'node:assert/strict';
import { MessageChannel, receiveMessageOnPort, Worker } from 'node:worker_threads';
import { decodeRecord, RecordRecycler, type WalRecord } from '../wal/record.js';
import type { WalReadOptions } from './wal-folder.js';

/** The ring's size: records up to a few MiB of WAL ahead of ingest. */
export const RING_BYTES = 8 << 20;
/** Records longer than this go by message, not through the ring. */
export const RING_RECORD_BYTES_MAX = 1 << 20;
export const ENTRY_HEADER_BYTES = 24;
export const WRAP = 0xffff_ffff;
export const END = 0xffff_fffe;
export const OUT_OF_RING = 0xffff_fffd;
/**
 * Control words, each on a cache line of its own (16 words apart): written by one thread, read by
 * the other, they would otherwise move a shared line between the cores on every record.
 */
export const CTL_WRITE = 0;
export const CTL_READ = 16;
/** 1 while the reader waits for CTL_WRITE to move (the writer then notifies). */
export const CTL_READER_WAITS = 32;
/** 1 while the writer waits for CTL_READ to move. */
export const CTL_WRITER_WAITS = 48;
/** Set by the reader when it stops early: the writer stops too. */
export const CTL_STOP = 64;
/** Moved by the worker whenever it makes progress or looks for room: it is alive. */
export const CTL_HEARTBEAT = 80;
export const CTL_WORDS = 96;
/** The reader gives up, with an error, when the worker shows no life for this long (it could not start, or died). */
const WORKER_SILENCE_MS_MAX = 30_000;
/**
 * Each side moves its offset for the other to see once per this many bytes (or when the other
 * waits): published per record, the two threads woke each other for every record.
 */
export const PUBLISH_BYTES = RING_BYTES / 16;
/** How long one wait lasts before the waiter looks again (a safety net: wakeups are not lost). */
export const WAIT_MS = 100;

/** What the worker sends on its port. */
export type ReadAheadMessage =
  | { readonly kind: 'record'; readonly bytes: Uint8Array }
  | { readonly kind: 'end'; readonly result: string | undefined }
  | { readonly kind: 'failed'; readonly message: string };

export function align8(n: number): number {
  return n + ((8 - (n % 8)) % 8);
}

/**
 * walRecords(o) with the reading and checking done on a worker thread; `o.recordsDieInCallback`
 * must be set (see the header).
 */
export function* walRecordsReadAhead(o: WalReadOptions): Generator<WalRecord, string | undefined> {
  assert.ok(o.recordsDieInCallback === true, 'walRecordsReadAhead reuses record memory: recordsDieInCallback must be set');
  const ring = new SharedArrayBuffer(RING_BYTES);
  const control = new SharedArrayBuffer(CTL_WORDS * 4);
  const bytes = new Uint8Array(ring);
  const view = new DataView(ring);
  const ctl = new Int32Array(control);
  const { port1, port2 } = new MessageChannel();
  const worker = new Worker(new URL('./wal-read-ahead-worker.js', import.meta.url), {
    workerData: { options: o, ring, control, port: port2 },
    transferList: [port2],
  });
  worker.unref();
  const recycler = new RecordRecycler();
  let read = 0;
  /** The writer's offset as last seen: no shared word is read until the reader catches up with it. */
  let written = 0;
  /** The reader's offset as last published. */
  let released = 0;
  try {
    for (;;) {
      if (read === written) {
        // Caught up: give back what was read (the writer may be waiting for room), then wait for an entry.
        if (released !== read) released = release(ctl, read);
        written = Atomics.load(ctl, CTL_WRITE);
        let heartbeat = Atomics.load(ctl, CTL_HEARTBEAT);
        let silentSinceMs = -1;
        while (written === read) {
          Atomics.store(ctl, CTL_READER_WAITS, 1);
          written = Atomics.load(ctl, CTL_WRITE);
          if (written !== read) break;
          if (Atomics.wait(ctl, CTL_WRITE, written, WAIT_MS) === 'timed-out') {
            const beat = Atomics.load(ctl, CTL_HEARTBEAT);
            if (beat !== heartbeat) {
              heartbeat = beat;
              silentSinceMs = -1;
            } else if (silentSinceMs < 0) {
              silentSinceMs = Date.now();
            } else if (Date.now() - silentSinceMs > WORKER_SILENCE_MS_MAX) {
              throw new Error(`Cannot read WAL from ${o.dir}: the read-ahead worker made no progress for ${WORKER_SILENCE_MS_MAX} ms (it could not start, or it died)`);
            }
          }
          written = Atomics.load(ctl, CTL_WRITE);
        }
      }
      const totLen = view.getUint32(read, true);
      if (totLen === WRAP) {
        read = 0;
        released = release(ctl, read);
        continue;
      }
      if (totLen === END) {
        const m = receiveMessageOnPort(port1)?.message as ReadAheadMessage | undefined;
        if (m?.kind === 'end') return m.result;
        throw new Error(`Cannot read WAL from ${o.dir}: ${m?.kind === 'failed' ? m.message : 'the read-ahead worker ended without saying why'}`);
      }
      const start = view.getFloat64(read + 8, true);
      const end = view.getFloat64(read + 16, true);
      let record: WalRecord;
      if (totLen === OUT_OF_RING) {
        const m = receiveMessageOnPort(port1)?.message as ReadAheadMessage | undefined;
        if (m?.kind !== 'record') throw new Error(`assert: the read-ahead worker sent no record for the entry at ${read}`);
        record = decodeRecord(m.bytes, start, end, 0, recycler);
        read += ENTRY_HEADER_BYTES;
      } else {
        record = decodeRecord(bytes, start, end, read + ENTRY_HEADER_BYTES, recycler);
        read += align8(ENTRY_HEADER_BYTES + totLen);
      }
      // The entry is given back only when the next record is asked for: the caller reads it until then.
      yield record;
      if (read - released >= PUBLISH_BYTES || (read < released && read >= PUBLISH_BYTES)) released = release(ctl, read);
    }
  } finally {
    Atomics.store(ctl, CTL_STOP, 1);
    Atomics.notify(ctl, CTL_READ);
    port1.close();
    void worker.terminate();
  }
}

/** Moves the reader's offset to `read` and wakes the writer if it waits for room; returns `read`. */
function release(ctl: Int32Array, read: number): number {
  Atomics.store(ctl, CTL_READ, read);
  if (Atomics.load(ctl, CTL_WRITER_WAITS) === 1) {
    Atomics.store(ctl, CTL_WRITER_WAITS, 0);
    Atomics.notify(ctl, CTL_READ);
  }
  return read;
}
