// The learned time warp (native/core/train/time_warp.h): its bin probabilities against the slope of the CE curve
// computed here, its inverse CDF against the closed-form edges and a histogram, its batch statistics against a plain
// loop, and its place in a training run (decayed statistics, config errors).
import * as path from 'path';
import { testHooks } from '../lib/binding';
import { readSafetensors } from '../lib/safetensors';
import { Trainer } from '../lib/trainer';
import { errorCode, int64Tensor, randomTokens, tempDir, TINY_MODEL } from './lcmd-fixtures';
import { rng } from './sampler-stats';
import { UNIFORM_SHARE, warpProbabilities } from './time-warp-reference';

const DECAY = 0.99;

function warp(statistics: number[] | null, u: number[], t: number[] = [0.5], ce: number[] = [0]) {
  return testHooks().timeWarp(statistics ? Float64Array.from(statistics) : null, Float64Array.from(u), Float64Array.from(t), Float64Array.from(ce));
}

const BINS = warp(null, [0.5]).bins;

/** A CE curve c^2 at the bin centres, with uneven counts so that the means, not the sums, must be what counts. */
function quadraticStatistics(): { sums: number[]; counts: number[] } {
  const counts = Array.from({ length: BINS }, (_, b) => 1 + (b % 3));
  const sums = counts.map((n, b) => n * ((b + 0.5) / BINS) ** 2);
  return { sums, counts };
}

describe('learned time warp: density and inverse CDF', () => {
  test('without statistics, t is uniform: every bin 1 / bins and t = u', () => {
    const u = Array.from({ length: 101 }, (_, i) => (i + 0.5) / 101);
    const out = warp(null, u);
    for (const p of out.probabilities) expect(p).toBeCloseTo(1 / BINS, 14);
    for (let i = 0; i < u.length; i++) expect(Math.abs(out.times[i] - Math.fround(u[i]))).toBeLessThan(1e-7);
  });

  test('bin probabilities follow the slope of the CE curve, mixed with uniform', () => {
    const { sums, counts } = quadraticStatistics();
    const out = warp([...sums, ...counts], [0.5]);
    const expected = warpProbabilities(sums, counts);
    for (let b = 0; b < BINS; b++) expect(Math.abs(out.probabilities[b] - expected[b])).toBeLessThan(1e-12);
    // c^2 rises fastest at high t: the last bin gets far more than the first
    expect(out.probabilities[BINS - 1]).toBeGreaterThan(10 * out.probabilities[0]);
  });

  test('a falling or unsampled bin gets no rise of its own, only the uniform share', () => {
    const { sums, counts } = quadraticStatistics();
    sums[10] = 0.001 * counts[10]; // below bin 9's mean: noise in the estimate, not a falling CE
    counts[20] = 0; // never sampled
    sums[20] = 0;
    const out = warp([...sums, ...counts], [0.5]);
    expect(out.probabilities[10]).toBeCloseTo(UNIFORM_SHARE / BINS, 12);
    expect(out.probabilities[20]).toBeCloseTo(UNIFORM_SHARE / BINS, 12);
    const expected = warpProbabilities(sums, counts);
    for (let b = 0; b < BINS; b++) expect(Math.abs(out.probabilities[b] - expected[b])).toBeLessThan(1e-12);
  });

  test('t maps the CDF edges to the bin edges, is non-decreasing, and its histogram matches the density', () => {
    const { sums, counts } = quadraticStatistics();
    const p = warpProbabilities(sums, counts);
    const edges: number[] = [];
    let cdf = 0;
    for (let b = 0; b < BINS - 1; b++) edges.push((cdf += p[b]));
    const atEdges = warp([...sums, ...counts], edges).times;
    edges.forEach((_, k) => expect(Math.abs(atEdges[k] - (k + 1) / BINS)).toBeLessThan(2e-6));

    const r = rng(5).uniform;
    const n = 200_000;
    const u = Array.from({ length: n }, () => Math.min(Math.max(r(), 1e-7), 1 - 1e-7));
    const t = warp([...sums, ...counts], u).times;
    const sorted = u.map((x, i) => [x, t[i]]).sort((a, b) => a[0] - b[0]);
    expect(sorted.filter((pair, i) => i > 0 && pair[1] < sorted[i - 1][1]).length).toBe(0);
    const histogram = new Array(BINS).fill(0);
    for (const x of t) histogram[Math.min(BINS - 1, Math.floor(x * BINS))]++;
    for (let b = 0; b < BINS; b++) {
      const mean = n * p[b];
      expect(Math.abs(histogram[b] - mean)).toBeLessThan(5 * Math.sqrt(mean) + 2);
    }
    expect(t.filter((x) => !(x > 0 && x < 1)).length).toBe(0);
  });

  test('batch statistics: per-bin CE sums and counts of the batch, divided by its size', () => {
    const r = rng(9).uniform;
    const t = Array.from({ length: 500 }, () => Math.fround(r()));
    const ce = t.map(() => 3 * r());
    const out = warp(null, [0.5], t, ce).batchStatistics;
    const sums = new Array(BINS).fill(0), counts = new Array(BINS).fill(0);
    t.forEach((x, i) => {
      const b = Math.min(BINS - 1, Math.floor(x * BINS));
      sums[b] += ce[i];
      counts[b] += 1;
    });
    for (let b = 0; b < BINS; b++) {
      expect(Math.abs(out[b] - sums[b] / t.length)).toBeLessThan(1e-5);
      expect(Math.abs(out[BINS + b] - counts[b] / t.length)).toBeLessThan(1e-7);
    }
  });
});

