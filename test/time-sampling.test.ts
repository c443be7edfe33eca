// The uniforms behind a training step's t (native/core/noise/training_noise.h): the low-discrepancy sequence against
// its closed form computed here, its coverage of [0, 1) against iid draws, its marginal uniformity, its independence of
// how the global batch is split across ranks, and its use by the trainer (seen through the learned time warp's
// per-bin counts, which at the first step record t = u).
import * as path from 'path';
import { testHooks } from '../lib/binding';
import { readSafetensors } from '../lib/safetensors';
import { Trainer } from '../lib/trainer';
import { errorCode, int64Tensor, randomTokens, tempDir, TINY_MODEL } from './lcmd-fixtures';

type Sampling = 'iid' | 'low-discrepancy';
const uniforms = (seed: number, step: number, offset: number, batch: number, sampling: Sampling) =>
  Array.from(testHooks().noiseLevelUniforms(seed, step, offset, batch, sampling));

/** frac(u + i phi) on the counter uniforms' grid (k + 0.5) 2^-23, in the same float64 operations as the addon. */
function weyl(u: number, first: number, count: number): number[] {
  const phi = (Math.sqrt(5) - 1) / 2;
  return Array.from({ length: count }, (_, k) => {
    let v = u + (first + k) * phi;
    v -= Math.floor(v);
    return Math.fround((Math.floor(v * 8388608) + 0.5) / 8388608);
  });
}

function largestGap(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  let gap = s[0] + 1 - s[s.length - 1];  // around the circle
  for (let i = 1; i < s.length; i++) gap = Math.max(gap, s[i] - s[i - 1]);
  return gap;
}

describe('low-discrepancy time sampling', () => {
  test('frac(u + i phi) over the global example index, with u the step\'s iid draw of example 0', () => {
    for (const [seed, step, offset, batch] of [[0, 0, 0, 32], [7, 123, 40, 17], [3, 99999, 1000000, 5]]) {
      const u = uniforms(seed, step, 0, 1, 'iid')[0];
      expect(uniforms(seed, step, offset, batch, 'low-discrepancy')).toEqual(weyl(u, offset, batch));
    }
  });

  test('the same values whatever the split of the global batch across ranks', () => {
    const whole = uniforms(5, 11, 0, 48, 'low-discrepancy');
    const parts = [uniforms(5, 11, 0, 16, 'low-discrepancy'), uniforms(5, 11, 16, 16, 'low-discrepancy'), uniforms(5, 11, 32, 16, 'low-discrepancy')];
    expect(parts.flat()).toEqual(whole);
  });

  test('every batch covers [0, 1) evenly: largest gap under 2.7 / n, where iid draws leave gaps several times wider', () => {
    let iidWorst = 0;
    for (const batch of [8, 32, 100]) {
      for (let step = 0; step < 50; step++) {
        for (const offset of [0, 13]) {
          const values = uniforms(1, step, offset, batch, 'low-discrepancy');
          expect(values.every((v) => v > 0 && v < 1)).toBe(true);
          expect(largestGap(values)).toBeLessThan(2.7 / batch);
        }
        iidWorst = Math.max(iidWorst, largestGap(uniforms(1, step, 0, batch, 'iid')) * batch);
      }
    }
    expect(iidWorst).toBeGreaterThan(5);
  });

  test('each example\'s value is uniform over steps (Kolmogorov-Smirnov at the 1% level)', () => {
    const n = 2000;
    for (const example of [0, 5, 31]) {
      const values = Array.from({ length: n }, (_, step) => uniforms(2, step, example, 1, 'low-discrepancy')[0]).sort((a, b) => a - b);
      let d = 0;
      values.forEach((v, i) => (d = Math.max(d, Math.abs(v - i / n), Math.abs(v - (i + 1) / n))));
      expect(d).toBeLessThan(1.63 / Math.sqrt(n));
    }
  });
});

describe('low-discrepancy time sampling in a training run', () => {
  const MODEL = { ...TINY_MODEL, attnDropout: 0 };

  test('the trainer draws its t from the sequence: the first step\'s t land in the bins the closed form predicts', async () => {
    // with no statistics yet the learned warp is the identity, and its counts record each example's t bin (1 / B each)
    const batch = 16, seed = 4;
    const trainer = Trainer.create({ model: MODEL, train: { seed, lr: 0.01, warmupSteps: 0, timeWarp: 'learned', timeSampling: 'low-discrepancy' } });
    const tokens = int64Tensor(randomTokens(1, batch, 4, 16).flat(), [batch, 4]);
    const labels = int64Tensor(Array.from({ length: batch }, (_, i) => i % 3), [batch]);
    await trainer.step({ tokens, labels });
    tokens.dispose();
    labels.dispose();
    const file = path.join(tempDir('time-sampling'), 'step.safetensors');
    await trainer.save(file);
    trainer.dispose();
    const { tensors } = await readSafetensors(file);
    const stats = Array.from(tensors['time_warp.stats'].toTypedArray() as Float32Array);
    Object.values(tensors).forEach((t) => t.dispose());
    const bins = stats.length / 2;
    const expected = new Array<number>(bins).fill(0);
    for (const t of weyl(uniforms(seed, 0, 0, 1, 'iid')[0], 0, batch)) expected[Math.floor(t * bins)] += 1 / batch;
    for (let b = 0; b < bins; b++) expect(Math.abs(stats[bins + b] - expected[b])).toBeLessThan(1e-6);
  });

  test('an unknown value is refused with E_CONFIG', async () => {
    expect(await errorCode(() => Trainer.create({ model: MODEL, train: { timeSampling: 'sobol' } as never }))).toBe('E_CONFIG');
  });
});
