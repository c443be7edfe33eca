/**
 * Token datasets for training: token grids ([n, H, W] or [n, N], any integer dtype) and optional labels [n],
 * from memory-mapped .npy files or from Tensors.
 *
 * - Each epoch is a fresh permutation of the training split, fixed by (seed, epoch) alone: the same on every
 *   machine, libtorch version and world size.
 * - `batchSize` is the global batch. Rank r of `worldSize` gets the r-th contiguous slice (batchSize / worldSize
 *   rows) of each global batch, so the ranks of one step together see exactly the one-process batch.
 * - Batches are int64 tokens [b, N] (grids flattened row-major) and int64 labels [b], gathered straight from
 *   the file mapping on a background native thread that keeps `prefetch` batches ready.
 * - The last `heldout` examples (a count, or a fraction of the dataset) are never shuffled into training.
 * - `position` ({epoch, step}) is where the next batch comes from; `seek(position)` resumes there.
 * - Token ids (and labels) are range-checked once, at open, in one pass over the data: a bad id is E_RANGE
 *   naming the example, the position and the value.
 */
import { native } from './binding';
import { check } from './errors';
import type { NativeTokenBatch, NativeTokenDataset } from './native';
import { npyInfo } from './npy';
import { Tensor } from './tensor';
import { nonNegativeInteger, positiveInteger } from './validation';

export interface DatasetPosition {
  epoch: number;
  /** Batches of this epoch already consumed. */
  step: number;
}

export interface TokenBatch {
  /** int64 [b, N] */
  tokens: Tensor;
  /** int64 [b], when the dataset has labels */
  labels?: Tensor;
  /** Where this batch came from (epoch and step; held-out batches have epoch -1 and step = batch index). */
  position: DatasetPosition;
}

export interface TokenDatasetOptions {
  /** The global batch size (all ranks together); a multiple of worldSize. */
  batchSize: number;
  /** Shuffle seed (default 0). */
  seed?: number;
  /** Held-out examples at the end: a count (integer >= 0) or a fraction in (0, 1). Default 0. */
  heldout?: number;
  rank?: number;
  worldSize?: number;
  /** When given, every token id must be below it. */
  vocabSize?: number;
  /** When given, every label must be below it. */
  numClasses?: number;
  /** Batches prepared ahead on the background thread (default 2). */
  prefetch?: number;
}

export interface OpenTokenDatasetOptions extends TokenDatasetOptions {
  /** Path of the tokens .npy file. */
  tokens: string;
  /** Path of the labels .npy file. */
  labels?: string;
}

/** Validates the options and turns a held-out fraction into a count for a dataset of `size` examples. */
function resolveOptions(options: TokenDatasetOptions, size: number): Required<Omit<TokenDatasetOptions, 'vocabSize' | 'numClasses'>> & Pick<TokenDatasetOptions, 'vocabSize' | 'numClasses'> {
  check(options !== null && typeof options === 'object', 'E_TYPE', 'expected an options object');
  positiveInteger(options.batchSize, 'batchSize');
  const seed = options.seed ?? 0;
  nonNegativeInteger(seed, 'seed');
  const worldSize = options.worldSize ?? 1;
  positiveInteger(worldSize, 'worldSize');
  const rank = options.rank ?? 0;
  nonNegativeInteger(rank, 'rank');
  check(rank < worldSize, 'E_RANGE', `expected rank < worldSize, got rank ${rank} of ${worldSize}`);
  check(options.batchSize % worldSize === 0, 'E_CONFIG', `the global batchSize ${options.batchSize} must be a multiple of worldSize ${worldSize}`);
  let heldout = options.heldout ?? 0;
  check(typeof heldout === 'number' && Number.isFinite(heldout) && heldout >= 0, 'E_RANGE', `expected heldout to be a count >= 0 or a fraction in (0, 1), got ${String(heldout)}`);
  if (heldout > 0 && heldout < 1) heldout = Math.floor(size * heldout);
  check(Number.isSafeInteger(heldout), 'E_RANGE', `expected heldout to be an integer count or a fraction in (0, 1), got ${heldout}`);
  if (options.vocabSize !== undefined) positiveInteger(options.vocabSize, 'vocabSize');
  if (options.numClasses !== undefined) positiveInteger(options.numClasses, 'numClasses');
  const prefetch = options.prefetch ?? 2;
  positiveInteger(prefetch, 'prefetch');
  return { batchSize: options.batchSize, seed, heldout, rank, worldSize, vocabSize: options.vocabSize, numClasses: options.numClasses, prefetch };
}

function wrapBatch(raw: NativeTokenBatch): TokenBatch {
  const batch: TokenBatch = { tokens: new Tensor(raw.tokens), position: { epoch: raw.epoch, step: raw.step } };
  if (raw.labels) batch.labels = new Tensor(raw.labels);
  return batch;
}

