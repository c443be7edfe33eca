// Every loss term of docs/method.md section 6 (and the VLB objective of the CSDM ablation) against an independent PyTorch implementation
// (test/reference/lcmd_reference.py) on fixed random weights and the same explicit noise; and L_CM = 0 at s = t.
import * as path from 'path';
import type { ModelConfig, TrainConfig } from '../lib/config';
import { testHooks } from '../lib/binding';
import { Model } from '../lib/model';
import { writeSafetensors } from '../lib/safetensors';
import { Tensor } from '../lib/tensor';
import { Trainer } from '../lib/trainer';
import { int64Tensor, makeNoise, NoiseArrays, noiseTensors, randomizeParameters, randomTokens, runPythonReference, tempDir, TINY_MODEL } from './lcmd-fixtures';

type Terms = { total: number; recon: number; ce: number; diff: number; cm: number; prior: number; accuracyT: number };

const B = 6;
const N = 4;
const D = 8;
const K = 16;

interface Case {
  name: string;
  model: 'conditional' | 'unconditional' | 'self-conditioned' | 'posterior-input';
  train: Partial<TrainConfig>;
  lambdaCm: number;
  lambdaDiff: number;
  noise?: Partial<NoiseArrays>;
}

// Two of six examples lose their class with classDropout 0.1 (draws 0.05 and 0.03); with 0.5, four of six.
const CLASS_UNIFORMS = [0.05, 0.5, 0.03, 0.9, 0.3, 0.7];

const CASES: Case[] = [
  { name: 'paper defaults (teacher target, KL(q || p), bernoulli r = 0.2, class dropout)', model: 'conditional', train: {}, lambdaCm: 1, lambdaDiff: 0.005 },
  { name: 'other weights', model: 'conditional', train: {}, lambdaCm: 0.7, lambdaDiff: 2.5 },
  { name: 'KL(p || q)', model: 'conditional', train: { klDirection: 'student-teacher' }, lambdaCm: 1, lambdaDiff: 0.1 },
  { name: 'data target', model: 'conditional', train: { cmTarget: 'data' }, lambdaCm: 1, lambdaDiff: 0.1 },
  { name: 'data target, KL(p || q), dropping after noise', model: 'conditional', train: { cmTarget: 'data', klDirection: 'student-teacher', dropPlacement: 'after-noise', dropRate: 0.4 }, lambdaCm: 1, lambdaDiff: 0.1 },
  { name: 'drop count', model: 'conditional', train: { dropStrategy: 'count', dropRate: 0.5 }, lambdaCm: 1, lambdaDiff: 0.1 },
  { name: 'drop random ratio', model: 'conditional', train: { dropStrategy: 'random-ratio', dropRate: 0.4 }, lambdaCm: 1, lambdaDiff: 0.1 },
  { name: 'drop ratio linear in t', model: 'conditional', train: { dropStrategy: 'linear-t', dropRate: 0.4 }, lambdaCm: 1, lambdaDiff: 0.1 },
  { name: 'drop after noise', model: 'conditional', train: { dropPlacement: 'after-noise', dropRate: 0.4 }, lambdaCm: 1, lambdaDiff: 0.1 },
  { name: 'no dropping', model: 'conditional', train: { dropRate: 0 }, lambdaCm: 1, lambdaDiff: 0.1 },
  { name: 'class dropout 0.5', model: 'conditional', train: { classDropout: 0.5 }, lambdaCm: 1, lambdaDiff: 0.1 },
  { name: 'no class dropout', model: 'conditional', train: { classDropout: 0 }, lambdaCm: 1, lambdaDiff: 0.1 },
  { name: 'no CM loss', model: 'conditional', train: {}, lambdaCm: 0, lambdaDiff: 10 },
  { name: 'CSDM: the VLB objective with importance weights', model: 'conditional', train: { objective: 'vlb' }, lambdaCm: 0, lambdaDiff: 0 },
  { name: 'cross-entropy at t with the t = 0 term', model: 'conditional', train: { lambdaCe: 0.7 }, lambdaCm: 1, lambdaDiff: 0.1 },
  { name: 'cross-entropy at t without the t = 0 term', model: 'conditional', train: { lambdaCe: 1, lambdaRecon: 0 }, lambdaCm: 0, lambdaDiff: 0 },
  // the exact term is skipped at the dropped positions (r = 0.2 here), which hold the [mask] vector
  { name: 'unconditional, t input, exact-likelihood logits with dropping, L2-normalised embeddings', model: 'unconditional', train: {}, lambdaCm: 1, lambdaDiff: 0.3 },
  { name: 'exact-likelihood logits, dropping after noise', model: 'unconditional', train: { dropPlacement: 'after-noise', dropRate: 0.4 }, lambdaCm: 1, lambdaDiff: 0.3 },
  // the posterior input is skipped at the dropped positions too (r = 0.2 here)
  { name: 'posterior input with dropping, CE at t, CM', model: 'posterior-input', train: { lambdaCe: 1 }, lambdaCm: 1, lambdaDiff: 0.1 },
  { name: 'posterior input, dropping after noise, CE at t only', model: 'posterior-input', train: { lambdaCe: 1, lambdaRecon: 0, dropPlacement: 'after-noise', dropRate: 0.4 }, lambdaCm: 0, lambdaDiff: 0 },
  { name: 'self-conditioning on half of the examples, CE at t, CM', model: 'self-conditioned', train: { lambdaCe: 1, selfCondRate: 0.5 }, lambdaCm: 1, lambdaDiff: 0.1 },
  // the first, gradient-free pass runs on the self-conditioned examples only: all of them, and none
  { name: 'self-conditioning on every example', model: 'self-conditioned', train: { lambdaCe: 1, selfCondRate: 1 }, lambdaCm: 1, lambdaDiff: 0.1 },
  { name: 'self-conditioning on no example', model: 'self-conditioned', train: { lambdaCe: 1, selfCondRate: 0 }, lambdaCm: 0, lambdaDiff: 0.1 },
  {
    name: 'unconditional, CM target near t = 0',
    model: 'unconditional',
    train: { cmTarget: 'teacher' },
    lambdaCm: 1,
    lambdaDiff: 0.3,
    noise: { t: [0.01, 0.02, 0.03, 0.04, 0.05, 0.06].map(Math.fround), s: [0.005, 0.001, 0.02, 0.0, 0.04, 0.03].map(Math.fround) },
  },
];

