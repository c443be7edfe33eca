// Statistics and closed forms the sampler tests compare against, written independently of the native code.

/** log Gamma(x) for x > 0 (Lanczos, g = 7, n = 9; about 15 digits). */
export function logGamma(x: number): number {
  const c = [0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313, -176.61502916214059,
    12.507343278686905, -0.13857109526572012, 9.9843695780195716e-6, 1.5056327351493116e-7];
  if (x < 0.5) return Math.log(Math.PI / Math.sin(Math.PI * x)) - logGamma(1 - x);
  x -= 1;
  let a = c[0];
  const t = x + 7.5;
  for (let i = 1; i < 9; i++) a += c[i] / (x + i);
  return 0.5 * Math.log(2 * Math.PI) + (x + 0.5) * Math.log(t) - t + Math.log(a);
}

/** Upper regularized incomplete gamma Q(a, x) = Gamma(a, x) / Gamma(a): a series below a + 1, a continued fraction above. */
export function gammaQ(a: number, x: number): number {
  if (x <= 0) return 1;
  const logPrefix = -x + a * Math.log(x) - logGamma(a);
  if (x < a + 1) {
    let term = 1 / a;
    let sum = term;
    for (let n = 1; n < 1000; n++) {
      term *= x / (a + n);
      sum += term;
      if (Math.abs(term) < Math.abs(sum) * 1e-15) break;
    }
    return 1 - sum * Math.exp(logPrefix);
  }
  // Lentz's method for the continued fraction of Gamma(a, x)
  const tiny = 1e-300;
  let b = x + 1 - a;
  let c = 1 / tiny;
  let d = 1 / b;
  let h = d;
  for (let i = 1; i < 1000; i++) {
    const an = -i * (i - a);
    b += 2;
    d = an * d + b;
    if (Math.abs(d) < tiny) d = tiny;
    c = b + an / c;
    if (Math.abs(c) < tiny) c = tiny;
    d = 1 / d;
    const delta = d * c;
    h *= delta;
    if (Math.abs(delta - 1) < 1e-15) break;
  }
  return Math.exp(logPrefix) * h;
}

/** P(X >= statistic) for X ~ chi-square with `df` degrees of freedom. */
export function chiSquarePValue(statistic: number, df: number): number {
  return gammaQ(df / 2, statistic / 2);
}

/** Pearson's statistic for observed counts against expected probabilities. */
export function chiSquareStatistic(observed: number[], probabilities: number[]): number {
  const total = observed.reduce((a, b) => a + b, 0);
  return observed.reduce((acc, o, i) => acc + (o - total * probabilities[i]) ** 2 / (total * probabilities[i]), 0);
}

/** A small seeded PRNG (mulberry32) and normals by Box-Muller, for test inputs. */
export function rng(seed: number): { uniform: () => number; normal: () => number } {
  let state = seed >>> 0;
  const uniform = () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const normal = () => Math.sqrt(-2 * Math.log(1 - uniform())) * Math.cos(2 * Math.PI * uniform());
  return { uniform, normal };
}

/**
 * The shifted cosine schedule of docs/method.md section 3 in float64, written from the formula:
 * lambda(t) = -2 log tan(pi u / 2) + 2 log s, u = t_min + t (t_max - t_min), with t_min / t_max clipping the unshifted
 * log-SNR to [-15, 15]; alpha^2 = sigmoid(lambda), sigma^2 = sigmoid(-lambda).
 */
export function schedule(shift: number, maxLogsnr = 15): { logsnr: (t: number) => number; alpha: (t: number) => number; sigma: (t: number) => number } {
  const uOf = (lambda: number) => (2 / Math.PI) * Math.atan(Math.exp(-lambda / 2));
  const tMin = uOf(maxLogsnr);
  const tMax = uOf(-maxLogsnr);
  const logsnr = (t: number) => -2 * Math.log(Math.tan((Math.PI * (tMin + t * (tMax - tMin))) / 2)) + 2 * Math.log(shift);
  const sigmoid = (x: number) => 1 / (1 + Math.exp(-x));
  return { logsnr, alpha: (t) => Math.sqrt(sigmoid(logsnr(t))), sigma: (t) => Math.sqrt(sigmoid(-logsnr(t))) };
}
