/**
 * The per-epoch progress bar of `convnet train`: on a terminal one line redrawn in place (bar,
 * batches, images/s, loss, ETA); otherwise (a pipe, a log file) a plain line every few seconds, so
 * logs stay readable.
 */

/** What the bar shows after each batch. */
export interface ProgressState {
  /** 1-based batch index within the epoch. */
  batch: number;
  /** Batches in the epoch (null when unknown). */
  numBatches: number | null;
  /** Latest batch loss. */
  loss: number;
  /** Throughput so far in the epoch. */
  imagesPerSec: number;
  /** Seconds since the epoch started. */
  elapsed: number;
}

/** `m:ss` or `h:mm:ss`. */
export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '?';
  const s = Math.round(seconds);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const ss = String(s % 60).padStart(2, '0');
  return h > 0 ? `${h}:${String(m).padStart(2, '0')}:${ss}` : `${m}:${ss}`;
}

/** A progress display for one run (reused across epochs). */
export class ProgressBar {
  private lastPlain = 0;
  private lastDraw = -Infinity;
  private drawn = false;

  /**
   * @param stream where to draw (stdout)
   * @param plainEverySeconds interval of the plain lines when `stream` is not a terminal
   */
  constructor(
    private readonly stream: NodeJS.WriteStream,
    private readonly plainEverySeconds = 10,
  ) {}

  private get tty(): boolean {
    return this.stream.isTTY === true;
  }

  /** The text of one update (without the bar), e.g. `12/469 | 5210 img/s | loss 0.4123 | ETA 0:42`. */
  static describe(label: string, p: ProgressState): string {
    const total = p.numBatches === null ? '?' : String(p.numBatches);
    const eta = p.numBatches === null ? '?' : formatDuration(((p.numBatches - p.batch) * p.elapsed) / p.batch);
    return `${label} ${p.batch}/${total} | ${p.imagesPerSec.toFixed(0)} img/s | loss ${p.loss.toFixed(4)} | ETA ${eta}`;
  }

  /** Shows the state after a batch (`label` names the epoch, e.g. `epoch 3/10`). */
  update(label: string, p: ProgressState): void {
    if (this.tty) {
      // Redrawing costs more than a fast model's batch: about ten frames a second are enough.
      if (p.elapsed - this.lastDraw < 0.1 && p.batch !== p.numBatches) return;
      this.lastDraw = p.elapsed;
      const width = 24;
      const frac = p.numBatches === null ? 0 : Math.min(1, p.batch / p.numBatches);
      const filled = Math.round(frac * width);
      const bar = `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}]`;
      const text = `${ProgressBar.describe(label, p).replace(label, `${label} ${bar}`)}`;
      const cols = this.stream.columns ?? 100;
      this.stream.write(`\r${text.slice(0, cols - 1)}\x1b[K`);
      this.drawn = true;
    } else if (p.elapsed - this.lastPlain >= this.plainEverySeconds) {
      this.lastPlain = p.elapsed;
      this.stream.write(`${ProgressBar.describe(label, p)}\n`);
    }
  }

  /** Replaces the bar by a final line (the epoch summary) and resets for the next epoch. */
  finish(line: string): void {
    this.stream.write(this.drawn ? `\r${line}\x1b[K\n` : `${line}\n`);
    this.drawn = false;
    this.lastPlain = 0;
    this.lastDraw = -Infinity;
  }

  /** Ends a bar that was interrupted (an error), so the next message starts on its own line. */
  abort(): void {
    if (this.drawn) this.stream.write('\n');
    this.drawn = false;
  }
}
