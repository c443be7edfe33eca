// The noise schedule (docs/method.md section 3), the posterior of the forward process (docs/method.md section 4) and the DDIM step (docs/method.md section 6.6) against
// closed forms and direct Gaussian algebra computed here in float64.
import { testHooks } from '../lib/binding';
import { Tensor } from '../lib/tensor';
import { rng } from './sampler-stats';

/** lambda(t) = -2 log tan(pi u / 2) + 2 log s, u = t_min + t (t_max - t_min), t_min / t_max clip the unshifted log-SNR. */
function closedForm(shift: number, maxLogsnr = 15) {
  // -2 log tan(pi u / 2) = +-maxLogsnr  <=>  u = (2 / pi) atan(exp(-+maxLogsnr / 2))
  const tMin = (2 / Math.PI) * Math.atan(Math.exp(-maxLogsnr / 2));
  const tMax = (2 / Math.PI) * Math.atan(Math.exp(maxLogsnr / 2));
  const u = (t: number) => tMin + t * (tMax - tMin);
  const logsnr = (t: number) => -2 * Math.log(Math.tan((Math.PI * u(t)) / 2)) + 2 * Math.log(shift);
  // d/dt [-2 log tan(pi u / 2)] = -2 * (pi / 2) (t_max - t_min) / (sin cos)
  const dlogsnr = (t: number) => {
    const x = (Math.PI * u(t)) / 2;
    return (-Math.PI * (tMax - tMin)) / (Math.sin(x) * Math.cos(x));
  };
  const sigmoid = (x: number) => 1 / (1 + Math.exp(-x));
  return { logsnr, dlogsnr, alpha: (t: number) => Math.sqrt(sigmoid(logsnr(t))), sigma: (t: number) => Math.sqrt(sigmoid(-logsnr(t))) };
}

function values(t: number[], shift: number, maxLogsnr = 15) {
  return testHooks().scheduleValues(Float64Array.from(t), shift, maxLogsnr);
}

function maxRelativeError(actual: ArrayLike<number>, expected: ArrayLike<number>): number {
  let worst = 0;
  for (let i = 0; i < expected.length; i++) worst = Math.max(worst, Math.abs(actual[i] - expected[i]) / Math.max(1, Math.abs(expected[i])));
  return worst;
}

const SHIFTS = [1, 0.25, 0.1, 0.05];
const r = rng(20240601);
const GRID = [0, 1e-12, 1e-9, 1e-6, 1e-3, 0.01, 0.25, 0.5, 0.75, 0.99, 1 - 1e-6, 1 - 1e-9, 1 - 1e-12, 1, ...Array.from({ length: 50 }, () => r.uniform())];

describe('noise schedule against its closed form', () => {
  test.each(SHIFTS)('shift %p: lambda, alpha, sigma and lambda\' match the float64 closed form everywhere, ends included', (shift) => {
    const ref = closedForm(shift);
    const v = values(GRID, shift);
    expect(maxRelativeError(v.logsnr, GRID.map(ref.logsnr))).toBeLessThan(1e-10);
    expect(maxRelativeError(v.alpha, GRID.map(ref.alpha))).toBeLessThan(1e-12);
    expect(maxRelativeError(v.sigma, GRID.map(ref.sigma))).toBeLessThan(1e-12);
    const dRef = GRID.map(ref.dlogsnr);
    for (let i = 0; i < GRID.length; i++) expect(Math.abs(v.dlogsnr[i] - dRef[i]) / Math.abs(dRef[i])).toBeLessThan(1e-10);
  });

  test.each(SHIFTS)('shift %p: endpoints are +-15 + 2 log s and alpha^2 + sigma^2 = 1', (shift) => {
    const v = values([0, 1], shift);
    expect(v.logsnr[0]).toBeCloseTo(15 + 2 * Math.log(shift), 10);
    expect(v.logsnr[1]).toBeCloseTo(-15 + 2 * Math.log(shift), 10);
    const all = values(GRID, shift);
    for (let i = 0; i < GRID.length; i++) expect(Math.abs(all.alpha[i] ** 2 + all.sigma[i] ** 2 - 1)).toBeLessThan(1e-14);
  });

  test('the clip follows maxLogsnr', () => {
    const v = values([0, 1], 0.5, 10);
    expect(v.logsnr[0]).toBeCloseTo(10 + 2 * Math.log(0.5), 10);
    expect(v.logsnr[1]).toBeCloseTo(-10 + 2 * Math.log(0.5), 10);
  });

  test('finite everywhere, alpha and sigma strictly inside (0, 1) at both ends', () => {
    for (const shift of SHIFTS) {
      const v = values(GRID, shift);
      for (const key of ['logsnr', 'alpha', 'sigma', 'dlogsnr'] as const) expect(Array.from(v[key]).every(Number.isFinite)).toBe(true);
      for (let i = 0; i < GRID.length; i++) {
        expect(v.alpha[i]).toBeGreaterThan(0);
        expect(v.alpha[i]).toBeLessThan(1);
        expect(v.sigma[i]).toBeGreaterThan(0);
        expect(v.sigma[i]).toBeLessThan(1);
        expect(v.dlogsnr[i]).toBeLessThan(0);
      }
    }
  });

  test('strictly decreasing in t on a fine grid', () => {
    const fine = Array.from({ length: 20001 }, (_, i) => i / 20000);
    for (const shift of SHIFTS) {
      const lambda = values(fine, shift).logsnr;
      const violations = fine.filter((_, i) => i > 0 && !(lambda[i] < lambda[i - 1]));
      expect(violations).toEqual([]);
    }
  });

  test('the derivative matches central finite differences of lambda', () => {
    const h = 1e-6;
    const points = Array.from({ length: 40 }, (_, i) => 0.01 + (0.98 * i) / 39);
    for (const shift of SHIFTS) {
      const d = values(points, shift).dlogsnr;
      const plus = values(points.map((t) => t + h), shift).logsnr;
      const minus = values(points.map((t) => t - h), shift).logsnr;
      for (let i = 0; i < points.length; i++) {
        const numeric = (plus[i] - minus[i]) / (2 * h);
        expect(Math.abs(d[i] - numeric) / Math.abs(numeric)).toBeLessThan(1e-6);
      }
    }
  });

  test('a smaller shift puts more of [0, 1] at high noise (lower log-SNR at every t)', () => {
    const inner = GRID.filter((t) => t > 0 && t < 1);
    const a = values(inner, 0.25).logsnr;
    const b = values(inner, 0.1).logsnr;
    for (let i = 0; i < inner.length; i++) expect(b[i]).toBeLessThan(a[i]);
  });
});

