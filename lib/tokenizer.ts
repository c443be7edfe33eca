/**
 * The VQ-VAE image tokenizer: images [n, C, H, W] (float32 in [0, 1]) <-> token grids [n, H / f, W / f] with ids
 * in [0, codebookSize). A convolutional encoder and decoder with residual blocks, a codebook learned by EMA
 * (k-means-like) with a commitment loss, data-dependent initialisation and restart of dead codes; trained with
 * Adam on the reconstruction MSE. Checkpoints are .safetensors with the config under "lcmd.tokenizer.config".
 */
import { withCancel } from './async';
import { native } from './binding';
import { check } from './errors';
import type { NativeTokenizer, ProgressEvent } from './native';
import { readSafetensorsMetadata } from './safetensors';
import { Tensor } from './tensor';
import { describe, nonNegativeInteger, positiveInteger, positiveNumber } from './validation';

/** The header entry that says what a .safetensors file is, and the value the native tokenizer save() writes. */
const FORMAT_KEY = 'lcmd.format';
const TOKENIZER_FORMAT = 'tokenizer';

export interface TokenizerConfig {
  /** 1 (grayscale) or 3 (RGB). */
  inChannels: number;
  /** Channels at the token resolution (earlier stages have half as many per halving, at least 8). */
  hiddenChannels: number;
  /** Residual blocks at the token resolution, in the encoder and in the decoder. */
  resBlocks: number;
  /** Bottleneck width inside a residual block. */
  resChannels: number;
  /** Image side / token-grid side: 2, 4 or 8. */
  downsample: number;
  /** K, the number of codes. */
  codebookSize: number;
  /** Width of a code vector. */
  codeDim: number;
  /** EMA rate of the codebook updates. */
  emaDecay: number;
  /** Weight of ||z - sg(code)||^2. */
  commitmentWeight: number;
  /** A code unused for this many training steps is restarted from an encoder output (0: never). */
  deadCodeSteps: number;
}

export const DEFAULT_TOKENIZER_CONFIG: TokenizerConfig = {
  inChannels: 1,
  hiddenChannels: 64,
  resBlocks: 2,
  resChannels: 32,
  downsample: 4,
  codebookSize: 256,
  codeDim: 64,
  emaDecay: 0.99,
  commitmentWeight: 0.25,
  deadCodeSteps: 10,
};

export interface TokenizerPreset {
  config: TokenizerConfig;
  /** Recommended training settings for the preset. */
  train: { steps: number; batchSize: number; lr: number };
  /** What the preset was measured to reach (see the note beside each preset). */
  measured?: string;
}

/**
 * Named presets. `mnist`: 28x28 digits -> 7x7 tokens, K = 256.
 */
export const TOKENIZER_PRESETS: Record<string, TokenizerPreset> = {
  mnist: {
    config: { ...DEFAULT_TOKENIZER_CONFIG },
    train: { steps: 1500, batchSize: 64, lr: 2e-3 },
  },
};

export interface TokenizerProgress {
  step: number;
  steps: number;
  loss: number;
  /** MSE of the step's batch */
  reconstruction: number;
  /** 10 log10(1 / reconstruction) */
  psnr: number;
  commitment: number;
  /** exp(entropy) of the batch's code frequencies */
  perplexity: number;
  /** Fraction of codes chosen in the batch */
  usage: number;
  /** Dead codes restarted so far in this call */
  restarted: number;
  imagesPerSecond: number;
}

export interface TokenizerTrainOptions {
  steps: number;
  batchSize?: number;
  lr?: number;
  seed?: number;
  /** Progress every this many steps (default 10) */
  reportEvery?: number;
  signal?: AbortSignal;
  onProgress?: (progress: TokenizerProgress) => void;
}

export interface TokenizerTrainResult {
  steps: number;
  loss: number;
  reconstruction: number;
  commitment: number;
  perplexity: number;
  usage: number;
  restarted: number;
  seconds: number;
}

export interface TokenizerEvaluation {
  count: number;
  /** Mean squared error per pixel of the clamped reconstruction (images in [0, 1]). */
  mse: number;
  /** 10 log10(1 / mse), the PSNR of the mean MSE, in dB. */
  psnr: number;
  /** Fraction of the codebook used at least once on the set. */
  usage: number;
  /** exp(entropy) of the code frequencies on the set (K when all codes are equally used). */
  perplexity: number;
}

