// The sampler against an exact oracle denoiser (a mixture over a few known grids) and against closed forms.
import { native, testHooks } from '../lib/binding';
import { LcmdError } from '../lib/errors';
import { createOracleDenoiser, OracleDenoiser } from '../lib/oracle';
import { sample, sampleDetailed, SampleOptions, SampleProgress } from '../lib/sampler';
import { boxMask, halfMask } from '../lib/sampler-masks';
import { Tensor } from '../lib/tensor';
import { chiSquarePValue, chiSquareStatistic, rng, schedule } from './sampler-stats';

const K = 8;
const D = 8;
// Four 2x2 grids; grids 0 and 2 share their left column (positions 0 and 2).
const GRIDS = [
  [0, 1, 2, 3],
  [4, 5, 6, 7],
  [0, 5, 2, 7],
  [3, 3, 1, 1],
];
const WEIGHTS = [0.1, 0.2, 0.3, 0.4];

function table(seed: number, k = K, d = D): Float32Array {
  const r = rng(seed);
  return Float32Array.from({ length: k * d }, () => r.normal());
}

function oracle(options: { weights?: number[]; classes?: number[]; classLeak?: number; grids?: number[][]; embeddings?: Float32Array } = {}): OracleDenoiser {
  const grids = options.grids ?? GRIDS;
  const g = Tensor.from(Int32Array.from(grids.flat()), [grids.length, 2, 2]);
  const e = Tensor.from(options.embeddings ?? table(3), [K, D]);
  const o = createOracleDenoiser({ grids: g, embeddings: e, weights: options.weights, classes: options.classes, classLeak: options.classLeak });
  g.dispose();
  e.dispose();
  return o;
}

function rows(tokens: Tensor): number[][] {
  const data = tokens.toTypedArray() as Int32Array;
  const per = tokens.shape.slice(1).reduce((a, b) => a * b, 1);
  return Array.from({ length: tokens.shape[0] }, (_, i) => Array.from(data.subarray(i * per, (i + 1) * per)));
}

function gridIndex(row: number[], grids = GRIDS): number {
  return grids.findIndex((g) => g.every((x, i) => x === row[i]));
}

async function errorCode(promise: Promise<unknown> | (() => unknown)): Promise<string> {
  try {
    await (typeof promise === 'function' ? promise() : promise);
  } catch (err) {
    expect(err).toBeInstanceOf(LcmdError);
    return (err as LcmdError).code;
  }
  return 'no error';
}