describe('learned time warp in a training run', () => {
  const MODEL = { ...TINY_MODEL, attnDropout: 0 };

  test('the checkpointed statistics decay: each step adds one example-normalised batch to counts decayed by 0.99', async () => {
    const trainer = Trainer.create({ model: MODEL, train: { seed: 3, lr: 0.01, warmupSteps: 0, timeWarp: 'learned' } });
    const steps = 7;
    for (let k = 0; k < steps; k++) {
      const tokens = int64Tensor(randomTokens(k, 8, 4, 16).flat(), [8, 4]);
      const labels = int64Tensor([0, 1, 2, 0, 1, 2, 0, 1], [8]);
      await trainer.step({ tokens, labels });
      tokens.dispose();
      labels.dispose();
    }
    const file = path.join(tempDir('time-warp'), 'warp.safetensors');
    await trainer.save(file);
    trainer.dispose();
    const { tensors } = await readSafetensors(file);
    const stats = Array.from(tensors['time_warp.stats'].toTypedArray() as Float32Array);
    Object.values(tensors).forEach((t) => t.dispose());
    const countTotal = stats.slice(BINS).reduce((a, b) => a + b, 0);
    expect(countTotal).toBeCloseTo((1 - DECAY ** steps) / (1 - DECAY), 4);
    // the CE of an example is positive, so every sampled bin has a positive mean
    for (let b = 0; b < BINS; b++) if (stats[BINS + b] > 0) expect(stats[b]).toBeGreaterThan(0);
  });

  test('a run with uniform t has no warp statistics in its checkpoint', async () => {
    const trainer = Trainer.create({ model: MODEL, train: { seed: 3 } });
    const file = path.join(tempDir('time-warp'), 'uniform.safetensors');
    await trainer.save(file);
    trainer.dispose();
    const { tensors } = await readSafetensors(file);
    expect(Object.keys(tensors)).not.toContain('time_warp.stats');
    Object.values(tensors).forEach((t) => t.dispose());
  });

  test.each([
    ['an unknown value', { timeWarp: 'sigmoid' }, {}],
    ['the vlb objective', { timeWarp: 'learned', objective: 'vlb', lambdaCm: 0 }, {}],
    ['a maskgit model', { timeWarp: 'learned' }, { method: 'maskgit' }],
  ])('refused with E_CONFIG: %s', async (_name, train, model) => {
    expect(await errorCode(() => Trainer.create({ model: { ...MODEL, ...model } as never, train: train as never }))).toBe('E_CONFIG');
  });
});
