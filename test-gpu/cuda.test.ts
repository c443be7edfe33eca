// CUDA against the CPU: the jest project "gpu" (scripts/gpu-check.sh runs it on a GPU machine). Every test runs only
// where this build has CUDA and a GPU is visible, and is skipped elsewhere (CI has none).
import { native, testHooks } from '../lib/binding';
import { Model } from '../lib/model';
import { sampleDetailed } from '../lib/sampler';
import { Tensor } from '../lib/tensor';
import { Trainer } from '../lib/trainer';
import type { PartialRunConfig } from '../lib/config';

// full fp32 on CUDA for the parity tests (TF32 is on by default, native/core/base/device.cc)
process.env.LCMD_TF32 = '0';
const hasCuda = native().runtimeInfo().cudaAvailable;
const describeCuda = hasCuda ? describe : describe.skip;

// big enough that GEMMs take their real kernels; no attention dropout, whose draws come from per-device generators
const MODEL = { vocabSize: 64, height: 8, width: 8, numClasses: 10, embedDim: 32, layers: 2, heads: 4, hidden: 128, condDim: 64, attnDropout: 0 };

function seededInts(seed: number, n: number, below: number): number[] {
  let x = seed >>> 0;
  return Array.from({ length: n }, () => {
    x = (Math.imul(x, 1664525) + 1013904223) >>> 0;
    return x % below;
  });
}

const batch = (k: number, b = 16) => ({
  tokens: Tensor.from(BigInt64Array.from(seededInts(100 + k, b * 64, 64).map(BigInt)), [b, 64], 'int64'),
  labels: Tensor.from(BigInt64Array.from(seededInts(200 + k, b, 10).map(BigInt)), [b], 'int64'),
});

function maxRelative(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let worst = 0, scale = 0;
  for (let i = 0; i < a.length; i++) {
    worst = Math.max(worst, Math.abs(a[i] - b[i]));
    scale = Math.max(scale, Math.abs(a[i]));
  }
  return worst / scale;
}

