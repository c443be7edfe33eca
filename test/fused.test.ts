// The fused kernels' CPU twins (native/core/fused/) against plain libtorch in float64 on the same input: the same
// per-element functions run in the CUDA kernels (native/cuda/), so these tests pin the math of both.
import * as fs from 'fs';
import * as os from 'os';
import { testHooks } from '../lib/binding';
import { Tensor } from '../lib/tensor';
import { rng } from './sampler-stats';

function values(t: Tensor): number[] {
  const out = Array.from(t.toTypedArray() as Float64Array);
  t.dispose();
  return out;
}

describe('fused GELU (exact, erf form)', () => {
  const r = rng(7);
  // dense over the range where GELU bends, plus the far tails, zero and values past exp's clamp; 70k elements, so the
  // parallel loop splits them into several chunks
  const xs = [0, -0, 1e-30, -1e-30, 50, -50, 100, -100, ...Array.from({ length: 70000 }, (_, i) => (i < 60000 ? -8 + 16 * r.uniform() : -12 * r.uniform()))];
  const grads = xs.map(() => r.normal());
  const x32 = Float32Array.from(xs);
  const xRounded = Array.from(x32);

  function run(dtype: 'float32' | 'float64') {
    const x = Tensor.from(dtype === 'float32' ? x32 : Float64Array.from(xRounded), [2, xs.length / 2]);
    const g = Tensor.from(dtype === 'float32' ? Float32Array.from(grads) : Float64Array.from(grads), [2, xs.length / 2]);
    const out = testHooks().fusedGelu(x.handle, g.handle);
    x.dispose();
    g.dispose();
    return { fused: out.fused, cpuPath: out.cpuPath, value: values(new Tensor(out.value)), gradient: values(new Tensor(out.gradient)), refValue: values(new Tensor(out.referenceValue)), refGradient: values(new Tensor(out.referenceGradient)) };
  }

  // the AVX2 build is chosen from the CPU's features, not from its model name (GCC's target_clones("arch=haswell")
  // resolver ran the baseline build on an AVX-512 AMD EPYC)
  const x86 = os.arch() === 'x64' && fs.existsSync('/proc/cpuinfo');
  (x86 ? test : test.skip)('the CPU loops run their AVX2 + FMA build exactly when /proc/cpuinfo lists avx2 and fma', () => {
    const flags = new Set((/^flags\s*:(.*)$/m.exec(fs.readFileSync('/proc/cpuinfo', 'utf8'))?.[1] ?? '').trim().split(/\s+/));
    expect(run('float32').cpuPath).toBe(flags.has('avx2') && flags.has('fma') ? 'avx2+fma' : 'baseline');
  });

  test('float32 on the CPU takes the fused path, and value and gradient match libtorch in float64 to the erf approximation', () => {
    const out = run('float32');
    expect(out.fused).toBe(true);
    let worstValue = 0, worstGradient = 0;
    for (let i = 0; i < xs.length; i++) {
      const scale = 1 + Math.abs(xRounded[i]);
      worstValue = Math.max(worstValue, Math.abs(out.value[i] - out.refValue[i]) / scale);
      worstGradient = Math.max(worstGradient, Math.abs(out.gradient[i] - out.refGradient[i]) / (scale * Math.max(1, Math.abs(grads[i]))));
    }
    // Abramowitz-Stegun 7.1.26 is within 1.5e-7 of erf; float32 rounding adds about 1e-7 relative
    expect(worstValue).toBeLessThan(5e-7);
    expect(worstGradient).toBeLessThan(5e-7);
  });

  // 1 + erf(x / sqrt 2) in float32 is 0 below x = -5.9; the product form keeps the value within 1% down to x = -7
  test('the negative tail keeps its relative accuracy (no cancellation in 1 + erf)', () => {
    const out = run('float32');
    for (let i = 0; i < xs.length; i++) {
      const ref = out.refValue[i];
      if (xRounded[i] < -3 && xRounded[i] > -7) expect(Math.abs(out.value[i] - ref)).toBeLessThan(2e-2 * Math.abs(ref));
    }
  });

  test('zero maps to zero with slope 1/2, and large inputs to the identity and to 0', () => {
    const out = run('float32');
    expect(out.value[0]).toBe(0);
    expect(out.gradient[0]).toBeCloseTo(0.5 * grads[0], 6);
    expect(out.value[4]).toBe(50);
    expect(Math.abs(out.value[5])).toBeLessThan(1e-30);
    expect(out.gradient[6]).toBeCloseTo(grads[6], 6);
    expect(Math.abs(out.gradient[7])).toBeLessThan(1e-30);
  });

  test('float64 (gradient checks) falls back to libtorch and is exact', () => {
    const out = run('float64');
    expect(out.fused).toBe(false);
    for (let i = 0; i < xs.length; i += 97) {
      expect(out.value[i]).toBe(out.refValue[i]);
      expect(out.gradient[i]).toBe(out.refGradient[i]);
    }
  });
});

