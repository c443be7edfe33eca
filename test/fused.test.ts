// The fused kernels' CPU twins (native/core/fused/) against plain libtorch in float64 on the same input: the same
// per-element functions run in the CUDA kernels (native/cuda/), so these tests pin the math of both.
import * as fs from 'fs';
import * as os from 'os';
import { testHooks } from '../lib/binding';
import { Tensor } from '../lib/tensor';
import { worst } from './float-compare';
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

describe('fused AdamW with the sampling EMA and the teacher EMA in one pass', () => {
  // 37 exercises the loop's tail, 38400 more than one thread chunk; a 2-D weight decays, the others do not
  const shapes = [[37], [5, 300], [64, 600]];
  const decays = [false, true, true];
  const base = { lr: 3e-3, beta1: 0.9, beta2: 0.99, eps: 1e-8, weightDecay: 0.05, emaDecay: 0.999, teacherDecay: 0.95 };

  type Lists = { params: Float32Array[]; grads: Float32Array[]; expAvg: Float32Array[]; expAvgSq: Float32Array[]; ema: Float32Array[]; teacher: Float32Array[] };
  function draw(seed: number): Lists {
    const r = rng(seed);
    const fill = (shape: number[], f: () => number) => Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, f);
    return {
      params: shapes.map((s) => fill(s, () => r.normal())),
      grads: shapes.map((s) => fill(s, () => 0.1 * r.normal())),
      expAvg: shapes.map((s) => fill(s, () => 0.01 * r.normal())),
      // second moments of every scale, down to where eps matters
      expAvgSq: shapes.map((s) => fill(s, () => 1e-3 * r.uniform() ** 4)),
      ema: shapes.map((s) => fill(s, () => r.normal())),
      teacher: shapes.map((s) => fill(s, () => r.normal())),
    };
  }

  // the update written from docs/method.md (AdamW, decoupled decay, bias correction; then the EMAs) in float64
  function reference(d: Lists, o: typeof base & { priorSteps: number; gradScale: number }, teacher: boolean) {
    const n = o.priorSteps + 1;
    const bias1 = 1 - o.beta1 ** n, bias2 = 1 - o.beta2 ** n;
    const out = { params: [] as number[][], expAvg: [] as number[][], expAvgSq: [] as number[][], ema: [] as number[][], teacher: [] as number[][] };
    d.params.forEach((p0, t) => {
      const p: number[] = [], m: number[] = [], v: number[] = [], e: number[] = [], te: number[] = [];
      for (let i = 0; i < p0.length; i++) {
        const g = d.grads[t][i] * o.gradScale;
        let w = decays[t] ? p0[i] * (1 - o.lr * o.weightDecay) : p0[i];
        m[i] = o.beta1 * d.expAvg[t][i] + (1 - o.beta1) * g;
        v[i] = o.beta2 * d.expAvgSq[t][i] + (1 - o.beta2) * g * g;
        w -= (o.lr / bias1) * m[i] / (Math.sqrt(v[i] / bias2) + o.eps);
        p[i] = w;
        e[i] = o.emaDecay * d.ema[t][i] + (1 - o.emaDecay) * w;
        te[i] = o.teacherDecay * d.teacher[t][i] + (1 - o.teacherDecay) * w;
      }
      out.params.push(p);
      out.expAvg.push(m);
      out.expAvgSq.push(v);
      out.ema.push(e);
      if (teacher) out.teacher.push(te);
    });
    return out;
  }

  function run(d: Lists, o: typeof base & { priorSteps: number; gradScale: number; fused: boolean }, teacher: boolean, dtype: 'float32' | 'float64' = 'float32') {
    const made: Tensor[] = [];
    const handles = (arrays: Float32Array[]) =>
      arrays.map((a, i) => {
        const t = Tensor.from(dtype === 'float32' ? a : Float64Array.from(a), shapes[i]);
        made.push(t);
        return t.handle;
      });
    const state = { params: handles(d.params), grads: handles(d.grads), expAvg: handles(d.expAvg), expAvgSq: handles(d.expAvgSq), ema: handles(d.ema), teacher: teacher ? handles(d.teacher) : undefined };
    const out = testHooks().adamwEmaStep(state, decays, o);
    made.forEach((t) => t.dispose());
    const unpack = (list: typeof out.params | undefined) => (list ?? []).map((h) => values(new Tensor(h)));
    return { fused: out.fused, params: unpack(out.params), expAvg: unpack(out.expAvg), expAvgSq: unpack(out.expAvgSq), ema: unpack(out.ema), teacher: unpack(out.teacher) };
  }

  // largest |a - b| / (scale + |b|) over every tensor of a list
  function worstOfList(a: number[][], b: number[][], scale = 1): number {
    expect(a.length).toBe(b.length);
    let m = 0;
    a.forEach((x, t) => {
      expect(x.length).toBe(b[t].length);
      for (let i = 0; i < x.length; i++) m = Math.max(m, Math.abs(x[i] - b[t][i]) / (scale + Math.abs(b[t][i])));
    });
    return m;
  }

  for (const teacher of [true, false]) {
    for (const [priorSteps, gradScale] of [[0, 1], [7, 0.3]]) {
      test(`${teacher ? 'with' : 'without'} a teacher, step ${priorSteps + 1}, gradient scale ${gradScale}: fused and unfused match the float64 update`, () => {
        const d = draw(20 + priorSteps);
        const o = { ...base, priorSteps, gradScale };
        const ref = reference(d, o, teacher);
        const fused = run(d, { ...o, fused: true }, teacher);
        const unfused = run(d, { ...o, fused: false }, teacher);
        expect(fused.fused).toBe(true);
        expect(unfused.fused).toBe(false);
        for (const out of [fused, unfused]) {
          expect(worstOfList(out.params, ref.params)).toBeLessThan(1e-6);
          expect(worstOfList(out.expAvg, ref.expAvg, 1e-3)).toBeLessThan(1e-5);
          expect(worstOfList(out.expAvgSq, ref.expAvgSq, 1e-6)).toBeLessThan(1e-5);
          expect(worstOfList(out.ema, ref.ema)).toBeLessThan(1e-6);
          expect(out.teacher.length).toBe(teacher ? shapes.length : 0);
          if (teacher) expect(worstOfList(out.teacher, ref.teacher)).toBeLessThan(1e-6);
        }
        // the step moved every weight by about lr, far more than the tolerance
        expect(worstOfList(ref.params, d.params.map((p) => Array.from(p)))).toBeGreaterThan(1e-3);
      });
    }
  }

  test('float64 weights take the unfused passes and match the float64 update', () => {
    const d = draw(30);
    const o = { ...base, priorSteps: 3, gradScale: 0.5 };
    const out = run(d, { ...o, fused: true }, true, 'float64');
    expect(out.fused).toBe(false);
    const ref = reference(d, o, true);
    expect(worstOfList(out.params, ref.params)).toBeLessThan(1e-12);
    expect(worstOfList(out.ema, ref.ema)).toBeLessThan(1e-12);
    expect(worstOfList(out.teacher, ref.teacher)).toBeLessThan(1e-12);
  });
});

