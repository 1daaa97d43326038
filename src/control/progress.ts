/**
 * Progress of long work (base backups, imports) on a terminal: one line, rewritten in place at most
 * a few times a second, with the bytes so far and the rate; nothing at all when stderr is not a
 * terminal (scripts, logs, --json), so output stays quiet there.
 */
const REDRAW_MS = 200;

export class Progress {
  private readonly t0 = Date.now();
  private last = 0;
  private bytes = 0;
  private readonly live: boolean;

  constructor(
    private readonly label: string,
    private readonly out: NodeJS.WriteStream = process.stderr,
  ) {
    this.live = out.isTTY === true;
  }

  add(bytes: number): void {
    this.bytes += bytes;
    const now = Date.now();
    if (!this.live || now - this.last < REDRAW_MS) return;
    this.last = now;
    this.draw();
  }

  private draw(): void {
    const mib = this.bytes / (1 << 20);
    const s = (Date.now() - this.t0) / 1000;
    this.out.write(`\r  ${this.label}: ${mib.toFixed(1)} MiB, ${s > 0 ? (mib / s).toFixed(1) : '0'} MiB/s, ${s.toFixed(1)} s   `);
  }

  /** The final line (on a terminal), then a newline. */
  done(): void {
    if (!this.live) return;
    this.draw();
    this.out.write('\n');
  }
}
