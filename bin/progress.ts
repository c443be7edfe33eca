/**
 * A progress line for long commands: step / total, a bar, named values (losses), a rate (images/s) and the ETA.
 * On a terminal one line is redrawn in place (at most every `minIntervalMs`); elsewhere (a log file, a pipe, CI)
 * plain lines are written, one every `plainEvery` steps, so logs stay readable.
 */

export interface ProgressState {
  step: number;
  total: number;
  /** Shown in order, e.g. { loss: 1.23, recon: 0.4 } */
  values?: Record<string, number>;
  /** Items per second, e.g. images/s */
  rate?: number;
  /** Unit of the rate (default 'img/s') */
  rateUnit?: string;
  etaSeconds?: number;
}

export interface ProgressOptions {
  /** Where to write (default process.stderr, so stdout stays free for results). */
  stream?: NodeJS.WritableStream & { isTTY?: boolean; columns?: number };
  /** Redraw in place (default: whether the stream is a terminal). */
  tty?: boolean;
  /** Shortest time between redraws on a terminal (default 100 ms). */
  minIntervalMs?: number;
  /** Without a terminal, write a line every this many steps (default 1), and always at the last step. */
  plainEvery?: number;
  /** A word before the counter, e.g. 'train' */
  label?: string;
}

/** h:mm:ss, or m:ss under an hour; '--:--' when unknown. */
export function formatDuration(seconds: number | undefined): string {
  if (seconds === undefined || !Number.isFinite(seconds) || seconds < 0) return '--:--';
  const s = Math.round(seconds);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = String(s % 60).padStart(2, '0');
  return h > 0 ? `${h}:${String(m).padStart(2, '0')}:${sec}` : `${m}:${sec}`;
}

/** Four significant digits, fixed notation for everyday magnitudes. */
export function formatValue(v: number): string {
  if (!Number.isFinite(v)) return String(v);
  const a = Math.abs(v);
  if (a !== 0 && (a < 1e-3 || a >= 1e5)) return v.toExponential(2);
  return Number(v.toPrecision(4)).toString();
}

function bar(fraction: number, width: number): string {
  const filled = Math.max(0, Math.min(width, Math.round(fraction * width)));
  return `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}]`;
}

/** The text of one progress line (without control characters). */
export function renderProgress(state: ProgressState, options: { label?: string; barWidth?: number } = {}): string {
  const total = Math.max(1, state.total);
  const fraction = Math.min(1, Math.max(0, state.step / total));
  const parts: string[] = [];
  if (options.label) parts.push(options.label);
  parts.push(`${state.step}/${state.total}`);
  if ((options.barWidth ?? 20) > 0) parts.push(bar(fraction, options.barWidth ?? 20));
  parts.push(`${Math.floor(fraction * 100)}%`);
  for (const [name, value] of Object.entries(state.values ?? {})) parts.push(`${name} ${formatValue(value)}`);
  if (state.rate !== undefined && Number.isFinite(state.rate)) parts.push(`${state.rate >= 100 ? state.rate.toFixed(0) : state.rate.toFixed(1)} ${state.rateUnit ?? 'img/s'}`);
  parts.push(`ETA ${formatDuration(state.etaSeconds)}`);
  return parts.join('  ');
}

export class ProgressLine {
  private readonly stream: NodeJS.WritableStream & { isTTY?: boolean; columns?: number };
  private readonly tty: boolean;
  private readonly minIntervalMs: number;
  private readonly plainEvery: number;
  private readonly label?: string;
  private lastDraw = 0;
  private current = '';
  private shown = false;

  constructor(options: ProgressOptions = {}) {
    this.stream = options.stream ?? process.stderr;
    this.tty = options.tty ?? Boolean(this.stream.isTTY);
    this.minIntervalMs = options.minIntervalMs ?? 100;
    this.plainEvery = Math.max(1, options.plainEvery ?? 1);
    this.label = options.label;
  }

  get isTTY(): boolean {
    return this.tty;
  }

  /** Shows `state`; `force` draws now even if the last redraw (or plain line) was recent. */
  update(state: ProgressState, force = false): void {
    const last = state.step >= state.total;
    if (this.tty) {
      const now = Date.now();
      if (!force && !last && now - this.lastDraw < this.minIntervalMs) {
        this.current = renderProgress(state, { label: this.label });
        return;
      }
      this.lastDraw = now;
      this.current = renderProgress(state, { label: this.label });
      this.draw();
      return;
    }
    if (force || last || state.step % this.plainEvery === 0) this.stream.write(renderProgress(state, { label: this.label, barWidth: 0 }) + '\n');
  }

  /** Writes a whole line (a message, an evaluation) above the progress line. */
  log(line: string): void {
    if (this.tty && this.shown) {
      this.stream.write(`\r\x1b[K${line}\n`);
      this.draw();
    } else {
      this.stream.write(line + '\n');
    }
  }

  /** Leaves the last progress line on the screen. */
  finish(): void {
    if (this.tty && this.shown) {
      this.draw();
      this.stream.write('\n');
      this.shown = false;
    }
  }

  private draw(): void {
    const columns = this.stream.columns ?? 0;
    const text = columns > 10 && this.current.length >= columns ? this.current.slice(0, columns - 1) : this.current;
    this.stream.write(`\r${text}\x1b[K`);
    this.shown = true;
  }
}
