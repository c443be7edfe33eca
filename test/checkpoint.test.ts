// Training checkpoints: a bit-exact round trip of every tensor and counter, the documented tensor names, an atomic
// write, and E_CHECKPOINT (never a crash) for truncated, damaged or inconsistent files.
import * as fs from 'fs';
import * as path from 'path';
import { Model } from '../lib/model';
import { readSafetensors, writeSafetensors } from '../lib/safetensors';
import { Tensor } from '../lib/tensor';
import { Trainer } from '../lib/trainer';
import { errorCode, int64Tensor, randomTokens, tempDir, TINY_MODEL } from './lcmd-fixtures';

const MODEL = { ...TINY_MODEL, layers: 1 };

async function trained(steps: number): Promise<Trainer> {
  const trainer = Trainer.create({ model: MODEL, train: { seed: 6, lr: 0.01, warmupSteps: 2 } });
  for (let k = 0; k < steps; k++) {
    const tokens = int64Tensor(randomTokens(k, 4, 4, 16).flat(), [4, 4]);
    const labels = int64Tensor([0, 1, 2, 1], [4]);
    await trainer.step({ tokens, labels });
    tokens.dispose();
    labels.dispose();
  }
  return trainer;
}

function bytesOf(t: Tensor): Buffer {
  const a = t.toTypedArray();
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength);
}

async function contents(file: string): Promise<{ bytes: Map<string, Buffer>; dtypes: Map<string, string>; metadata: Record<string, string> }> {
  const { tensors, metadata } = await readSafetensors(file);
  const bytes = new Map<string, Buffer>();
  const dtypes = new Map<string, string>();
  for (const [name, t] of Object.entries(tensors)) {
    bytes.set(name, Buffer.from(bytesOf(t)));
    dtypes.set(name, t.dtype);
    t.dispose();
  }
  return { bytes, dtypes, metadata };
}

describe('checkpoint round trip', () => {
  const dir = tempDir('checkpoint');
  let trainer: Trainer;
  const first = path.join(dir, 'first.safetensors');
  const second = path.join(dir, 'second.safetensors');

  beforeAll(async () => {
    trainer = await trained(3);
    await trainer.save(first, { 'data.position': '42' });
  });
  afterAll(() => trainer.dispose());

  test('save, resume, save again: every tensor, counter and metadata entry is identical', async () => {
    const resumed = await Trainer.resume(first);
    expect(resumed.steps).toBe(trainer.steps);
    expect(resumed.skippedSteps).toBe(trainer.skippedSteps);
    expect(resumed.resumedMetadata['data.position']).toBe('42');
    expect(resumed.config).toEqual(trainer.config);
    await resumed.save(second, { 'data.position': '42' });
    const a = await contents(first);
    const b = await contents(second);
    expect([...b.bytes.keys()].sort()).toEqual([...a.bytes.keys()].sort());
    for (const [name, buffer] of a.bytes) {
      expect(b.dtypes.get(name)).toBe(a.dtypes.get(name));
      if (!buffer.equals(b.bytes.get(name)!)) throw new Error(`tensor ${name} differs after the round trip`);
    }
    expect(b.metadata).toEqual(a.metadata);
    expect(JSON.parse(a.metadata['lcmd.state'])).toEqual({ steps: 3, skippedSteps: 0, optimizerSteps: 3 });

    // and the live weights of the resumed trainer equal the original's, online and EMA
    for (const useEma of [false, true]) {
      const m1 = trainer.model;
      const m2 = resumed.model;
      for (const name of m1.parameterNames()) {
        const p1 = m1.getParameter(name, useEma);
        const p2 = m2.getParameter(name, useEma);
        expect(bytesOf(p2).equals(bytesOf(p1))).toBe(true);
        p1.dispose();
        p2.dispose();
      }
    }
    resumed.dispose();
  });

  test('tensor names follow the documented scheme', async () => {
    const { bytes, dtypes, metadata } = await contents(first);
    const model = trainer.model;
    const params = model.parameterNames();
    expect(params).toContain('embedding.table');
    expect(params).toContain('embedding.mask');
    for (const prefix of ['model.', 'ema.', 'teacher.', 'optim.exp_avg.', 'optim.exp_avg_sq.']) {
      for (const name of params) {
        expect(bytes.has(prefix + name)).toBe(true);
        expect(dtypes.get(prefix + name)).toBe('float32');
      }
    }
    expect(dtypes.get('rng.cpu')).toBe('uint8');
    const groups = ['model.', 'ema.', 'teacher.', 'optim.exp_avg_sq.', 'optim.exp_avg.'];
    for (const name of bytes.keys()) expect(name === 'rng.cpu' || groups.some((g) => name.startsWith(g))).toBe(true);
    expect(bytes.size).toBe(5 * params.length + 1);
    expect(metadata['lcmd.format']).toBe('lcmd-checkpoint/1');
    expect(JSON.parse(metadata['lcmd.model'])).toEqual(trainer.config.model);
    expect(JSON.parse(metadata['lcmd.train'])).toEqual(trainer.config.train);
  });

  test('Model.load reads the sampling EMA by default and the online weights on request', async () => {
    const ema = await Model.load(first);
    const online = await Model.load(first, { useEma: false });
    const live = trainer.model;
    for (const name of live.parameterNames()) {
      for (const [loaded, useEma] of [
        [ema, true],
        [online, false],
      ] as [Model, boolean][]) {
        const want = live.getParameter(name, useEma);
        const got = loaded.getParameter(name);
        expect(bytesOf(got).equals(bytesOf(want))).toBe(true);
        want.dispose();
        got.dispose();
      }
    }
    // after 3 steps the EMA and the online weights differ, so the two loads are distinguishable
    const a = ema.getParameter('head.weight');
    const b = online.getParameter('head.weight');
    expect(bytesOf(a).equals(bytesOf(b))).toBe(false);
    [a, b].forEach((t) => t.dispose());
    ema.dispose();
    online.dispose();
  });

  test('the write is atomic: only the final file remains in the folder', async () => {
    const sub = tempDir('checkpoint-atomic');
    await trainer.save(path.join(sub, 'run.safetensors'));
    await trainer.save(path.join(sub, 'run.safetensors')); // overwrite in place
    expect(fs.readdirSync(sub)).toEqual(['run.safetensors']);
  });
});