describe('fused AdaLN with its residual add (y = LayerNorm(h + r) (1 + scale) + shift)', () => {
  // C = 37 exercises the loops' tails (not a multiple of 8), C = 128 the model's width; h sits off zero, as a residual
  // stream does, so the mean matters
  const cases = [
    { B: 3, N: 5, C: 37 },
    { B: 2, N: 49, C: 128 },
  ];

  function draw(seed: number, { B, N, C }: { B: number; N: number; C: number }) {
    const r = rng(seed);
    const fill = (n: number, f: () => number) => Float32Array.from({ length: n }, f);
    return {
      h: fill(B * N * C, () => 3 + 2 * r.normal()),
      r: fill(B * N * C, () => r.normal()),
      scale: fill(B * C, () => 0.5 * r.normal()),
      shift: fill(B * C, () => 0.5 * r.normal()),
      gradY: fill(B * N * C, () => r.normal()),
      gradX: fill(B * N * C, () => r.normal()),
    };
  }

  type Named = Record<string, number[]>;
  function run(seed: number, shape: { B: number; N: number; C: number }, opts: { residual: boolean; dtype: 'float32' | 'float64' }) {
    const d = draw(seed, shape);
    const { B, N, C } = shape;
    const t = (a: Float32Array, dims: number[]) => Tensor.from(opts.dtype === 'float32' ? a : Float64Array.from(a), dims);
    const ins = [t(d.h, [B, N, C]), t(d.r, [B, N, C]), t(d.scale, [B, C]), t(d.shift, [B, C]), t(d.gradY, [B, N, C]), t(d.gradX, [B, N, C])];
    const [h, r, scale, shift, gradY, gradX] = ins;
    const out = testHooks().fusedAdaptiveNorm(h.handle, opts.residual ? r.handle : null, scale.handle, shift.handle, gradY.handle, opts.residual ? gradX.handle : null);
    ins.forEach((x) => x.dispose());
    const unpack = (o: object): Named =>
      Object.fromEntries(Object.entries(o).map(([k, v]) => [k, values(new Tensor(v))]));
    return { fused: out.fused, value: unpack(out.value), reference: unpack(out.reference) };
  }

  // largest |a - b| / (1 + |b|) over the elements
  function worst(a: number[], b: number[]): number {
    expect(a.length).toBe(b.length);
    let m = 0;
    for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]) / (1 + Math.abs(b[i])));
    return m;
  }

  for (const shape of cases) {
    const label = `[${shape.B}, ${shape.N}, ${shape.C}]`;
    test(`${label}, with the residual: x, y and every gradient match libtorch in float64`, () => {
      const out = run(11, shape, { residual: true, dtype: 'float32' });
      expect(out.fused).toBe(true);
      const names = ['x', 'y', 'gradH', 'gradR', 'gradScale', 'gradShift'];
      for (const name of names) expect(out.value[name]).toBeDefined();
      expect(worst(out.value.x, out.reference.x)).toBeLessThan(2e-7);
      expect(worst(out.value.y, out.reference.y)).toBeLessThan(5e-6);
      expect(worst(out.value.gradH, out.reference.gradH)).toBeLessThan(5e-6);
      // h and r meet in one add, so their gradients are one tensor
      expect(out.value.gradR).toEqual(out.value.gradH);
      // sums over N positions of float32 products
      expect(worst(out.value.gradScale, out.reference.gradScale)).toBeLessThan(1e-5 * shape.N);
      expect(worst(out.value.gradShift, out.reference.gradShift)).toBeLessThan(1e-6 * shape.N);
    });

    test(`${label}, without the residual: y and the gradients at h, scale and shift match libtorch in float64`, () => {
      const out = run(12, shape, { residual: false, dtype: 'float32' });
      expect(out.fused).toBe(true);
      expect(out.value.x).toBeUndefined();
      expect(worst(out.value.y, out.reference.y)).toBeLessThan(5e-6);
      expect(worst(out.value.gradH, out.reference.gradH)).toBeLessThan(5e-6);
      expect(worst(out.value.gradScale, out.reference.gradScale)).toBeLessThan(1e-5 * shape.N);
      expect(worst(out.value.gradShift, out.reference.gradShift)).toBeLessThan(1e-6 * shape.N);
    });
  }

  test('float64 (gradient checks) runs the unfused libtorch ops and equals them exactly', () => {
    const out = run(14, cases[0], { residual: true, dtype: 'float64' });
    expect(out.fused).toBe(false);
    for (const name of ['x', 'y', 'gradH', 'gradScale', 'gradShift']) expect(out.value[name]).toEqual(out.reference[name]);
  });
});
