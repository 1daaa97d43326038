/**
 * Progress of long work (base backups, imports) on a terminal: one line, rewritten in place at most
 * a few times a second, with the bytes so far (of the total, when known) and the rate, or a short
 * status for a phase that has no bytes (an import catching up on WAL); nothing at all when stderr
 * is not a terminal (scripts, logs, --json), so output stays quiet there.
 */
const REDRAW_MS = 200;

export class Progress {
  private readonly t0 = Date.now();
  private last = 0;
  private bytes = 0;
  private total: number | undefined;
  private text: string | undefined;
  private width = 0;
  private readonly live: boolean;

  constructor(
    private label: string,
    private readonly out: NodeJS.WriteStream = process.stderr,
  ) {
    this.live = out.isTTY === true;
  }

  add(bytes: number): void {
    this.bytes += bytes;
    this.redraw();
  }

  /** The bytes done so far, of `total` when it is known (a polled job's state); `label` renames the line. */
  set(bytes: number, total?: number, label?: string): void {
    if (label !== undefined) this.label = label;
    this.bytes = bytes;
    this.total = total;
    this.text = undefined;
    this.redraw();
  }

  /** A phase without bytes: the line shows `label: text` until the next set(). */
  status(label: string, text: string): void {
    this.label = label;
    this.text = text;
    this.redraw();
  }

  private redraw(): void {
    const now = Date.now();
    if (!this.live || now - this.last < REDRAW_MS) return;
    this.last = now;
    this.draw();
  }

  private draw(): void {
    const s = (Date.now() - this.t0) / 1000;
    let line: string;
    if (this.text !== undefined) {
      line = `  ${this.label}: ${this.text}, ${s.toFixed(1)} s`;
    } else {
      const mib = this.bytes / (1 << 20);
      const of = this.total !== undefined && this.total > 0 ? ` of ${(this.total / (1 << 20)).toFixed(1)} MiB (${Math.min(100, Math.floor((this.bytes / this.total) * 100))}%)` : '';
      line = `  ${this.label}: ${mib.toFixed(1)} MiB${of}, ${s > 0 ? (mib / s).toFixed(1) : '0'} MiB/s, ${s.toFixed(1)} s`;
    }
    // Pad over what a longer previous line left on the terminal.
    this.out.write(`\r${line.padEnd(this.width)}`);
    this.width = line.length;
  }

  /** The final line (on a terminal), then a newline. */
  done(): void {
    if (!this.live) return;
    this.draw();
    this.out.write('\n');
  }
}