const CONFIG_KEYS = Object.keys(DEFAULT_TOKENIZER_CONFIG) as (keyof TokenizerConfig)[];

export class Tokenizer {
  private handle: NativeTokenizer | undefined;
  /** The architecture and codebook settings. */
  readonly config: TokenizerConfig;

  private constructor(handle: NativeTokenizer) {
    this.handle = handle;
    this.config = JSON.parse(handle.config()) as TokenizerConfig;
  }

  /** A new, untrained tokenizer from a preset name or a (partial) config; `seed` fixes the initial weights. */
  static create(config: Partial<TokenizerConfig> | string = 'mnist', options: { seed?: number } = {}): Tokenizer {
    let full: TokenizerConfig;
    if (typeof config === 'string') {
      const preset = TOKENIZER_PRESETS[config];
      check(preset, 'E_CONFIG', `unknown tokenizer preset '${config}': expected one of ${Object.keys(TOKENIZER_PRESETS).join(', ')}`);
      full = { ...preset.config };
    } else {
      check(config !== null && typeof config === 'object', 'E_TYPE', 'expected a tokenizer config object or a preset name');
      for (const key of Object.keys(config)) check(CONFIG_KEYS.includes(key as keyof TokenizerConfig), 'E_CONFIG', `unknown tokenizer config key '${key}': expected ${CONFIG_KEYS.join(', ')}`);
      full = { ...DEFAULT_TOKENIZER_CONFIG, ...config };
    }
    const seed = options.seed ?? 0;
    nonNegativeInteger(seed, 'seed');
    return new Tokenizer(native().createTokenizer(JSON.stringify(full), seed));
  }

  /**
   * Loads a tokenizer checkpoint written by save(). Its header must say `"lcmd.format": "tokenizer"` (save() has
   * always written it): a file without it, or of another format, is E_CHECKPOINT naming the file.
   */
  static async load(path: string): Promise<Tokenizer> {
    check(typeof path === 'string' && path.length > 0, 'E_TYPE', 'expected a path string for the tokenizer checkpoint');
    const format = readSafetensorsMetadata(path)[FORMAT_KEY];
    check(format === TOKENIZER_FORMAT, 'E_CHECKPOINT', () =>
      format === undefined
        ? `'${path}' is not an lcmd tokenizer checkpoint: its metadata has no "${FORMAT_KEY}" entry (lcmd tokenize train writes "${TOKENIZER_FORMAT}")`
        : `'${path}' is not an lcmd tokenizer checkpoint: its "${FORMAT_KEY}" is ${JSON.stringify(format)}, expected "${TOKENIZER_FORMAT}"`);
    return new Tokenizer(await native().loadTokenizer(path));
  }

  private live(): NativeTokenizer {
    check(this.handle, 'E_DISPOSED', 'this Tokenizer was disposed and can no longer be used');
    return this.handle;
  }

  /** Training steps taken so far (saved with the checkpoint). */
  get stepsTrained(): number {
    return this.live().stepsTrained();
  }

  /** The token grid [h, w] for images of height x width. */
  tokenGrid(height: number, width: number): [number, number] {
    const f = this.config.downsample;
    check(height % f === 0 && width % f === 0, 'E_SHAPE', `images of ${height}x${width} are not multiples of the downsampling factor ${f}`);
    return [height / f, width / f];
  }

  private checkImages(images: Tensor, what = 'images'): void {
    check(images instanceof Tensor, 'E_TYPE', `expected a Tensor for ${what}`);
    const s = images.shape;
    const c = this.config.inChannels;
    check(images.dtype === 'float32', 'E_DTYPE', () => `expected float32 ${what} in [0, 1], got ${describe(images)}`);
    check(s.length === 4 && s[1] === c, 'E_SHAPE', () => `expected ${what} of shape [n, ${c}, H, W], got ${describe(images)}`);
    const f = this.config.downsample;
    check(s[2] % f === 0 && s[3] % f === 0, 'E_SHAPE', () => `${what} of ${s[2]}x${s[3]} pixels cannot be tokenized with downsampling ${f}: height and width must be multiples of ${f}`);
  }

