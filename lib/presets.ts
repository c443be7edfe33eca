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
  /**
   * Measured with the embedding table set to the tokenizer's codebook (`lcmd train --codebook`), then trained or
   * frozen there ('frozen' sets model.freezeEmbeddings when a codebook is given). A run without a codebook is told so,
   * and its table starts from random rows and is trained.
   */
  embeddingsFromCodebook?: 'trained' | 'frozen';
}

/** The paper's training configuration (docs/method.md section 6 defaults). */
const PAPER_TRAIN: Partial<TrainConfig> = { lambdaCm: 1, lambdaDiff: 0.005, teacher: 'ema', teacherDecay: 0.999, emaDecay: 0.9999 };

/** The small body every small preset shares: 7x7 or 8x8 grids of K = 256 tokens, 10 classes, width 128, 4 layers. */
const SMALL_BODY: Partial<ModelConfig> = { vocabSize: 256, height: 8, width: 8, numClasses: 10, embedDim: 64, layers: 4, heads: 4, hidden: 128, condDim: 128 };

export const PRESETS: Record<string, Preset> = {
  // Measured with bench/quality.ts (README "Sample quality"): MNIST 7x7 tokens (K = 256, lcmd's tokenizer), 1000 steps
  // of batch 32, 1000 samples scored with lcmd's scorer against MNIST test digits (real-vs-real floor FD 4.9),
  // 2026-12-02, cores shared. MaskGIT (maskgit-small) at 2 / 4 / 8 steps: FD 50.1 / 34.0 / 26.7.
  //   - the cross-entropy at the sampled t with L2-normalised embeddings, exact-likelihood logits and self-conditioning
  //     (CDCD's recipe) draws digits at 2 to 8 DDIM steps; the previous small (CM with the data target) did not (FD 102
  //     at 8 DDIM steps);
  //   - the shift s: 0.02 / 0.05 / 0.1 / 0.3 / 1 gave FD 44.9 / 41.6 / 52.0 / 54.7 / 72.7 at 8 DDIM steps, but at 4 steps
  //     53.9 / 41.3 / 39.7 / - / -, and at 2 steps s = 0.05 gave 57.3 against 45.5; with temperature 0.7, s = 0.05 and
  //     s = 0.1 tie at 8 steps (39.6, 41.0), so with learned embeddings the paper's s = 0.1 stayed (the frozen codebook below moved it to 0.3);
  //   - lost or tied at s = 0.1 (8 / 4 DDIM steps): d = 16 (48.9 / 62.4), dropping r = 0.2 (50.7 / 39.2), no
  //     self-conditioning (50.7 / 37.9), the CM loss with the EMA teacher on top (cm-small: 45.4 at 8 steps, 2.6 times
  //     the cost of a step); the grid shift g = 0.5 / 2 at 4 steps: 42.5 / 50.3;
  //   - sampling: fewer DDIM steps are better than more at this budget (2 / 3 / 4 / 6 / 8 / 32 steps: 45.5 / 40.6 /
  //     39.7 / 48.4 / 52.0 / 50.3; ancestral 4 / 8 / 50: 39.8 / 49.3 / 50.5), and a temperature below 1 recovers 8 steps
  //     (0.7: 41.0, 0.5: 40.4) while doing nothing at 2 to 4: the model's own distribution is broader than the data's;
  //     guidance w = 1 beats w = 0 (65.0) and w = 2 (60.8) in FD at 4 steps (w = 2 buys class agreement);
  //   - width 256 (4.5M parameters) at 2 / 4 / 8 DDIM steps: 42.8 / 37.5 / 50.1 at 1000 steps, 46.5 / 41.1 / 52.7 at
  //     4000 (maskgit-small at width 256: 57.2 / 40.1 / 32.8, then 34.7 / 19.6 / 12.0): the stall is not capacity;
  //     dropping tied to t (r = 0.4, linear-t) at 4 / 8 steps: 40.2 / 52.4.
  //   - what ended the stall (2026-12-02, same bench): the embedding table frozen at the tokenizer's codebook, so that
  //     nearby embeddings are similar image patches, instead of learned rows that the cross-entropy pushes apart until
  //     they are nearly orthogonal (distance / norm 1.41). At 2 / 4 / 8 DDIM steps: 40.2 / 31.2 / 27.6, and 8 commit
  //     steps 24.5, against MaskGIT's 50.1 / 34.0 / 26.7 (README "Sample quality" for 4000 steps). Started at the
  //     codebook but trained: 56.1 / 39.7 / 39.6; the posterior input: 43.1 / 38.8 / 51.5; no exact-likelihood logits:
  //     43.6 / 40.1 / 52.1.
  //   - lost (2026-12-04, seeds 0 / 1): CDCD's learned time warp (train.timeWarp 'learned'), commit 8 at w = 1 27.0 /
  //     28.5 against 23.5 / 21.9 at 1000 steps and mixed at 4000 (9.3 / 9.6 against 9.4 / 9.0); its learned sampling
  //     grid lost too (29.1 against 27.0 on the same model). The CE curve it follows is steepest at low noise, where
  //     codebook neighbours (look-alike patches) are confused, so it moves training and steps away from the high noise
  //     where the digit's shape is decided.
  //   - won (2026-12-04, seeds 0 / 1): self-conditioning on a quarter of the examples (selfCondRate 0.25, not 0.5),
  //     10% cheaper a step; commit 8 at w = 1 on the grid g = 0.5, 1000 steps: 20.6 / 20.7 against 22.2 / 21.2, and
  //     beating MaskGIT at its training time at 8 and 50 steps; at 4000 steps level within the checkpoint spread
  //     (commit 8, w = 1 in [0.2, 0.7], g = 0.5: 8.7 / 9.1 against 9.2 / 8.7; commit 50: 9.6 / 8.1 against 9.3 / 7.4).
  //   - lost or tied (2026-12-07): low-discrepancy t (train.timeSampling, one seed: 9.7 against 10.1 at 4000 steps
  //     with interval guidance, worse in two of four cells) and the randomised commit (commitTemperature 1 / 4.5:
  //     10.7 / 14.3 against 10.1 at 4000 steps); both stay options, off.
  //   - won (2026-12-07, sampler only): DPM-Solver++(2M) steps (solverOrder 2) for the commit sampler, better in every
  //     cell measured (1000 steps: 19.4 / 18.7 against 20.2 / 19.3; 4000 steps with interval guidance: 9.7 / 9.1 against
  //     10.1 / 10.1); the demo samples with them. UniPC's corrector on top: level (9.5 / 9.1 at 4000), off.
  small: {
    description: 'the recommended small configuration (the default of lcmd train, and the demo): 8x8 grids of K = 256 tokens, 10 classes, 1.2M parameters; cross-entropy at the sampled t, L2-normalised embeddings frozen at the tokenizer\'s codebook (--codebook), exact-likelihood logits, self-conditioning on a quarter of the examples, shift 0.3',
    // shift 0.3, not 0.1: codebook rows sit close together (nearest-neighbour distance about 1.2 against 11.3 for
    // orthogonal rows at norm sqrt(d)), so tokens separate at lower noise; measured in README "Sample quality" (2026-12-02)
    model: { ...SMALL_BODY, exactLikelihoodLogits: true, l2NormalizeEmbeddings: true, selfCondition: true, shift: 0.3 },
    train: { lambdaCe: 1, lambdaRecon: 0, lambdaCm: 0, lambdaDiff: 0, dropRate: 0, selfCondRate: 0.25, emaDecay: 0.999, lr: 2e-3, warmupSteps: 100 },
    embeddingsFromCodebook: 'frozen',
  },
  'cm-small': {
    description: 'small plus the paper\'s consistency matching: the CM loss against an EMA teacher on top of the cross-entropy (2.6 times the cost of a small step)',
    model: { ...SMALL_BODY, exactLikelihoodLogits: true, l2NormalizeEmbeddings: true, selfCondition: true },
    train: { lambdaCe: 1, lambdaRecon: 0, lambdaCm: 1, lambdaDiff: 0, dropRate: 0, teacher: 'ema', teacherDecay: 0.99, emaDecay: 0.999, lr: 2e-3, warmupSteps: 100 },
  },
  'cm-data-small': {
    description: 'the earlier small configuration, kept for the tests that pin it: exact-likelihood logits, CM loss with the data target and the online teacher, lambdaDiff 0.1, no dropping (its embeddings shrink with longer training)',
    model: { ...SMALL_BODY, exactLikelihoodLogits: true },
    train: { lambdaCm: 1, lambdaDiff: 0.1, cmTarget: 'data', teacher: 'online', dropRate: 0, emaDecay: 0.999, lr: 2e-3, warmupSteps: 100 },
  },
  'paper-small': {
    description: 'the small model with the paper training configuration (lambda_CM = 1, lambda_diff = 0.005)',
    model: { ...SMALL_BODY, hidden: 256, condDim: 256 },
    train: { ...PAPER_TRAIN, lr: 1e-3, warmupSteps: 100 },
  },
  'maskgit-small': {
    description: 'the MaskGIT baseline on the small body (8x8 grids of K = 256 tokens, 10 classes): cosine masking, cross-entropy on masked tokens with label smoothing 0.1, class dropout 0.1',
    model: { ...SMALL_BODY, method: 'maskgit' },
    train: { lambdaCm: 0, lambdaDiff: 0, labelSmoothing: 0.1, emaDecay: 0.999, lr: 2e-3, warmupSteps: 100 },
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

/**
 * Whether a run that starts its embedding table from a tokenizer codebook freezes it there: an explicit
 * freezeEmbeddings (flag or config file) wins; otherwise the preset's embeddingsFromCodebook decides.
 */
export function freezesCodebookEmbeddings(presetName: string | undefined, explicit: boolean | undefined): boolean {
  if (explicit !== undefined) return explicit;
  const preset = presetName !== undefined && Object.hasOwn(PRESETS, presetName) ? PRESETS[presetName] : undefined;
  return preset?.embeddingsFromCodebook === 'frozen';
}

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