describe('damaged checkpoints give E_CHECKPOINT', () => {
  const dir = tempDir('checkpoint-corrupt');
  const good = path.join(dir, 'good.safetensors');
  let original: Buffer;
  let headerLength: number;

  beforeAll(async () => {
    const trainer = await trained(1);
    await trainer.save(good);
    trainer.dispose();
    original = fs.readFileSync(good);
    headerLength = Number(original.readBigUInt64LE(0));
  });

  async function expectRejected(name: string, bytes: Buffer): Promise<void> {
    const file = path.join(dir, `${name}.safetensors`);
    fs.writeFileSync(file, bytes);
    const codes = [await errorCode(Trainer.resume(file)), await errorCode(Model.load(file))];
    if (codes.some((c) => c !== 'E_CHECKPOINT')) throw new Error(`${name}: expected E_CHECKPOINT from resume and load, got ${codes.join(', ')}`);
  }

  function withHeader(edit: (header: string) => string): Buffer {
    const text = original.subarray(8, 8 + headerLength).toString('utf8');
    const edited = edit(text);
    expect(edited).not.toBe(text);
    // keep the data section 8-byte aligned, as writers do
    const padded = edited + ' '.repeat((8 - (Buffer.byteLength(edited) % 8)) % 8);
    const length = Buffer.alloc(8);
    length.writeBigUInt64LE(BigInt(Buffer.byteLength(padded)));
    return Buffer.concat([length, Buffer.from(padded, 'utf8'), original.subarray(8 + headerLength)]);
  }

  test('truncated files', async () => {
    await expectRejected('empty', Buffer.alloc(0));
    await expectRejected('five-bytes', original.subarray(0, 5));
    await expectRejected('length-only', original.subarray(0, 8));
    await expectRejected('half-header', original.subarray(0, 8 + Math.floor(headerLength / 2)));
    await expectRejected('header-only', original.subarray(0, 8 + headerLength));
    await expectRejected('half-data', original.subarray(0, 8 + headerLength + Math.floor((original.length - 8 - headerLength) / 2)));
    await expectRejected('last-byte-missing', original.subarray(0, original.length - 1));
  });

  test('damaged bytes in the header', async () => {
    const flipped = (offset: number, value: number) => {
      const copy = Buffer.from(original);
      copy[offset] = value;
      return copy;
    };
    const setLength = (n: bigint) => {
      const copy = Buffer.from(original);
      copy.writeBigUInt64LE(n, 0);
      return copy;
    };
    await expectRejected('length-huge', setLength(1n << 40n));
    await expectRejected('length-all-ones', setLength((1n << 64n) - 1n));
    await expectRejected('length-minus-one', setLength(BigInt(headerLength - 1)));
    await expectRejected('length-plus-eight', setLength(BigInt(headerLength + 8)));
    await expectRejected('brace', flipped(8, 'x'.charCodeAt(0)));
    await expectRejected('bit-flip-in-json', flipped(8 + original.subarray(8).indexOf('"data_offsets"'), 0x80));
  });

  test('an inconsistent header', async () => {
    await expectRejected('dtype-f16', withHeader((h) => h.replace('"dtype":"F32"', '"dtype":"F16"')));
    await expectRejected('dtype-unknown', withHeader((h) => h.replace('"dtype":"U8"', '"dtype":"Q8"')));
    await expectRejected('offset-past-end', withHeader((h) => h.replace(/"data_offsets":\[(\d+),(\d+)\]/, (_m, a, b) => `"data_offsets":[${a},${Number(b) + 4}]`)));
    await expectRejected('shape-negative', withHeader((h) => h.replace(/"shape":\[(\d+)/, '"shape":[-$1')));
    await expectRejected('metadata-not-string', withHeader((h) => h.replace(/"lcmd.format":"[^"]*"/, '"lcmd.format":7')));
  });

  async function rewritten(name: string, change: (tensors: Record<string, Tensor>, metadata: Record<string, string>) => void): Promise<void> {
    const { tensors, metadata } = await readSafetensors(good);
    change(tensors, metadata);
    const file = path.join(dir, `${name}.safetensors`);
    await writeSafetensors(file, tensors, metadata);
    Object.values(tensors).forEach((t) => t.dispose());
    const codes = [await errorCode(Trainer.resume(file)), await errorCode(Model.load(file))];
    if (codes.some((c) => c !== 'E_CHECKPOINT')) throw new Error(`${name}: expected E_CHECKPOINT from resume and load, got ${codes.join(', ')}`);
  }

  test('well-formed safetensors that are not a consistent lcmd checkpoint', async () => {
    await rewritten('no-format', (_t, m) => delete m['lcmd.format']);
    await rewritten('other-format', (_t, m) => (m['lcmd.format'] = 'lcmd-checkpoint/999'));
    await rewritten('no-model-config', (_t, m) => delete m['lcmd.model']);
    await rewritten('model-config-not-json', (_t, m) => (m['lcmd.model'] = '{"vocabSize": 16,'));
    await rewritten('model-config-invalid', (_t, m) => (m['lcmd.model'] = JSON.stringify({ ...JSON.parse(m['lcmd.model']), heads: 3 })));
    await rewritten('model-config-other-shape', (_t, m) => (m['lcmd.model'] = JSON.stringify({ ...JSON.parse(m['lcmd.model']), vocabSize: 17 })));
    await rewritten('missing-tensor', (t) => {
      delete t['model.head.weight']; // resume needs the online weights
      delete t['ema.head.weight']; // Model.load reads the EMA weights
    });
    await rewritten('wrong-shape', (t) => {
      for (const name of ['model.embedding.mask', 'ema.embedding.mask']) {
        t[name].dispose();
        t[name] = Tensor.from(new Float32Array(9), [9]);
      }
    });
  });

  test('a checkpoint whose training state is inconsistent (resume only)', async () => {
    const cases: [string, (t: Record<string, Tensor>, m: Record<string, string>) => void][] = [
      ['no-state', (_t, m) => delete m['lcmd.state']],
      ['state-negative', (_t, m) => (m['lcmd.state'] = JSON.stringify({ steps: -1, skippedSteps: 0, optimizerSteps: 0 }))],
      ['state-strings', (_t, m) => (m['lcmd.state'] = JSON.stringify({ steps: '1', skippedSteps: 0, optimizerSteps: 1 }))],
      ['train-config-not-json', (_t, m) => (m['lcmd.train'] = 'nope')],
      ['train-config-invalid', (_t, m) => (m['lcmd.train'] = JSON.stringify({ ...JSON.parse(m['lcmd.train']), lambdaCm: -1 }))],
      ['optimizer-missing', (t) => delete t['optim.exp_avg.head.weight']],
      ['rng-state-garbage', (t) => {
        t['rng.cpu'].dispose();
        t['rng.cpu'] = Tensor.from(new Uint8Array(7), [7]);
      }],
    ];
    for (const [name, change] of cases) {
      const { tensors, metadata } = await readSafetensors(good);
      change(tensors, metadata);
      const file = path.join(dir, `${name}.safetensors`);
      await writeSafetensors(file, tensors, metadata);
      Object.values(tensors).forEach((t) => t.dispose());
      const code = await errorCode(Trainer.resume(file));
      if (code !== 'E_CHECKPOINT') throw new Error(`${name}: expected E_CHECKPOINT from resume, got ${code}`);
    }
  });

  test('the undamaged file still loads (the damage, not the fixture, is what fails)', async () => {
    const resumed = await Trainer.resume(good);
    expect(resumed.steps).toBe(1);
    resumed.dispose();
  });
});
