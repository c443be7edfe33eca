// A checkpoint is checked tensor by tensor on load: a header dtype that disagrees with the model's, and non-finite
// weights, are E_CHECKPOINT errors naming the tensor; model sizes beyond what memory allows are refused up front.
import * as fs from 'fs';
import * as path from 'path';
import { LcmdError } from '../lib/errors';
import { Model } from '../lib/model';
import { Tensor } from '../lib/tensor';
import { Trainer } from '../lib/trainer';
import { tempDir, TINY_MODEL } from './lcmd-fixtures';

async function savedCheckpoint(dir: string, edit?: (trainer: Trainer) => void): Promise<string> {
  const trainer = Trainer.create({ model: TINY_MODEL, train: { seed: 3 } });
  edit?.(trainer);
  const file = path.join(dir, `ckpt-${Math.random().toString(36).slice(2)}.safetensors`);
  await trainer.save(file);
  trainer.dispose();
  return file;
}

/** Rewrites the header dtype of one tensor in place (the bytes stay as they are). */
function relabelDtype(file: string, tensor: string, dtype: string): void {
  const bytes = fs.readFileSync(file);
  const length = Number(bytes.readBigUInt64LE(0));
  const header = JSON.parse(bytes.subarray(8, 8 + length).toString('utf8')) as Record<string, { dtype: string }>;
  expect(header[tensor].dtype).toBe('F32');
  header[tensor].dtype = dtype;
  const text = Buffer.from(JSON.stringify(header).padEnd(length, ' '), 'utf8');
  expect(text.length).toBe(length);
  text.copy(bytes, 8);
  fs.writeFileSync(file, bytes);
}

describe('checkpoint integrity', () => {
  const dir = tempDir('integrity');

  test('a header that says I32 for F32 bytes is refused, naming the tensor', async () => {
    const file = await savedCheckpoint(dir);
    relabelDtype(file, 'model.head.weight', 'I32');
    for (const load of [() => Trainer.resume(file), () => Model.load(file, { useEma: false })]) {
      const err = await load().then(() => undefined, (e: unknown) => e);
      expect(err).toBeInstanceOf(LcmdError);
      expect(err).toMatchObject({ code: 'E_CHECKPOINT' });
      expect((err as Error).message).toContain("'model.head.weight'");
      expect((err as Error).message).toContain('Int');
    }
  });

  test('NaN weights are refused, naming the tensor', async () => {
    const file = await savedCheckpoint(dir, (trainer) => {
      const w = trainer.model.getParameter('head.bias');
      const nan = Tensor.from(new Float32Array(w.shape[0]).fill(NaN), w.shape);
      trainer.model.setParameter('head.bias', nan);
      w.dispose();
      nan.dispose();
    });
    await expect(Trainer.resume(file)).rejects.toMatchObject({ code: 'E_CHECKPOINT', message: expect.stringContaining("'model.head.bias'") });
    await expect(Model.load(file, { useEma: false })).rejects.toMatchObject({ code: 'E_CHECKPOINT', message: expect.stringContaining('NaN') });
  });

  test('an intact checkpoint still loads', async () => {
    const file = await savedCheckpoint(dir);
    const trainer = await Trainer.resume(file);
    expect(trainer.steps).toBe(0);
    trainer.dispose();
  });
});

describe('model sizes are bounded before anything is allocated', () => {
  test.each([
    // beyond this machine's memory: E_MEMORY naming the key and the flag (--hidden 1e9 was an E_NATIVE allocation failure)
    [{ layers: 100_000_000 }, 'E_MEMORY', 'model.layers, --layers'],
    [{ hidden: 1_000_000_000, heads: 1 }, 'E_MEMORY', 'model.hidden, --hidden'],
    [{ embedDim: 10_000_000_000 }, 'E_MEMORY', 'model.embedDim, --embed-dim'],
    // 1000 layers of width 8192: ~800G parameters, far beyond any machine's memory
    [{ layers: 1000, hidden: 8192, heads: 8 }, 'E_MEMORY', '--layers'],
    // within memory, but above the ceilings
    [{ layers: 1001 }, 'E_CONFIG', 'model.layers (--layers) is 1001; at most 1000 is supported'],
    [{ numClasses: 2 ** 40 }, 'E_CONFIG', 'numClasses'],
  ])('%p is %s naming %s', (model, code, flag) => {
    let err: unknown;
    try {
      Trainer.create({ model: { ...TINY_MODEL, ...model } }).dispose();
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(LcmdError);
    expect(err).toMatchObject({ code });
    expect((err as Error).message).toContain(flag);
  });
});
