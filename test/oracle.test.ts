// The oracle denoiser against the mixture posterior computed here in float64 from its definition.
import { createOracleDenoiser, OracleDenoiser } from '../lib/oracle';
import { LcmdError } from '../lib/errors';
import { Tensor } from '../lib/tensor';
import { rng, schedule } from './sampler-stats';

const K = 5;
const D = 3;
const GRIDS = [
  [0, 1, 2, 3],
  [0, 1, 4, 4],
  [2, 2, 2, 2],
];
const N = 4;

function embeddingsTable(seed: number): Float32Array {
  const r = rng(seed);
  return Float32Array.from({ length: K * D }, () => r.normal());
}

function makeOracle(options: { weights?: number[]; classes?: number[]; classLeak?: number; shift?: number } = {}): { oracle: OracleDenoiser; table: Float32Array } {
  const table = embeddingsTable(7);
  const grids = Tensor.from(Int32Array.from(GRIDS.flat()), [GRIDS.length, 2, 2]);
  const embeddings = Tensor.from(table, [K, D]);
  const oracle = createOracleDenoiser({ grids, embeddings, ...options });
  grids.dispose();
  embeddings.dispose();
  return { oracle, table };
}

// log p(x_i = k | z_t) from the definition: p(m | z) ∝ prior_m Π_i N(z_i; alpha e_{x_m,i}, sigma^2 I).
function expectedLogMarginals(z: number[], t: number, table: Float32Array, prior: number[], shift: number): number[][] {
  const { alpha, sigma } = schedule(shift);
  const a = alpha(t);
  const s2 = sigma(t) ** 2;
  const logLik = GRIDS.map((grid, m) => {
    if (prior[m] === 0) return -Infinity;
    let acc = Math.log(prior[m]);
    for (let i = 0; i < N; i++) {
      for (let j = 0; j < D; j++) {
        const diff = z[i * D + j] - a * table[grid[i] * D + j];
        acc += -0.5 * Math.log(2 * Math.PI * s2) - (diff * diff) / (2 * s2);
      }
    }
    return acc;
  });
  const top = Math.max(...logLik);
  const lse = top + Math.log(logLik.reduce((acc, l) => acc + Math.exp(l - top), 0));
  const posterior = logLik.map((l) => Math.exp(l - lse));
  return Array.from({ length: N }, (_, i) =>
    Array.from({ length: K }, (_, k) => {
      const p = GRIDS.reduce((acc, grid, m) => acc + (grid[i] === k ? posterior[m] : 0), 0);
      return Math.max(Math.log(p), -1e4);
    }),
  );
}

function logitsOf(oracle: OracleDenoiser, z: number[][], t: number[], classes?: number[]): Float32Array {
  const zt = Tensor.from(Float32Array.from(z.flat()), [z.length, N, D]);
  const tt = Tensor.from(Float32Array.from(t), [t.length]);
  const ct = classes ? Tensor.from(Int32Array.from(classes), [classes.length]) : undefined;
  const out = oracle.logits(zt, tt, ct);
  expect(out.shape).toEqual([z.length, N, K]);
  const data = out.toTypedArray() as Float32Array;
  for (const x of [zt, tt, ct, out]) x?.dispose();
  return data;
}

function expectClose(actual: Float32Array, offset: number, expected: number[][]): void {
  for (let i = 0; i < N; i++) {
    for (let k = 0; k < K; k++) {
      const e = expected[i][k];
      const a = actual[offset + i * K + k];
      expect(Math.abs(a - e)).toBeLessThanOrEqual(2e-5 * Math.max(1, Math.abs(e)));
    }
  }
}

// z near a noised grid (or pure noise), at float32-representable times.
function probeInputs(table: Float32Array, shift: number): { z: number[][]; t: number[] } {
  const r = rng(11);
  const t = [0.95, 0.6, 0.3, 0.05].map(Math.fround);
  const { alpha, sigma } = schedule(shift);
  const z = t.map((ti, b) => {
    const grid = GRIDS[b % GRIDS.length];
    return Array.from({ length: N * D }, (_, e) => Math.fround(alpha(ti) * table[grid[Math.floor(e / D)] * D + (e % D)] + sigma(ti) * r.normal()));
  });
  return { z, t };
}

