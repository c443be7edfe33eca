/**
 * Sampling from a VQ-LCMD denoiser (docs/method.md section 8): ancestral or DDIM steps over a time grid, classifier-free
 * guidance, infilling and inpainting. The loop runs natively on a worker thread; see {@link sample}.
 */
import { withCancel } from './async';
import { native } from './binding';
import { check } from './errors';
import type { NativeSampleOptions, ProgressEvent } from './native';
import { Tensor } from './tensor';

/** The grid facts the sampler reads from a model's config. */
export interface SamplingGrid {
  readonly height: number;
  readonly width: number;
  readonly vocabSize: number;
  /** 0 for an unconditional model; class `numClasses` is the null class, used only by guidance. */
  readonly numClasses: number;
  /** 'maskgit' models sample with the 'maskgit' sampler only; absent means a diffusion model */
  readonly method?: 'lcmd' | 'maskgit';
}

/** What the sampler needs from a model: the trained `Model` and the test `OracleDenoiser` both fit. */
export interface SampleableModel {
  /** @internal The native object the sampler resolves to a denoiser. */
  readonly handle: object;
  readonly config: SamplingGrid;
}

/** Known tokens for infilling / inpainting: `mask` is true (or 1) where the token in `tokens` is kept. */
export interface KnownTokens {
  /** int32 `[n, H, W]`, or `[H, W]` for the same known tokens in every sample. Only masked entries are read. */
  tokens: Tensor;
  /** bool or uint8, the same shape as `tokens`. */
  mask: Tensor;
}

export interface SampleProgress extends ProgressEvent {
  stage: 'sample';
  /** Steps finished in the current batch, 1 .. steps. */
  step: number;
  steps: number;
  /** The current batch, 1 .. batches. */
  batch: number;
  batches: number;
}