describe('sampler pieces against closed forms', () => {
  const shift = 0.2;
  const sch = schedule(shift);
  const values = (seed: number, n: number) => {
    const r = rng(seed);
    return Float32Array.from({ length: n }, () => r.normal());
  };

  test('one ancestral step is mu_Q + sigma_Q * noise with the posterior of docs/method.md section 4', () => {
    const [s, t] = [0.3, 0.45];
    const z = values(1, 12);
    const e = values(2, 12);
    const noise = values(3, 12);
    const out = testHooks().samplerAncestralStep(
      Tensor.from(z, [1, 3, 4]).handle, Tensor.from(e, [1, 3, 4]).handle, Tensor.from(noise, [1, 3, 4]).handle, s, t, shift,
    ).toTypedArray() as Float32Array;
    const [as, ss, at, st] = [sch.alpha(s), sch.sigma(s), sch.alpha(t), sch.sigma(t)];
    const alphaTs = at / as;
    const sigmaTs2 = st * st - alphaTs * alphaTs * ss * ss;
    const mean = (i: number) => ((alphaTs * ss * ss) / (st * st)) * z[i] + ((as * sigmaTs2) / (st * st)) * e[i];
    const std = Math.sqrt((sigmaTs2 * ss * ss) / (st * st));
    expect(std).toBeGreaterThan(0.01);
    out.forEach((v, i) => expect(v).toBeCloseTo(mean(i) + std * noise[i], 5));
  });

  test('one DDIM step is (sigma_s / sigma_t) z + (alpha_s - alpha_t sigma_s / sigma_t) e_hat', () => {
    const [s, t] = [0.0, 0.1];
    const z = values(4, 6);
    const e = values(5, 6);
    const out = testHooks().samplerDdimStep(Tensor.from(z, [1, 2, 3]).handle, Tensor.from(e, [1, 2, 3]).handle, s, t, shift).toTypedArray() as Float32Array;
    const [as, ss, at, st] = [sch.alpha(s), sch.sigma(s), sch.alpha(t), sch.sigma(t)];
    out.forEach((v, i) => expect(v).toBeCloseTo((ss / st) * z[i] + (as - (at * ss) / st) * e[i], 5));
  });

  test('the order-2 step is DPM-Solver++(2M) and the corrector UniPC\'s: convergence orders 1, 2 and 3 on a closed-form ODE', () => {
    // Data x = -1 or +1 with equal weight (1-D embeddings): E[x | z_t] = tanh(alpha_t z / sigma_t^2). The probability-flow
    // ODE in L = log(alpha / sigma) is d(z / sigma) / dL = e^L E[x | z] (Lu et al. 2022); the reference integrates it with
    // RK4 on 4000 steps, then the samplers' steps go from t = 0.9 to t = 0.1 on T uniform steps.
    const starts = [-2, -0.7, -0.1, 0.3, 1.1, 2.4];
    const mean = (z: number, t: number) => Math.tanh((sch.alpha(t) * z) / sch.sigma(t) ** 2);
    const [t0, t1] = [0.9, 0.1];
    const reference = starts.map((z) => {
      const a = (l: number) => Math.sqrt(1 / (1 + Math.exp(-2 * l)));
      const sg = (l: number) => Math.sqrt(1 / (1 + Math.exp(2 * l)));
      const f = (l: number, u: number) => { const z = sg(l) * u; return Math.exp(l) * Math.tanh((a(l) * z) / sg(l) ** 2); };
      const [l0, l1] = [sch.logsnr(t0) / 2, sch.logsnr(t1) / 2];
      let u = z / sg(l0);
      const n = 4000, h = (l1 - l0) / n;
      for (let i = 0; i < n; i++) {
        const l = l0 + i * h;
        const k1 = f(l, u), k2 = f(l + h / 2, u + (h / 2) * k1), k3 = f(l + h / 2, u + (h / 2) * k2), k4 = f(l + h, u + h * k3);
        u += (h / 6) * (k1 + 2 * k2 + 2 * k3 + k4);
      }
      return u * sg(l1);
    });
    const tensor = (values: Float32Array) => Tensor.from(values, [1, starts.length, 1]).handle;
    const read = (handle: ReturnType<typeof testHooks>['samplerDdimStep'] extends (...a: never[]) => infer R ? R : never) => Float32Array.from(handle.toTypedArray() as Float32Array);
    // the sampler's steps: DDIM or DPM-Solver++(2M) predictors, and with `corrected` UniC after every step (the
    // prediction at the end of the last step is made here only to correct it, where the sampler would stop)
    const solve = (steps: number, order: 1 | 2, corrected = false) => {
      const time = (i: number) => t0 + ((t1 - t0) * i) / steps;
      let z = Float32Array.from(starts);
      let e = Float32Array.from(z, (v) => mean(v, time(0)));
      let previous: Float32Array | undefined;
      for (let i = 0; i < steps; i++) {
        const [t, s] = [time(i), time(i + 1)];
        const next = read(order === 2 && previous
          ? testHooks().samplerMultistepStep(tensor(z), tensor(e), tensor(previous), time(i - 1), s, t, shift)
          : testHooks().samplerDdimStep(tensor(z), tensor(e), s, t, shift));
        const eNext = Float32Array.from(next, (v) => mean(v, s));
        if (corrected) {
          const correctorOrder = order === 2 && previous ? 2 : 1;
          const [wp, wt, ws] = testHooks().samplerCorrectorWeights(correctorOrder, i > 0 ? time(i - 1) : 0, t, s, shift);
          const combined = Float32Array.from(e, (v, k) => wt * v + ws * eNext[k] + (correctorOrder === 2 ? wp * previous![k] : 0));
          z = read(testHooks().samplerDdimStep(tensor(z), tensor(combined), s, t, shift));
          // UniPC keeps the prediction made before the correction
          previous = e;
          e = eNext;
        } else {
          z = next;
          previous = e;
          e = eNext;
        }
      }
      return Math.max(...Array.from(z, (v, i) => Math.abs(v - reference[i])));
    };
    const [ddim32, ddim64, ddim128] = [solve(32, 1), solve(64, 1), solve(128, 1)];
    const [dpm32, dpm64, dpm128] = [solve(32, 2), solve(64, 2), solve(128, 2)];
    // halving the step halves DDIM's error and quarters DPM-Solver++(2M)'s (from about 32 steps on: the ODE is stiff
    // near t = 0.1, where tanh saturates)
    for (const ratio of [ddim32 / ddim64, ddim64 / ddim128]) expect(ratio).toBeGreaterThan(1.6), expect(ratio).toBeLessThan(2.5);
    for (const ratio of [dpm32 / dpm64, dpm64 / dpm128]) expect(ratio).toBeGreaterThan(3.2), expect(ratio).toBeLessThan(5);
    expect(dpm32).toBeLessThan(ddim32 / 3);
    // UniPC's corrector adds one order: DDIM + UniC-1 tends to a quarter per halving, 2M + UniC-2 to an eighth
    const [c1At64, c1At128] = [solve(64, 1, true), solve(128, 1, true)];
    const [c2At32, c2At64, c2At128] = [solve(32, 2, true), solve(64, 2, true), solve(128, 2, true)];
    expect(c1At64 / c1At128).toBeGreaterThan(3.2);
    expect(c1At64 / c1At128).toBeLessThan(5);
    expect(c2At64 / c2At128).toBeGreaterThan(5.5);
    expect(c2At32).toBeLessThan(dpm32 / 5);
  });

  test('the corrector\'s weights: the trapezoid at order 1, Adams-Moulton\'s (-1, 8, 5) / 12 for small equal steps at order 2', () => {
    expect(testHooks().samplerCorrectorWeights(1, 0, 0.6, 0.4, shift)).toEqual([0, 0.5, 0.5]);
    // around t = 0.5 the log-SNR is close to linear in t, so steps of 1e-4 in t are nearly equal in log-SNR
    const [wp, wt, ws] = testHooks().samplerCorrectorWeights(2, 0.5001, 0.5, 0.4999, shift);
    expect(wp).toBeCloseTo(-1 / 12, 3);
    expect(wt).toBeCloseTo(8 / 12, 3);
    expect(ws).toBeCloseTo(5 / 12, 3);
    const [a, b, c] = testHooks().samplerCorrectorWeights(2, 0.9, 0.6, 0.2, shift);
    expect(a + b + c).toBeCloseTo(1, 12);
    expect(() => testHooks().samplerCorrectorWeights(2, 0.5, 0.6, 0.2, shift)).toThrow(/lambda_prev < lambda_t/);
  });

  test('sample noise: a sample\'s rows do not depend on the batch; streams differ; normals have unit moments', () => {
    const all = testHooks().sampleNoise(42, 0, 8, 2, 7, [3, 5], false).toTypedArray() as Float32Array;
    const part = testHooks().sampleNoise(42, 3, 2, 2, 7, [3, 5], false).toTypedArray() as Float32Array;
    expect(part).toEqual(all.subarray(3 * 15, 5 * 15));
    const otherStep = testHooks().sampleNoise(42, 0, 8, 2, 6, [3, 5], false).toTypedArray() as Float32Array;
    const otherKind = testHooks().sampleNoise(42, 0, 8, 1, 7, [3, 5], false).toTypedArray() as Float32Array;
    const otherSeed = testHooks().sampleNoise(43, 0, 8, 2, 7, [3, 5], false).toTypedArray() as Float32Array;
    for (const other of [otherStep, otherKind, otherSeed]) expect(other).not.toEqual(all);
    const big = testHooks().sampleNoise(1, 0, 100, 0, 0, [1000], false).toTypedArray() as Float32Array;
    const mean = big.reduce((a, b) => a + b, 0) / big.length;
    const variance = big.reduce((a, b) => a + (b - mean) ** 2, 0) / big.length;
    expect(Math.abs(mean)).toBeLessThan(4 / Math.sqrt(big.length));
    expect(Math.abs(variance - 1)).toBeLessThan(4 * Math.sqrt(2 / big.length));
    const uniforms = testHooks().sampleNoise(1, 0, 10, 3, 0, [1000], true).toTypedArray() as Float32Array;
    expect(uniforms.every((u) => u > 0 && u < 1)).toBe(true);
  });
});

