// The EMA arithmetic of docs/method.md section 6.10: after each trainer step, theta_ema <- mu_n theta_ema + (1 - mu_n) theta with the
// warm-up mu_n = min(mu, (1 + n) / (10 + n)), recomputed here in float64 from the online weights read after every step.
import * as path from 'path';
import type { TrainConfig } from '../lib/config';
import { readSafetensors } from '../lib/safetensors';
import { Tensor } from '../lib/tensor';
import { Trainer } from '../lib/trainer';
import { int64Tensor, randomTokens, tempDir, TINY_MODEL } from './lcmd-fixtures';

const MODEL = { ...TINY_MODEL, layers: 1 };
const STEPS = 14;

type Weights = Map<string, Float64Array>;

function read(trainer: Trainer, useEma: boolean): Weights {
  const model = trainer.model;
  const out: Weights = new Map();
  for (const name of model.parameterNames()) {
    const p = model.getParameter(name, useEma);
    out.set(name, Float64Array.from(p.toTypedArray() as Float32Array));
    p.dispose();
  }
  model.dispose();
  return out;
}

function copy(w: Weights): Weights {
  return new Map([...w].map(([k, v]) => [k, Float64Array.from(v)]));
}

function update(ema: Weights, online: Weights, mu: number): void {
  for (const [name, e] of ema) {
    const p = online.get(name)!;
    for (let i = 0; i < e.length; i++) e[i] = mu * e[i] + (1 - mu) * p[i];
  }
}

function maxDifference(a: Weights, b: Weights): number {
  let worst = 0;
  for (const [name, x] of a) {
    const y = b.get(name)!;
    for (let i = 0; i < x.length; i++) worst = Math.max(worst, Math.abs(x[i] - y[i]));
  }
  return worst;
}

const warmup = (mu: number, n: number) => Math.min(mu, (1 + n) / (10 + n));

async function run(train: Partial<TrainConfig>) {
  const trainer = Trainer.create({ model: MODEL, train: { seed: 4, lr: 0.05, warmupSteps: 0, gradClip: 0, ...train } });
  const online: Weights[] = [read(trainer, false)];
  const initialEma = read(trainer, true);
  for (let k = 0; k < STEPS; k++) {
    const tokens = int64Tensor(randomTokens(100 + k, 8, 4, 16).flat(), [8, 4]);
    const classes = int64Tensor([0, 1, 2, 0, 1, 2, 0, 1], [8]);
    const result = await trainer.step({ tokens, labels: classes });
    tokens.dispose();
    classes.dispose();
    expect(result.skipped).toBe(false);
    online.push(read(trainer, false));
  }
  return { trainer, online, initialEma };
}

/** The EMA after every step from the online weights, for a decay schedule mu(n), n = updates applied before. */
function recursion(online: Weights[], mu: (n: number) => number): Weights {
  const ema = copy(online[0]);
  for (let k = 1; k < online.length; k++) update(ema, online[k], mu(k - 1));
  return ema;
}

describe('EMA arithmetic', () => {
  const TOLERANCE = 1e-5; // float32 accumulation over a dozen updates of weights of order 1

  test('sampling EMA and CM teacher follow the recursion with warm-up, step by step', async () => {
    const dir = tempDir('ema');
    const emaDecay = 0.9999;
    const teacherDecay = 0.6; // the warm-up (1 + n) / (10 + n) passes 0.6 at n = 13, the last update of this run
    const { trainer, online, initialEma } = await run({ emaDecay, teacherDecay, teacher: 'ema', teacherWarmup: true });
    // both EMAs start as copies of the initial weights
    expect(maxDifference(initialEma, online[0])).toBe(0);

    const expectedEma = recursion(online, (n) => warmup(emaDecay, n));
    const expectedTeacher = recursion(online, (n) => warmup(teacherDecay, n));
    expect(maxDifference(read(trainer, true), expectedEma)).toBeLessThan(TOLERANCE);

    const file = path.join(dir, 'ema.safetensors');
    await trainer.save(file);
    const { tensors } = await readSafetensors(file);
    const teacher: Weights = new Map();
    for (const name of expectedTeacher.keys()) teacher.set(name, Float64Array.from(tensors[`teacher.${name}`].toTypedArray() as Float32Array));
    Object.values(tensors).forEach((t: Tensor) => t.dispose());
    expect(maxDifference(teacher, expectedTeacher)).toBeLessThan(TOLERANCE);

    // the comparison can fail: an off-by-one warm-up, no warm-up, or the teacher's plain decay all land far away
    expect(maxDifference(recursion(online, (n) => warmup(emaDecay, n + 1)), expectedEma)).toBeGreaterThan(100 * TOLERANCE);
    expect(maxDifference(recursion(online, () => emaDecay), expectedEma)).toBeGreaterThan(100 * TOLERANCE);
    expect(maxDifference(recursion(online, () => teacherDecay), expectedTeacher)).toBeGreaterThan(100 * TOLERANCE);
    trainer.dispose();
  });

  test('a teacher without warm-up uses its decay from the first step', async () => {
    const dir = tempDir('ema-nowarmup');
    const teacherDecay = 0.7;
    const { trainer, online } = await run({ emaDecay: 0.95, teacherDecay, teacher: 'ema', teacherWarmup: false });
    expect(maxDifference(read(trainer, true), recursion(online, (n) => warmup(0.95, n)))).toBeLessThan(TOLERANCE);
    const file = path.join(dir, 'ema.safetensors');
    await trainer.save(file);
    const { tensors } = await readSafetensors(file);
    const expected = recursion(online, () => teacherDecay);
    const teacher: Weights = new Map();
    for (const name of expected.keys()) teacher.set(name, Float64Array.from(tensors[`teacher.${name}`].toTypedArray() as Float32Array));
    Object.values(tensors).forEach((t: Tensor) => t.dispose());
    expect(maxDifference(teacher, expected)).toBeLessThan(TOLERANCE);
    trainer.dispose();
  });
});