export interface SampleOptions {
  /** Number of samples. Default 1. */
  n?: number;
  /** Number of steps T. Default 50 (the paper: 200 unconditional, 50 ImageNet, 2 to 8 with DDIM). */
  steps?: number;
  /**
   * 'ancestral' (default for diffusion models, the paper's) draws from the posterior; 'ddim' is deterministic given z_1;
   * 'consistency' draws tokens from p and re-noises them to the next time (for few steps); 'commit' is DDIM that
   * commits positions to tokens in order of confidence on MaskGIT's cosine schedule (docs/method.md section 8). 'maskgit' is the only
   * sampler of a MaskGIT model, and its default.
   */
  sampler?: 'ancestral' | 'ddim' | 'consistency' | 'commit' | 'maskgit';
  /**
   * Diffusion samplers: apply guidance only at grid times t in [min, max] (default [0, 1], always), as Kynkaanniemi et
   * al. (2024) recommend; elsewhere the prediction is the conditional one.
   */
  guidanceInterval?: readonly [number, number];
  /**
   * Diffusion samplers: shift g of the time grid, in (0, 1000] (default 1, the uniform grid t_j = j / T). Each interior
   * time moves to where the log-SNR is 2 log g higher, so g > 1 spends more of the steps at low noise and g < 1 at
   * high noise (on MNIST tokens g = 0.5 helped models trained at shift 0.3 or 1, not at the default 0.1). t_T = 1 and
   * t_0 = 0 stay.
   */
  gridShift?: number;
  /**
   * Diffusion samplers: 'uniform' (default; shifted by `gridShift`) or 'learned', the grid of the model's own learned
   * time warp (trained with `train.timeWarp: 'learned'`): the times where the training warp's CDF is j / T, so that
   * each step covers an equal share of the rise of the cross-entropy of p(x | z_t), as CDCD samples. 'learned' takes
   * no `gridShift`, and a model trained without the warp refuses it (E_CONFIG).
   */
  timeGrid?: 'uniform' | 'learned';
  /**
   * Diffusion samplers: the predictions are p = softmax(logits / temperature) at every step (the predicted embedding,
   * the consistency draws, the final rule and `returnProbs`). In (0, 100], default 1; below 1 sharpens them toward
   * their modes, trading diversity for quality.
   */
  temperature?: number;
  /** MaskGIT: scale of the Gumbel noise on the log-confidence, annealed linearly to 0 (default 4.5) */
  maskgitTemperature?: number;
  /**
   * The 'commit' sampler: 0 (default) commits each position to its most probable token, most confident first; tau > 0
   * makes MaskGIT's randomised choice: tokens drawn from p, ranked by log p + tau (1 - i / T) Gumbel noise at step i.
   */
  commitTemperature?: number;
  /**
   * The deterministic samplers 'ddim' and 'commit': 1 (default) takes the DDIM step; 2 takes DPM-Solver++(2M)'s
   * multistep update, which extrapolates the predicted embedding from the previous step's at no extra network
   * evaluation (first order on the first and the last step).
   */
  solverOrder?: 1 | 2;
  /**
   * The deterministic samplers 'ddim' and 'commit': UniPC's corrector UniC (Zhao et al. 2023). Once the network has
   * predicted at the end of a step (the prediction the next step needs anyway), the step is taken again with that
   * prediction included: one order more at no extra network evaluation. Default false; not with infillResample > 1.
   */
  corrector?: boolean;
  /** Classifier-free guidance weight w >= 0 (default 0: no guidance). Needs a class-conditional model. */
  guidance?: number;
  /** Required for a class-conditional model: one class for all samples, or one per sample, each in [0, numClasses). */
  classes?: number | readonly number[] | Int32Array;
  /** Non-negative safe integer. Default 0, so a call without a seed is reproducible too. */
  seed?: number;
  /** Samples per batch. Default 64. Does not change the samples (see {@link sample}). */
  batchSize?: number;
  /** Known tokens kept fixed (infilling / inpainting); see {@link boxMask} and {@link halfMask}. */
  known?: KnownTokens;
  /**
   * Infilling only: R tries per step (default 1, the plain replacement method). Between tries z goes back from
   * t_{j-1} to t_j by the forward process (RePaint), so the unknown part can come to agree with the known tokens.
   * Costs R network evaluations per step.
   */
  infillResample?: number;
  /** 'argmax' (default): x_i = argmax_k p(x_i = k | z_0; 0). 'sample': a draw from that p. */
  final?: 'argmax' | 'sample';
  /** Sample with the EMA weights (default true). Ignored by models without EMA, such as the oracle. */
  useEma?: boolean;
  /** Also return the final probabilities p(x_i = k | z_0; 0), float32 [n, N, K] (n * N * K * 4 bytes). */
  returnProbs?: boolean;
  signal?: AbortSignal;
  /** Called after every step of every batch. */
  onProgress?: (event: SampleProgress) => void;
}

export interface SampleResult {
  /** int32 [n, H, W]. */
  tokens: Tensor;
  /** float32 [n, N, K] when `returnProbs`; one-hot rows at known positions. */
  probs?: Tensor;
  /**
   * Network evaluations per sample: steps x infillResample + 1 (steps + 1 without resampling); 'commit' makes no
   * prediction after its last step (every token is committed by then): steps x infillResample; 'maskgit': steps.
   */
  evaluationsPerSample: number;
  /** Batched forward calls: evaluationsPerSample x batches. */
  forwardCalls: number;
  /** Rows through the network: evaluationsPerSample x n, doubled with guidance. */
  forwardRows: number;
}

const OPTION_KEYS = new Set<string>([
  'n', 'steps', 'sampler', 'guidance', 'classes', 'seed', 'batchSize', 'known', 'infillResample', 'final', 'useEma', 'returnProbs', 'maskgitTemperature', 'commitTemperature', 'solverOrder', 'corrector', 'guidanceInterval', 'gridShift', 'timeGrid', 'temperature',
  'signal', 'onProgress',
]);
const MAX_STEPS = 1_000_000;

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return `an array of length ${value.length}`;
  if (ArrayBuffer.isView(value)) return `a ${value.constructor.name}`;
  if (value instanceof Tensor) return `a ${value.dtype} Tensor of shape [${value.shape.join(', ')}]`;
  return typeof value === 'string' ? JSON.stringify(value) : `${typeof value} ${String(value)}`;
}