describeCuda('CUDA against the CPU', () => {
  test('counter noise: uniforms and normals bit for bit (the log and cosine are lcmd\'s own, with explicit fmaf)', () => {
    for (const uniform of [true, false]) {
      const cpu = new Tensor(testHooks().sampleNoise(7, 3, 33, 2, 5, [64, 32], uniform, 'cpu'));
      const gpu = new Tensor(testHooks().sampleNoise(7, 3, 33, 2, 5, [64, 32], uniform, 'cuda'));
      const a = cpu.toTypedArray() as Float32Array, b = gpu.toTypedArray() as Float32Array;
      expect(Buffer.from(b.buffer, b.byteOffset, b.byteLength).equals(Buffer.from(a.buffer, a.byteOffset, a.byteLength))).toBe(true);
      cpu.dispose();
      gpu.dispose();
    }
  });

  test('logits of the same weights agree in fp32 (relative 1e-4)', async () => {
    const cpu = Model.create({ model: MODEL }, { seed: 5 });
    const gpu = Model.create({ model: MODEL }, { seed: 5, device: 'cuda' });
    for (const name of cpu.parameterNames()) {
      const p = cpu.getParameter(name);
      gpu.setParameter(name, p);
      p.dispose();
    }
    const z = Tensor.from(Float32Array.from(seededInts(1, 4 * 64 * 32, 1000).map((v) => v / 500 - 1)), [4, 64, 32]);
    const t = Tensor.from(new Float32Array([0.1, 0.4, 0.7, 0.95]), [4]);
    const classes = Tensor.from(BigInt64Array.from([0n, 3n, 9n, 10n]), [4], 'int64');
    const a = await cpu.forward(z, t, classes);
    const b = await gpu.forward(z.to('cuda'), t.to('cuda'), classes.to('cuda'));
    const bCpu = b.to('cpu');
    expect(maxRelative(a.toTypedArray() as Float32Array, bCpu.toTypedArray() as Float32Array)).toBeLessThan(1e-4);
    for (const x of [z, t, classes, a, b, bCpu]) x.dispose();
    cpu.dispose();
    gpu.dispose();
  });

  async function losses(config: PartialRunConfig, steps: number): Promise<number[]> {
    const trainer = Trainer.create(config);
    const out: number[] = [];
    for (let k = 0; k < steps; k++) {
      const b = batch(k);
      const r = await trainer.step(b);
      out.push(r.loss);
      b.tokens.dispose();
      b.labels.dispose();
    }
    trainer.dispose();
    return out;
  }

  test.each(['small', 'paper-small'])('%s: losses of 5 training steps agree (fp32, relative 1e-3)', async (preset) => {
    const train = { seed: 3, warmupSteps: 0, lr: 1e-3 };
    const cpu = await losses({ preset, model: MODEL, train: { ...train, device: 'cpu' } }, 5);
    const gpu = await losses({ preset, model: MODEL, train: { ...train, device: 'cuda' } }, 5);
    expect(maxRelative(cpu, gpu)).toBeLessThan(1e-3);
  });

  test('bf16 training stays within 5% of fp32 over 5 steps', async () => {
    const train = { seed: 3, warmupSteps: 0, lr: 1e-3, device: 'cuda' };
    const fp32 = await losses({ preset: 'paper-small', model: MODEL, train: { ...train, precision: 'fp32' } }, 5);
    const bf16 = await losses({ preset: 'paper-small', model: MODEL, train: { ...train, precision: 'bf16' } }, 5);
    expect(maxRelative(fp32, bf16)).toBeLessThan(0.05);
  });

  test.each(['ddim', 'ancestral', 'commit'] as const)('%s sampling with guidance: the same tokens for a fixed seed (99%%)', async (sampler) => {
    const cpu = Model.create({ model: MODEL }, { seed: 9 });
    const gpu = Model.create({ model: MODEL }, { seed: 9, device: 'cuda' });
    const options = { n: 32, steps: 8, sampler, guidance: 1, seed: 4, classes: 3, useEma: false, returnProbs: true as const };
    const a = await sampleDetailed(cpu, options), b = await sampleDetailed(gpu, options);
    const ta = a.tokens.toTypedArray() as Int32Array, tb = b.tokens.toTypedArray() as Int32Array;
    let same = 0;
    for (let i = 0; i < ta.length; i++) same += ta[i] === tb[i] ? 1 : 0;
    expect(same / ta.length).toBeGreaterThanOrEqual(0.99);
    for (const x of [a.tokens, b.tokens, a.probs!, b.probs!]) x.dispose();
    cpu.dispose();
    gpu.dispose();
  });

  // the paper width (768) and the small one (128), rows of 64 positions; bf16 storage against float64 within bf16's
  // rounding (8 bits of mantissa)
  test.each([
    ['float32', 128, 5e-6],
    ['float32', 768, 5e-6],
    ['bfloat16', 768, 3e-2],
  ] as const)('fused AdaLN with its residual add, %s, C = %d: x, y and the gradients match libtorch float64 on the device', (dtype, C, tolerance) => {
    const B = 4, N = 64;
    const draw = (seed: number, n: number, offset: number, spread: number) =>
      Float32Array.from(seededInts(seed, n, 100000).map((v) => offset + spread * (v / 50000 - 1)));
    const cpuInputs = [
      [draw(1, B * N * C, 3, 2), [B, N, C]],
      [draw(2, B * N * C, 0, 1), [B, N, C]],
      [draw(3, B * C, 0, 0.5), [B, C]],
      [draw(4, B * C, 0, 0.5), [B, C]],
      [draw(5, B * N * C, 0, 1), [B, N, C]],
      [draw(6, B * N * C, 0, 1), [B, N, C]],
    ].map(([data, shape]) => Tensor.from(data as Float32Array, shape as number[], dtype));
    const gpuInputs = cpuInputs.map((t) => t.to('cuda'));
    const read = (o: Record<string, unknown>) =>
      Object.fromEntries(Object.entries(o).map(([k, v]) => {
        const onDevice = new Tensor(v as never), host = onDevice.to('cpu');
        const values = Array.from(host.toTypedArray() as Float64Array);
        onDevice.dispose();
        host.dispose();
        return [k, values];
      }));
    const [h, r, scale, shift, gy, gx] = gpuInputs.map((t) => t.handle);
    const out = testHooks().fusedAdaptiveNorm(h, r, scale, shift, gy, gx);
    expect(out.fused).toBe(true);
    const value = read(out.value as never), reference = read(out.reference as never);
    for (const name of ['x', 'y', 'gradH', 'gradScale', 'gradShift']) {
      // gradients at scale and shift are sums over N positions
      const allowed = name === 'gradScale' || name === 'gradShift' ? tolerance * 4 : tolerance;
      expect(maxRelative(value[name], reference[name])).toBeLessThan(allowed);
    }
    if (dtype === 'float32') {
      // and the CUDA kernels agree with the CPU loops on the same float32 input
      const [ch, cr, cs, csh, cgy, cgx] = cpuInputs.map((t) => t.handle);
      const cpu = testHooks().fusedAdaptiveNorm(ch, cr, cs, csh, cgy, cgx);
      const cpuValue = read(cpu.value as never);
      for (const name of ['x', 'y', 'gradH', 'gradScale', 'gradShift']) expect(maxRelative(value[name], cpuValue[name])).toBeLessThan(1e-5);
    }
    [...cpuInputs, ...gpuInputs].forEach((t) => t.dispose());
  });

  // a [rows, K] result of a test hook, read to the host
  const host = (handle: unknown): number[] => {
    const onDevice = new Tensor(handle as never), h = onDevice.to('cpu');
    const values = Array.from(h.toTypedArray() as Float64Array);
    onDevice.dispose();
    h.dispose();
    return values;
  };
  const draw = (seed: number, n: number, spread: number) => Float32Array.from(seededInts(seed, n, 100000).map((v) => spread * (v / 50000 - 1)));

  test.each([256, 1024])('fused loss head, K = %d: CE, KL, probabilities and the logits\' gradient match float64 on the device and the CPU loop', (K) => {
    const R = 3 * 64;
    const inputs = [
      Tensor.from(draw(11, R * K, 6), [R, K]),
      Tensor.from(BigInt64Array.from(seededInts(12, R, K).map(BigInt)), [R], 'int64'),
      Tensor.from(draw(13, R * K, 4), [R, K]),
      Tensor.from(draw(14, R, 1), [R]),
      Tensor.from(draw(15, R, 1), [R]),
      Tensor.from(draw(16, R * K, 1), [R, K]),
    ];
    // a target distribution: log_softmax of the drawn values, made on the CPU
    const q = inputs[2].toTypedArray() as Float32Array;
    for (let r = 0; r < R; r++) {
      const row = q.subarray(r * K, (r + 1) * K);
      const m = Math.max(...row), lse = m + Math.log(row.reduce((a, v) => a + Math.exp(v - m), 0));
      for (let k = 0; k < K; k++) row[k] -= lse;
    }
    inputs[2].dispose();
    inputs[2] = Tensor.from(q, [R, K]);
    const onGpu = inputs.map((t) => t.to('cuda'));
    for (const direction of ['teacher-student', 'student-teacher'] as const) {
      const run = (ts: Tensor[]) => testHooks().fusedTokenLoss(ts[0].handle, ts[1].handle, ts[2].handle, direction, ts[3].handle, ts[4].handle, ts[5].handle);
      const gpu = run(onGpu), cpu = run(inputs);
      expect(gpu.fused).toBe(true);
      for (const name of ['ce', 'kl', 'probs', 'gradLogits'] as const) {
        const value = host(gpu.value[name]), reference = host(gpu.reference[name]), loop = host(cpu.value[name]);
        expect(maxRelative(value, reference)).toBeLessThan(2e-5);
        expect(maxRelative(value, loop)).toBeLessThan(2e-5);
      }
      expect(host(gpu.value.correct)).toEqual(host(gpu.reference.correct));
    }
    [...inputs, ...onGpu].forEach((t) => t.dispose());
  });

  test('fused AdamW with both EMAs: the CUDA multi-tensor kernel equals the CPU loop (30 tensors, two launches)', () => {
    const shapes = Array.from({ length: 30 }, (_, i) => (i % 3 === 0 ? [64, 48] : [37 + i]));
    const lists = ['params', 'grads', 'expAvg', 'expAvgSq', 'ema', 'teacher'].map((_, li) =>
      shapes.map((shape, i) => {
        const n = shape.reduce((a, b) => a * b, 1);
        const values = draw(100 * li + i, n, li === 3 ? 1e-3 : 1).map((v) => (li === 3 ? v * v : v));
        return Tensor.from(values, shape);
      }));
    const decays = shapes.map((s) => s.length === 2);
    const options = { lr: 3e-3, beta1: 0.9, beta2: 0.99, eps: 1e-8, weightDecay: 0.05, priorSteps: 4, gradScale: 0.7, emaDecay: 0.999, teacherDecay: 0.95, fused: true };
    const state = (ls: Tensor[][]) => ({ params: ls[0].map((t) => t.handle), grads: ls[1].map((t) => t.handle), expAvg: ls[2].map((t) => t.handle), expAvgSq: ls[3].map((t) => t.handle), ema: ls[4].map((t) => t.handle), teacher: ls[5].map((t) => t.handle) });
    const onGpu = lists.map((l) => l.map((t) => t.to('cuda')));
    const gpu = testHooks().adamwEmaStep(state(onGpu), decays, options);
    const cpu = testHooks().adamwEmaStep(state(lists), decays, options);
    expect(gpu.fused).toBe(true);
    for (const name of ['params', 'expAvg', 'expAvgSq', 'ema', 'teacher'] as const) {
      gpu[name]!.forEach((h, i) => expect(maxRelative(host(h), host(cpu[name]![i]))).toBeLessThan(1e-6));
    }
    [...lists.flat(), ...onGpu.flat()].forEach((t) => t.dispose());
  });

  test('fused ancestral update: the noise made in the CUDA kernel is the CPU\'s, and the update agrees', () => {
    const shape = [16, 64, 32], n = 16 * 64 * 32;
    const z = Tensor.from(draw(21, n, 2), shape), e = Tensor.from(draw(22, n, 2), shape);
    const zg = z.to('cuda'), eg = e.to('cuda');
    const streams = { seed: 9, a: 3, first: 40, purpose: 5 }, coefficients = { coefZ: 0.9, coefX: 0.3, noiseStd: 0.4 };
    const gpu = testHooks().fusedNoisyUpdate(zg.handle, eg.handle, streams, coefficients);
    const cpu = testHooks().fusedNoisyUpdate(z.handle, e.handle, streams, coefficients);
    expect(gpu.fused).toBe(true);
    expect(maxRelative(host(gpu.value), host(gpu.reference))).toBeLessThan(1e-6);
    expect(maxRelative(host(gpu.value), host(cpu.value))).toBeLessThan(1e-6);
    [z, e, zg, eg].forEach((t) => t.dispose());
  });

  test('a CUDA training step reads the device once', () => {
    const trainer = Trainer.create({ preset: 'small', model: MODEL, train: { seed: 3, device: 'cuda' } });
    const b = batch(0);
    for (let k = 0; k < 3; k++) {
      const r = testHooks().trainerStepSyncs(trainer.handle, b.tokens.handle, b.labels.handle);
      expect(r.syncs).toEqual(['read_to_host: loss terms and gradient norm']);
    }
    b.tokens.dispose();
    b.labels.dispose();
    trainer.dispose();
  });
});

test('the gpu project knows whether it ran', () => {
  // a visible line in the report: on a CPU-only machine every CUDA test above is skipped, by design
  expect(typeof hasCuda).toBe('boolean');
});