describe('fused sampler update: coef_z z + coef_x e_hat + noise_std n with the counter noise made in the same pass', () => {
  // [3, 5, 7]: rows of 35 elements, so chunks end inside rows; [40, 64, 64]: 163840 elements, several threads' chunks
  const cases = [[3, 5, 7], [40, 64, 64]];
  const coefficients = { coefZ: 0.93, coefX: 0.21, noiseStd: 0.37 };

  function run(seed: number, shape: number[], withE: boolean, dtype: 'float32' | 'float64' = 'float32', first = 5) {
    const r = rng(seed);
    const n = shape.reduce((a, b) => a * b, 1);
    const make = () => {
      const a = Float32Array.from({ length: n }, () => r.normal());
      return Tensor.from(dtype === 'float32' ? a : Float64Array.from(a), shape);
    };
    const z = make(), e = make();
    const out = testHooks().fusedNoisyUpdate(z.handle, withE ? e.handle : null, { seed, a: 4, first, purpose: 77 }, coefficients);
    z.dispose();
    e.dispose();
    return { fused: out.fused, value: out.value ? values(new Tensor(out.value)) : [], reference: values(new Tensor(out.reference)) };
  }


  for (const shape of cases) {
    for (const withE of [true, false]) {
      test(`[${shape.join(', ')}], ${withE ? 'ancestral step' : 'forward jump (no e_hat)'}: equals the update on counter_normal's noise in float64`, () => {
        const out = run(41, shape, withE);
        expect(out.fused).toBe(true);
        expect(worst(out.value, out.reference)).toBeLessThan(1e-6);
      });
    }
  }

  test('the noise belongs to the rows: another first sample gives other values', () => {
    const a = run(42, cases[0], true, 'float32', 0), b = run(42, cases[0], true, 'float32', 1);
    expect(worst(a.value, b.value)).toBeGreaterThan(0.1);
    expect(worst(b.value, b.reference)).toBeLessThan(1e-6);
  });

  test('float64 runs the unfused ops on the same noise', () => {
    const out = run(43, cases[0], true, 'float64');
    expect(out.fused).toBe(false);
    expect(worst(out.value, out.reference)).toBeLessThan(1e-7);
  });
});