export class TokenDataset {
  private handle: NativeTokenDataset | undefined;
  private queue: Promise<unknown> = Promise.resolve();
  /** Total examples, training plus held-out. */
  readonly size: number;
  readonly trainSize: number;
  readonly heldoutSize: number;
  /** Full global batches per epoch (a partial last batch is dropped, so every rank takes the same steps). */
  readonly stepsPerEpoch: number;
  /** Rows per batch on this rank (batchSize / worldSize). */
  readonly localBatchSize: number;
  readonly batchSize: number;
  /** N, the tokens per example. */
  readonly sequenceLength: number;
  /** The per-example shape in the file: [H, W] or [N]. */
  readonly gridShape: number[];
  /** The largest token id present (for checking against a model's K). */
  readonly maxToken: number;
  readonly hasLabels: boolean;
  /** The largest label present, when there are labels. */
  readonly maxLabel?: number;

  private constructor(handle: NativeTokenDataset, batchSize: number) {
    this.handle = handle;
    this.batchSize = batchSize;
    const info = handle.info();
    this.size = info.size;
    this.trainSize = info.trainSize;
    this.heldoutSize = info.heldoutSize;
    this.stepsPerEpoch = info.stepsPerEpoch;
    this.localBatchSize = info.localBatchSize;
    this.sequenceLength = info.sequenceLength;
    this.gridShape = info.gridShape;
    this.maxToken = info.maxToken;
    this.hasLabels = info.hasLabels;
    if (info.maxLabel !== undefined) this.maxLabel = info.maxLabel;
  }

  /** Opens token (and label) .npy files, memory-mapped; checks every id once before resolving. */
  static async open(options: OpenTokenDatasetOptions): Promise<TokenDataset> {
    check(options !== null && typeof options === 'object', 'E_TYPE', 'expected an options object with tokens, batchSize, ...');
    check(typeof options.tokens === 'string' && options.tokens.length > 0, 'E_TYPE', `expected a path string for tokens, got ${String(options.tokens)}`);
    check(options.labels === undefined || (typeof options.labels === 'string' && options.labels.length > 0), 'E_TYPE', `expected a path string for labels, got ${String(options.labels)}`);
    const shape = npyInfo(options.tokens).shape;
    const size = shape[0] ?? 0;
    // a scalar file is a shape error, left to the native check
    check(shape.length === 0 || size > 0, 'E_DATA', `the token file ${options.tokens} holds no examples (shape [${shape.join(', ')}]): give a file with at least one token grid`);
    const resolved = resolveOptions(options, size);
    const handle = await native().openTokenDataset(options.tokens, options.labels, resolved);
    return new TokenDataset(handle, resolved.batchSize);
  }

  /** A dataset over tokens ([n, H, W] or [n, N], integer) and optional labels ([n]) held in memory. */
  static async fromTensor(tokens: Tensor, labels: Tensor | undefined, options: TokenDatasetOptions): Promise<TokenDataset> {
    check(tokens instanceof Tensor, 'E_TYPE', `expected a Tensor for tokens, got ${typeof tokens}`);
    check(labels === undefined || labels instanceof Tensor, 'E_TYPE', `expected a Tensor or undefined for labels, got ${typeof labels}`);
    check((tokens.shape[0] ?? 0) > 0, 'E_DATA', `the tokens hold no examples (shape [${tokens.shape.join(', ')}]): give at least one token grid`);
    const resolved = resolveOptions(options, tokens.shape[0] ?? 0);
    const handle = await native().tokenDatasetFromTensors(tokens.handle, labels?.handle, resolved);
    return new TokenDataset(handle, resolved.batchSize);
  }

  private live(): NativeTokenDataset {
    check(this.handle, 'E_DISPOSED', 'this dataset was disposed and can no longer be used');
    return this.handle;
  }

  /** This rank's next training batch. Calls are served in order; the epoch rolls over by itself. */
  next(): Promise<TokenBatch> {
    const handle = this.live();
    const result = this.queue.then(() => handle.next()).then(wrapBatch);
    this.queue = result.catch(() => undefined);
    return result;
  }

  /** Where the next batch comes from. Record it in checkpoints; seek() to it on resume. */
  get position(): DatasetPosition {
    return this.live().position();
  }

  seek(position: DatasetPosition): void {
    check(position !== null && typeof position === 'object', 'E_TYPE', 'expected a position {epoch, step}');
    nonNegativeInteger(position.epoch, 'position.epoch');
    nonNegativeInteger(position.step, 'position.step');
    check(position.step < this.stepsPerEpoch, 'E_RANGE', `expected position.step < ${this.stepsPerEpoch} (steps per epoch), got ${position.step}`);
    this.live().seek(position.epoch, position.step);
  }

  /** The held-out examples in file order, in global batches of `batchSize` (default: the training batch size); this rank's share of each. */
  *heldoutBatches(batchSize: number = this.batchSize): Generator<TokenBatch> {
    positiveInteger(batchSize, 'batchSize');
    const handle = this.live();
    const count = handle.heldoutBatchCount(batchSize);
    for (let i = 0; i < count; i++) yield wrapBatch(this.live().heldoutBatch(i, batchSize));
  }

  /** Stops the prefetch thread and frees the mapping. Idempotent; later use throws E_DISPOSED. */
  dispose(): void {
    this.handle?.dispose();
    this.handle = undefined;
  }

  [Symbol.dispose](): void {
    this.dispose();
  }
}
