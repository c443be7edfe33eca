// The host-device syncs of a training step and of sampling. On CUDA a `.item()`, a `nonzero` or a blocking copy back
// makes the host wait for the device; a training step is allowed at most 2, a sampling batch one read of its result.
// On the CPU nothing waits, but the same calls are made, and the sync probe (native/core/base/sync_probe.h) sees them
// in libtorch's dispatcher: so the bounds are checked here.
import { testHooks } from '../lib/binding';
import type { TrainConfig } from '../lib/config';
import { Tensor } from '../lib/tensor';
import type { NativeSampleOptions } from '../lib/native';
import { Model } from '../lib/model';
import { Trainer } from '../lib/trainer';
import { int64Tensor, randomTokens, TINY_MODEL } from './lcmd-fixtures';

const THE_READ = 'read_to_host: loss terms and gradient norm';

const CASES: [string, string, Partial<TrainConfig>][] = [
  ['small (cross-entropy, self-conditioning, exact-likelihood logits)', 'small', {}],
  ['paper-small (EMA teacher, CM loss, dropping, class dropout)', 'paper-small', {}],
  ['cm-small (the CM loss on top of the cross-entropy)', 'cm-small', {}],
  ['the VLB objective (importance-sampled t)', 'paper-small', { objective: 'vlb' }],
  ['maskgit-small', 'maskgit-small', {}],
];

async function syncsOfSteps(preset: string, train: Partial<TrainConfig>, steps: number, control = false) {
  const trainer = Trainer.create({ preset, model: TINY_MODEL, train: { seed: 3, warmupSteps: 0, ...train } });
  const out = [];
  for (let k = 0; k < steps; k++) {
    const tokens = int64Tensor(randomTokens(20 + k, 8, 4, 16).flat(), [8, 4]);
    const classes = int64Tensor([0, 1, 2, 0, 1, 2, 0, 1], [8]);
    out.push(testHooks().trainerStepSyncs(trainer.handle, tokens.handle, classes.handle, control));
    tokens.dispose();
    classes.dispose();
  }
  trainer.dispose();
  return out;
}

describe('host syncs of a training step', () => {
  test('the probe sees an .item() and a nonzero made inside a device phase', async () => {
    const [result] = await syncsOfSteps('small', {}, 1, true);
    expect(result.syncs.slice(0, 2)).toEqual(['aten::_local_scalar_dense', 'aten::nonzero']);
  });

  test.each(CASES)('%s: one batched read per step, nothing else', async (_name, preset, train) => {
    const results = await syncsOfSteps(preset, train, 3);
    for (const r of results) {
      expect(r.skipped).toBe(false);
      expect(r.syncs).toEqual([THE_READ]);
    }
  });

  test('a non-finite loss still costs one read, skips the update, and leaves every weight as it was', async () => {
    const trainer = Trainer.create({ preset: 'small', model: TINY_MODEL, train: { seed: 3, warmupSteps: 0 } });
    const model = trainer.model;
    const names = model.parameterNames();
    const poisoned = names.find((n) => n.endsWith('.weight') && !n.startsWith('embedding.'))!;
    const nan = model.getParameter(poisoned);
    const nanTensor = Tensor.from(new Float32Array(nan.shape.reduce((a, b) => a * b, 1)).fill(Number.NaN), nan.shape);
    model.setParameter(poisoned, nanTensor);
    const snapshot = (useEma: boolean) =>
      new Map(names.filter((n) => n !== poisoned).map((n) => {
        const p = model.getParameter(n, useEma);
        const values = Array.from(p.toTypedArray() as Float32Array);
        p.dispose();
        return [n, values];
      }));
    const before = snapshot(false), beforeEma = snapshot(true);
    const tokens = int64Tensor(randomTokens(5, 8, 4, 16).flat(), [8, 4]);
    const classes = int64Tensor([0, 1, 2, 0, 1, 2, 0, 1], [8]);
    const r = testHooks().trainerStepSyncs(trainer.handle, tokens.handle, classes.handle);
    expect(Number.isFinite(r.loss)).toBe(false);
    expect(r.skipped).toBe(true);
    expect(r.syncs).toEqual([THE_READ]);
    expect(trainer.skippedSteps).toBe(1);
    expect(snapshot(false)).toEqual(before);
    expect(snapshot(true)).toEqual(beforeEma);
    for (const t of [nan, nanTensor, tokens, classes]) t.dispose();
    model.dispose();
    trainer.dispose();
  });
});

describe('host syncs of sampling', () => {
  const base = (sampler: NativeSampleOptions['sampler']): NativeSampleOptions => ({
    n: 6, steps: 4, sampler, final: 'argmax', guidance: 1, seed: 2, batchSize: 4, useEma: false, returnProbs: false,
    infillResample: 1, gridHeight: 2, gridWidth: 2,
  });
  const classes = new Int32Array([0, 1, 2, 0, 1, 2]);

  test.each(['ancestral', 'ddim', 'consistency', 'commit'] as const)('%s: one read of the tokens per batch (2 batches)', (sampler) => {
    const model = Model.create({ model: { ...TINY_MODEL, selfCondition: true } });
    const classTensor = Tensor.from(classes, [6], 'int32');
    const known = { tokens: int64Tensor([3, 0, 0, 5], [2, 2]), mask: Tensor.from(new Uint8Array([1, 0, 0, 1]), [2, 2], 'uint8') };
    const plain = testHooks().sampleSyncs(model.handle, { ...base(sampler), classes: classTensor.handle });
    expect(plain).toEqual(['read_to_host: sampled tokens', 'read_to_host: sampled tokens']);
    const infill = testHooks().sampleSyncs(model.handle, {
      ...base(sampler), classes: classTensor.handle, knownTokens: known.tokens.handle, knownMask: known.mask.handle, returnProbs: true, final: 'sample',
    });
    expect(infill).toEqual(['read_to_host: sampled tokens', 'read_to_host: final probabilities', 'read_to_host: sampled tokens', 'read_to_host: final probabilities']);
    for (const t of [classTensor, known.tokens, known.mask]) t.dispose();
    model.dispose();
  });

  test('maskgit: one read of the tokens per batch', () => {
    const model = Model.create({ model: { ...TINY_MODEL, method: 'maskgit' } });
    const classTensor = Tensor.from(classes, [6], 'int32');
    expect(testHooks().sampleSyncs(model.handle, { ...base('maskgit'), classes: classTensor.handle })).toEqual(['read_to_host: sampled tokens', 'read_to_host: sampled tokens']);
    classTensor.dispose();
    model.dispose();
  });
});
