/** The mean losses of the steps since the last log line (skipped, non-finite steps left out). */
import type { StepResult } from './trainer';

export const LOGGED_LOSSES = ['loss', 'recon', 'ce', 'cm', 'diff', 'prior', 'accuracyT'] as const;

export class LossWindow {
  private sums: Record<string, number> = {};
  private count = 0;

  add(r: StepResult): void {
    if (r.skipped) return;
    for (const k of LOGGED_LOSSES) this.sums[k] = (this.sums[k] ?? 0) + r[k];
    this.count++;
  }

  /** The window's means (NaN when every step was skipped), and a fresh window. */
  take(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const k of LOGGED_LOSSES) out[k] = this.count > 0 ? this.sums[k] / this.count : NaN;
    this.sums = {};
    this.count = 0;
    return out;
  }
}