function integerOption(value: unknown, name: string, fallback: number, min: number, max: number): number {
  if (value === undefined) return fallback;
  check(typeof value === 'number' && Number.isSafeInteger(value) && value >= min && value <= max, 'E_RANGE',
    () => `expected ${name} to be an integer in [${min}, ${max}], got ${describe(value)}`);
  return value;
}

function choiceOption<T extends string>(value: unknown, name: string, choices: readonly T[]): T {
  if (value === undefined) return choices[0];
  check(typeof value === 'string' && (choices as readonly string[]).includes(value), 'E_CONFIG',
    () => `expected ${name} to be one of ${choices.map((c) => `'${c}'`).join(', ')}, got ${describe(value)}`);
  return value as T;
}

function booleanOption(value: unknown, name: string, fallback: boolean): boolean {
  if (value === undefined) return fallback;
  check(typeof value === 'boolean', 'E_TYPE', () => `expected ${name} to be a boolean, got ${describe(value)}`);
  return value;
}

function validateModel(model: unknown): SamplingGrid & { handle: object } {
  const m = model as Partial<SampleableModel> | null;
  check(typeof m === 'object' && m !== null && typeof m.handle === 'object' && m.handle !== null && typeof m.config === 'object', 'E_TYPE',
    () => `expected a model (a Model or an OracleDenoiser) to sample from, got ${describe(model)}`);
  const config = m.config as Partial<SamplingGrid>;
  for (const key of ['height', 'width', 'vocabSize'] as const) {
    check(Number.isSafeInteger(config[key]) && (config[key] as number) > 0, 'E_TYPE', `the model's config.${key} must be a positive integer`);
  }
  check(Number.isSafeInteger(config.numClasses) && (config.numClasses as number) >= 0, 'E_TYPE', "the model's config.numClasses must be a non-negative integer");
  return { handle: m.handle as object, height: config.height!, width: config.width!, vocabSize: config.vocabSize!, numClasses: config.numClasses!, method: config.method };
}

function validateClasses(classes: SampleOptions['classes'], n: number, numClasses: number): Int32Array | undefined {
  if (numClasses === 0) {
    check(classes === undefined, 'E_CONFIG', 'classes were given but this model is unconditional (it has no classes)');
    return undefined;
  }
  check(classes !== undefined, 'E_CONFIG',
    `this model is class-conditional: give classes (one for all samples, or one per sample) in [0, ${numClasses})`);
  const list: ArrayLike<number> = typeof classes === 'number' ? new Array<number>(n).fill(classes) : (classes as ArrayLike<number>);
  check(typeof classes === 'number' || Array.isArray(classes) || classes instanceof Int32Array, 'E_TYPE',
    () => `expected classes to be a number, an array of numbers or an Int32Array, got ${describe(classes)}`);
  check(typeof classes === 'number' || list.length === n, 'E_SHAPE', () => `expected ${n} classes (one per sample) or a single class, got ${list.length}`);
  const out = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const c = list[i];
    check(Number.isSafeInteger(c) && c >= 0, 'E_RANGE', () => `classes must be integers in [0, ${numClasses}), got ${describe(c)} at index ${i}`);
    check(c < numClasses, 'E_RANGE', () =>
      c === numClasses
        ? `class ${c} is the null class, used only by guidance; request a class in [0, ${numClasses})`
        : `classes must be in [0, ${numClasses}), got ${c} at index ${i}`);
    out[i] = c;
  }
  return out;
}