describe('oracle denoiser', () => {
  test('logits are the log per-token marginals of the exact mixture posterior (weights, shift)', () => {
    const weights = [1, 2, 5];
    const shift = 0.3;
    const { oracle, table } = makeOracle({ weights, shift });
    const { z, t } = probeInputs(table, shift);
    const logits = logitsOf(oracle, z, t);
    const prior = weights.map((w) => w / 8);
    z.forEach((zb, b) => expectClose(logits, b * N * K, expectedLogMarginals(zb, t[b], table, prior, shift)));
    // tokens no grid has at a position sit exactly on the floor, finite
    expect(logits.every(Number.isFinite)).toBe(true);
    expect(Math.min(...logits)).toBe(-1e4);
    oracle.dispose();
  });

  test('class c restricts the mixture to class-c grids; classLeak down-weights the others; the null class uses all', () => {
    const classes = [0, 0, 1];
    const strict = makeOracle({ classes });
    const leaky = makeOracle({ classes, classLeak: 0.25 });
    const plain = makeOracle();
    expect(strict.oracle.config.numClasses).toBe(2);
    const { z, t } = probeInputs(strict.table, 0.1);
    const zs = [z[0], z[0], z[1]];
    const ts = [t[0], t[0], t[1]];
    const strictLogits = logitsOf(strict.oracle, zs, ts, [0, 2, 1]);
    const leakyLogits = logitsOf(leaky.oracle, zs, ts, [0, 2, 1]);
    const plainLogits = logitsOf(plain.oracle, zs, ts);
    const third = 1 / 3;
    expectClose(strictLogits, 0, expectedLogMarginals(zs[0], ts[0], strict.table, [0.5, 0.5, 0], 0.1));
    expectClose(strictLogits, N * K, expectedLogMarginals(zs[1], ts[1], strict.table, [third, third, third], 0.1));
    expectClose(strictLogits, 2 * N * K, expectedLogMarginals(zs[2], ts[2], strict.table, [0, 0, 1], 0.1));
    expectClose(leakyLogits, 0, expectedLogMarginals(zs[0], ts[0], leaky.table, [1, 1, 0.25], 0.1));
    // the null class equals the unconditional oracle exactly
    expect(strictLogits.subarray(N * K, 2 * N * K)).toEqual(plainLogits.subarray(N * K, 2 * N * K));
    // class 1 is grid 2 alone: every token but 2 is on the floor
    for (let i = 0; i < N; i++) for (let k = 0; k < K; k++) if (k !== 2) expect(strictLogits[2 * N * K + i * K + k]).toBe(-1e4);
    for (const o of [strict, leaky, plain]) o.oracle.dispose();
  });

  test('a sample\'s logits do not depend on the rest of its batch', () => {
    const { oracle, table } = makeOracle({ weights: [3, 1, 1] });
    const { z, t } = probeInputs(table, 0.1);
    const all = logitsOf(oracle, z, t);
    z.forEach((zb, b) => expect(logitsOf(oracle, [zb], [t[b]])).toEqual(all.subarray(b * N * K, (b + 1) * N * K)));
    oracle.dispose();
  });

  test('rejects malformed data with precise errors, and use after dispose', () => {
    const table = Tensor.from(embeddingsTable(1), [K, D]);
    const grids = Tensor.from(Int32Array.from(GRIDS.flat()), [3, 2, 2]);
    const code = (fn: () => unknown) => {
      try {
        fn();
      } catch (err) {
        expect(err).toBeInstanceOf(LcmdError);
        return (err as LcmdError).code;
      }
      return 'no error';
    };
    const bad = Tensor.from(Int32Array.from([0, 1, 2, 9]), [1, 2, 2]);
    expect(code(() => createOracleDenoiser({ grids: bad, embeddings: table }))).toBe('E_RANGE');
    const flat = Tensor.from(Int32Array.from([0, 1]), [2]);
    expect(code(() => createOracleDenoiser({ grids: flat, embeddings: table }))).toBe('E_SHAPE');
    const floatGrids = Tensor.from(new Float32Array(4), [1, 2, 2]);
    expect(code(() => createOracleDenoiser({ grids: floatGrids, embeddings: table }))).toBe('E_DTYPE');
    expect(code(() => createOracleDenoiser({ grids, embeddings: table, weights: [1, 0, 1] }))).toBe('E_RANGE');
    expect(code(() => createOracleDenoiser({ grids, embeddings: table, classes: [0, 1] }))).toBe('E_SHAPE');
    expect(code(() => createOracleDenoiser({ grids, embeddings: table, classLeak: 2 }))).toBe('E_RANGE');
    const oracle = createOracleDenoiser({ grids, embeddings: table, classes: [0, 0, 1] });
    const z = Tensor.from(new Float32Array(N * D), [1, N, D]);
    const t = Tensor.from(Float32Array.from([0.5]), [1]);
    expect(code(() => oracle.logits(z, t, Tensor.from(Int32Array.from([3]), [1])))).toBe('E_RANGE');
    expect(code(() => oracle.logits(Tensor.from(new Float32Array(N * D), [1, N * D]), t))).toBe('E_SHAPE');
    oracle.dispose();
    oracle.dispose();
    expect(oracle.disposed).toBe(true);
    expect(code(() => oracle.logits(z, t))).toBe('E_DISPOSED');
  });
});
