import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { LcmdError } from '../lib/errors';
import { readSafetensors, readSafetensorsMetadata, writeSafetensors } from '../lib/safetensors';
import { Tensor } from '../lib/tensor';
import { Tokenizer, type TokenizerConfig, type TokenizerProgress } from '../lib/tokenizer';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lcmd-tokenizer-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

const TINY: Partial<TokenizerConfig> = { hiddenChannels: 16, resBlocks: 1, resChannels: 8, downsample: 4, codebookSize: 16, codeDim: 8, deadCodeSteps: 5 };

/** n 16x16 images of bright axis-aligned rectangles on black, from a seeded LCG. */
function rectangles(n: number, seed = 1): { tensor: Tensor; data: Float32Array } {
  let s = seed;
  const rand = (k: number) => {
    s = (s * 1103515245 + 12345) % 2147483648;
    return s % k;
  };
  const data = new Float32Array(n * 256);
  for (let i = 0; i < n; i++) {
    const x0 = rand(10), y0 = rand(10), w = 3 + rand(6), h = 3 + rand(6), v = 0.5 + rand(50) / 100;
    for (let y = y0; y < Math.min(16, y0 + h); y++) for (let x = x0; x < Math.min(16, x0 + w); x++) data[i * 256 + y * 16 + x] = v;
  }
  return { tensor: Tensor.from(data, [n, 1, 16, 16]), data };
}

function mse(a: Float32Array, b: Float32Array): number {
  let sum = 0;
  for (let i = 0; i < a.length; i++) sum += (a[i] - b[i]) ** 2;
  return sum / a.length;
}

async function failure(p: Promise<unknown> | (() => unknown)): Promise<LcmdError> {
  try {
    await (typeof p === 'function' ? p() : p);
  } catch (err) {
    expect(err).toBeInstanceOf(LcmdError);
    return err as LcmdError;
  }
  throw new Error('expected an LcmdError');
}

