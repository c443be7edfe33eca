/**
 * Sample quality for datasets with a small labelled image set (MNIST-like data). A small CNN classifier, the
 * scorer, is trained once on labelled images and saved; generated images are then compared with real ones in the
 * scorer's 128-dimensional feature space. This is NOT Inception FID: numbers are comparable only between runs scored
 * with the same scorer file, and every result carries a real-vs-real floor at the same n.
 *
 * Metrics: Frechet distance (float64, eigendecomposition square root with its residual), precision and recall
 * (Kynkaanniemi et al. 2019, k = 3), density and coverage (Naeem et al. 2020, k = 5), class agreement with the
 * requested labels, and the fraction of exact duplicates among the generated images.
 */
import { withCancel } from './async';
import { native } from './binding';
import { check } from './errors';
import type { NativeScorer, ProgressEvent } from './native';
import { Tensor } from './tensor';

export interface ScorerConfig {
  channels: number;
  height: number;
  width: number;
  numClasses: number;
  features: number;
}

export interface SampleScore {
  /** generated images scored */
  n: number;
  /** real images in the reference set */
  referenceCount: number;
  frechetDistance: number;
  /** relative residual of the matrix square root inside the Frechet distance (should be far below 1e-3) */
  sqrtResidual: number;
  precision: number;
  recall: number;
  density: number;
  coverage: number;
  /** share of generated images the scorer classifies as their requested label (undefined without labels) */
  classAgreement?: number;
  /** share of generated images equal, pixel for pixel, to an earlier one */
  duplicateFraction: number;
}

function describeShape(t: Tensor): string {
  return `${t.dtype} [${t.shape.join(', ')}]`;
}

export class Scorer {
  private handle: NativeScorer | undefined;
  readonly config: ScorerConfig;

  private constructor(handle: NativeScorer) {
    this.handle = handle;
    this.config = JSON.parse(handle.config()) as ScorerConfig;
  }

  /** An untrained scorer for images of [channels, height, width] and `numClasses` labels; `seed` fixes the initial weights. */
  static create(config: Omit<ScorerConfig, 'features'> & { features?: number }, options: { seed?: number } = {}): Scorer {
    check(config !== null && typeof config === 'object', 'E_TYPE', 'expected a scorer config {channels, height, width, numClasses}');
    const full: ScorerConfig = { features: 128, ...config };
    const seed = options.seed ?? 0;
    check(Number.isSafeInteger(seed) && seed >= 0, 'E_RANGE', `expected a non-negative integer for seed, got ${String(seed)}`);
    return new Scorer(native().createScorer(JSON.stringify(full), seed));
  }

  /** Loads a scorer written by save(). */
  static async load(path: string): Promise<Scorer> {
    check(typeof path === 'string' && path.length > 0, 'E_TYPE', 'expected a path string for the scorer file');
    return new Scorer(await native().loadScorer(path));
  }

  private live(): NativeScorer {
    check(this.handle, 'E_DISPOSED', 'this Scorer was disposed and can no longer be used');
    return this.handle;
  }

  private checkImages(images: Tensor, what: string): void {
    check(images instanceof Tensor, 'E_TYPE', `expected a Tensor for ${what}`);
    const { channels, height, width } = this.config;
    const s = images.shape;
    check(images.dtype === 'float32', 'E_DTYPE', () => `expected float32 ${what} in [0, 1], got ${describeShape(images)}`);
    check(s.length === 4 && s[1] === channels && s[2] === height && s[3] === width && s[0] > 0, 'E_SHAPE',
      () => `expected ${what} of shape [n, ${channels}, ${height}, ${width}] (the scorer's image size), got ${describeShape(images)}`);
  }

  /** Trains the classifier with Adam on random batches of labelled images. */
  async train(images: Tensor, labels: Tensor, options: { steps?: number; batchSize?: number; lr?: number; seed?: number; signal?: AbortSignal; onProgress?: (e: ProgressEvent) => void } = {}) {
    this.checkImages(images, 'training images');
    check(labels instanceof Tensor && labels.shape.length === 1 && labels.shape[0] === images.shape[0], 'E_SHAPE',
      () => `expected one label per training image ([${images.shape[0]}]), got ${labels instanceof Tensor ? describeShape(labels) : typeof labels}`);
    const steps = options.steps ?? 1500, batchSize = options.batchSize ?? 128, lr = options.lr ?? 1e-3, seed = options.seed ?? 0;
    for (const [name, v] of [['steps', steps], ['batchSize', batchSize]] as const)
      check(Number.isSafeInteger(v) && v > 0, 'E_RANGE', `expected a positive integer for ${name}, got ${String(v)}`);
    check(Number.isFinite(lr) && lr > 0, 'E_RANGE', `expected a positive number for lr, got ${String(lr)}`);
    const handle = this.live();
    return withCancel(options.signal, (token) => handle.train(images.handle, labels.handle, { steps, batchSize, lr, seed }, token, options.onProgress));
  }

