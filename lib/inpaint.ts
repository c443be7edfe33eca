/**
 * Inpainting and infilling from images or token grids: encode the images (with the tokenizer), keep every token
 * outside the region, sample the region with the model (the sampler's `known` tokens, so MaskGIT models work too),
 * and decode the completions.
 *
 * Completion c of input j is sample j * k + c of one sampler run with the given seed: each completion has its own
 * noise streams (different seeds, in effect), the result does not depend on `batchSize`, and keeping only the first
 * inputs (a smaller limit) does not change their completions.
 */
import { check } from './errors';
import { regionCells, type InpaintRegion } from './inpaint-region';
import { sampleDetailed, type SampleableModel, type SampleOptions, type SampleProgress } from './sampler';
import { Tensor } from './tensor';
import type { Tokenizer } from './tokenizer';
import { describe, integerInRange, nonNegativeInteger, positiveInteger } from './validation';

export interface InpaintInput {
  /** float32 images [n, C, H, W] in [0, 1]; they need `tokenizer` */
  images?: Tensor;
  /** integer token grids [n, h, w], or [n, h * w] */
  tokens?: Tensor;
  /** encodes `images` and decodes the completions; optional with `tokens` (then no images come back) */
  tokenizer?: Tokenizer;
}

/** The sampler settings of {@link SampleOptions} that inpainting passes through unchanged. */
export type InpaintSamplerOptions = Pick<SampleOptions, 'sampler' | 'maskgitTemperature' | 'commitTemperature' | 'solverOrder' | 'corrector' | 'guidanceInterval' | 'gridShift' | 'timeGrid' | 'temperature' | 'infillResample'>;

export interface InpaintOptions extends InpaintSamplerOptions {
  region: InpaintRegion;
  /** completions per input, k (default 4) */
  completions?: number;
  /** required for a class-conditional model: one class for every input, or one per input (e.g. the inputs' labels) */
  classes?: number | ArrayLike<number>;
  /** classifier-free guidance weight toward those classes (default 0) */
  guidance?: number;
  steps?: number;
  seed?: number;
  batchSize?: number;
  useEma?: boolean;
  /** the region's name in error messages (default 'region'; the command line passes '--region') */
  regionName?: string;
  /** allow a region covering the whole grid (default false) */
  allowFull?: boolean;
  signal?: AbortSignal;
  onProgress?: (event: SampleProgress) => void;
}

export interface InpaintResult {
  /** inputs n and completions per input k */
  n: number;
  k: number;
  /** the token grid */
  height: number;
  width: number;
  /** [height * width]: 1 where a token was regenerated, 0 where it was kept */
  cells: Uint8Array;
  /** int32 [n, h, w]: the inputs' tokens (the encoded images, or the given grids) */
  originalTokens: Tensor;
  /** int32 [n * k, h, w]: completion c of input j is row j * k + c */
  tokens: Tensor;
  /** the class each completion was sampled toward, [n * k] (class-conditional models) */
  classes?: Int32Array;
  /** with a tokenizer: the decoded completions, float32 [n * k, C, H, W] */
  images?: Tensor;
  /** with a tokenizer: the decoded original tokens (the plain tokenizer round trip), float32 [n, C, H, W] */
  reconstructions?: Tensor;
  /** share of the kept positions, over all completions, whose token equals the original (1 by construction) */
  keptFraction: number;
  evaluationsPerSample: number;
  /** seconds spent sampling (not encoding or decoding) */
  sampleSeconds: number;
  /** frees every tensor of the result */
  dispose(): void;
}

/** Integer token grids of any integer dtype as int32 [n, h, w], checked against the model's grid and vocabulary. */
function tokenGrids(tokens: Tensor, height: number, width: number, vocabSize: number): Tensor {
  check(tokens instanceof Tensor, 'E_TYPE', () => `expected a Tensor for tokens, got ${describe(tokens)}`);
  check(['int64', 'int32', 'int16', 'uint8'].includes(tokens.dtype), 'E_DTYPE', () => `expected integer tokens, got ${describe(tokens)}`);
  const s = tokens.shape;
  const ok = (s.length === 3 && s[1] === height && s[2] === width) || (s.length === 2 && s[1] === height * width);
  check(ok && s[0] > 0, 'E_SHAPE', () => `expected tokens of shape [n, ${height}, ${width}] or [n, ${height * width}] (the model's grid), got ${describe(tokens)}`);
  const values = Int32Array.from(tokens.toTypedArray() as ArrayLike<number | bigint>, Number);
  for (let i = 0; i < values.length; i++) {
    check(values[i] >= 0 && values[i] < vocabSize, 'E_RANGE', () => `tokens must be in [0, ${vocabSize}), got ${values[i]} at flat index ${i}`);
  }
  return Tensor.from(values, [s[0], height, width], 'int32');
}

/** One class per input: a single class repeated, or a list of n. */
function inputClasses(classes: InpaintOptions['classes'], n: number, numClasses: number): Int32Array | undefined {
  if (numClasses === 0) {
    check(classes === undefined, 'E_CONFIG', 'classes were given but this model is unconditional (it has no classes)');
    return undefined;
  }
  check(classes !== undefined, 'E_CONFIG', `this model is class-conditional: give one class for every input or one per input, in [0, ${numClasses})`);
  const list = typeof classes === 'number' ? new Array<number>(n).fill(classes) : Array.from(classes, Number);
  check(list.length === n, 'E_SHAPE', `expected ${n} classes (one per input) or a single class, got ${list.length}`);
  list.forEach((c, i) => integerInRange(c, `the class of input ${i}`, 0, numClasses - 1));
  return Int32Array.from(list);
}

