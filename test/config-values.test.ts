// Config values that JSON cannot carry (NaN, Infinity, null) are refused naming the key, instead of silently
// becoming the native built-in default; unknown top-level keys list the allowed ones; a config that is not an
// object, and tensors too large to allocate, are LcmdErrors (not TypeError / RangeError).
import * as fs from 'fs';
import * as path from 'path';
import { LcmdError } from '../lib/errors';
import { PRESETS } from '../lib/presets';
import { Tensor } from '../lib/tensor';
import { Trainer } from '../lib/trainer';
import { TrainingRun } from '../lib/training-run';
import { tmpDir, writeNpyFile } from './cli-run';

function errorOf(f: () => unknown): LcmdError {
  try {
    f();
  } catch (err) {
    expect(err).toBeInstanceOf(LcmdError);
    return err as LcmdError;
  }
  throw new Error('expected an LcmdError');
}

test('NaN layers are E_CONFIG naming model.layers (they built 15 layers, the built-in default, not the preset\'s 4)', () => {
  const err = errorOf(() => Trainer.create({ preset: 'cm-data-small', model: { layers: NaN } }));
  expect(err.code).toBe('E_CONFIG');
  expect(err.message).toBe('expected a finite number for model.layers, got NaN');
});

test.each([
  ['lr', Infinity, 'expected a finite number for train.lr, got Infinity'],
  ['lr', NaN, 'expected a finite number for train.lr, got NaN'],
  ['emaDecay', -Infinity, 'expected a finite number for train.emaDecay, got -Infinity'],
  ['warmupSteps', null, "expected a value for train.warmupSteps, got null: leave the key out to keep the preset's value"],
])('train.%s = %s is E_CONFIG (it became 3e-4 or another default)', (key, value, message) => {
  const err = errorOf(() => Trainer.create({ preset: 'cm-data-small', train: { [key]: value } }));
  expect(err.code).toBe('E_CONFIG');
  expect(err.message).toBe(message);
});

test.each([
  // the native uint64 seed wrapped -3 to 2^64 - 3, and trained
  [{ train: { seed: -3 } }, 'expected a non-negative integer for train.seed, got -3'],
  // past 2^63 the native conversion of a double to int64 is undefined
  [{ model: { layers: 1e300 } }, 'expected an integer of magnitude at most 2^53 - 1 (9007199254740991) for model.layers, got 1e+300'],
  [{ model: { hidden: 2 ** 53 } }, 'expected an integer of magnitude at most 2^53 - 1 (9007199254740991) for model.hidden, got 9007199254740992'],
  [{ train: { warmupSteps: 2.5 } }, 'expected an integer for train.warmupSteps, got 2.5'],
])('%p is E_CONFIG: %s', (config, message) => {
  const err = errorOf(() => Trainer.create({ preset: 'cm-data-small', ...config }));
  expect(err.code).toBe('E_CONFIG');
  expect(err.message).toBe(message);
});

test('Trainer.resume refuses a negative seed override', async () => {
  const dir = tmpDir('lcmd-config-values-');
  try {
    const file = path.join(dir, 'ck.safetensors');
    const t = Trainer.create({ preset: 'cm-data-small', model: { layers: 1, hidden: 32, embedDim: 16, heads: 2, vocabSize: 16 } });
    await t.save(file);
    t.dispose();
    await expect(Trainer.resume(file, { seed: -1 })).rejects.toMatchObject({ code: 'E_CONFIG', message: 'expected a non-negative integer for train.seed, got -1' });
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('an undefined override keeps the preset\'s value', () => {
  const t = Trainer.create({ preset: 'cm-data-small', model: { layers: undefined, vocabSize: 16 } });
  try {
    expect(t.config.model.layers).toBe(PRESETS['cm-data-small'].model.layers);
  } finally {
    t.dispose();
  }
});

test('an unknown top-level key is E_CONFIG naming it and the allowed keys', () => {
  const err = errorOf(() => Trainer.create({ preset: 'cm-data-small', modle: { layers: 2 } } as never));
  expect(err.code).toBe('E_CONFIG');
  expect(err.message).toBe("unknown config key 'modle': expected preset, ablation, model, train");
});

test('Trainer.create(null) is E_TYPE, not a TypeError', () => {
  for (const config of [null, 5, [], undefined]) {
    const err = errorOf(() => Trainer.create(config as never));
    expect(err.code).toBe('E_TYPE');
    expect(err.message).toMatch(/^expected a preset name or a config object \{preset\?, ablation\?, model\?, train\?\} for config, got /);
  }
});

test('Tensor.zeros of a shape too large is an LcmdError naming the shape, not a RangeError', () => {
  const huge = errorOf(() => Tensor.zeros([2 ** 40, 2 ** 20]));
  expect(huge.code).toBe('E_RANGE');
  expect(huge.message).toMatch(/^shape \[1099511627776, 1048576\] has .* elements/);
  const large = errorOf(() => Tensor.zeros([2 ** 20, 2 ** 20]));
  expect(large.code).toBe('E_MEMORY');
  expect(large.message).toMatch(/cannot allocate a float32 tensor of shape \[1048576, 1048576\]/);
});

test('a token file without examples is E_DATA naming the file (not "heldout must be between 0 and -1")', async () => {
  const dir = tmpDir('lcmd-config-values-');
  try {
    const tokens = path.join(dir, 'empty.npy');
    writeNpyFile(tokens, [], [0, 4, 4], '<i4');
    const run = TrainingRun.open({ out: path.join(dir, 'run'), data: tokens, steps: 1, model: { vocabSize: 16 }, blasCheck: false });
    await expect(run).rejects.toMatchObject({ code: 'E_DATA', message: expect.stringContaining(`the token file ${tokens} holds no examples`) });
    expect(fs.readdirSync(dir)).toEqual(['empty.npy']);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
