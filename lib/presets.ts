/**
 * Named configurations. Each sets only what differs from the native defaults (docs/method.md values: K = 1024, 16x16 tokens,
 * d = 256, s = 0.1, r = 0.2, lambda_CM = 1, lambda_diff = 0.005, EMA 0.999 / 0.9999).
 */
import { check } from './errors';
import { checkConfigValues, expectedMessage } from './validation';
import type { ModelConfig, PartialRunConfig, TrainConfig } from './config';

export interface Preset {
  description: string;
  model: Partial<ModelConfig>;
  train: Partial<TrainConfig>;
}

/** The paper's training configuration (docs/method.md section 6 defaults). */
const PAPER_TRAIN: Partial<TrainConfig> = { lambdaCm: 1, lambdaDiff: 0.005, teacher: 'ema', teacherDecay: 0.999, emaDecay: 0.9999 };

export const PRESETS: Record<string, Preset> = {
  // Measured on MNIST 7x7 tokens (K = 256, the demo's tokenizer), 2 CPU cores, batch 32, held-out bits on 300 test
  // digits, 10 x 10 grids at guidance 3, 50 ancestral steps (.dev/tune/ in the working copy):
  //   - width 256 with the CM teacher costs ~2.5 s a step at batch 64 (3000 steps = 2 hours), so the demo uses width 128
  //     (1.15M parameters) at batch 32: ~0.5 s a step with the CM loss, ~0.35 s without it;
  //   - 500 steps, the previous small config at width 128 + data target / online teacher (exact logits off, r = 0.2):
  //     27.1 bits/token, accuracy 0.50 at t in [0.1, 0.2]; grid unreadable apart from the 1s. No CM loss: 21.7 bits, same look;
  //   - exact-likelihood logits need r = 0: with dropping, the [mask] positions get the exact term at t = 0 and the
  //     recon loss reaches 1e5 nats;
  //   - this configuration at lr 1e-3, 500 steps (5:20): 6.50 bits/token, accuracy 0.99 / 0.65 / 0.34 at t in [0, 0.1] /
  //     [0.1, 0.2] / [0.2, 0.3]; 0, 1, 2, 3, 7 mostly readable. Without the CM loss (lambda_CM = 0): 6.62 bits, 0.62 at
  //     [0.1, 0.2], a little worse to the eye;
  //   - this configuration (lr 2e-3), 500 steps (6:24 with other jobs on the cores): 6.38 bits/token, accuracy 0.96 / 0.49 /
  //     0.26 (lower than at 1e-3), yet every row of the grid reads as its digit in most cells: the best samples we drew;
  //   - the demo (1000 steps, 11:24 of training, 15:28 in all with another job on the cores): 5.15 bits/token on 500 test
  //     digits, every row of the grid clearly its digit. The embedding norms shrink (8 -> 5.2 at 500 steps -> 2.9 at
  //     1000; distance / norm stays 1.42), so the per-t accuracy falls (0.72 / 0.22 at t in [0, 0.1] / [0.1, 0.2]) while
  //     the samples improve: compare that table only between runs with similar norms. Longer runs are unmeasured.
  small: {
    description: 'tests and the demo: 8x8 grids of K = 256 tokens, 10 classes, 1.2M parameters, exact-likelihood logits, CM loss with the data target and the online teacher, no dropping (measured to draw readable MNIST digits in 1000 steps of batch 32)',
    model: { vocabSize: 256, height: 8, width: 8, numClasses: 10, embedDim: 64, layers: 4, heads: 4, hidden: 128, condDim: 128, exactLikelihoodLogits: true },
    train: { lambdaCm: 1, lambdaDiff: 0.1, cmTarget: 'data', teacher: 'online', dropRate: 0, emaDecay: 0.999, lr: 2e-3, warmupSteps: 100 },
  },
  'paper-small': {
    description: 'the small model with the paper training configuration (lambda_CM = 1, lambda_diff = 0.005)',
    model: { vocabSize: 256, height: 8, width: 8, numClasses: 10, embedDim: 64, layers: 4, heads: 4, hidden: 256, condDim: 256 },
    train: { ...PAPER_TRAIN, lr: 1e-3, warmupSteps: 100 },
  },
  'maskgit-small': {
    description: 'the MaskGIT baseline on the small body (8x8 grids of K = 256 tokens, 10 classes): cosine masking, cross-entropy on masked tokens with label smoothing 0.1, class dropout 0.1',
    model: { method: 'maskgit', vocabSize: 256, height: 8, width: 8, numClasses: 10, embedDim: 64, layers: 4, heads: 4, hidden: 128, condDim: 128 },
    train: { lambdaCm: 0, lambdaDiff: 0, labelSmoothing: 0.1, emaDecay: 0.999, lr: 2e-3, warmupSteps: 100 },
  },
  // Measured with bench/quality.ts (MNIST 7x7 tokens, K = 256, lcmd's tokenizer; 1000 steps of batch 32; 1000 samples
  // scored with lcmd's scorer against MNIST test digits; real-vs-real floor FD 4.9), 2026-12-01, cores shared:
  //   maskgit-small, 8 steps, w = 1: FD 29.1, class agreement 0.947 (4000 steps: FD 11.3, 0.981)
  //   cdcd-cm-small, DDIM 8, w = 1: FD 43.6 (0.925); w = 2: FD 47.3 (0.959)   <- the demo's preset
  //   cdcd-small,    DDIM 8, w = 1: FD 46.6 (0.910); ancestral 50, w = 1: 48.4 (0.897); w = 3: 66.1 (0.973)
  //   small,         DDIM 8, w = 1: FD 102.5 (0.581); ancestral 50, w = 1: 45.7 (0.878)
  // No VQ-LCMD variant reaches MaskGIT yet at this budget; see README "Sample quality".
  'cdcd-small': {
    description: 'candidate: the small body trained like CDCD: cross-entropy at the sampled t only (no CM, no t = 0 forward), L2-normalised embeddings, exact-likelihood logits, self-conditioning',
    model: { vocabSize: 256, height: 8, width: 8, numClasses: 10, embedDim: 64, layers: 4, heads: 4, hidden: 128, condDim: 128, exactLikelihoodLogits: true, l2NormalizeEmbeddings: true, selfCondition: true },
    train: { lambdaCe: 1, lambdaRecon: 0, lambdaCm: 0, lambdaDiff: 0, dropRate: 0, emaDecay: 0.999, lr: 2e-3, warmupSteps: 100 },
  },
  'cdcd-cm-small': {
    description: 'candidate: cdcd-small plus the CM loss with the EMA teacher (the paper\'s consistency matching on top of the cross-entropy)',
    model: { vocabSize: 256, height: 8, width: 8, numClasses: 10, embedDim: 64, layers: 4, heads: 4, hidden: 128, condDim: 128, exactLikelihoodLogits: true, l2NormalizeEmbeddings: true, selfCondition: true },
    train: { lambdaCe: 1, lambdaRecon: 0, lambdaCm: 1, lambdaDiff: 0, dropRate: 0, teacher: 'ema', teacherDecay: 0.99, emaDecay: 0.999, lr: 2e-3, warmupSteps: 100 },
  },
  'paper-uncond': {
    description: 'paper unconditional model (FFHQ, churches, bedrooms): 15 layers, 8 heads, width 512, about 56M parameters',
    model: { layers: 15, heads: 8, hidden: 512, condDim: 256, numClasses: 0 },
    train: { ...PAPER_TRAIN, lr: 2e-4 },
  },
  'paper-imagenet': {
    description: 'paper ImageNet model: 24 layers, 16 heads, width 768, 1000 classes (about 230M parameters here; the paper reports 246M)',
    model: { layers: 24, heads: 16, hidden: 768, condDim: 768, numClasses: 1000 },
    train: { ...PAPER_TRAIN, lr: 2e-4 },
  },
};

