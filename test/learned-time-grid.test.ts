// The learned sampling time grid (timeGrid 'learned', native/core/sample/sampler_time_grid.h): its times against the
// inverse CDF of the warp's density computed here, the warp statistics a trained model carries to the sampler (live
// from a trainer and through a checkpoint), and the options it refuses.
import * as path from 'path';
import { testHooks } from '../lib/binding';
import { Model } from '../lib/model';
import { sampleDetailed } from '../lib/sampler';
import { Tensor } from '../lib/tensor';
import { Trainer } from '../lib/trainer';
import { errorCode, int64Tensor, randomTokens, tempDir, TINY_MODEL } from './lcmd-fixtures';
import { warpProbabilities } from './time-warp-reference';

const BINS = 64;
const MODEL = { ...TINY_MODEL, attnDropout: 0 };

/** The inverse of the warp's piecewise-linear CDF at u, from the density that time_warp.h describes. */
function inverseCdf(sums: number[], counts: number[], u: number): number {
  const p = warpProbabilities(sums, counts);
  let below = 0;
  for (let b = 0; b < BINS; b++) {
    if (u < below + p[b] || b === BINS - 1) return (b + (u - below) / p[b]) / BINS;
    below += p[b];
  }
  throw new Error('unreachable');
}

/** A CE curve that rises steeply around t = 0.7, the shape a trained model's has (flat at both ends). */
function sigmoidStatistics(): number[] {
  const counts = Array.from({ length: BINS }, (_, b) => 2 + (b % 4));
  const sums = counts.map((n, b) => n * 5 / (1 + Math.exp(-20 * ((b + 0.5) / BINS - 0.7))));
  return [...sums, ...counts];
}

async function trainedWithWarp(steps: number): Promise<Trainer> {
  const trainer = Trainer.create({ model: MODEL, train: { seed: 4, lr: 0.01, warmupSteps: 0, timeWarp: 'learned' } });
  for (let k = 0; k < steps; k++) {
    const tokens = int64Tensor(randomTokens(k, 8, 4, 16).flat(), [8, 4]);
    const labels = int64Tensor([0, 1, 2, 0, 1, 2, 0, 1], [8]);
    await trainer.step({ tokens, labels });
    tokens.dispose();
    labels.dispose();
  }
  return trainer;
}

const SAMPLING = { n: 6, steps: 8, sampler: 'ddim' as const, classes: [0, 1, 2, 0, 1, 2], guidance: 1, seed: 11 };

async function sampleTokens(model: Model, options: Record<string, unknown>): Promise<number[]> {
  const result = await sampleDetailed(model, { ...SAMPLING, ...options });
  const tokens = Array.from(result.tokens.toTypedArray() as Int32Array);
  result.tokens.dispose();
  return tokens;
}

describe('learned time grid: the times', () => {
  test.each([2, 4, 8, 50])('%i steps: t_j is the inverse CDF of the warp at j / T, with t_0 = 0 and t_T = 1', (steps) => {
    const stats = sigmoidStatistics();
    const handle = Tensor.from(Float32Array.from(stats), [2, BINS]);
    const grid = testHooks().timeGrid(steps, 0, 1, handle.handle);
    handle.dispose();
    expect(grid.length).toBe(steps + 1);
    expect(grid[0]).toBe(0);
    expect(grid[steps]).toBe(1);
    const f32 = Array.from(Float32Array.from(stats)); // the statistics as the native side holds them
    for (let j = 1; j < steps; j++) {
      expect(Math.abs(grid[j] - inverseCdf(f32.slice(0, BINS), f32.slice(BINS), j / steps))).toBeLessThan(2e-6);
      expect(grid[j]).toBeGreaterThan(grid[j - 1]);
    }
  });

  test('the steps crowd where the CE rises: at 8 steps most interior times lie in the steep band around 0.7', () => {
    const handle = Tensor.from(Float32Array.from(sigmoidStatistics()), [2, BINS]);
    const grid = Array.from(testHooks().timeGrid(8, 0, 1, handle.handle));
    handle.dispose();
    expect(grid.slice(1, 8).filter((t) => t > 0.55 && t < 0.85).length).toBeGreaterThanOrEqual(5);
  });

  test('statistics of the wrong shape are refused', async () => {
    const handle = Tensor.from(new Float32Array(2 * 10), [2, 10]);
    expect(await errorCode(() => testHooks().timeGrid(8, 0, 1, handle.handle))).toBe('E_SHAPE');
    handle.dispose();
  });
});

describe('learned time grid: the warp a trained model carries to the sampler', () => {
  test('before any step the warp is uniform, so the learned grid samples exactly as the uniform one', async () => {
    const trainer = await trainedWithWarp(0);
    const warp = trainer.model.timeWarpStatistics();
    expect(warp).toBeDefined();
    expect(Array.from(warp!.toTypedArray() as Float32Array).every((v) => v === 0)).toBe(true);
    warp!.dispose();
    expect(await sampleTokens(trainer.model, { timeGrid: 'learned' })).toEqual(await sampleTokens(trainer.model, {}));
    trainer.dispose();
  });

  test("after training, the trainer's live statistics, the checkpoint's and a loaded model's agree and change the samples", async () => {
    const trainer = await trainedWithWarp(6);
    const live = trainer.model.timeWarpStatistics()!;
    const liveValues = Array.from(live.toTypedArray() as Float32Array);
    live.dispose();
    expect(liveValues.slice(BINS).reduce((a, b) => a + b, 0)).toBeCloseTo((1 - 0.99 ** 6) / 0.01, 4);
    const learned = await sampleTokens(trainer.model, { timeGrid: 'learned' });
    expect(learned).not.toEqual(await sampleTokens(trainer.model, {}));

    const file = path.join(tempDir('learned-grid'), 'checkpoint.safetensors');
    await trainer.save(file);
    trainer.dispose();
    const loaded = await Model.load(file);
    const stored = loaded.timeWarpStatistics()!;
    expect(Array.from(stored.toTypedArray() as Float32Array)).toEqual(liveValues);
    stored.dispose();
    expect(await sampleTokens(loaded, { timeGrid: 'learned' })).toEqual(learned);
    loaded.dispose();
  });

  test('a model trained without the warp has no statistics and refuses the learned grid', async () => {
    const trainer = Trainer.create({ model: MODEL, train: { seed: 4 } });
    expect(trainer.model.timeWarpStatistics()).toBeUndefined();
    expect(await errorCode(sampleDetailed(trainer.model, { ...SAMPLING, timeGrid: 'learned' }))).toBe('E_CONFIG');
    trainer.dispose();
  });

  test.each([
    ['with a grid shift', { timeGrid: 'learned', gridShift: 0.7 }, 'E_CONFIG'],
    ['an unknown grid', { timeGrid: 'log-snr' }, 'E_CONFIG'],
  ])('refused: %s', async (_name, options, code) => {
    const trainer = await trainedWithWarp(1);
    expect(await errorCode(sampleDetailed(trainer.model, { ...SAMPLING, ...(options as object) }))).toBe(code);
    trainer.dispose();
  });

  test('a MaskGIT model refuses any time grid but the default', async () => {
    const trainer = Trainer.create({ model: { ...MODEL, method: 'maskgit' } as never, train: { seed: 4 } });
    expect(await errorCode(sampleDetailed(trainer.model, { n: 3, steps: 4, classes: [0, 1, 2], timeGrid: 'learned' }))).toBe('E_CONFIG');
    trainer.dispose();
  });
});