function validateKnown(known: unknown, n: number, model: SamplingGrid): KnownTokens | undefined {
  if (known === undefined) return undefined;
  const k = known as Partial<KnownTokens> | null;
  check(typeof k === 'object' && k !== null && k.tokens instanceof Tensor && k.mask instanceof Tensor, 'E_TYPE',
    'expected known to be { tokens: Tensor, mask: Tensor }');
  const { height: h, width: w } = model;
  const tokens = k.tokens as Tensor;
  const mask = k.mask as Tensor;
  const shape = tokens.shape;
  const ok = (s: number[]) => (s.length === 2 && s[0] === h && s[1] === w) || (s.length === 3 && s[0] === n && s[1] === h && s[2] === w);
  check(ok(shape), 'E_SHAPE', `expected known tokens of shape [${n}, ${h}, ${w}] or [${h}, ${w}], got [${shape.join(', ')}]`);
  check(mask.shape.length === shape.length && mask.shape.every((d, i) => d === shape[i]), 'E_SHAPE',
    () => `expected the known mask to have the tokens' shape [${shape.join(', ')}], got [${mask.shape.join(', ')}]`);
  check(tokens.dtype === 'int32', 'E_DTYPE', `expected int32 known tokens, got ${tokens.dtype}`);
  check(mask.dtype === 'bool' || mask.dtype === 'uint8', 'E_DTYPE', `expected a bool or uint8 known mask, got ${mask.dtype}`);
  const values = tokens.toTypedArray() as Int32Array;
  const flags = mask.toTypedArray() as Uint8Array;
  for (let i = 0; i < flags.length; i++) {
    check(flags[i] <= 1, 'E_RANGE', () => `the known mask must hold only 0 and 1, got ${flags[i]} at flat index ${i}`);
    if (flags[i]) {
      check(values[i] >= 0 && values[i] < model.vocabSize, 'E_RANGE',
        () => `known tokens must be in [0, ${model.vocabSize}), got ${values[i]} at flat index ${i}`);
    }
  }
  return { tokens, mask };
}

/**
 * Draws `n` token grids from `model` and resolves to an int32 Tensor [n, H, W] (or, with `returnProbs: true`, to a
 * {@link SampleResult} that also holds the final probabilities).
 *
 * The loop (docs/method.md section 8): time grid t_j for j = T .. 0 (t_T = 1, t_0 = 0); z_1 ~ N(0, I); for each j = T .. 1,
 * compute the (guided) p(. | z_{t_j}, t_j), e_hat = p E, and move to t_{j-1} with the ancestral rule (a draw from
 * q(z_s | z_t, x = e_hat)) or the DDIM rule; then predict once more at t = 0 and take the argmax (or a draw).
 *
 * Network evaluations: exactly `steps + 1` per sample (T steps plus the final prediction at t = 0). Each evaluation is
 * one batched forward of `batchSize` rows, or of 2 x `batchSize` rows with guidance w > 0 (the conditional and the
 * null-class halves in one forward): logits = (1 + w) logits(z, c) - w logits(z, null). With w = 0 the null half is
 * skipped and the result is bit-identical to unguided sampling.
 *
 * Infilling: positions where `known.mask` is set are replaced, before every prediction, by a fresh draw
 * alpha_t e_x + sigma_t eps of the known token, and the output keeps those tokens exactly. This replacement method
 * can let the unknown part commit to content that disagrees with the known part (with the oracle, a few percent of
 * half-grid completions); `infillResample` R > 1 repeats each step R times and reduces that (then a run makes
 * steps x R + 1 evaluations per sample).
 *
 * Reproducibility guarantee: every random number sample i uses (z_1, each step's ancestral noise, each infill draw,
 * the final draws) is a pure function of (seed, i, its use), from counter-based streams. So the same seed gives the
 * same samples whatever `batchSize` splits them into, and sample i of a run equals sample i of any other run with the
 * same seed and options, on any number of devices. Bit-identical results also need the model to compute each sample
 * independently of its batch (the oracle does; float GEMMs of different batch shapes can differ in the last bit, which
 * can rarely flip a token). A GPU draws the same noise as the CPU up to last-bit rounding of logf/cosf.
 *
 * Runs on a worker thread; `signal` aborts it between network evaluations (rejecting with an E_ABORTED
 * LcmdError named AbortError, and freeing what it held).
 */