describe('fused loss head: cross-entropy, KL to a target, softmax and argmax over K in one pass each way', () => {
  // K = 37 exercises short rows, K = 256 the small preset's vocabulary; 147 rows spread over threads
  const cases = [{ lead: [2, 5], K: 37 }, { lead: [3, 49], K: 256 }];

  function run(seed: number, shape: { lead: number[]; K: number }, opts: { kl: boolean; direction: 'teacher-student' | 'student-teacher'; gradProbs: boolean; dtype?: 'float32' | 'float64' }) {
    const r = rng(seed);
    const rows = shape.lead.reduce((a, b) => a * b, 1), K = shape.K;
    const float = (n: number, f: () => number) => {
      const a = Float32Array.from({ length: n }, f);
      return opts.dtype === 'float64' ? Float64Array.from(a) : a;
    };
    // peaked rows, as a trained model's are
    const logits = Tensor.from(float(rows * K, () => 3 * r.normal()), [...shape.lead, K]);
    const targets = Tensor.from(Int32Array.from({ length: rows }, () => Math.floor(r.uniform() * K)), shape.lead);
    // a target distribution's log-probabilities: log_softmax of other logits
    const q = Float64Array.from({ length: rows * K }, () => 2 * r.normal());
    for (let i = 0; i < rows; i++) {
      const row = q.subarray(i * K, (i + 1) * K);
      const m = Math.max(...row);
      const lse = m + Math.log(row.reduce((s, v) => s + Math.exp(v - m), 0));
      for (let k = 0; k < K; k++) row[k] -= lse;
    }
    const logQ = Tensor.from(Float32Array.from(q), [...shape.lead, K]);
    const gradCe = Tensor.from(float(rows, () => r.normal()), shape.lead);
    const gradKl = Tensor.from(float(rows, () => r.normal()), shape.lead);
    const gradProbs = Tensor.from(float(rows * K, () => r.normal()), [...shape.lead, K]);
    const out = testHooks().fusedTokenLoss(logits.handle, targets.handle, opts.kl ? logQ.handle : null, opts.direction, gradCe.handle,
      opts.kl ? gradKl.handle : null, opts.gradProbs ? gradProbs.handle : null);
    [logits, targets, logQ, gradCe, gradKl, gradProbs].forEach((t) => t.dispose());
    const unpack = (o: object) => Object.fromEntries(Object.entries(o).map(([k, v]) => [k, values(new Tensor(v))])) as Record<string, number[]>;
    return { fused: out.fused, value: unpack(out.value), reference: unpack(out.reference) };
  }


  for (const shape of cases) {
    for (const direction of ['teacher-student', 'student-teacher'] as const) {
      test(`[${shape.lead.join(', ')}, ${shape.K}], KL ${direction}, with a probability gradient: every output and the logits' gradient match float64 libtorch`, () => {
        const out = run(51, shape, { kl: true, direction, gradProbs: true });
        expect(out.fused).toBe(true);
        expect(worst(out.value.ce, out.reference.ce)).toBeLessThan(1e-5);
        expect(worst(out.value.kl, out.reference.kl)).toBeLessThan(1e-5);
        expect(worst(out.value.probs, out.reference.probs)).toBeLessThan(1e-6);
        expect(out.value.correct).toEqual(out.reference.correct);
        expect(worst(out.value.gradLogits, out.reference.gradLogits)).toBeLessThan(1e-5);
      });
    }
    test(`[${shape.lead.join(', ')}, ${shape.K}], cross-entropy alone (no target distribution, no probability gradient)`, () => {
      const out = run(52, shape, { kl: false, direction: 'teacher-student', gradProbs: false });
      expect(out.fused).toBe(true);
      expect(out.value.kl).toBeUndefined();
      expect(worst(out.value.ce, out.reference.ce)).toBeLessThan(1e-5);
      expect(worst(out.value.gradLogits, out.reference.gradLogits)).toBeLessThan(1e-6);
    });
  }

  test('some rows are right: the argmax agreement is not all zeros or all ones', () => {
    // targets drawn from the rows' own argmax half of the time would be the usual check; here the logits are random,
    // so about 1 / K rows agree: make K small
    const out = run(53, { lead: [400], K: 3 }, { kl: false, direction: 'teacher-student', gradProbs: false });
    const agree = out.value.correct.reduce((a, b) => a + b, 0);
    expect(agree).toBeGreaterThan(50);
    expect(agree).toBeLessThan(350);
    expect(out.value.correct).toEqual(out.reference.correct);
  });

  test('a NaN logit anywhere in a row makes that row\'s cross-entropy NaN (so the trainer skips the step), and only that row\'s', () => {
    const K = 16, logits = Float32Array.from({ length: 3 * K }, (_, i) => Math.sin(i));
    logits[K + 5] = NaN;  // row 1, not its target
    const t = Tensor.from(logits, [3, K]), targets = Tensor.from(Int32Array.from([0, 1, 2]), [3]), g = Tensor.from(Float32Array.from([1, 1, 1]), [3]);
    const out = testHooks().fusedTokenLoss(t.handle, targets.handle, null, 'teacher-student', g.handle, null, null);
    [t, targets, g].forEach((x) => x.dispose());
    const ce = values(new Tensor(out.value.ce)), reference = values(new Tensor(out.reference.ce));
    expect(out.fused).toBe(true);
    expect(Number.isNaN(ce[1])).toBe(true);
    expect(Number.isNaN(reference[1])).toBe(true);
    expect(worst([ce[0], ce[2]], [reference[0], reference[2]])).toBeLessThan(1e-6);
  });

  test('float64 (gradient checks) takes the unfused ops and matches the reference exactly up to summation order', () => {
    const out = run(54, cases[0], { kl: true, direction: 'student-teacher', gradProbs: true, dtype: 'float64' });
    expect(out.fused).toBe(false);
    for (const name of ['ce', 'kl', 'probs', 'gradLogits']) expect(worst(out.value[name], out.reference[name])).toBeLessThan(1e-12);
  });
});

