/**
 * Training a VQ-LCMD model: `Trainer.create(config)` or `Trainer.resume(path)`, then `step(batch)` or `fit(source)`.
 * Every call runs off the event loop; checkpoints are written atomically (temporary file, fsync, rename).
 */
import * as fs from 'fs';
import * as path from 'path';
import { withCancel } from './async';
import { native } from './binding';
import type { ModelConfig, PartialRunConfig, TrainConfig } from './config';
import { check } from './errors';
import { Model } from './model';
import type { NativeEmbeddingStats, NativeEvaluation, NativeStepResult, NativeTrainerHandle } from './native';
import { resolveConfig } from './presets';
import { Tensor } from './tensor';
import { checkConfigValues, expectedMessage, nonNegativeInteger, positiveInteger } from './validation';

export type StepResult = NativeStepResult;
export type Evaluation = NativeEvaluation;
export type EmbeddingStats = NativeEmbeddingStats;

export interface Batch {
  /** [B, N] or [B, H, W] integer token ids */
  tokens: Tensor;
  /** [B] integer class labels (class-conditional models) */
  labels?: Tensor;
}

/** Anything that yields batches: a TokenDataset, or a custom source. */
export interface BatchSource {
  next(): Promise<Batch>;
}

export interface EvaluateOptions {
  /** importance samples of the noise level per example for the diffusion term (default 4) */
  importanceSamples?: number;
  /** rows of the per-noise-level table (default 10) */
  bins?: number;
  batchSize?: number;
  seed?: number;
  /** evaluate the sampling EMA (default) or the online weights */
  useEma?: boolean;
  signal?: AbortSignal;
}

export interface FitOptions {
  /** train until this many steps have been taken in total (resumed runs count earlier steps) */
  steps: number;
  checkpointPath?: string;
  /** steps between checkpoints (0 = only at the end and on abort) */
  checkpointEvery?: number;
  signal?: AbortSignal;
  /** index of this process's first example in the global batch (data-parallel ranks) */
  exampleOffset?: number;
  /** global batch size, for images/s (defaults to the local batch) */
  globalBatchSize?: number;
  /** extra checkpoint metadata, read at each save (e.g. the data position) */
  metadata?: () => Record<string, string>;
  /** whether this process writes checkpoints (rank 0 only in data-parallel runs) */
  writeCheckpoints?: boolean;
  /** called before each checkpoint by every rank, e.g. a barrier */
  beforeCheckpoint?: () => Promise<void>;
  heldout?: Batch;
  evaluateEvery?: number;
  evaluateOptions?: EvaluateOptions;
}

export type FitEvent =
  | { type: 'step'; result: StepResult; imagesPerSecond: number; etaSeconds: number }
  | { type: 'checkpoint'; path: string; step: number }
  | { type: 'evaluation'; step: number; report: Evaluation }
  | { type: 'stopped'; step: number; reason: string };

function flattenTokens(tokens: Tensor, what: string): Tensor {
  check(tokens instanceof Tensor, 'E_TYPE', `expected a Tensor for ${what}`);
  const shape = tokens.shape;
  check(shape.length === 2 || shape.length === 3, 'E_SHAPE', `expected ${what} of shape [B, N] or [B, H, W], got [${shape.join(', ')}]`);
  check(['int64', 'int32', 'int16', 'uint8'].includes(tokens.dtype), 'E_DTYPE', `expected integer ${what}, got ${tokens.dtype}`);
  if (shape.length === 2) return tokens;
  const data = tokens.toTypedArray();
  return Tensor.from(data, [shape[0], shape[1] * shape[2]], tokens.dtype);
}

export class Trainer {
  /** @internal */
  readonly handle: NativeTrainerHandle;
  /** metadata of the checkpoint this trainer resumed from */
  readonly resumedMetadata: Record<string, string>;

  private constructor(handle: NativeTrainerHandle, metadata: Record<string, string> = {}) {
    this.handle = handle;
    this.resumedMetadata = metadata;
  }

  /** A new run from a preset name or a config (preset, then model/train overrides). */
  static create(config: string | (PartialRunConfig & { ablation?: string })): Trainer {
    const resolved = resolveConfig(typeof config === 'string' ? { preset: config } : config);
    return new Trainer(new (native().TrainerHandle)(JSON.stringify(resolved.model), JSON.stringify(resolved.train)));
  }

  /** Resumes from a checkpoint; `overrides` may change runtime fields of the train config, such as the device. */
  static async resume(checkpoint: string, overrides: Partial<TrainConfig> = {}, signal?: AbortSignal): Promise<Trainer> {
    check(typeof checkpoint === 'string' && checkpoint.length > 0, 'E_TYPE', 'expected a checkpoint path');
    check(fs.existsSync(checkpoint), 'E_IO', `checkpoint ${checkpoint} does not exist`);
    check(overrides !== null && typeof overrides === 'object' && !Array.isArray(overrides), 'E_TYPE', () => expectedMessage('an object of train config keys', 'overrides', overrides));
    // JSON would turn NaN into null, which the native loader reads as "keep the stored value": refuse it instead
    const given = Object.fromEntries(Object.entries(overrides).filter(([, v]) => v !== undefined));
    checkConfigValues(given, 'train');
    const { trainer, metadata } = await withCancel(signal, (token) => native().loadTrainer(checkpoint, JSON.stringify(given), token));
    return new Trainer(trainer, metadata);
  }