/** Table 1 / 7 ablations, applied on top of any preset with `ablation`. */
export const ABLATIONS: Record<string, { description: string; model: Partial<ModelConfig>; train: Partial<TrainConfig> }> = {
  csdm: { description: 'CSDM: minimise the VLB, no CM loss, no shift, no dropping', model: { shift: 1 }, train: { objective: 'vlb', lambdaCm: 0, dropRate: 0 } },
  'no-cm': { description: 'VQ-LCMD without the CM loss', model: {}, train: { lambdaCm: 0 } },
  'csdm-l2': { description: 'CSDM with L2-normalised embeddings', model: { shift: 1, l2NormalizeEmbeddings: true }, train: { objective: 'vlb', lambdaCm: 0, dropRate: 0 } },
  'csdm-dagger': { description: 'CSDM with embeddings from the tokenizer codebook, frozen', model: { shift: 1, freezeEmbeddings: true }, train: { objective: 'vlb', lambdaCm: 0, dropRate: 0 } },
  'no-shift': { description: 'without the noise schedule shift (s = 1)', model: { shift: 1 }, train: {} },
  'no-drop': { description: 'without random dropping (r = 0)', model: {}, train: { dropRate: 0 } },
};

export function presetNames(): string[] {
  return Object.keys(PRESETS);
}

