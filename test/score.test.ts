// The sample-quality metrics against closed forms and brute-force recomputations, and the scorer's round trip.
import * as path from 'path';
import { native } from '../lib/binding';
import { Scorer, scoreAgainstReal, seededPermutation } from '../lib/score';
import { Tensor } from '../lib/tensor';
import { tempDir } from './lcmd-fixtures';
import { rng } from './sampler-stats';

function features(seed: number, n: number, f: number, mix: number[][]): number[][] {
  const r = rng(seed);
  // correlated features: x = A g with g ~ N(0, I), so the covariance is full
  return Array.from({ length: n }, () => {
    const g = Array.from({ length: f }, () => r.normal());
    return mix.map((row) => row.reduce((a, m, j) => a + m * g[j], 0));
  });
}

const tensor = (rows: number[][]) => Tensor.from(Float32Array.from(rows.flat()), [rows.length, rows[0].length]);

describe('Frechet distance', () => {
  const F = 5;
  const r = rng(3);
  const mix = Array.from({ length: F }, () => Array.from({ length: F }, () => r.normal()));
  const real = features(1, 400, F, mix);

  test.each([
    [1.0, 0.0],
    [0.5, 0.3],
    [2.0, -1.0],
  ])('of a*x + b against x matches the closed form (a = %p, b = %p)', async (a, b) => {
    // S_g = a^2 S and mu_g = a mu + b, so FD = |(1 - a) mu - b|^2 + (1 - a)^2 tr(S) exactly, whatever S is
    const gen = real.map((row) => row.map((v) => a * v + b));
    const n = real.length;
    const mu = Array.from({ length: F }, (_, j) => real.reduce((s, row) => s + row[j], 0) / n);
    let trace = 0;
    for (let j = 0; j < F; j++) trace += real.reduce((s, row) => s + (row[j] - mu[j]) ** 2, 0) / (n - 1);
    const expected = mu.reduce((s, m) => s + ((1 - a) * m - b) ** 2, 0) + (1 - a) ** 2 * trace;
    const x = tensor(real), y = tensor(gen);
    const got = await native().sampleMetrics(x.handle, y.handle, 3, 5);
    x.dispose();
    y.dispose();
    expect(Math.abs(got.frechetDistance - expected)).toBeLessThan(1e-3 * Math.max(1, expected));
    expect(got.sqrtResidual).toBeLessThan(1e-6);
  });

  test('grows with a shift of the mean by exactly |shift|^2', async () => {
    const x = tensor(real);
    const shifted = tensor(real.map((row) => row.map((v, j) => v + (j === 0 ? 2 : 0))));
    const got = await native().sampleMetrics(x.handle, shifted.handle, 3, 5);
    x.dispose();
    shifted.dispose();
    expect(got.frechetDistance).toBeCloseTo(4, 3);
  });
});

describe('precision, recall, density and coverage', () => {
  // brute force, written from the definitions
  function reference(real: number[][], gen: number[][], kPr: number, kDc: number) {
    const dist = (a: number[], b: number[]) => Math.sqrt(a.reduce((s, v, i) => s + (v - b[i]) ** 2, 0));
    const radius = (set: number[][], k: number) => set.map((p) => set.map((q) => dist(p, q)).sort((u, v) => u - v)[k]);
    const rPr = radius(real, kPr), gPr = radius(gen, kPr), rDc = radius(real, kDc);
    const precision = gen.filter((g) => real.some((r, i) => dist(g, r) <= rPr[i])).length / gen.length;
    const recall = real.filter((r) => gen.some((g, j) => dist(r, g) <= gPr[j])).length / real.length;
    let inside = 0;
    for (const g of gen) for (let i = 0; i < real.length; i++) inside += dist(g, real[i]) <= rDc[i] ? 1 : 0;
    const coverage = real.filter((r, i) => Math.min(...gen.map((g) => dist(r, g))) <= rDc[i]).length / real.length;
    return { precision, recall, density: inside / (kDc * gen.length), coverage };
  }

  test('match a brute-force computation on overlapping and disjoint sets', async () => {
    const r = rng(9);
    const real = Array.from({ length: 60 }, () => [r.normal(), r.normal(), r.normal()]);
    // half the generated points sit among the real ones, half far away: precision and density must drop
    const gen = Array.from({ length: 50 }, (_, i) => (i < 25 ? [r.normal(), r.normal(), r.normal()] : [8 + r.normal(), r.normal(), r.normal()]));
    const x = tensor(real), y = tensor(gen);
    const got = await native().sampleMetrics(x.handle, y.handle, 3, 5);
    x.dispose();
    y.dispose();
    const want = reference(real, gen, 3, 5);
    for (const key of ['precision', 'recall', 'density', 'coverage'] as const) expect(got[key]).toBeCloseTo(want[key], 6);
    expect(got.precision).toBeLessThan(0.7);
    expect(got.precision).toBeGreaterThan(0.3);
  });
});