describe('Tokenizer', () => {
  const { tensor: images, data } = rectangles(64);
  const heldout = rectangles(16, 99);
  let tok: Tokenizer;
  const events: TokenizerProgress[] = [];

  beforeAll(async () => {
    tok = Tokenizer.create(TINY, { seed: 3 });
  });
  afterAll(() => tok.dispose());

  test('a few training steps reduce the reconstruction error, with progress events', async () => {
    const before = await tok.evaluate(heldout.tensor);
    const result = await tok.train(images, { steps: 60, batchSize: 16, lr: 3e-3, seed: 1, reportEvery: 20, onProgress: (e) => events.push(e) });
    const after = await tok.evaluate(heldout.tensor);
    expect(result.steps).toBe(60);
    expect(tok.stepsTrained).toBe(60);
    expect(after.mse).toBeLessThan(before.mse * 0.7);
    await new Promise((r) => setImmediate(r));
    expect(events.map((e) => e.step)).toEqual([20, 40, 60]);
    expect(events[2]).toMatchObject({ stage: 'train', steps: 60 });
    expect(events[2].usage).toBeGreaterThan(0);
    expect(events[2].perplexity).toBeGreaterThanOrEqual(1);
  });

  test('encode / decode shapes and ranges; evaluate agrees with a TypeScript computation', async () => {
    const tokens = await tok.encode(images, { batchSize: 10 });
    expect(tokens.dtype).toBe('int32');
    expect(tokens.shape).toEqual([64, 4, 4]);
    const ids = tokens.toTypedArray() as Int32Array;
    expect(Math.min(...ids)).toBeGreaterThanOrEqual(0);
    expect(Math.max(...ids)).toBeLessThan(16);
    const decoded = await tok.decode(tokens, { batchSize: 7 });
    expect(decoded.dtype).toBe('float32');
    expect(decoded.shape).toEqual([64, 1, 16, 16]);
    const pixels = decoded.toTypedArray() as Float32Array;
    expect(Math.min(...pixels)).toBeGreaterThanOrEqual(0);
    expect(Math.max(...pixels)).toBeLessThanOrEqual(1);

    const e = await tok.evaluate(images, { batchSize: 13 });
    const expectedMse = mse(pixels, data);
    expect(e.count).toBe(64);
    expect(e.mse).toBeCloseTo(expectedMse, 6);
    expect(e.psnr).toBeCloseTo(10 * Math.log10(1 / expectedMse), 4);
    const counts = new Array(16).fill(0);
    for (const id of ids) counts[id]++;
    expect(e.usage).toBeCloseTo(counts.filter((c) => c > 0).length / 16, 10);
    const entropy = -counts.filter((c) => c > 0).reduce((h, c) => h + (c / ids.length) * Math.log(c / ids.length), 0);
    expect(e.perplexity).toBeCloseTo(Math.exp(entropy), 8);

    // [n, N] tokens decode the same with a grid (square by default)
    const flat = Tensor.from(ids, [64, 16], 'int32');
    expect(Array.from((await tok.decode(flat, { batchSize: 7 })).toTypedArray() as Float32Array)).toEqual(Array.from(pixels));
    expect(Array.from((await tok.decode(flat, { grid: [4, 4], batchSize: 7 })).toTypedArray() as Float32Array)).toEqual(Array.from(pixels));
  });

  test('save / load round trip gives identical encodings and decodings; the checkpoint holds the config', async () => {
    const file = path.join(dir, 'tok.safetensors');
    await tok.save(file);
    const meta = readSafetensorsMetadata(file);
    expect(JSON.parse(meta['lcmd.tokenizer.config'])).toEqual(tok.config);
    const loaded = await Tokenizer.load(file);
    expect(loaded.config).toEqual(tok.config);
    expect(loaded.stepsTrained).toBe(60);
    const a = await tok.encode(heldout.tensor);
    const b = await loaded.encode(heldout.tensor);
    expect(Array.from(b.toTypedArray() as Int32Array)).toEqual(Array.from(a.toTypedArray() as Int32Array));
    expect(Array.from((await loaded.decode(b)).toTypedArray() as Float32Array)).toEqual(Array.from((await tok.decode(a)).toTypedArray() as Float32Array));
    // training continues from the loaded state
    await loaded.train(images, { steps: 2, batchSize: 8 });
    expect(loaded.stepsTrained).toBe(62);
    loaded.dispose();
  });

  test('the same seeds give the same tokenizer', async () => {
    const make = async () => {
      const t = Tokenizer.create(TINY, { seed: 5 });
      await t.train(images, { steps: 5, batchSize: 8, seed: 2 });
      const out = Array.from((await t.encode(images)).toTypedArray() as Int32Array);
      t.dispose();
      return out;
    };
    expect(await make()).toEqual(await make());
  });

  test('broken or foreign checkpoints are E_CHECKPOINT', async () => {
    const file = path.join(dir, 'tok.safetensors');
    const bytes = fs.readFileSync(file);
    fs.writeFileSync(path.join(dir, 'cut.safetensors'), bytes.subarray(0, bytes.length - 100));
    expect((await failure(Tokenizer.load(path.join(dir, 'cut.safetensors')))).code).toBe('E_CHECKPOINT');
    await writeSafetensors(path.join(dir, 'foreign.safetensors'), { w: Tensor.from(new Float32Array(2), [2]) });
    expect((await failure(Tokenizer.load(path.join(dir, 'foreign.safetensors')))).message).toMatch(/not an lcmd tokenizer/);
    const { tensors, metadata } = await readSafetensors(file);
    const name = Object.keys(tensors).find((k) => k.startsWith('decoder.'))!;
    const without = { ...tensors };
    delete without[name];
    await writeSafetensors(path.join(dir, 'missing.safetensors'), without, metadata);
    expect((await failure(Tokenizer.load(path.join(dir, 'missing.safetensors')))).message).toContain(name);
    await writeSafetensors(path.join(dir, 'reshaped.safetensors'), { ...tensors, [name]: Tensor.from(new Float32Array(3), [3]) }, metadata);
    expect((await failure(Tokenizer.load(path.join(dir, 'reshaped.safetensors')))).code).toBe('E_CHECKPOINT');
    await writeSafetensors(path.join(dir, 'badconfig.safetensors'), tensors, { ...metadata, 'lcmd.tokenizer.config': '{"downsample": 3}' });
    expect((await failure(Tokenizer.load(path.join(dir, 'badconfig.safetensors')))).code).toBe('E_CHECKPOINT');
    // a tokenizer's tensors and config, but a header that does not say it is one (these used to load)
    const { 'lcmd.format': format, ...unmarked } = metadata;
    expect(format).toBe('tokenizer');
    await writeSafetensors(path.join(dir, 'unmarked.safetensors'), tensors, unmarked);
    const unmarkedError = await failure(Tokenizer.load(path.join(dir, 'unmarked.safetensors')));
    expect(unmarkedError).toMatchObject({ code: 'E_CHECKPOINT', message: expect.stringContaining('unmarked.safetensors') });
    expect(unmarkedError.message).toMatch(/is not an lcmd tokenizer checkpoint: its metadata has no "lcmd.format" entry/);
    await writeSafetensors(path.join(dir, 'relabelled.safetensors'), tensors, { ...metadata, 'lcmd.format': 'lcmd-checkpoint/1' });
    expect(await failure(Tokenizer.load(path.join(dir, 'relabelled.safetensors')))).toMatchObject({ code: 'E_CHECKPOINT', message: expect.stringContaining('its "lcmd.format" is "lcmd-checkpoint/1", expected "tokenizer"') });
    expect((await failure(Tokenizer.load(path.join(dir, 'none.safetensors')))).code).toBe('E_IO');
  });

  test('bad configs, images and tokens are rejected with clear codes', async () => {
    expect((await failure(() => Tokenizer.create({ downsample: 3 }))).code).toBe('E_CONFIG');
    expect((await failure(() => Tokenizer.create({ codebookSize: 1 }))).code).toBe('E_CONFIG');
    expect((await failure(() => Tokenizer.create({ nope: 1 } as Partial<TokenizerConfig>))).code).toBe('E_CONFIG');
    expect((await failure(() => Tokenizer.create('cifar'))).code).toBe('E_CONFIG');
    expect((await failure(tok.encode(Tensor.from(new Float32Array(2 * 18 * 18), [2, 1, 18, 18])))).code).toBe('E_SHAPE');
    expect((await failure(tok.encode(Tensor.from(new Float32Array(2 * 3 * 16 * 16), [2, 3, 16, 16])))).code).toBe('E_SHAPE');
    expect((await failure(tok.encode(Tensor.from(new Float64Array(256), [1, 1, 16, 16])))).code).toBe('E_DTYPE');
    const err = await failure(tok.decode(Tensor.from(new Int32Array([0, 1, 2, 16]), [1, 2, 2])));
    expect(err.code).toBe('E_RANGE');
    expect(err.message).toMatch(/token 16 at flat index 3/);
    expect((await failure(tok.decode(Tensor.from(new Int32Array(6), [1, 6])))).code).toBe('E_SHAPE');
    expect((await failure(tok.train(images, { steps: 0 }))).code).toBe('E_RANGE');
    expect((await failure(tok.train(images, { steps: 1, lr: -1 }))).code).toBe('E_RANGE');
    const nan = new Float32Array(256);
    nan[5] = NaN;
    expect((await failure(tok.encode(Tensor.from(nan, [1, 1, 16, 16])))).code).toBe('E_RANGE');
  });

  test('training is cancellable through an AbortSignal; a disposed tokenizer is E_DISPOSED', async () => {
    const controller = new AbortController();
    const t = Tokenizer.create(TINY);
    const err = await failure(
      t.train(images, { steps: 100000, batchSize: 8, reportEvery: 1, signal: controller.signal, onProgress: (e) => e.step >= 3 && controller.abort() }),
    );
    expect(err.code).toBe('E_ABORTED');
    expect(t.stepsTrained).toBeLessThan(1000);
    t.dispose();
    t.dispose();
    expect((await failure(t.encode(images))).code).toBe('E_DISPOSED');
  });
});
