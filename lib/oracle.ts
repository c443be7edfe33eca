/**
 * The oracle denoiser: an exact p(x | z_t) for a tiny dataset of M token grids, for testing and analysing samplers.
 * It is not a model: it knows its data. Use it wherever `sample()` takes a model.
 *
 * Under the forward process q(z_t | x) = N(alpha_t e_x, sigma_t^2 I), the posterior over the grids is
 * p(m | z_t) ∝ w_m Π_i N(z_i; alpha_t e_{x_m,i}, sigma_t^2 I) (float64, log-space), and its logits are the log of the
 * per-token marginals p(x_i = k | z_t) = Σ_m p(m | z_t) [x_{m,i} = k], floored at -1e4.
 * With classes, class c restricts the mixture to grids of class c (or, with `classLeak` > 0, down-weights the other
 * grids by that factor); the null class `numClasses` uses every grid.
 */
import { native } from './binding';
import { check } from './errors';
import type { NativeOracleDenoiser } from './native';
import type { SampleableModel, SamplingGrid } from './sampler';
import { Tensor } from './tensor';
import { positiveNumber } from './validation';

export interface OracleDenoiserOptions {
  /** int32 [M, H, W]: the dataset, tokens in [0, K). */
  grids: Tensor;
  /** float32 [K, d]: the embedding table. */
  embeddings: Tensor;
  /** One class per grid, in [0, numClasses). Makes the oracle class-conditional. */
  classes?: readonly number[] | Int32Array;
  /** Number of classes C (default: 1 + the largest class given, 0 without classes). */
  numClasses?: number;
  /** Prior weight of each grid, positive (default: equal). Normalised. */
  weights?: readonly number[] | Float64Array;
  /** In [0, 1] (default 0): the prior weight factor of grids of another class under a class condition. */
  classLeak?: number;
  /** Noise schedule shift s (default 0.1, as the models). */
  shift?: number;
  /** 'cpu' (default) or a CUDA device. */
  device?: string;
}

export interface OracleConfig extends SamplingGrid {
  /** d */
  readonly embedDim: number;
  /** the noise schedule's shift s */
  readonly shift: number;
  readonly device: string;
}

export class OracleDenoiser implements SampleableModel {
  /** @internal */
  readonly handle: NativeOracleDenoiser;
  readonly config: OracleConfig;

  /** @internal Use {@link createOracleDenoiser}. */
  constructor(handle: NativeOracleDenoiser) {
    this.handle = handle;
    const info = handle.info();
    this.config = Object.freeze({
      height: info.height,
      width: info.width,
      vocabSize: info.vocabSize,
      numClasses: info.numClasses,
      embedDim: info.embedDim,
      shift: info.shift,
      device: info.device,
    });
  }

  /** Logits [B, N, K] for z [B, N, d] (float32), t [B] (float32) and optional classes [B] (int32/int64, numClasses = null). */
  logits(z: Tensor, t: Tensor, classes?: Tensor): Tensor {
    return new Tensor(this.handle.logits(z.handle, t.handle, classes?.handle));
  }

  get disposed(): boolean {
    return this.handle.isDisposed();
  }

  /** Idempotent. A sampling call already running keeps the oracle alive until it ends. */
  dispose(): void {
    this.handle.dispose();
  }

  [Symbol.dispose](): void {
    this.dispose();
  }
}

/** Creates an {@link OracleDenoiser} (a test and analysis tool; see the module comment). */
export function createOracleDenoiser(options: OracleDenoiserOptions): OracleDenoiser {
  check(typeof options === 'object' && options !== null, 'E_TYPE', 'expected oracle options { grids, embeddings, ... }');
  const { grids, embeddings } = options;
  check(grids instanceof Tensor && embeddings instanceof Tensor, 'E_TYPE', 'expected grids and embeddings to be Tensors');
  check(grids.shape.length === 3 && grids.shape.every((d) => d > 0), 'E_SHAPE', `expected grids of shape [M, H, W], got [${grids.shape.join(', ')}]`);
  check(grids.dtype === 'int32', 'E_DTYPE', `expected int32 grids, got ${grids.dtype}`);
  check(embeddings.shape.length === 2 && embeddings.shape.every((d) => d > 0), 'E_SHAPE',
    `expected embeddings of shape [K, d], got [${embeddings.shape.join(', ')}]`);
  check(embeddings.dtype === 'float32', 'E_DTYPE', `expected float32 embeddings, got ${embeddings.dtype}`);
  const m = grids.shape[0];
  const owned: Tensor[] = [];
  try {
    let numClasses = options.numClasses ?? 0;
    let classes: Tensor | undefined;
    if (options.classes !== undefined) {
      const list = Int32Array.from(options.classes);
      check(list.length === m, 'E_SHAPE', `expected ${m} classes (one per grid), got ${list.length}`);
      numClasses = options.numClasses ?? Math.max(...list) + 1;
      classes = Tensor.from(list, [m], 'int32');
      owned.push(classes);
    }
    check(Number.isSafeInteger(numClasses) && numClasses >= 0, 'E_RANGE', `expected numClasses to be a non-negative integer, got ${numClasses}`);
    let weights: Tensor | undefined;
    if (options.weights !== undefined) {
      const list = Float64Array.from(options.weights);
      check(list.length === m, 'E_SHAPE', `expected ${m} weights (one per grid), got ${list.length}`);
      check(list.every((w) => Number.isFinite(w) && w > 0), 'E_RANGE', 'oracle weights must be finite and positive');
      weights = Tensor.from(list, [m], 'float64');
      owned.push(weights);
    }
    const leak = options.classLeak ?? 0;
    check(typeof leak === 'number' && leak >= 0 && leak <= 1, 'E_RANGE', `expected classLeak in [0, 1], got ${leak}`);
    const shift = options.shift ?? 0.1;
    positiveNumber(shift, 'shift');
    const handle = new (native().OracleDenoiser)(grids.handle, embeddings.handle, {
      classes: classes?.handle,
      numClasses,
      weights: weights?.handle,
      classLeak: leak,
      shift,
      device: options.device,
    });
    return new OracleDenoiser(handle);
  } finally {
    for (const t of owned) t.dispose();
  }
}