describe('fused attention: softmax(q k^T / sqrt(dh)) v with dropout, per sample and head, from the packed qkv projection', () => {
  const r = rng(11);

  function run(B: number, N: number, hidden: number, heads: number, opts: { spread?: number; dropout?: number; grad?: boolean; dtype?: 'float32' | 'float64' } = {}) {
    const { spread = 1, dropout = 0, grad = true, dtype = 'float32' } = opts;
    const data = Array.from({ length: B * N * 3 * hidden }, () => spread * r.normal());
    const qkv = Tensor.from(dtype === 'float32' ? Float32Array.from(data) : Float64Array.from(data), [B, N, 3 * hidden]);
    const g = grad ? Tensor.from(Float32Array.from({ length: B * N * hidden }, () => r.normal()), [B, N, hidden]) : null;
    const out = testHooks().fusedAttention(qkv.handle, heads, dropout, 3, g ? g.handle : null);
    qkv.dispose();
    g?.dispose();
    const read = (h?: typeof out.reference) => (h ? values(new Tensor(h)) : []);
    return {
      fused: out.fused,
      value: read(out.value), gradient: read(out.gradient),
      libtorchValue: read(out.libtorchValue), libtorchGradient: read(out.libtorchGradient),
      reference: read(out.reference), referenceGradient: read(out.referenceGradient),
    };
  }

  // the bench's shape (49 positions, 4 heads of 32), heads of 64 (the paper's), a head size that is no multiple of 8,
  // position counts off every tile size (1, 5, 13, 50), and one position
  test.each([
    [3, 49, 128, 4],
    [2, 16, 128, 2],
    [2, 5, 24, 3],
    [2, 13, 36, 2],
    [1, 50, 40, 5],
    [2, 1, 16, 2],
  ])('B %i, N %i, hidden %i, %i heads: value and gradient match libtorch in float64', (B, N, hidden, heads) => {
    const out = run(B, N, hidden, heads);
    expect(out.fused).toBe(true);
    expect(out.value.length).toBe(B * N * hidden);
    expect(out.gradient.length).toBe(B * N * 3 * hidden);
    // outputs are convex combinations of values of size ~1: float32 rounding of scores, exp and sums
    expect(worst(out.value, out.reference)).toBeLessThan(2e-6);
    expect(worst(out.gradient, out.referenceGradient)).toBeLessThan(1e-5);
  });

  test('without a gradient (sampling, the teacher) the forward alone gives the same values', () => {
    const out = run(3, 49, 128, 4, { grad: false });
    expect(out.gradient).toEqual([]);
    expect(worst(out.value, out.reference)).toBeLessThan(2e-6);
  });

  test.each([[0.1], [0.5]])('dropout %f: the mask libtorch\'s dropout draws after the same seed, and the gradient through it', (p) => {
    const out = run(4, 49, 64, 2, { dropout: p });
    // the same weights dropped as on libtorch's path: values and gradients agree to float32 rounding
    expect(worst(out.value, out.libtorchValue)).toBeLessThan(2e-6);
    expect(worst(out.gradient, out.libtorchGradient)).toBeLessThan(1e-5);
    expect(worst(out.value, out.reference)).toBeLessThan(2e-6);
    expect(worst(out.gradient, out.referenceGradient)).toBeLessThan(1e-5);
    // and dropout did something: the undropped output is far from it
    const kept = run(4, 49, 64, 2, { dropout: 0 });
    expect(worst(kept.reference, out.reference)).toBeGreaterThan(1e-2);
  });

  test('large scores (softmax nearly one-hot, exp past float32 range without the max subtracted) stay accurate and finite', () => {
    const out = run(2, 20, 32, 2, { spread: 12 });
    expect(out.value.every(Number.isFinite) && out.gradient.every(Number.isFinite)).toBe(true);
    // scores of several hundred carry float32 rounding of about 3e-5 each, which the weights inherit
    expect(worst(out.value, out.reference)).toBeLessThan(2e-4);
  });

  test('float64 is left to libtorch', () => {
    expect(run(1, 4, 8, 1, { dtype: 'float64' }).fused).toBe(false);
  });
});

describe('a Transformer block without gradient: fused attention and the MLP in row blocks', () => {
  test.each([
    [12, 49, 64, 4], // 588 rows: one full block of 512 and a remainder
    [3, 20, 32, 2], // 60 rows: one partial block, the unblocked MLP
  ])('%i x %i positions, width %i, %i heads: equals the block with gradient and the float64 block (libtorch ops)', (B, N, hidden, heads) => {
    const out = testHooks().fusedBlock(B, N, hidden, heads, 5);
    expect(out.attentionFused).toBe(true);
    expect(out.mlpBlocked).toBe(B * N > 512);
    const value = values(new Tensor(out.value)), withGrad = values(new Tensor(out.withGrad)), reference = values(new Tensor(out.reference));
    expect(value.length).toBe(B * N * hidden);
    expect(worst(value, reference)).toBeLessThan(1e-5);
    expect(worst(withGrad, reference)).toBeLessThan(1e-5);
  });
});
