/**
 * The read-ahead worker (wal-read-ahead.ts): runs walRecords over the folder, exactly as a reader
 * on the main thread would, and copies each record into the shared ring for the main thread; then
 * says how reading ended. It writes nothing but the ring, the control words and its port.
 */
import assert from 'node:assert/strict';
import { workerData, type MessagePort } from 'node:worker_threads';
import { walRecords, type WalReadOptions } from './wal-folder.js';
import {
  align8,
  CTL_HEARTBEAT,
  CTL_READ,
  CTL_READER_WAITS,
  CTL_STOP,
  CTL_WRITE,
  CTL_WRITER_WAITS,
  END,
  ENTRY_HEADER_BYTES,
  OUT_OF_RING,
  PUBLISH_BYTES,
  RING_RECORD_BYTES_MAX,
  WAIT_MS,
  WRAP,
  type ReadAheadMessage,
} from './wal-read-ahead.js';

const { options, ring, control, port } = workerData as { options: WalReadOptions; ring: SharedArrayBuffer; control: SharedArrayBuffer; port: MessagePort };
const bytes = new Uint8Array(ring);
const view = new DataView(ring);
const ctl = new Int32Array(control);
const size = ring.byteLength;
let write = 0;
/** The offset as last published. */
let published = 0;

/** Where an entry of `need` bytes goes (waiting for the reader to make room), or -1 once the reader stopped. */
function reserve(need: number): number {
  for (;;) {
    Atomics.add(ctl, CTL_HEARTBEAT, 1);
    if (Atomics.load(ctl, CTL_STOP) === 1) return -1;
    const read = Atomics.load(ctl, CTL_READ);
    if (write >= read) {
      // Free: [write, size), less room for a WRAP entry, and [0, read).
      if (write + need + 8 <= size) return write;
      if (read > 0 && need < read) {
        view.setUint32(write, WRAP, true);
        write = 0;
        publish(true);
        return 0;
      }
    } else if (write + need < read) {
      return write;
    }
    // Full: publish all there is (the reader may be waiting for it), then wait for the reader (it
    // notifies when it sees CTL_WRITER_WAITS; the wait checks CTL_READ first).
    publish(true);
    Atomics.store(ctl, CTL_WRITER_WAITS, 1);
    if (Atomics.load(ctl, CTL_READ) !== read) continue;
    Atomics.wait(ctl, CTL_READ, read, WAIT_MS);
  }
}

/** Lets the reader see the entries up to `write`: now if `now`, if it waits, or once PUBLISH_BYTES have gathered. */
function publish(now: boolean): void {
  const readerWaits = Atomics.load(ctl, CTL_READER_WAITS) === 1;
  if (!now && !readerWaits && write - published < PUBLISH_BYTES && write >= published) return;
  Atomics.store(ctl, CTL_WRITE, write);
  published = write;
  if (readerWaits) {
    Atomics.store(ctl, CTL_READER_WAITS, 0);
    Atomics.notify(ctl, CTL_WRITE);
  }
}

/** Writes an entry header of `tag` (a length or a marker) at a reserved place; false once the reader stopped. */
function entry(tag: number, start: number, end: number, body: Uint8Array | undefined): boolean {
  const at = reserve(align8(ENTRY_HEADER_BYTES + (body?.length ?? 0)));
  if (at < 0) return false;
  view.setUint32(at, tag, true);
  view.setFloat64(at + 8, start, true);
  view.setFloat64(at + 16, end, true);
  if (body !== undefined) bytes.set(body, at + ENTRY_HEADER_BYTES);
  write = at + align8(ENTRY_HEADER_BYTES + (body?.length ?? 0));
  publish(tag === END);
  return true;
}

function send(m: ReadAheadMessage): void {
  port.postMessage(m);
}

try {
  const it = walRecords(options);
  for (;;) {
    const next = it.next();
    if (next.done === true) {
      // The message first: the reader takes it when it reaches the END entry.
      send({ kind: 'end', result: next.value });
      entry(END, 0, 0, undefined);
      break;
    }
    const r = next.value;
    const raw = r.raw;
    assert.equal(raw.length, r.totLen);
    let more: boolean;
    if (raw.length > RING_RECORD_BYTES_MAX) {
      send({ kind: 'record', bytes: raw.slice() });
      more = entry(OUT_OF_RING, r.lsnNumber, r.endLsnNumber, undefined);
    } else {
      more = entry(raw.length, r.lsnNumber, r.endLsnNumber, raw);
    }
    if (!more) {
      it.return(undefined);
      break;
    }
  }
} catch (e) {
  send({ kind: 'failed', message: e instanceof Error ? e.message : String(e) });
  entry(END, 0, 0, undefined);
}