const MODELS: Record<Case['model'], Partial<ModelConfig>> = {
  conditional: TINY_MODEL,
  unconditional: { ...TINY_MODEL, numClasses: 0, timeInput: 't', exactLikelihoodLogits: true, l2NormalizeEmbeddings: true },
  'self-conditioned': { ...TINY_MODEL, selfCondition: true, exactLikelihoodLogits: true },
  'posterior-input': { ...TINY_MODEL, posteriorInput: true, exactLikelihoodLogits: true, l2NormalizeEmbeddings: true },
};

function close(actual: number, expected: number, relative = 1e-4, absolute = 1e-5): boolean {
  return Math.abs(actual - expected) <= relative * Math.abs(expected) + absolute;
}

describe('loss terms against the independent PyTorch reference', () => {
  const dir = tempDir('objective');
  const native_: Map<string, Terms> = new Map();
  let reference: Map<string, Record<string, number>>;
  const tokens = randomTokens(3, B, N, K);
  const classes = [0, 1, 2, 0, 1, 2];

  beforeAll(async () => {
    const cases: unknown[] = [];
    for (const kind of ['conditional', 'unconditional', 'self-conditioned', 'posterior-input'] as const) {
      // The student lives in a Trainer and goes to Python through a real checkpoint ("model.<param>"); the teacher is a
      // separate model with other weights, written as plain safetensors under the same prefix.
      const trainer = Trainer.create({ model: MODELS[kind], train: { seed: 1 } });
      const student = trainer.model;
      const seedOf = { conditional: 11, unconditional: 21, 'self-conditioned': 41, 'posterior-input': 51 };
      randomizeParameters(student, seedOf[kind]);
      const studentPath = path.join(dir, `${kind}-student.safetensors`);
      await trainer.save(studentPath);
      const teacher = Model.create({ model: MODELS[kind] }, { seed: 5 });
      randomizeParameters(teacher, seedOf[kind] + 1);
      const teacherPath = path.join(dir, `${kind}-teacher.safetensors`);
      const weights: Record<string, Tensor> = {};
      for (const name of teacher.parameterNames()) weights[`model.${name}`] = teacher.getParameter(name);
      await writeSafetensors(teacherPath, weights, { 'lcmd.model': JSON.stringify(teacher.config) });
      Object.values(weights).forEach((w) => w.dispose());

      const defaults = { ...trainer.config.train, dropRate: 0.2 }; // the default rate, for the cases below
      const tokenTensor = int64Tensor(tokens.flat(), [B, N]);
      const conditional = kind !== 'unconditional';
      const classTensor = conditional ? int64Tensor(classes, [B]) : null;
      for (const c of CASES.filter((x) => x.model === kind)) {
        const train = { ...defaults, ...c.train };
        const noise = makeNoise(17, B, N, D, { classUniforms: CLASS_UNIFORMS.map(Math.fround), ...c.noise });
        const handles = noiseTensors(noise);
        const terms = testHooks().objectiveTerms(student.handle, teacher.handle, JSON.stringify(train), tokenTensor.handle, classTensor?.handle ?? null, handles.handles, c.lambdaCm, c.lambdaDiff);
        handles.dispose();
        native_.set(c.name, terms);
        cases.push({
          name: c.name,
          student: { path: studentPath, prefix: 'model.' },
          teacher: { path: teacherPath, prefix: 'model.' },
          train,
          tokens,
          classes: conditional ? classes : null,
          noise,
          lambdaCm: c.lambdaCm,
          lambdaDiff: c.lambdaDiff,
        });
      }
      tokenTensor.dispose();
      classTensor?.dispose();
      teacher.dispose();
      trainer.dispose();
    }
    reference = runPythonReference(dir, cases);
  });

  test.each(CASES.map((c) => c.name))('%s', (name) => {
    const got = native_.get(name)!;
    const want = reference.get(name)!;
    const c = CASES.find((x) => x.name === name)!;
    const reconOn = c.train.lambdaRecon !== 0 || c.train.objective === 'vlb';
    for (const key of ['ce', 'diff', 'cm', 'prior', 'total', ...(reconOn ? ['recon'] as const : [])] as const) {
      if (!close(got[key], want[key])) throw new Error(`${key}: native ${got[key]}, reference ${want[key]}`);
    }
    // lambdaRecon = 0 skips the t = 0 forward: the term is reported as NaN, not as a made-up number
    if (!reconOn) expect(got.recon).toBeNaN();
    expect(got.accuracyT).toBeCloseTo(want.accuracyT, 6);
    // the terms are not degenerate: every case has a real reconstruction and diffusion error
    expect(want.recon).toBeGreaterThan(1e-3);
    expect(want.diff).toBeGreaterThan(1e-3);
    if (CASES.find((c) => c.name === name)!.lambdaCm > 0) expect(want.cm).toBeGreaterThan(1e-4);
  });

  test('each option changes the loss (the cases exercise different code paths)', () => {
    const base = native_.get(CASES[0].name)!;
    const differs = (name: string, key: keyof Terms) => Math.abs(native_.get(name)![key] - base[key]) > 1e-4 * Math.abs(base[key]);
    expect(differs('KL(p || q)', 'cm')).toBe(true);
    expect(differs('data target', 'cm')).toBe(true);
    for (const name of ['drop count', 'drop random ratio', 'drop ratio linear in t', 'drop after noise', 'no dropping', 'class dropout 0.5', 'no class dropout']) {
      expect(differs(name, 'total')).toBe(true);
    }
    expect(native_.get('no CM loss')!.cm).toBe(0);
  });
});