  /** Trains for `options.steps` steps on random batches of `images`; resolves with the last step's numbers. */
  async train(images: Tensor, options: TokenizerTrainOptions): Promise<TokenizerTrainResult> {
    this.checkImages(images, 'training images');
    check(options !== null && typeof options === 'object', 'E_TYPE', 'expected training options {steps, ...}');
    positiveInteger(options.steps, 'steps');
    const batchSize = options.batchSize ?? 64;
    positiveInteger(batchSize, 'batchSize');
    const lr = options.lr ?? 2e-3;
    positiveNumber(lr, 'lr');
    const seed = options.seed ?? 0;
    nonNegativeInteger(seed, 'seed');
    const reportEvery = options.reportEvery ?? 10;
    positiveInteger(reportEvery, 'reportEvery');
    const handle = this.live();
    const onProgress = options.onProgress ? (e: ProgressEvent) => options.onProgress!(e as unknown as TokenizerProgress) : undefined;
    return withCancel(options.signal, (token) => handle.train(images.handle, { steps: options.steps, batchSize, lr, seed, reportEvery }, token, onProgress));
  }

  /** Images -> int32 tokens [n, h, w]. */
  async encode(images: Tensor, options: { batchSize?: number; signal?: AbortSignal } = {}): Promise<Tensor> {
    this.checkImages(images);
    const batchSize = options.batchSize ?? 256;
    positiveInteger(batchSize, 'batchSize');
    const handle = this.live();
    return new Tensor(await withCancel(options.signal, (token) => handle.encode(images.handle, batchSize, token)));
  }

  /**
   * Tokens -> float32 images [n, C, h * f, w * f] in [0, 1]. Tokens are [n, h, w], or [n, N] with `grid`
   * ([h, w]; by default a square grid).
   */
  async decode(tokens: Tensor, options: { batchSize?: number; grid?: [number, number]; signal?: AbortSignal } = {}): Promise<Tensor> {
    check(tokens instanceof Tensor, 'E_TYPE', 'expected a Tensor for tokens');
    check(['int64', 'int32', 'int16', 'uint8'].includes(tokens.dtype), 'E_DTYPE', () => `expected integer tokens, got ${describe(tokens)}`);
    const s = tokens.shape;
    check(s.length === 3 || s.length === 2, 'E_SHAPE', () => `expected tokens of shape [n, h, w] or [n, N], got ${describe(tokens)}`);
    let grid = options.grid;
    if (s.length === 2) {
      if (!grid) {
        const side = Math.round(Math.sqrt(s[1]));
        check(side * side === s[1], 'E_SHAPE', `tokens of length ${s[1]} are not a square grid: pass grid: [h, w]`);
        grid = [side, side];
      }
      check(Array.isArray(grid) && grid.length === 2 && grid[0] * grid[1] === s[1], 'E_SHAPE', `grid [${String(grid)}] does not hold ${s[1]} tokens`);
    }
    const batchSize = options.batchSize ?? 256;
    positiveInteger(batchSize, 'batchSize');
    const handle = this.live();
    return new Tensor(await withCancel(options.signal, (token) => handle.decode(tokens.handle, batchSize, s.length === 2 ? grid : undefined, token)));
  }

  /** Reconstruction MSE / PSNR and codebook usage / perplexity on a (held-out) set of images. */
  async evaluate(images: Tensor, options: { batchSize?: number; signal?: AbortSignal } = {}): Promise<TokenizerEvaluation> {
    this.checkImages(images);
    check(images.shape[0] > 0, 'E_SHAPE', 'evaluation needs at least one image');
    const batchSize = options.batchSize ?? 256;
    positiveInteger(batchSize, 'batchSize');
    const handle = this.live();
    return withCancel(options.signal, (token) => handle.evaluate(images.handle, batchSize, token));
  }

  /** Writes a .safetensors checkpoint (atomically). */
  async save(path: string): Promise<void> {
    check(typeof path === 'string' && path.length > 0, 'E_TYPE', 'expected a path string for the tokenizer checkpoint');
    await this.live().save(path);
  }

  /** Frees the native model. Idempotent; later use throws E_DISPOSED. */
  dispose(): void {
    this.handle?.dispose();
    this.handle = undefined;
  }

  [Symbol.dispose](): void {
    this.dispose();
  }
}