export function sample(model: SampleableModel, options: SampleOptions & { returnProbs: true }): Promise<SampleResult>;
export function sample(model: SampleableModel, options?: SampleOptions): Promise<Tensor>;
export async function sample(model: SampleableModel, options: SampleOptions = {}): Promise<Tensor | SampleResult> {
  const result = await sampleDetailed(model, options);
  return options.returnProbs ? result : result.tokens;
}

/** Like {@link sample}, but always resolves to a {@link SampleResult} with the evaluation counts. */
export async function sampleDetailed(model: SampleableModel, options: SampleOptions = {}): Promise<SampleResult> {
  const m = validateModel(model);
  check(typeof options === 'object' && options !== null, 'E_TYPE', `expected sample options to be an object, got ${describe(options)}`);
  for (const key of Object.keys(options)) {
    check(OPTION_KEYS.has(key), 'E_CONFIG', `unknown sample option '${key}' (expected one of ${[...OPTION_KEYS].join(', ')})`);
  }
  const n = integerOption(options.n, 'n', 1, 1, Number.MAX_SAFE_INTEGER);
  const guidance = options.guidance ?? 0;
  check(typeof guidance === 'number' && Number.isFinite(guidance) && guidance >= 0, 'E_RANGE',
    () => `expected guidance to be a finite number >= 0, got ${describe(guidance)}`);
  check(guidance === 0 || m.numClasses > 0, 'E_CONFIG', 'guidance needs a class-conditional model; this model is unconditional');
  const classes = validateClasses(options.classes, n, m.numClasses);
  const known = validateKnown(options.known, n, m);
  check(options.infillResample === undefined || options.infillResample === 1 || known !== undefined, 'E_CONFIG',
    'infillResample > 1 needs known tokens (it only applies to infilling)');
  check(options.signal === undefined || options.signal instanceof AbortSignal, 'E_TYPE', () => `expected signal to be an AbortSignal, got ${describe(options.signal)}`);
  check(options.onProgress === undefined || typeof options.onProgress === 'function', 'E_TYPE',
    () => `expected onProgress to be a function, got ${describe(options.onProgress)}`);
  const maskgitModel = m.method === 'maskgit';
  const sampler = choiceOption(options.sampler ?? (maskgitModel ? 'maskgit' : undefined), 'sampler', ['ancestral', 'ddim', 'consistency', 'commit', 'maskgit'] as const);
  check(maskgitModel === (sampler === 'maskgit'), 'E_CONFIG', maskgitModel
    ? `this is a MaskGIT model: it samples with sampler 'maskgit', got '${sampler}'`
    : `sampler 'maskgit' needs a MaskGIT model; this is a diffusion model (use 'ancestral', 'ddim', 'consistency' or 'commit')`);
  const maskgitTemperature = options.maskgitTemperature ?? 4.5;
  check(typeof maskgitTemperature === 'number' && Number.isFinite(maskgitTemperature) && maskgitTemperature >= 0, 'E_RANGE',
    () => `expected maskgitTemperature to be a finite number >= 0, got ${describe(maskgitTemperature)}`);
  const commitTemperature = options.commitTemperature ?? 0;
  check(typeof commitTemperature === 'number' && Number.isFinite(commitTemperature) && commitTemperature >= 0, 'E_RANGE',
    () => `expected commitTemperature to be a finite number >= 0, got ${describe(commitTemperature)}`);
  check(commitTemperature === 0 || sampler === 'commit', 'E_CONFIG', `commitTemperature applies to the 'commit' sampler, not to '${sampler}'`);
  const solverOrder = integerOption(options.solverOrder, 'solverOrder', 1, 1, 2);
  check(solverOrder === 1 || sampler === 'ddim' || sampler === 'commit', 'E_CONFIG',
    `solverOrder 2 applies to the deterministic samplers 'ddim' and 'commit', not to '${sampler}'`);
  const corrector = booleanOption(options.corrector, 'corrector', false);
  check(!corrector || sampler === 'ddim' || sampler === 'commit', 'E_CONFIG', `corrector applies to the deterministic samplers 'ddim' and 'commit', not to '${sampler}'`);
  check(!corrector || options.infillResample === undefined || options.infillResample === 1, 'E_CONFIG',
    'corrector and infillResample > 1 do not combine: resampling re-noises the step the corrector would take again');
  const interval = options.guidanceInterval ?? [0, 1];
  check(Array.isArray(interval) && interval.length === 2 && interval.every((v) => typeof v === 'number' && Number.isFinite(v)) &&
    interval[0] >= 0 && interval[0] < interval[1] && interval[1] <= 1, 'E_RANGE',
    () => `expected guidanceInterval to be [min, max] with 0 <= min < max <= 1, got ${describe(interval)}`);
  const gridShift = options.gridShift ?? 1;
  check(typeof gridShift === 'number' && Number.isFinite(gridShift) && gridShift > 0 && gridShift <= 1000, 'E_RANGE',
    () => `expected gridShift to be a number in (0, 1000], got ${describe(gridShift)}`);
  check(gridShift === 1 || !maskgitModel, 'E_CONFIG', 'gridShift applies to diffusion samplers, not to \'maskgit\'');
  const timeGrid = choiceOption(options.timeGrid, 'timeGrid', ['uniform', 'learned'] as const);
  check(timeGrid === 'uniform' || !maskgitModel, 'E_CONFIG', 'timeGrid applies to diffusion samplers, not to \'maskgit\'');
  check(timeGrid === 'uniform' || gridShift === 1, 'E_CONFIG', "timeGrid 'learned' places every step itself: it takes no gridShift");
  const temperature = options.temperature ?? 1;
  check(typeof temperature === 'number' && Number.isFinite(temperature) && temperature > 0 && temperature <= 100, 'E_RANGE',
    () => `expected temperature to be a number in (0, 100], got ${describe(temperature)}`);
  check(temperature === 1 || !maskgitModel, 'E_CONFIG', 'temperature applies to diffusion samplers; MaskGIT models take maskgitTemperature');
  const nativeOptions: NativeSampleOptions = {
    maskgitTemperature,
    commitTemperature,
    solverOrder,
    corrector,
    gridShift,
    timeGrid,
    temperature,
    guidanceTMin: interval[0],
    guidanceTMax: interval[1],
    n,
    steps: integerOption(options.steps, 'steps', 50, 1, MAX_STEPS),
    sampler,
    final: choiceOption(options.final, 'final', ['argmax', 'sample'] as const),
    guidance,
    seed: integerOption(options.seed, 'seed', 0, 0, Number.MAX_SAFE_INTEGER),
    batchSize: integerOption(options.batchSize, 'batchSize', 64, 1, Number.MAX_SAFE_INTEGER),
    useEma: booleanOption(options.useEma, 'useEma', true),
    returnProbs: booleanOption(options.returnProbs, 'returnProbs', false),
    infillResample: integerOption(options.infillResample, 'infillResample', 1, 1, 1000),
    gridHeight: m.height,
    gridWidth: m.width,
  };
  const classTensor = classes ? Tensor.from(classes, [n], 'int32') : undefined;
  if (classTensor) nativeOptions.classes = classTensor.handle;
  if (known) {
    nativeOptions.knownTokens = known.tokens.handle;
    nativeOptions.knownMask = known.mask.handle;
  }
  const onProgress = options.onProgress;
  const progress = onProgress ? (event: ProgressEvent) => { if (event.stage === 'sample') onProgress(event as SampleProgress); } : undefined;
  try {
    const r = await withCancel(options.signal, (token) => native().sample(m.handle, nativeOptions, token, progress));
    return {
      tokens: new Tensor(r.tokens),
      probs: r.probs ? new Tensor(r.probs) : undefined,
      evaluationsPerSample: r.evaluationsPerSample,
      forwardCalls: r.forwardCalls,
      forwardRows: r.forwardRows,
    };
  } finally {
    classTensor?.dispose();
  }
}