  get config(): { model: ModelConfig; train: TrainConfig } {
    const c = this.handle.config();
    return { model: JSON.parse(c.model) as ModelConfig, train: JSON.parse(c.train) as TrainConfig };
  }

  /** Steps taken so far, skipped (non-finite) steps included, and how many were skipped. */
  get steps(): number {
    return this.handle.steps().steps;
  }

  get skippedSteps(): number {
    return this.handle.steps().skippedSteps;
  }

  /** The model being trained; its sampling EMA is what sample() uses by default. Shares the trainer's weights. */
  get model(): Model {
    return new Model(this.handle.model());
  }

  /** One optimisation step. Resolves to every loss term, the gradient norm and the learning rate. */
  async step(batch: Batch, options: { exampleOffset?: number; signal?: AbortSignal } = {}): Promise<StepResult> {
    check(batch && typeof batch === 'object', 'E_TYPE', 'expected a batch {tokens, labels?}');
    const tokens = flattenTokens(batch.tokens, 'batch.tokens');
    const offset = options.exampleOffset ?? 0;
    nonNegativeInteger(offset, 'exampleOffset');
    try {
      return await withCancel(options.signal, (token) => this.handle.step(tokens.handle, batch.labels?.handle ?? null, offset, token));
    } finally {
      if (tokens !== batch.tokens) tokens.dispose();
    }
  }

  /** Held-out L_VLB in bits per token (three terms), the per-noise-level table, and embedding statistics. */
  async evaluate(tokens: Tensor, labels?: Tensor, options: EvaluateOptions = {}): Promise<Evaluation> {
    const flat = flattenTokens(tokens, 'tokens');
    for (const key of ['importanceSamples', 'bins', 'batchSize'] as const) {
      if (options[key] !== undefined) positiveInteger(options[key], key);
    }
    try {
      const { signal, ...rest } = options;
      return await withCancel(signal, (token) => this.handle.evaluate(flat.handle, labels?.handle ?? null, rest, token));
    } finally {
      if (flat !== tokens) flat.dispose();
    }
  }

  embeddingStats(useEma = false): EmbeddingStats {
    return this.handle.embeddingStats(useEma);
  }

  /**
   * CSDM-dagger (with `freezeEmbeddings`): copies a tokenizer codebook [vocabSize, embedDim] into the embedding table
   * of the model, the sampling EMA and the teacher. Call it before the first step.
   */
  loadCodebook(codebook: Tensor): void {
    check(codebook instanceof Tensor, 'E_TYPE', 'expected the codebook as a Tensor [vocabSize, embedDim]');
    this.handle.loadCodebook(codebook.handle);
  }

  /** Writes a checkpoint atomically. */
  async save(file: string, metadata: Record<string, string> = {}, signal?: AbortSignal): Promise<void> {
    check(typeof file === 'string' && file.length > 0, 'E_TYPE', 'expected a checkpoint path');
    const dir = path.dirname(path.resolve(file));
    check(fs.existsSync(dir), 'E_IO', `cannot write checkpoint ${file}: folder ${dir} does not exist`);
    await withCancel(signal, (token) => this.handle.save(file, metadata, token));
  }

  /**
   * Trains until `options.steps` steps in total, yielding step, evaluation and checkpoint events. An abort finishes
   * the step in flight, writes a checkpoint (when a path is set) and ends with a 'stopped' event.
   */
  async *fit(source: BatchSource, options: FitOptions): AsyncGenerator<FitEvent> {
    positiveInteger(options.steps, 'steps');
    const every = options.checkpointEvery ?? 0;
    nonNegativeInteger(every, 'checkpointEvery');
    const writes = options.writeCheckpoints ?? true;
    const save = async (): Promise<FitEvent | undefined> => {
      if (!options.checkpointPath) return undefined;
      await options.beforeCheckpoint?.();
      if (writes) await this.save(options.checkpointPath, options.metadata?.() ?? {});
      return { type: 'checkpoint', path: options.checkpointPath, step: this.steps };
    };
    const started = Date.now();
    const firstStep = this.steps;
    let lastSaved = this.steps;
    while (this.steps < options.steps) {
      if (options.signal?.aborted) {
        const event = lastSaved === this.steps ? undefined : await save();
        if (event) yield event;
        yield { type: 'stopped', step: this.steps, reason: 'aborted' };
        return;
      }
      const batch = await source.next();
      let result: StepResult;
      try {
        result = await this.step(batch, { exampleOffset: options.exampleOffset });
      } finally {
        batch.tokens.dispose();
        batch.labels?.dispose();
      }
      const elapsed = (Date.now() - started) / 1000;
      const done = this.steps - firstStep;
      const batchSize = options.globalBatchSize ?? batch.tokens.shape[0];
      const perStep = elapsed / Math.max(1, done);
      yield { type: 'step', result, imagesPerSecond: (done * batchSize) / Math.max(elapsed, 1e-9), etaSeconds: perStep * (options.steps - this.steps) };
      if (options.heldout && options.evaluateEvery && this.steps % options.evaluateEvery === 0) {
        yield { type: 'evaluation', step: this.steps, report: await this.evaluate(options.heldout.tokens, options.heldout.labels, options.evaluateOptions) };
      }
      if (every > 0 && this.steps % every === 0) {
        const event = await save();
        lastSaved = this.steps;
        if (event) yield event;
      }
    }
    if (lastSaved !== this.steps) {
      const event = await save();
      if (event) yield event;
    }
  }

  dispose(): void {
    this.handle.dispose();
  }

  [Symbol.dispose](): void {
    this.dispose();
  }
}