describe('sampling from the oracle', () => {
  test('ancestral sampling reproduces the data distribution (chi-square at a fixed seed)', async () => {
    const o = oracle({ weights: WEIGHTS });
    const result = await sampleDetailed(o, { n: 400, steps: 100, seed: 1, batchSize: 200 });
    expect(result.tokens.shape).toEqual([400, 2, 2]);
    expect(result.tokens.dtype).toBe('int32');
    const counts = [0, 0, 0, 0];
    for (const row of rows(result.tokens)) {
      const m = gridIndex(row);
      expect(m).toBeGreaterThanOrEqual(0);
      counts[m]++;
    }
    const p = chiSquarePValue(chiSquareStatistic(counts, WEIGHTS), 3);
    expect(p).toBeGreaterThan(0.01);
    // network evaluations: steps + 1 per sample, one forward per batch each
    expect(result.evaluationsPerSample).toBe(101);
    expect(result.forwardCalls).toBe(101 * 2);
    expect(result.forwardRows).toBe(101 * 400);
    o.dispose();
  });

  test('DDIM is deterministic, seeds matter, and every sample is a dataset grid', async () => {
    const o = oracle({ weights: WEIGHTS });
    const options: SampleOptions = { n: 64, steps: 20, sampler: 'ddim', seed: 5 };
    const a = rows(await sample(o, options));
    const b = rows(await sample(o, options));
    const c = rows(await sample(o, { ...options, seed: 6 }));
    expect(a).toEqual(b);
    expect(c).not.toEqual(a);
    for (const row of [...a, ...c]) expect(gridIndex(row)).toBeGreaterThanOrEqual(0);
    o.dispose();
  });

  test('the consistency sampler restarts from drawn tokens: every sample a dataset grid, T + 1 evaluations, batch-independent', async () => {
    const o = oracle({ weights: WEIGHTS });
    const options: SampleOptions = { n: 60, steps: 4, sampler: 'consistency', seed: 2, batchSize: 60 };
    const a = await sampleDetailed(o, options);
    expect(a.evaluationsPerSample).toBe(5);
    const split = rows(await sample(o, { ...options, batchSize: 7 }));
    const other = rows(await sample(o, { ...options, seed: 3 }));
    const first = rows(a.tokens);
    expect(split).toEqual(first);
    expect(other).not.toEqual(first);
    const counts = [0, 0, 0, 0];
    for (const row of [...first, ...other]) {
      const m = gridIndex(row);
      expect(m).toBeGreaterThanOrEqual(0);
      counts[m]++;
    }
    // all four grids are reached (the draws differ, not one mode)
    expect(counts.every((c) => c > 0)).toBe(true);
    o.dispose();
  });

  test('the commit sampler outputs the tokens it committed: T evaluations, batch-independent, one-hot probabilities; with one commit per step an exact model gives dataset grids only', async () => {
    const o = oracle({ weights: WEIGHTS });
    // 32 steps commit the 4 positions one or two at a time, each conditioned (through z) on those already committed
    const options: SampleOptions = { n: 200, steps: 32, sampler: 'commit', seed: 4, batchSize: 200 };
    const a = await sampleDetailed(o, { ...options, returnProbs: true });
    // no prediction after the last step: every token is committed by then
    expect(a.evaluationsPerSample).toBe(32);
    expect(a.forwardRows).toBe(32 * 200);
    const first = rows(a.tokens);
    expect(rows(await sample(o, { ...options, batchSize: 9 }))).toEqual(first);
    const probs = a.probs!.toTypedArray() as Float32Array;
    first.flat().forEach((token, i) => expect(probs[i * K + token]).toBe(1));
    const counts = [0, 0, 0, 0];
    for (const row of first) {
      const m = gridIndex(row);
      expect(m).toBeGreaterThanOrEqual(0);
      counts[m]++;
    }
    expect(counts.every((c) => c > 0)).toBe(true);
    // committing all four positions in 2 steps (MaskGIT's heuristic at few steps) is not exact: the last three are
    // committed together, each to its own most probable token, and some samples mix two grids; DDIM does not
    const few = rows(await sample(o, { ...options, steps: 2 }));
    expect(few.some((row) => gridIndex(row) < 0)).toBe(true);
    expect(rows(await sample(o, { ...options, steps: 2, sampler: 'ddim' })).every((row) => gridIndex(row) >= 0)).toBe(true);
    o.dispose();
  });

  test('the commit sampler with a commit temperature commits tokens drawn from p, not the mode, batch-independently', async () => {
    // Tokens 0 and 1 share an embedding, so p(x_i = 0 | z) = 0.3 at every z, whatever has been committed: committed
    // tokens are independent draws, 30% zeros, where the deterministic choice commits the mode (1) everywhere
    const e = table(9);
    e.set(e.subarray(0, D), D);
    const o = oracle({ grids: [[0, 0, 0, 0], [1, 1, 1, 1]], weights: [0.3, 0.7], embeddings: e });
    const options: SampleOptions = { n: 250, steps: 4, sampler: 'commit', commitTemperature: 4.5, seed: 5, batchSize: 250 };
    const drawn = rows(await sample(o, options));
    const zeros = drawn.flat().filter((x) => x === 0).length;
    expect(drawn.flat().every((x) => x === 0 || x === 1)).toBe(true);
    expect(chiSquarePValue(chiSquareStatistic([zeros, 4 * 250 - zeros], [0.3, 0.7]), 1)).toBeGreaterThan(0.01);
    expect(rows(await sample(o, { ...options, batchSize: 7 }))).toEqual(drawn);
    expect(rows(await sample(o, { ...options, commitTemperature: 0 })).flat().every((x) => x === 1)).toBe(true);
    expect(await errorCode(sample(o, { ...options, sampler: 'ddim' }))).toBe('E_CONFIG');
    expect(await errorCode(sample(o, { ...options, commitTemperature: -1 }))).toBe('E_RANGE');
    o.dispose();
  });

  test('solverOrder 2 (DPM-Solver++(2M)) and the corrector (UniC) for ddim and commit: DDIM exactly at 2 steps, their own paths at 8, dataset grids, batch-independent', async () => {
    const o = oracle({ weights: WEIGHTS });
    const options: SampleOptions = { n: 200, steps: 2, sampler: 'ddim', seed: 6, batchSize: 200 };
    const probs = async (extra: Partial<SampleOptions>) => (await sampleDetailed(o, { ...options, ...extra, returnProbs: true })).probs!.toTypedArray() as Float32Array;
    // with 2 steps both are first order (the first step has no previous prediction, the last goes to t = 0)
    expect(await probs({ solverOrder: 2 })).toEqual(await probs({}));
    // from 3 steps on the middle steps extrapolate: at 8 steps some of 2000 trajectories end at another grid
    const endpoints = async (solverOrder: 1 | 2) => rows(await sample(o, { ...options, n: 2000, batchSize: 2000, steps: 8, solverOrder }));
    const [first, second] = [await endpoints(1), await endpoints(2)];
    expect(second.filter((row, i) => gridIndex(row) !== gridIndex(first[i])).length).toBeGreaterThan(0);
    for (const sampler of ['ddim', 'commit'] as const) {
      const run = { ...options, steps: 8, sampler, solverOrder: 2 as const };
      const result = await sampleDetailed(o, { ...run, returnProbs: true });
      const tokens = rows(result.tokens);
      expect(rows(await sample(o, { ...run, batchSize: 7 }))).toEqual(tokens);
      if (sampler === 'ddim') {
        expect(tokens.every((row) => gridIndex(row) >= 0)).toBe(true);
      } else {
        // the committed tokens are the output; unlike the first-order commit with one commit per step, a few samples mix
        // two grids: the extrapolation carries an uncommitted position past the jump that a new commitment causes
        const probs = result.probs!.toTypedArray() as Float32Array;
        tokens.flat().forEach((token, i) => expect(probs[i * K + token]).toBe(1));
        expect(result.evaluationsPerSample).toBe(8);
        expect(tokens.filter((row) => gridIndex(row) >= 0).length).toBeGreaterThan(0.9 * tokens.length);
      }
    }
    // the corrector: its own path (at 6 steps some of 2000 trajectories end at another grid), no extra evaluation,
    // dataset grids with DDIM, batch-independent; refused elsewhere
    for (const solverOrder of [1, 2] as const) {
      const run = { ...options, n: 2000, batchSize: 2000, steps: 6, solverOrder };
      const plain = await sampleDetailed(o, run);
      const corrected = await sampleDetailed(o, { ...run, corrector: true });
      expect(corrected.evaluationsPerSample).toBe(plain.evaluationsPerSample);
      const [a, b] = [rows(plain.tokens), rows(corrected.tokens)];
      expect(b.filter((row, i) => gridIndex(row) !== gridIndex(a[i])).length).toBeGreaterThan(0);
      expect(b.every((row) => gridIndex(row) >= 0)).toBe(true);
      expect(rows(await sample(o, { ...run, corrector: true, n: 50, batchSize: 7 }))).toEqual(b.slice(0, 50));
    }
    expect(rows(await sample(o, { ...options, steps: 8, sampler: 'commit', solverOrder: 2, corrector: true })).length).toBe(200);
    expect(await errorCode(sample(o, { ...options, sampler: 'ancestral', corrector: true }))).toBe('E_CONFIG');
    expect(await errorCode(sample(o, { ...options, sampler: 'ancestral', solverOrder: 2 }))).toBe('E_CONFIG');
    expect(await errorCode(sample(o, { ...options, sampler: 'consistency', solverOrder: 2 }))).toBe('E_CONFIG');
    expect(await errorCode(sample(o, { ...options, solverOrder: 3 as 2 }))).toBe('E_RANGE');
    o.dispose();
  });

  test('final = sample draws tokens from p (independent draws per token); argmax takes the mode', async () => {
    // Tokens 0 and 1 share an embedding, so p(x_i = 0 | z) = 0.3 at every z and every position.
    const e = table(9);
    e.set(e.subarray(0, D), D);
    const grids = [[0, 0, 0, 0], [1, 1, 1, 1]];
    const o = oracle({ grids, weights: [0.3, 0.7], embeddings: e });
    const drawn = rows(await sample(o, { n: 250, steps: 4, final: 'sample', seed: 2, batchSize: 250 })).flat();
    const zeros = drawn.filter((x) => x === 0).length;
    expect(drawn.every((x) => x === 0 || x === 1)).toBe(true);
    expect(chiSquarePValue(chiSquareStatistic([zeros, drawn.length - zeros], [0.3, 0.7]), 1)).toBeGreaterThan(0.01);
    const argmax = rows(await sample(o, { n: 20, steps: 4, seed: 2 })).flat();
    expect(argmax.every((x) => x === 1)).toBe(true);
    o.dispose();
  });

  test('guidance: w = 0 is exactly unguided with one B-row forward; w > 0 batches 2B rows and raises the class share', async () => {
    const classes = [0, 1, 0, 1];
    const o = oracle({ classes, classLeak: 0.5 });
    const base: SampleOptions = { n: 300, steps: 30, seed: 3, classes: 0, returnProbs: true, batchSize: 300 };
    const unguided = await sampleDetailed(o, base);
    const zero = await sampleDetailed(o, { ...base, guidance: 0 });
    expect(rows(zero.tokens)).toEqual(rows(unguided.tokens));
    expect(zero.probs!.toTypedArray()).toEqual(unguided.probs!.toTypedArray());
    expect(zero.forwardRows).toBe(31 * 300);
    const guided = await sampleDetailed(o, { ...base, guidance: 3 });
    expect(guided.forwardRows).toBe(2 * 31 * 300);
    expect(guided.forwardCalls).toBe(31);
    const share = (tokens: Tensor) => rows(tokens).filter((r) => classes[gridIndex(r)] === 0).length / 300;
    // without guidance, class 0 holds 1 / (1 + leak) = 2/3 of the conditional mixture
    expect(Math.abs(share(zero.tokens) - 2 / 3)).toBeLessThan(0.1);
    expect(share(guided.tokens)).toBeGreaterThan(share(zero.tokens) + 0.15);
    o.dispose();
  });

  test('a guidance interval guides exactly the grid times inside it', async () => {
    const o = oracle({ classes: [0, 1, 0, 1], classLeak: 0.5 });
    const base: SampleOptions = { n: 40, steps: 10, seed: 4, classes: 0, batchSize: 40 };
    const unguided = await sampleDetailed(o, base);
    // the grid times are j / 10: [0.95, 1] holds only t = 1, [0.35, 0.65] holds 0.4, 0.5 and 0.6
    const top = await sampleDetailed(o, { ...base, guidance: 3, guidanceInterval: [0.95, 1] });
    expect(top.forwardRows).toBe(11 * 40 + 40);
    const middle = await sampleDetailed(o, { ...base, guidance: 3, guidanceInterval: [0.35, 0.65] });
    expect(middle.forwardRows).toBe(11 * 40 + 3 * 40);
    // an interval that holds no grid time is exactly the unguided run
    const none = await sampleDetailed(o, { ...base, guidance: 3, guidanceInterval: [0.41, 0.49] });
    expect(none.forwardRows).toBe(11 * 40);
    expect(rows(none.tokens)).toEqual(rows(unguided.tokens));
    await expect(sampleDetailed(o, { ...base, guidance: 3, guidanceInterval: [0.5, 0.5] })).rejects.toMatchObject({ code: 'E_RANGE' });
    o.dispose();
  });

  test('the grid shift moves the sampler\'s step times (counted through the guidance interval) and is validated', async () => {
    const o = oracle({ classes: [0, 1, 0, 1], classLeak: 0.5 });
    const base: SampleOptions = { n: 40, steps: 10, seed: 4, classes: 0, batchSize: 40, guidance: 3, guidanceInterval: [0.55, 1] };
    const guidedSteps = (g: number) => Array.from(testHooks().timeGrid(10, o.config.shift, g)).slice(1).filter((t) => t >= 0.55).length;
    expect(guidedSteps(1)).toBe(5);
    expect(guidedSteps(4)).toBeLessThan(5);
    expect(guidedSteps(0.25)).toBeGreaterThan(5);
    for (const g of [1, 4, 0.25]) expect((await sampleDetailed(o, { ...base, gridShift: g })).forwardRows).toBe(11 * 40 + guidedSteps(g) * 40);
    for (const g of [0, -1, 1001, NaN]) await expect(sampleDetailed(o, { ...base, gridShift: g })).rejects.toMatchObject({ code: 'E_RANGE' });
    o.dispose();
  });

  test('a temperature below 1 concentrates DDIM samples on the heaviest grid; 1 is the default run exactly', async () => {
    // cyclic grids: at every position the marginal is the grid weights, so sharpening favours the heaviest grid
    const cyclic = [[0, 1, 2, 3], [1, 2, 3, 0], [2, 3, 0, 1], [3, 0, 1, 2]];
    const o = oracle({ weights: WEIGHTS, grids: cyclic });
    const base: SampleOptions = { n: 400, steps: 20, seed: 5, sampler: 'ddim', batchSize: 400 };
    const heaviest = (tokens: Tensor) => rows(tokens).filter((r) => gridIndex(r, cyclic) === 3).length / 400;
    const plain = await sampleDetailed(o, base);
    expect(rows((await sampleDetailed(o, { ...base, temperature: 1 })).tokens)).toEqual(rows(plain.tokens));
    // the exact sampler draws grid 3 with its weight 0.4
    expect(Math.abs(heaviest(plain.tokens) - 0.4)).toBeLessThan(0.08);
    const sharp = await sampleDetailed(o, { ...base, temperature: 0.1 });
    expect(heaviest(sharp.tokens)).toBeGreaterThan(heaviest(plain.tokens) + 0.1);
    for (const temperature of [0, -1, 101, Infinity]) await expect(sampleDetailed(o, { ...base, temperature })).rejects.toMatchObject({ code: 'E_RANGE' });
    o.dispose();
  });

  test('infilling keeps every known token and, with resampling, completes only to consistent grids', async () => {
    const o = oracle({ weights: WEIGHTS });
    const known = { tokens: Tensor.from(Int32Array.from(GRIDS[0]), [2, 2]), mask: halfMask(2, 2, 'left') };
    const r = await sampleDetailed(o, { n: 100, steps: 30, seed: 4, known, infillResample: 5 });
    expect(r.evaluationsPerSample).toBe(30 * 5 + 1);
    const counts = [0, 0, 0, 0];
    for (const row of rows(r.tokens)) {
      expect([row[0], row[2]]).toEqual([GRIDS[0][0], GRIDS[0][2]]);
      const m = gridIndex(row);
      expect([0, 2]).toContain(m);
      counts[m]++;
    }
    // the exact conditional puts 0.3 / (0.1 + 0.3) = 3/4 on grid 2
    expect(counts[2] / 100).toBeGreaterThan(0.6);
    expect(counts[2] / 100).toBeLessThan(0.9);
    // the plain replacement method (R = 1) keeps the known tokens too
    for (const row of rows(await sample(o, { n: 50, steps: 30, seed: 4, known }))) expect([row[0], row[2]]).toEqual([GRIDS[0][0], GRIDS[0][2]]);
    // per-sample known tokens [n, H, W]: sample i keeps grid (i % 4)'s top-left token. One known token of four is
    // weak evidence, so even with R = 20 about 1% of completions disagree with it (26% with R = 1).
    const n = 40;
    const perSample = {
      tokens: Tensor.from(Int32Array.from(Array.from({ length: n }, (_, i) => GRIDS[i % 4]).flat()), [n, 2, 2]),
      mask: Tensor.from(Uint8Array.from(Array.from({ length: n }, () => [1, 0, 0, 0]).flat()), [n, 2, 2], 'uint8'),
    };
    const each = rows(await sample(o, { n, steps: 30, seed: 4, known: perSample, infillResample: 20, batchSize: n }));
    each.forEach((row, i) => expect(row[0]).toBe(GRIDS[i % 4][0]));
    const consistent = each.filter((row, i) => gridIndex(row) >= 0 && GRIDS[gridIndex(row)][0] === GRIDS[i % 4][0]).length;
    expect(consistent).toBeGreaterThanOrEqual(36);
    o.dispose();
  });

  test('the same seed gives the same samples whatever the batch size', async () => {
    const o = oracle({ classes: [0, 1, 0, 1], classLeak: 0.3 });
    const known = { tokens: Tensor.from(Int32Array.from([0, 0, 0, 0]), [2, 2]), mask: boxMask(2, 2, 0, 0, 1, 1) };
    const options: SampleOptions = { n: 7, steps: 12, seed: 9, classes: [0, 1, 1, 0, 0, 1, 0], guidance: 1.5, known, infillResample: 2, final: 'sample', returnProbs: true };
    const results = await Promise.all([1, 3, 7].map((batchSize) => sampleDetailed(o, { ...options, batchSize })));
    const [one, three, all] = results;
    expect(rows(one.tokens)).toEqual(rows(all.tokens));
    expect(rows(three.tokens)).toEqual(rows(all.tokens));
    expect(one.probs!.toTypedArray()).toEqual(all.probs!.toTypedArray());
    expect(one.forwardCalls).toBe(25 * 7);
    expect(three.forwardCalls).toBe(25 * 3);
    // a run's first samples are the first samples of a longer run
    const longer = await sample(o, { ...options, n: 9, classes: [0, 1, 1, 0, 0, 1, 0, 1, 1], returnProbs: false });
    expect(rows(longer).slice(0, 7)).toEqual(rows(all.tokens));
    o.dispose();
  });

  test('returnProbs gives [n, N, K] distributions whose argmax is the output', async () => {
    const o = oracle({ weights: WEIGHTS });
    const r = await sample(o, { n: 5, steps: 10, seed: 8, returnProbs: true });
    expect(r.probs!.shape).toEqual([5, 4, K]);
    const p = r.probs!.toTypedArray() as Float32Array;
    const tokens = r.tokens.toTypedArray() as Int32Array;
    for (let row = 0; row < 20; row++) {
      const dist = Array.from(p.subarray(row * K, (row + 1) * K));
      expect(dist.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 5);
      expect(dist.indexOf(Math.max(...dist))).toBe(tokens[row]);
    }
    o.dispose();
  });

  test('progress is reported per step and batch', async () => {
    const o = oracle();
    const events: SampleProgress[] = [];
    await sample(o, { n: 5, steps: 6, batchSize: 2, onProgress: (e) => events.push({ ...e }) });
    await new Promise((resolve) => setImmediate(resolve));
    expect(events.length).toBe(6 * 3);
    expect(events[0]).toEqual({ stage: 'sample', step: 1, steps: 6, batch: 1, batches: 3 });
    expect(events[events.length - 1]).toEqual({ stage: 'sample', step: 6, steps: 6, batch: 3, batches: 3 });
    o.dispose();
  });

  test('abort rejects promptly with E_ABORTED, keeps the event loop free, and a later call works', async () => {
    const e = table(5, K, 64);
    const g = Tensor.from(Int32Array.from(Array.from({ length: 16 * 64 }, (_, i) => (i * 7) % K)), [16, 8, 8]);
    const o = createOracleDenoiser({ grids: g, embeddings: Tensor.from(e, [K, 64]) });
    const controller = new AbortController();
    let ticks = 0;
    const timer = setInterval(() => ticks++, 10);
    const running = sample(o, { n: 64, steps: 1_000_000, signal: controller.signal });
    await new Promise((resolve) => setTimeout(resolve, 200));
    const abortedAt = Date.now();
    controller.abort();
    await expect(running).rejects.toMatchObject({ code: 'E_ABORTED', name: 'AbortError' });
    clearInterval(timer);
    expect(Date.now() - abortedAt).toBeLessThan(1000);
    expect(ticks).toBeGreaterThan(5);
    const after = await sample(o, { n: 2, steps: 3 });
    expect(after.shape).toEqual([2, 8, 8]);
    // an already aborted signal rejects before any work
    await expect(sample(o, { n: 1, signal: AbortSignal.abort() })).rejects.toMatchObject({ code: 'E_ABORTED' });
    o.dispose();
  });

  test('bad options give precise LcmdError codes', async () => {
    const plain = oracle();
    const conditional = oracle({ classes: [0, 1, 0, 1] });
    const goodKnown = { tokens: Tensor.from(Int32Array.from([0, 1, 2, 3]), [2, 2]), mask: halfMask(2, 2, 'top') };
    const cases: [OracleDenoiser, unknown, string][] = [
      [plain, { n: 0 }, 'E_RANGE'],
      [plain, { n: 2.5 }, 'E_RANGE'],
      [plain, { steps: 0 }, 'E_RANGE'],
      [plain, { steps: 2_000_000 }, 'E_RANGE'],
      [plain, { sampler: 'euler' }, 'E_CONFIG'],
      [plain, { timeGrid: 'cosine' }, 'E_CONFIG'],
      [plain, { timeGrid: 'learned' }, 'E_CONFIG'], // the oracle has no learned time warp
      [plain, { final: 'max' }, 'E_CONFIG'],
      [plain, { guidance: -1 }, 'E_RANGE'],
      [plain, { guidance: Number.NaN }, 'E_RANGE'],
      [plain, { guidance: 2 }, 'E_CONFIG'],
      [plain, { classes: 0 }, 'E_CONFIG'],
      [plain, { seed: -1 }, 'E_RANGE'],
      [plain, { seed: 1.5 }, 'E_RANGE'],
      [plain, { batchSize: 0 }, 'E_RANGE'],
      [plain, { useEma: 'yes' }, 'E_TYPE'],
      [plain, { returnProbs: 1 }, 'E_TYPE'],
      [plain, { stepz: 10 }, 'E_CONFIG'],
      [plain, { onProgress: 3 }, 'E_TYPE'],
      [plain, { signal: {} }, 'E_TYPE'],
      [conditional, {}, 'E_CONFIG'],
      [conditional, { classes: 2 }, 'E_RANGE'],
      [conditional, { classes: 5 }, 'E_RANGE'],
      [conditional, { classes: -1 }, 'E_RANGE'],
      [conditional, { classes: 0.5 }, 'E_RANGE'],
      [conditional, { n: 2, classes: [0, 1.5] }, 'E_RANGE'],
      [conditional, { n: 3, classes: [0, 1] }, 'E_SHAPE'],
      [conditional, { classes: '0' }, 'E_TYPE'],
      [plain, { known: { tokens: Tensor.from(new Float32Array(4), [2, 2]), mask: goodKnown.mask } }, 'E_DTYPE'],
      [plain, { known: { tokens: goodKnown.tokens, mask: Tensor.from(new Int32Array(4), [2, 2]) } }, 'E_DTYPE'],
      [plain, { known: { tokens: Tensor.from(new Int32Array(6), [2, 3]), mask: Tensor.from(new Uint8Array(6), [2, 3], 'bool') } }, 'E_SHAPE'],
      [plain, { n: 2, known: { tokens: Tensor.from(new Int32Array(12), [3, 2, 2]), mask: Tensor.from(new Uint8Array(12), [3, 2, 2]) } }, 'E_SHAPE'],
      [plain, { known: { tokens: Tensor.from(Int32Array.from([8, 0, 0, 0]), [2, 2]), mask: goodKnown.mask } }, 'E_RANGE'],
      [plain, { known: { tokens: goodKnown.tokens, mask: Tensor.from(Uint8Array.from([2, 0, 0, 0]), [2, 2], 'uint8') } }, 'E_RANGE'],
      [plain, { known: { tokens: goodKnown.tokens } }, 'E_TYPE'],
      [plain, { infillResample: 3 }, 'E_CONFIG'],
      [plain, { known: goodKnown, infillResample: 0 }, 'E_RANGE'],
    ];
    for (const [model, options, code] of cases) {
      const got = await errorCode(() => sample(model, options as SampleOptions));
      if (got !== code) throw new Error(`options ${JSON.stringify(options)}: expected ${code}, got ${got}`);
    }
    // unknown tokens may hold anything where the mask is off
    const ignored = { tokens: Tensor.from(Int32Array.from([0, 99, 2, -5]), [2, 2]), mask: halfMask(2, 2, 'left') };
    expect((await sample(plain, { known: ignored })).shape).toEqual([1, 2, 2]);
    expect(await errorCode(() => sample({} as OracleDenoiser))).toBe('E_TYPE');
    expect(await errorCode(() => boxMask(2, 2, 1, 1, 2, 1))).toBe('E_RANGE');
    const disposed = oracle();
    disposed.dispose();
    expect(await errorCode(() => sample(disposed))).toBe('E_DISPOSED');
    plain.dispose();
    conditional.dispose();
  });

  test('native code re-checks what TypeScript validates (no crash on direct calls)', async () => {
    const conditional = oracle({ classes: [0, 1, 0, 1] });
    const base = { n: 2, steps: 2, sampler: 'ancestral', final: 'argmax', guidance: 0, seed: 0, batchSize: 2, useEma: true, returnProbs: false, gridHeight: 2, gridWidth: 2 } as const;
    const classes = (values: number[]) => Tensor.from(Int32Array.from(values), [values.length]).handle;
    const direct = (options: object) => native().sample(conditional.handle, { ...base, ...options } as never);
    expect(await errorCode(direct({ classes: classes([0, 2]) }))).toBe('E_RANGE');
    expect(await errorCode(direct({ classes: classes([0]) }))).toBe('E_SHAPE');
    expect(await errorCode(direct({}))).toBe('E_CONFIG');
    expect(await errorCode(() => direct({ n: 0, classes: classes([0]) }))).toBe('E_RANGE');
    expect(await errorCode(() => direct({ classes: classes([0, 1]), gridHeight: 3 }))).toBe('E_SHAPE');
    expect(await errorCode(() => direct({ classes: classes([0, 1]), sampler: 'heun' }))).toBe('E_CONFIG');
    const badKnown = { knownTokens: Tensor.from(Int32Array.from([0, 0, 0, 9]), [2, 2]).handle, knownMask: Tensor.from(Uint8Array.from([1, 1, 1, 1]), [2, 2], 'bool').handle };
    expect(await errorCode(direct({ classes: classes([0, 1]), ...badKnown }))).toBe('E_RANGE');
    expect(await errorCode(() => native().sample({}, base))).toBe('E_TYPE');
    conditional.dispose();
  });
});
