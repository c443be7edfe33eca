// A float64 finite-difference check of the gradient of the whole training loss on a tiny model. Gradients must reach
// the embedding table through z_t, z_0, the e_hat predictions and the L_diff target (docs/method.md section 6.8), and the [mask] vector
// through dropped positions; a stray detach() on any of these paths makes autograd disagree with the numeric slope.
import type { TrainConfig } from '../lib/config';
import { testHooks } from '../lib/binding';
import { Model } from '../lib/model';
import { Trainer } from '../lib/trainer';
import { int64Tensor, makeNoise, noiseTensors, randomizeParameters, randomTokens, TINY_MODEL } from './lcmd-fixtures';

const MODEL = { ...TINY_MODEL, layers: 1 };
const B = 3;
const N = 4;
const D = 8;
const K = 16;

// flat indices spread over each parameter (first, last and a few in between)
function indices(numel: number, count = 5): number[] {
  return Array.from(new Set(Array.from({ length: count }, (_, i) => Math.round((i * (numel - 1)) / (count - 1)))));
}

const PARAMETERS = [
  'embedding.table',
  'embedding.mask',
  'in_proj.weight',
  'time_mlp.0.weight',
  'class_embed.weight',
  'blocks.0.norm1.modulation.weight',
  'blocks.0.attn.qkv.weight',
  'blocks.0.fc1.bias',
  'final_norm.weight',
  'head.weight',
];

describe('finite-difference gradient check in float64', () => {
  let student: Model;
  let teacher: Model;
  let defaults: TrainConfig;
  const tokens = randomTokens(5, B, N, K);
  const sizes = new Map<string, number>();

  beforeAll(() => {
    const trainer = Trainer.create({ model: MODEL });
    defaults = trainer.config.train;
    trainer.dispose();
    student = Model.create({ model: MODEL }, { seed: 1 });
    randomizeParameters(student, 41);
    teacher = Model.create({ model: MODEL }, { seed: 2 });
    randomizeParameters(teacher, 42);
    for (const name of student.parameterNames()) {
      const p = student.getParameter(name);
      sizes.set(name, p.shape.reduce((a, b) => a * b, 1));
      p.dispose();
    }
  });
  afterAll(() => {
    student.dispose();
    teacher.dispose();
  });

  function check(train: Partial<TrainConfig>, lambdaCm: number, lambdaDiff: number, parameter: string) {
    // half the positions dropped (draws below 0.5), so the [mask] vector is in the loss
    const noise = makeNoise(29, B, N, D, { classUniforms: [0.05, 0.5, 0.9].map(Math.fround) });
    const handles = noiseTensors(noise);
    const x = int64Tensor(tokens.flat(), [B, N]);
    const c = int64Tensor([0, 1, 2], [B]);
    const flat = indices(sizes.get(parameter)!);
    // for the table, also every row of a token that occurs in the batch
    if (parameter === 'embedding.table') flat.push(...Array.from(new Set(tokens.flat())).map((k) => k * D + (k % D)));
    const result = testHooks().objectiveGradientCheck(student.handle, teacher.handle, JSON.stringify({ ...defaults, ...train }), x.handle, c.handle, handles.handles, lambdaCm, lambdaDiff, parameter, flat, 1e-6);
    handles.dispose();
    x.dispose();
    c.dispose();
    return result;
  }

  const OBJECTIVES: [string, Partial<TrainConfig>, number, number][] = [
    ['LCMD, teacher target', { dropRate: 0.5 }, 1, 0.5],
    ['LCMD, data target, KL(p || q), dropping after noise', { dropRate: 0.5, cmTarget: 'data', klDirection: 'student-teacher', dropPlacement: 'after-noise' }, 1, 0.5],
    ['CSDM (VLB objective)', { objective: 'vlb' }, 0, 0],
  ];

  for (const [objective, train, lambdaCm, lambdaDiff] of OBJECTIVES) {
    test.each(PARAMETERS)(`${objective}: %s`, (parameter) => {
      if (parameter === 'embedding.mask' && train.objective === 'vlb') return; // CSDM does not drop tokens
      const { analytic, numeric } = check(train, lambdaCm, lambdaDiff, parameter);
      expect(analytic.length).toBe(numeric.length);
      for (let i = 0; i < analytic.length; i++) {
        const scale = Math.max(1e-3, Math.abs(numeric[i]));
        if (Math.abs(analytic[i] - numeric[i]) > 1e-6 * scale + 1e-9) throw new Error(`${parameter}[${i}]: autograd ${analytic[i]}, finite differences ${numeric[i]}`);
      }
      // the gradient is really there
      expect(Math.max(...numeric.map(Math.abs))).toBeGreaterThan(1e-4);
    });
  }

  test('L_diff alone: its gradient into the table (through the target and e_hat) matches finite differences', () => {
    // The recon term cannot be switched off, so isolate L_diff as the difference of two lambda_diff values.
    const a = check({ dropRate: 0 }, 0, 0, 'embedding.table');
    const b = check({ dropRate: 0 }, 0, 10, 'embedding.table');
    const slopeAnalytic = b.analytic.map((v, i) => (v - a.analytic[i]) / 10);
    const slopeNumeric = b.numeric.map((v, i) => (v - a.numeric[i]) / 10);
    for (let i = 0; i < slopeAnalytic.length; i++) expect(Math.abs(slopeAnalytic[i] - slopeNumeric[i])).toBeLessThan(1e-6 * Math.max(1, Math.abs(slopeNumeric[i])));
    expect(Math.max(...slopeNumeric.map(Math.abs))).toBeGreaterThan(1e-3);
  });
});