describe('posterior q(z_s | z_t, x) against direct Gaussian conditioning', () => {
  // With z_s = alpha_s e + sigma_s eps1 and z_t = alpha_{t|s} z_s + sigma_{t|s} eps2 (the Markov forward process),
  // (z_s, z_t) given x is jointly Gaussian: Var z_s = sigma_s^2, Cov(z_s, z_t) = alpha_{t|s} sigma_s^2,
  // Var z_t = alpha_{t|s}^2 sigma_s^2 + sigma_{t|s}^2. Conditioning on z_t:
  //   E[z_s | z_t] = alpha_s e + Cov / Var z_t (z_t - alpha_t e),   Var[z_s | z_t] = sigma_s^2 - Cov^2 / Var z_t.
  function conditioned(as: number, ss: number, at: number, st: number) {
    const ats = at / as;
    const sts2 = st * st - ats * ats * ss * ss;
    const cov = ats * ss * ss;
    const varT = ats * ats * ss * ss + sts2;
    return { coefZ: cov / varT, coefX: as - (cov / varT) * at, variance: ss * ss - (cov * cov) / varT, varT };
  }

  test.each([1, 0.1])('shift %p: the mean coefficients and the variance match for random s < t', (shift) => {
    const ref = closedForm(shift);
    const g = rng(7);
    const pairs: [number, number][] = [
      [0, 1],
      [0, 0.5],
      [0.999, 1],
      [0.001, 0.002],
      ...Array.from({ length: 60 }, (): [number, number] => {
        const t = g.uniform();
        return [t * g.uniform(), t];
      }),
    ];
    const as = pairs.map(([s]) => ref.alpha(s));
    const ss = pairs.map(([s]) => ref.sigma(s));
    const at = pairs.map(([, t]) => ref.alpha(t));
    const st = pairs.map(([, t]) => ref.sigma(t));
    const got = testHooks().posteriorCoefficients(Float64Array.from(as), Float64Array.from(ss), Float64Array.from(at), Float64Array.from(st));
    for (let i = 0; i < pairs.length; i++) {
      const want = conditioned(as[i], ss[i], at[i], st[i]);
      // the Markov construction is variance preserving: Var z_t = sigma_t^2
      expect(Math.abs(want.varT - st[i] ** 2)).toBeLessThan(1e-12);
      expect(Math.abs(got.coefZ[i] - want.coefZ)).toBeLessThan(1e-10);
      expect(Math.abs(got.coefX[i] - want.coefX)).toBeLessThan(1e-10);
      expect(Math.abs(got.variance[i] - want.variance)).toBeLessThan(1e-10);
      expect(got.variance[i]).toBeGreaterThanOrEqual(0);
      expect(got.variance[i]).toBeLessThanOrEqual(ss[i] ** 2 + 1e-15);
    }
  });

  test('at s = t the posterior is a point mass at z_t', () => {
    const ref = closedForm(0.1);
    const a = Float64Array.from([ref.alpha(0.3)]);
    const s = Float64Array.from([ref.sigma(0.3)]);
    const got = testHooks().posteriorCoefficients(a, s, a, s);
    expect(got.coefZ[0]).toBeCloseTo(1, 12);
    expect(Math.abs(got.coefX[0])).toBeLessThan(1e-12);
    expect(Math.abs(got.variance[0])).toBeLessThan(1e-12);
  });
});

