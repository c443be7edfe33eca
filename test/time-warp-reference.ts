// The learned time warp's density as native/core/train/time_warp.h describes it, computed independently here for the
// warp tests (training side) and the learned sampling grid tests.

export const UNIFORM_SHARE = 0.1;

/** Running maximum of the bin means, its rises from CE(0) = 0, normalised and mixed with uniform. */
export function warpProbabilities(sums: number[], counts: number[]): number[] {
  const bins = sums.length;
  let best = 0;
  const rises = sums.map((s, b) => {
    const mean = counts[b] > 1e-6 ? Math.max(s / counts[b], 0) : 0;
    const rise = Math.max(mean - best, 0);
    best = Math.max(best, mean);
    return rise;
  });
  const total = rises.reduce((a, b) => a + b, 0);
  return rises.map((r) => (1 - UNIFORM_SHARE) * (r / total) + UNIFORM_SHARE / bins);
}