/** The top-level keys of a config object. */
export const CONFIG_KEYS = ['preset', 'ablation', 'model', 'train'] as const;

/** A config section without its undefined entries, so that an unset override keeps the preset's value. */
function section(value: unknown, name: 'model' | 'train'): Record<string, unknown> {
  if (value === undefined) return {};
  check(value !== null && typeof value === 'object' && !Array.isArray(value), 'E_CONFIG', () => expectedMessage('an object of config keys', `config.${name}`, value));
  const entries = Object.entries(value as Record<string, unknown>).filter(([, v]) => v !== undefined);
  const values = Object.fromEntries(entries);
  checkConfigValues(values, name);
  return values;
}

/**
 * Merges preset, then ablation, then explicit model/train fields. A config that is not an object is E_TYPE; unknown
 * top-level keys, unknown preset or ablation names and values that JSON cannot carry (NaN, Infinity, null) are
 * E_CONFIG naming the key. Undefined fields are ignored: the preset's value stays.
 */
export function resolveConfig(input: PartialRunConfig & { ablation?: string }): { model: Partial<ModelConfig>; train: Partial<TrainConfig> } {
  check(input !== null && typeof input === 'object' && !Array.isArray(input), 'E_TYPE', () => expectedMessage('a preset name or a config object {preset?, ablation?, model?, train?}', 'config', input));
  for (const key of Object.keys(input)) {
    check((CONFIG_KEYS as readonly string[]).includes(key), 'E_CONFIG', `unknown config key '${key}': expected ${CONFIG_KEYS.join(', ')}`);
  }
  check(input.preset === undefined || typeof input.preset === 'string', 'E_CONFIG', () => expectedMessage(`a preset name (${presetNames().join(', ')})`, 'preset', input.preset));
  check(input.ablation === undefined || typeof input.ablation === 'string', 'E_CONFIG', () => expectedMessage(`an ablation name (${Object.keys(ABLATIONS).join(', ')})`, 'ablation', input.ablation));
  const overrides = { model: section(input.model, 'model'), train: section(input.train, 'train') };
  let model: Partial<ModelConfig> = {};
  let train: Partial<TrainConfig> = {};
  if (input.preset !== undefined) {
    const preset = Object.hasOwn(PRESETS, input.preset) ? PRESETS[input.preset] : undefined;
    check(preset, 'E_CONFIG', `unknown preset '${input.preset}': expected one of ${presetNames().join(', ')}`);
    model = { ...preset.model };
    train = { ...preset.train };
  }
  if (input.ablation !== undefined) {
    const ablation = Object.hasOwn(ABLATIONS, input.ablation) ? ABLATIONS[input.ablation] : undefined;
    check(ablation, 'E_CONFIG', `unknown ablation '${input.ablation}': expected one of ${Object.keys(ABLATIONS).join(', ')}`);
    model = { ...model, ...ablation.model };
    train = { ...train, ...ablation.train };
  }
  return { model: { ...model, ...overrides.model }, train: { ...train, ...overrides.train } };
}