describe('DDIM step', () => {
  const B = 5;
  const N = 4;
  const D = 6;
  const ref = closedForm(0.1);
  const g = rng(99);
  const e = Array.from({ length: B * N * D }, () => 2 * g.normal());
  const eps = Array.from({ length: B * N * D }, () => g.normal());
  const ts = Array.from({ length: B }, () => 0.05 + 0.9 * g.uniform());
  const ss = ts.map((t, i) => (i === 0 ? t : t * g.uniform()));
  const coef = (f: (t: number) => number, times: number[]) => Tensor.from(Float64Array.from(times.map(f)), [B, 1, 1]);
  const at = (i: number) => Math.floor(i / (N * D));

  function step(dtype: 'float32' | 'float64', prediction: number[]) {
    const make = (v: number[]) => Tensor.from(dtype === 'float32' ? Float32Array.from(v) : Float64Array.from(v), [B, N, D]);
    const zT = make(e.map((x, i) => ref.alpha(ts[at(i)]) * x + ref.sigma(ts[at(i)]) * eps[i]));
    const eHat = make(prediction);
    const coefs = [coef(ref.alpha, ss), coef(ref.sigma, ss), coef(ref.alpha, ts), coef(ref.sigma, ts)];
    const out = new Tensor(testHooks().ddimStep(zT.handle, eHat.handle, coefs[0].handle, coefs[1].handle, coefs[2].handle, coefs[3].handle));
    const result = Array.from(out.toTypedArray() as Float32Array | Float64Array);
    [zT, eHat, out, ...coefs].forEach((x) => x.dispose());
    return result;
  }
  const target = e.map((x, i) => ref.alpha(ss[at(i)]) * x + ref.sigma(ss[at(i)]) * eps[i]);

  test('with the true embeddings as the prediction it maps alpha_t e + sigma_t eps to alpha_s e + sigma_s eps', () => {
    const exact = step('float64', e);
    for (let i = 0; i < target.length; i++) expect(Math.abs(exact[i] - target[i])).toBeLessThan(1e-12);
    const single = step('float32', e);
    for (let i = 0; i < target.length; i++) expect(Math.abs(single[i] - target[i])).toBeLessThan(1e-6 * Math.max(1, Math.abs(target[i])));
  });

  test('s = t is the identity, and the step moves with the prediction by the closed-form slope', () => {
    const exact = step('float64', e);
    const zT = e.map((x, i) => ref.alpha(ts[at(i)]) * x + ref.sigma(ts[at(i)]) * eps[i]);
    for (let i = 0; i < N * D; i++) expect(Math.abs(exact[i] - zT[i])).toBeLessThan(1e-12); // example 0 has s = t
    // the step is affine in the prediction with slope alpha_s - alpha_t sigma_s / sigma_t
    const wrong = step('float64', e.map((x) => x + 0.5));
    for (let i = 0; i < target.length; i++) {
      const b = at(i);
      const slope = ref.alpha(ss[b]) - (ref.alpha(ts[b]) * ref.sigma(ss[b])) / ref.sigma(ts[b]);
      expect(Math.abs(wrong[i] - target[i] - 0.5 * slope)).toBeLessThan(1e-12);
      if (b > 0) expect(slope).toBeGreaterThan(0);
    }
  });
});

describe('sampling time grid', () => {
  test('grid shift 1 is the uniform grid j / T', () => {
    expect(Array.from(testHooks().timeGrid(8, 0.1, 1))).toEqual(Array.from({ length: 9 }, (_, j) => j / 8));
  });

  test.each([[0.1, 4], [0.1, 0.5], [1, 3]])('shift %p, grid shift %p: interior log-SNRs are those of j / T plus 2 log g, ends stay 0 and 1', (shift, g) => {
    const steps = 8;
    const ref = closedForm(shift);
    const grid = testHooks().timeGrid(steps, shift, g);
    expect(grid[0]).toBe(0);
    expect(grid[steps]).toBe(1);
    for (let j = 1; j < steps; j++) {
      expect(ref.logsnr(grid[j])).toBeCloseTo(ref.logsnr(j / steps) + 2 * Math.log(g), 8);
      expect(grid[j]).toBeGreaterThan(grid[j - 1]);
      // g > 1 moves every interior time to lower noise
      if (g > 1) expect(grid[j]).toBeLessThan(j / steps);
      else expect(grid[j]).toBeGreaterThan(j / steps);
    }
  });

  test('a grid shift of 0 is E_RANGE', () => {
    expect(() => testHooks().timeGrid(8, 0.1, 0)).toThrow(expect.objectContaining({ code: 'E_RANGE' }));
  });
});
