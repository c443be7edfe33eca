// The MaskGIT baseline on the shared Transformer body: it learns a tiny dataset, its sampler keeps known tokens, counts
// T evaluations, does not depend on the batch size, and the wrong sampler / model pairs are refused.
import { LcmdError } from '../lib/errors';
import { sample, sampleDetailed } from '../lib/sampler';
import { Tensor } from '../lib/tensor';
import { Trainer } from '../lib/trainer';

// Two classes, each one fixed 3x3 grid over K = 8 tokens.
const GRIDS = [
  [0, 1, 2, 3, 4, 5, 6, 7, 0],
  [7, 6, 5, 4, 3, 2, 1, 0, 7],
];
const MODEL = { method: 'maskgit' as const, vocabSize: 8, height: 3, width: 3, numClasses: 2, embedDim: 16, layers: 2, heads: 2, hidden: 32, condDim: 32, attnDropout: 0 };

function batch(size: number) {
  const tokens = new Int32Array(size * 9);
  const labels = new BigInt64Array(size);
  for (let i = 0; i < size; i++) {
    tokens.set(GRIDS[i % 2], i * 9);
    labels[i] = BigInt(i % 2);
  }
  return { tokens: Tensor.from(tokens, [size, 9]), labels: Tensor.from(labels, [size]) };
}

function rows(t: Tensor): number[][] {
  const d = t.toTypedArray() as Int32Array;
  return Array.from({ length: t.shape[0] }, (_, i) => Array.from(d.subarray(i * 9, (i + 1) * 9)));
}

describe('MaskGIT', () => {
  let trainer: Trainer;
  const losses: number[] = [];
  beforeAll(async () => {
    trainer = Trainer.create({ model: MODEL, train: { lr: 3e-3, warmupSteps: 10, labelSmoothing: 0, emaDecay: 0.9, seed: 1 } });
    const b = batch(16);
    for (let i = 0; i < 150; i++) losses.push((await trainer.step(b)).ce);
    b.tokens.dispose();
    b.labels.dispose();
  }, 120_000);
  afterAll(() => trainer.dispose());

  test('training lowers the masked-token cross-entropy and the samples are the class grids', async () => {
    const early = losses.slice(0, 10).reduce((a, b) => a + b) / 10, late = losses.slice(-10).reduce((a, b) => a + b) / 10;
    expect(late).toBeLessThan(0.3 * early);
    const result = await sampleDetailed(trainer.model, { n: 20, steps: 4, classes: Array.from({ length: 20 }, (_, i) => i % 2), seed: 0 });
    expect(result.evaluationsPerSample).toBe(4);
    const got = rows(result.tokens);
    const right = got.filter((row, i) => row.join() === GRIDS[i % 2].join()).length;
    expect(right).toBeGreaterThanOrEqual(18);
  });

  test('known tokens stay fixed, and the result does not depend on the batch size', async () => {
    const known = Tensor.from(Int32Array.from(GRIDS[0]), [3, 3]);
    const mask = Tensor.from(Uint8Array.from([1, 1, 1, 0, 0, 0, 0, 0, 0]), [3, 3], 'uint8');
    const options = { n: 12, steps: 3, classes: 1, seed: 4, known: { tokens: known, mask } };
    const a = rows(await sample(trainer.model, { ...options, batchSize: 12 }));
    const b = rows(await sample(trainer.model, { ...options, batchSize: 5 }));
    expect(b).toEqual(a);
    for (const row of a) expect(row.slice(0, 3)).toEqual(GRIDS[0].slice(0, 3));
    known.dispose();
    mask.dispose();
  });

  test('a MaskGIT model refuses the diffusion samplers, a diffusion model the MaskGIT sampler', async () => {
    await expect(sample(trainer.model, { n: 2, steps: 2, classes: 0, sampler: 'ancestral' })).rejects.toMatchObject({ code: 'E_CONFIG' });
    const diffusion = Trainer.create({ model: { ...MODEL, method: 'lcmd' } });
    await expect(sample(diffusion.model, { n: 2, steps: 2, classes: 0, sampler: 'maskgit' })).rejects.toMatchObject({ code: 'E_CONFIG' });
    diffusion.dispose();
  });

  test('diffusion-only options are refused on a MaskGIT model', () => {
    for (const extra of [{ exactLikelihoodLogits: true }, { selfCondition: true }, { l2NormalizeEmbeddings: true }]) {
      expect(() => Trainer.create({ model: { ...MODEL, ...extra } })).toThrow(LcmdError);
    }
    expect(() => Trainer.create({ model: MODEL, train: { objective: 'vlb' } })).toThrow(expect.objectContaining({ code: 'E_CONFIG' }));
  });
});