  /** Features [n, F] and predicted classes (int32 [n]) of images. */
  async embed(images: Tensor, options: { batchSize?: number; signal?: AbortSignal } = {}): Promise<{ features: Tensor; classes: Int32Array }> {
    this.checkImages(images, 'images');
    const handle = this.live();
    const out = await withCancel(options.signal, (token) => handle.embed(images.handle, options.batchSize ?? 500, token));
    const classes = new Tensor(out.classes);
    const result = { features: new Tensor(out.features), classes: classes.toTypedArray() as Int32Array };
    classes.dispose();
    return result;
  }

  /**
   * Scores generated images against real ones. `labels` are the classes the generated images were asked for
   * (class agreement is reported only with them).
   */
  async score(generated: Tensor, reference: Tensor, options: { labels?: ArrayLike<number>; signal?: AbortSignal } = {}): Promise<SampleScore> {
    const n = generated.shape[0];
    check(n > 5 && reference.shape[0] > 5, 'E_SHAPE', `scoring needs more than 5 images on each side, got ${n} generated and ${reference.shape[0]} real`);
    const labels = options.labels;
    check(labels === undefined || labels.length === n, 'E_SHAPE', () => `expected ${n} labels for the generated images, got ${labels!.length}`);
    const gen = await this.embed(generated, options);
    const real = await this.embed(reference, options);
    try {
      const metrics = await native().sampleMetrics(real.features.handle, gen.features.handle, 3, 5);
      let agree = 0;
      if (labels) for (let i = 0; i < n; i++) agree += gen.classes[i] === labels[i] ? 1 : 0;
      return {
        n,
        referenceCount: reference.shape[0],
        ...metrics,
        classAgreement: labels ? agree / n : undefined,
        duplicateFraction: native().duplicateFraction(generated.handle),
      };
    } finally {
      gen.features.dispose();
      real.features.dispose();
    }
  }

  /** Writes the scorer as .safetensors (atomically). */
  async save(path: string): Promise<void> {
    check(typeof path === 'string' && path.length > 0, 'E_TYPE', 'expected a path string for the scorer file');
    await this.live().save(path);
  }

  dispose(): void {
    this.handle?.dispose();
    this.handle = undefined;
  }

  [Symbol.dispose](): void {
    this.dispose();
  }
}

/** A deterministic permutation of 0 .. n-1 (mulberry32 + Fisher-Yates), the same on every machine. */
export function seededPermutation(n: number, seed: number): Int32Array {
  let state = seed >>> 0;
  const next = () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let x = state;
    x = Math.imul(x ^ (x >>> 15), x | 1);
    x ^= x + Math.imul(x ^ (x >>> 7), x | 61);
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
  const p = new Int32Array(n);
  for (let i = 0; i < n; i++) p[i] = i;
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(next() * (i + 1));
    [p[i], p[j]] = [p[j], p[i]];
  }
  return p;
}

/** Rows `indices` of a float32 image tensor [n, C, H, W]. */
export function selectImages(images: Tensor, indices: ArrayLike<number>): Tensor {
  const [n, c, h, w] = images.shape;
  const plane = c * h * w;
  const data = images.toTypedArray() as Float32Array;
  const out = new Float32Array(indices.length * plane);
  for (let i = 0; i < indices.length; i++) {
    const k = indices[i];
    check(Number.isInteger(k) && k >= 0 && k < n, 'E_RANGE', `image index ${k} is outside [0, ${n})`);
    out.set(data.subarray(k * plane, (k + 1) * plane), i * plane);
  }
  return Tensor.from(out, [indices.length, c, h, w], 'float32');
}

export interface QualityReport {
  /** the generated images against the reference set */
  score: SampleScore;
  /** a second real set of the same size against the reference: what a perfect generator would get */
  floor: SampleScore;
}

/**
 * Scores `generated` against a fixed random subset of `realImages` of the same size (at most half the real set), and
 * the real-vs-real floor at that n. `realLabels`, when given, also gives the floor's class agreement.
 */
export async function scoreAgainstReal(
  scorer: Scorer,
  generated: Tensor,
  realImages: Tensor,
  options: { labels?: ArrayLike<number>; realLabels?: ArrayLike<number>; seed?: number; signal?: AbortSignal } = {},
): Promise<QualityReport> {
  const n = generated.shape[0];
  const total = realImages.shape[0];
  check(2 * n <= total, 'E_RANGE', `scoring ${n} generated images needs ${2 * n} real ones (a reference and a floor set); the real source has ${total}`);
  const p = seededPermutation(total, options.seed ?? 0);
  const refIndex = p.subarray(0, n), floorIndex = p.subarray(n, 2 * n);
  const reference = selectImages(realImages, refIndex);
  const floorSet = selectImages(realImages, floorIndex);
  try {
    const floorLabels = options.realLabels ? Array.from(floorIndex, (i) => options.realLabels![i]) : undefined;
    const score = await scorer.score(generated, reference, { labels: options.labels, signal: options.signal });
    const floor = await scorer.score(floorSet, reference, { labels: floorLabels, signal: options.signal });
    return { score, floor };
  } finally {
    reference.dispose();
    floorSet.dispose();
  }
}