test('duplicate fraction counts rows equal to an earlier row', () => {
  const rows = Tensor.from(Float32Array.from([1, 2, 3, 4, 1, 2, 5, 6, 1, 2]), [5, 2]);
  expect(native().duplicateFraction(rows.handle)).toBeCloseTo(2 / 5, 12);
  rows.dispose();
});

test('seededPermutation is a permutation, fixed by its seed', () => {
  const p = seededPermutation(1000, 7);
  expect(new Set(p).size).toBe(1000);
  expect(Array.from(seededPermutation(1000, 7))).toEqual(Array.from(p));
  expect(Array.from(seededPermutation(1000, 8))).not.toEqual(Array.from(p));
  // not the identity's first elements: the MNIST test file is ordered by writer
  expect(Array.from(p.subarray(0, 10))).not.toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
});

describe('the scorer', () => {
  // two classes of 8x8 images: a bright left half or a bright right half, with noise
  function images(seed: number, n: number): { images: Tensor; labels: number[] } {
    const r = rng(seed);
    const px = new Float32Array(n * 64);
    const labels: number[] = [];
    for (let i = 0; i < n; i++) {
      const c = i % 2;
      labels.push(c);
      for (let y = 0; y < 8; y++) for (let x = 0; x < 8; x++) px[i * 64 + y * 8 + x] = Math.min(1, Math.max(0, ((x < 4) === (c === 0) ? 0.8 : 0.1) + 0.1 * r.normal()));
    }
    return { images: Tensor.from(px, [n, 1, 8, 8]), labels };
  }

  test('learns the classes, survives a save / load round trip, and scores real against real near the floor', async () => {
    const train = images(1, 200);
    const scorer = Scorer.create({ channels: 1, height: 8, width: 8, numClasses: 2 }, { seed: 0 });
    const labels = Tensor.from(BigInt64Array.from(train.labels.map(BigInt)), [200]);
    await scorer.train(train.images, labels, { steps: 60, batchSize: 32, lr: 3e-3 });
    const test_ = images(2, 100);
    const { classes } = await scorer.embed(test_.images);
    const accuracy = classes.reduce((a, c, i) => a + (c === test_.labels[i] ? 1 : 0), 0) / 100;
    expect(accuracy).toBeGreaterThan(0.95);

    const file = path.join(tempDir('scorer'), 'scorer.safetensors');
    await scorer.save(file);
    const loaded = await Scorer.load(file);
    const a = await scorer.embed(test_.images), b = await loaded.embed(test_.images);
    expect(Array.from(b.features.toTypedArray() as Float32Array)).toEqual(Array.from(a.features.toTypedArray() as Float32Array));

    // generated = a disjoint real set: its class agreement is high; all-dark images are far worse
    const real = images(3, 400);
    const generated = images(4, 50);
    const good = await scoreAgainstReal(loaded, generated.images, real.images, { labels: generated.labels, realLabels: real.labels });
    const dark = Tensor.from(new Float32Array(50 * 64).fill(0.05), [50, 1, 8, 8]);
    const bad = await scoreAgainstReal(loaded, dark, real.images, { labels: generated.labels, realLabels: real.labels });
    expect(good.score.classAgreement).toBeGreaterThan(0.95);
    expect(good.floor.classAgreement).toBeGreaterThan(0.95);
    expect(bad.score.frechetDistance).toBeGreaterThan(10 * good.score.frechetDistance);
    expect(bad.score.duplicateFraction).toBeCloseTo(49 / 50, 12);
    expect(good.score.duplicateFraction).toBe(0);
    for (const t of [train.images, labels, test_.images, real.images, generated.images, dark, a.features, b.features]) t.dispose();
    scorer.dispose();
    loaded.dispose();
  });

  test('refuses images of the wrong size and files that are not scorers', async () => {
    const scorer = Scorer.create({ channels: 1, height: 8, width: 8, numClasses: 2 });
    const wrong = Tensor.zeros([3, 1, 9, 8]);
    await expect(scorer.embed(wrong)).rejects.toMatchObject({ code: 'E_SHAPE' });
    wrong.dispose();
    scorer.dispose();
    await expect(Scorer.load(path.join(__dirname, 'fixtures', 'does-not-exist.safetensors'))).rejects.toMatchObject({ code: 'E_IO' });
  });
});
