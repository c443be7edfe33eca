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