describe('L_CM vanishes when the teacher is the student and s = t', () => {
  const tokens = randomTokens(4, B, N, K);
  let model: Model;
  let other: Model;
  let defaults: TrainConfig;
  beforeAll(() => {
    const trainer = Trainer.create({ model: TINY_MODEL });
    defaults = trainer.config.train;
    trainer.dispose();
    model = Model.create({ model: TINY_MODEL }, { seed: 8 });
    randomizeParameters(model, 31);
    other = Model.create({ model: TINY_MODEL }, { seed: 9 });
    randomizeParameters(other, 32);
  });
  afterAll(() => {
    model.dispose();
    other.dispose();
  });

  function cm(teacher: Model, train: Partial<TrainConfig>, sEqualsT: boolean): number {
    const base = makeNoise(23, B, N, D);
    const noise = sEqualsT ? { ...base, s: base.t } : base;
    const handles = noiseTensors(noise);
    const x = int64Tensor(tokens.flat(), [B, N]);
    const c = int64Tensor([0, 1, 2, 2, 1, 0], [B]);
    const terms = testHooks().objectiveTerms(model.handle, teacher.handle, JSON.stringify({ ...defaults, ...train }), x.handle, c.handle, handles.handles, 1, 0.005);
    handles.dispose();
    x.dispose();
    c.dispose();
    return terms.cm;
  }

  test.each([
    ['teacher target, KL(q || p)', {}],
    ['teacher target, KL(p || q)', { klDirection: 'student-teacher' }],
    ['data target', { cmTarget: 'data' }],
    ['teacher target, dropping after noise', { dropPlacement: 'after-noise', dropRate: 0.4 }],
  ] as [string, Partial<TrainConfig>][])('%s', (_name, train) => {
    expect(Math.abs(cm(model, train, true))).toBeLessThan(1e-6);
    // and it is not zero for the wrong reasons: s < t, or another teacher, give a clearly positive KL
    expect(cm(model, train, false)).toBeGreaterThan(1e-3);
    expect(cm(other, train, true)).toBeGreaterThan(1e-3);
  });
});