/** Share of the kept cells, over every completion, whose token equals the input's. */
export function keptFraction(original: Tensor, completions: Tensor, cells: Uint8Array, k: number): number {
  const a = original.toTypedArray() as Int32Array;
  const b = completions.toTypedArray() as Int32Array;
  const per = cells.length;
  const n = original.shape[0];
  let kept = 0;
  let total = 0;
  for (let j = 0; j < n; j++) {
    for (let c = 0; c < k; c++) {
      const row = (j * k + c) * per;
      for (let p = 0; p < per; p++) {
        if (cells[p]) continue;
        total++;
        if (b[row + p] === a[j * per + p]) kept++;
      }
    }
  }
  return total === 0 ? 1 : kept / total;
}

/** Regenerates `options.region` of every input `k` times; see the file comment. The caller disposes the result. */
export async function inpaint(model: SampleableModel, input: InpaintInput, options: InpaintOptions): Promise<InpaintResult> {
  check(typeof input === 'object' && input !== null, 'E_TYPE', 'expected an input { images, tokenizer } or { tokens }');
  check(typeof options === 'object' && options !== null && options.region !== undefined, 'E_TYPE', 'expected options with a region');
  const { images, tokenizer } = input;
  check((images === undefined) !== (input.tokens === undefined), 'E_CONFIG', 'give either images (with a tokenizer) or token grids, not both');
  check(images === undefined || tokenizer !== undefined, 'E_CONFIG', 'images need a tokenizer to be encoded into token grids');
  const { height, width, vocabSize, numClasses } = model.config;
  if (tokenizer) {
    check(tokenizer.config.codebookSize === vocabSize, 'E_CONFIG',
      `the tokenizer has ${tokenizer.config.codebookSize} codes, but the model's vocabulary is ${vocabSize}: use the tokenizer that made the training tokens`);
  }
  if (images) {
    check(images instanceof Tensor && images.shape.length === 4 && images.shape[0] > 0, 'E_SHAPE', () => `expected images [n, C, H, W], got ${describe(images)}`);
    const [gh, gw] = tokenizer!.tokenGrid(images.shape[2], images.shape[3]);
    check(gh === height && gw === width, 'E_SHAPE',
      `images of ${images.shape[3]}x${images.shape[2]} pixels make ${gh} x ${gw} token grids, but the model samples ${height} x ${width} grids`);
  }
  const k = options.completions ?? 4;
  positiveInteger(k, 'completions');
  const seed = options.seed ?? 0;
  nonNegativeInteger(seed, 'seed');
  // Without a tokenizer a mask PNG is at token resolution (one pixel per cell).
  const cellSize = tokenizer ? tokenizer.config.downsample : 1;
  const cells = regionCells(options.region, { gridHeight: height, gridWidth: width, cellSize, name: options.regionName, allowFull: options.allowFull });

  const owned: Tensor[] = [];
  try {
    const originalTokens = images ? await tokenizer!.encode(images, { signal: options.signal }) : tokenGrids(input.tokens!, height, width, vocabSize);
    owned.push(originalTokens);
    const n = originalTokens.shape[0];
    const perInput = inputClasses(options.classes, n, numClasses);
    const per = height * width;

    // Each input repeated k times; the known mask is the complement of the region.
    const source = originalTokens.toTypedArray() as Int32Array;
    const knownValues = new Int32Array(n * k * per);
    const knownFlags = new Uint8Array(n * k * per);
    for (let row = 0; row < n * k; row++) {
      const j = Math.floor(row / k);
      knownValues.set(source.subarray(j * per, (j + 1) * per), row * per);
      for (let p = 0; p < per; p++) knownFlags[row * per + p] = cells[p] ? 0 : 1;
    }
    const known = { tokens: Tensor.from(knownValues, [n * k, height, width], 'int32'), mask: Tensor.from(knownFlags, [n * k, height, width], 'bool') };
    owned.push(known.tokens, known.mask);
    const classes = perInput ? Int32Array.from({ length: n * k }, (_, row) => perInput[Math.floor(row / k)]) : undefined;

    const started = Date.now();
    const result = await sampleDetailed(model, {
      n: n * k,
      steps: options.steps,
      sampler: options.sampler,
      maskgitTemperature: options.maskgitTemperature,
      commitTemperature: options.commitTemperature,
      solverOrder: options.solverOrder,
      corrector: options.corrector,
      guidanceInterval: options.guidanceInterval,
      gridShift: options.gridShift,
      timeGrid: options.timeGrid,
      temperature: options.temperature,
      guidance: options.guidance ?? 0,
      classes,
      seed,
      batchSize: options.batchSize,
      known,
      infillResample: options.infillResample,
      useEma: options.useEma,
      signal: options.signal,
      onProgress: options.onProgress,
    });
    const sampleSeconds = (Date.now() - started) / 1000;
    const tokens = result.tokens;
    owned.push(tokens);
    known.tokens.dispose();
    known.mask.dispose();

    const decoded = tokenizer ? await tokenizer.decode(tokens, { signal: options.signal }) : undefined;
    if (decoded) owned.push(decoded);
    const reconstructions = tokenizer ? await tokenizer.decode(originalTokens, { signal: options.signal }) : undefined;
    if (reconstructions) owned.push(reconstructions);
    return {
      n,
      k,
      height,
      width,
      cells,
      originalTokens,
      tokens,
      classes,
      images: decoded,
      reconstructions,
      keptFraction: keptFraction(originalTokens, tokens, cells, k),
      evaluationsPerSample: result.evaluationsPerSample,
      sampleSeconds,
      dispose: () => {
        for (const t of [originalTokens, tokens, decoded, reconstructions]) t?.dispose();
      },
    };
  } catch (err) {
    for (const t of owned) t.dispose();
    throw err;
  }
}
