/**
 * `lcmd inpaint`: regenerates a region of images (or token grids) with a trained model, keeping every token outside
 * it, and writes the completed tokens, a PNG sheet (original, masked input, k completions per row) and/or one PNG per
 * completion. The work is lib/inpaint.ts; this file reads the flags and the files, and prints.
 */
import { Command, InvalidArgumentError } from 'commander';
import * as path from 'path';
import { device, existingFile, nonNegativeInt, nonNegativeNumber, oneOf, outputFile, outputFolder, positiveInt, usage } from '../cli-options';
import { interruptible } from '../interrupt';
import { formatDuration, ProgressLine } from '../progress';
import { addSamplerShapeFlags, checkLearnedTimeGrid, checkSamplerShapeFlags, samplerShapeOptions, type SamplerShapeFlags } from '../sampler-flags';
import { checkDeviceAvailable } from '../../lib/device';
import { check, LcmdError } from '../../lib/errors';
import { checkWritable, ensureFolder, ensureParentFolder } from '../../lib/folders';
import { loadImages, writePngFolder, writePngGrid } from '../../lib/images';
import { inpaint, type InpaintResult } from '../../lib/inpaint';
import { describeRegion, parseRegion, type InpaintRegion } from '../../lib/inpaint-region';
import { inpaintSheet } from '../../lib/inpaint-sheet';
import { Model } from '../../lib/model';
import { readNpy, tokenDTypeFor, writeNpy } from '../../lib/npy';
import { checkDistinctOutputs, checkOutputFile, type FileKind } from '../../lib/output-targets';
import { selectImages } from '../../lib/score';
import { Tensor } from '../../lib/tensor';
import { Tokenizer } from '../../lib/tokenizer';

export interface InpaintCommandOptions extends SamplerShapeFlags {
  checkpoint: string;
  tokenizer?: string;
  images?: string;
  tokens?: string;
  labels?: string;
  limit?: number;
  region: InpaintRegion;
  allowFull?: boolean;
  completions?: number;
  class?: number;
  guidance?: number;
  steps?: number;
  sampler?: 'ancestral' | 'ddim' | 'consistency' | 'commit' | 'maskgit';
  infillResample?: number;
  seed?: number;
  batchSize?: number;
  device?: string;
  out?: string;
  sheet?: string;
  folder?: string;
  /** replace output files of another kind, or the inputs */
  force?: boolean;
}

const DEFAULT_COMPLETIONS = 4;

/** `--region`: the syntax is checked as the flag is parsed; the fit to the grid when the model is known. */
const regionFlag = (value: string): InpaintRegion => {
  try {
    return parseRegion(value, '--region');
  } catch (err) {
    if (err instanceof LcmdError) throw new InvalidArgumentError(err.message.replace(/^--region: /, '') + '.');
    throw err;
  }
};

/**
 * Checks every output before the model is loaded: two outputs may not be one file, none may replace an input or a
 * file of another kind (unless --force), and the folder must take files. Nothing is created yet.
 */
function checkOutputs(opts: InpaintCommandOptions): void {
  checkDistinctOutputs([{ flag: '--out', path: opts.out }, { flag: '--sheet', path: opts.sheet }]);
  const inputs = [{ flag: '--checkpoint', path: opts.checkpoint }, { flag: '--tokenizer', path: opts.tokenizer }, { flag: '--tokens', path: opts.tokens }, { flag: '--labels', path: opts.labels }];
  const files: [string, string | undefined, FileKind][] = [['--out', opts.out, 'npy'], ['--sheet', opts.sheet, 'png']];
  for (const [flag, file, kind] of files) if (file) checkOutputFile(file, { flag, kind, inputs, force: opts.force });
  if (opts.folder) checkWritable(opts.folder, 'folder', '--folder');
}

/** The first `limit` rows of a tensor (all of them without a limit). */
function firstRows(t: Tensor, limit: number | undefined): Tensor {
  if (limit === undefined || limit >= t.shape[0]) return t;
  const rest = t.shape.slice(1);
  const kept = t.toTypedArray().slice(0, limit * rest.reduce((a, b) => a * b, 1));
  const out = Tensor.from(kept, [limit, ...rest], t.dtype);
  t.dispose();
  return out;
}

async function readLabels(file: string, n: number): Promise<number[]> {
  const { tensor } = await readNpy(file);
  const values = Array.from(tensor.toTypedArray() as ArrayLike<number | bigint>, Number);
  const shape = tensor.shape;
  tensor.dispose();
  check(shape.length === 1 && values.length >= n, 'E_SHAPE', `--labels ${file}: expected labels [n] for the ${n} inputs, got [${shape.join(', ')}]`);
  return values.slice(0, n);
}

/** Inpaints as `lcmd inpaint` does (the demo calls it too); the caller disposes the result. */
export async function runInpaint(opts: InpaintCommandOptions, context: { signal?: AbortSignal; progress?: ProgressLine; print?: (line: string) => void } = {}): Promise<InpaintResult> {
  const print = context.print ?? ((line: string) => console.log(line));
  usage(Boolean(opts.images) !== Boolean(opts.tokens), 'give the inputs with --images <source> (and --tokenizer) or with --tokens <tokens.npy>, not both');
  usage(!opts.images || opts.tokenizer, '--images are encoded into token grids: they need --tokenizer tok.safetensors');
  usage(opts.out || opts.sheet || opts.folder, 'nothing to write: give --out tokens.npy, and/or --tokenizer with --sheet sheet.png or --folder DIR');
  usage(!(opts.sheet || opts.folder) || opts.tokenizer, '--sheet and --folder decode the completions into images: they need --tokenizer tok.safetensors');
  usage(opts.class === undefined || !opts.labels, '--class and --labels both choose the class to guide toward: give one of them');
  checkSamplerShapeFlags(opts);
  usage(!(opts.corrector && opts.infillResample && opts.infillResample > 1), '--corrector and --infill-resample > 1 do not combine: resampling re-noises the step the corrector would take again');
  checkOutputs(opts);
  const dev = opts.device ?? 'cpu';
  checkDeviceAvailable(dev);
  const model = await Model.load(opts.checkpoint, { device: dev, signal: context.signal });
  let tokenizer: Tokenizer | undefined;
  let images: Tensor | undefined;
  let tokens: Tensor | undefined;
  let sourceLabels: Tensor | undefined;
  try {
    const { numClasses } = model.config;
    usage(opts.class === undefined || numClasses > 0, '--class was given, but this model is unconditional (it was trained without labels)');
    usage(!opts.labels || numClasses > 0, '--labels was given, but this model is unconditional (it was trained without labels)');
    usage(!opts.guidance || numClasses > 0, '--guidance needs a class-conditional model; this one is unconditional');
    check(opts.class === undefined || opts.class < numClasses, 'E_RANGE', `--class ${opts.class} is not a class of this model, which has ${numClasses} (0 .. ${numClasses - 1})`);
    usage(!(opts.infillResample && opts.infillResample > 1 && model.config.method === 'maskgit'), '--infill-resample applies to the diffusion samplers; a MaskGIT model unmasks the region instead');
    checkLearnedTimeGrid(opts, model, opts.checkpoint);
    if (opts.tokenizer) tokenizer = await Tokenizer.load(opts.tokenizer);
    if (opts.images) {
      const f = tokenizer!.config.downsample;
      const set = await loadImages(opts.images, { limit: opts.limit, mnistSize: 28 % f === 0 ? 28 : 32 });
      images = set.images;
      sourceLabels = set.labels;
    } else {
      tokens = firstRows((await readNpy(opts.tokens!)).tensor, opts.limit);
    }
    const n = (images ?? tokens)!.shape[0];
    let classes: number | number[] | undefined;
    if (numClasses > 0) {
      if (opts.class !== undefined) classes = opts.class;
      else if (opts.labels) classes = await readLabels(opts.labels, n);
      else if (sourceLabels) classes = Array.from(sourceLabels.toTypedArray() as BigInt64Array, Number);
      usage(classes !== undefined, 'this model is class-conditional: give --class c, or --labels labels.npy with the class of each input (MNIST sources carry their own)');
    }
    const k = opts.completions ?? DEFAULT_COMPLETIONS;
    const steps = opts.steps ?? 50;
    const progress = context.progress ?? new ProgressLine({ label: 'inpaint', plainEvery: Math.max(1, Math.round(steps / 4)) });
    const started = Date.now();
    const result = await inpaint(model, images ? { images, tokenizer } : { tokens, tokenizer }, {
      region: opts.region,
      regionName: '--region',
      allowFull: opts.allowFull,
      completions: k,
      classes,
      guidance: opts.guidance ?? 0,
      steps,
      sampler: opts.sampler,
      ...samplerShapeOptions(opts),
      infillResample: opts.infillResample,
      seed: opts.seed ?? 0,
      batchSize: opts.batchSize,
      signal: context.signal,
      onProgress: (e) => {
        const done = (e.batch - 1) * e.steps + e.step;
        const total = e.batches * e.steps;
        const elapsed = (Date.now() - started) / 1000;
        progress.update({ step: done, total, rate: (n * k * done) / total / Math.max(elapsed, 1e-9), rateUnit: 'completions/s', etaSeconds: (elapsed / done) * (total - done) });
      },
    });
    progress.finish();
    try {
      const regenerated = result.cells.reduce((a, b) => a + b, 0);
      const toward = classes === undefined ? '' : `, guidance ${opts.guidance ?? 0} toward ${typeof classes === 'number' ? `class ${classes}` : "each input's label"}`;
      print(`inpainted ${result.n} inputs x ${k} completions: ${describeRegion(opts.region)}, ${regenerated} of ${result.cells.length} token cells regenerated, in ${formatDuration(result.sampleSeconds)} (${result.evaluationsPerSample} network evaluations each, ${opts.sampler ?? (model.config.method === 'maskgit' ? 'maskgit' : 'ancestral')}${toward})`);
      print(`known tokens kept: ${(100 * result.keptFraction).toFixed(2)}%`);
      if (opts.out) {
        ensureParentFolder(opts.out, '--out');
        await writeNpy(opts.out, result.tokens, { dtype: tokenDTypeFor(model.config.vocabSize) });
        print(`wrote tokens [${result.tokens.shape.join(', ')}] (completion c of input j is row j * ${k} + c) to ${path.resolve(opts.out)}`);
      }
      if (opts.sheet) {
        const sheet = inpaintSheet(images ?? result.reconstructions!, result.images!, result.cells, result.width, tokenizer!.config.downsample);
        ensureParentFolder(opts.sheet, '--sheet');
        const layout = writePngGrid(opts.sheet, sheet, { cols: k + 2 });
        sheet.dispose();
        print(`wrote a ${layout.rows}x${layout.cols} sheet (original, masked input, ${k} completions per row) to ${path.resolve(opts.sheet)}`);
      }
      if (opts.folder) {
        ensureFolder(opts.folder, '--folder');
        let written = 0;
        for (let j = 0; j < result.n; j++) {
          const mine = selectImages(result.images!, Array.from({ length: k }, (_, c) => j * k + c));
          written += writePngFolder(opts.folder, mine, { prefix: `${String(j).padStart(6, '0')}-` }).length;
          mine.dispose();
        }
        print(`wrote ${written} PNG files (INPUT-COMPLETION.png) to ${path.resolve(opts.folder)}`);
      }
    } catch (err) {
      result.dispose();
      throw err;
    }
    return result;
  } finally {
    images?.dispose();
    tokens?.dispose();
    sourceLabels?.dispose();
    tokenizer?.dispose();
    model.dispose();
  }
}

export function registerInpaint(program: Command): void {
  const command = program
    .command('inpaint')
    .description('regenerate a region of images or token grids with a trained model, keeping every token outside it')
    .requiredOption('--checkpoint <file>', 'a checkpoint written by lcmd train (VQ-LCMD or MaskGIT)', existingFile)
    .option('--tokenizer <file>', 'the tokenizer of the training tokens: encodes --images, decodes for --sheet and --folder', existingFile)
    .option('--images <source>', 'mnist, mnist:test, a folder of PNGs, or an image .npy (needs --tokenizer)')
    .option('--tokens <tokens.npy>', 'token grids [n, H, W] or [n, H * W] instead of images', existingFile)
    .option('--labels <labels.npy>', "the class of each input, to guide toward (MNIST sources carry their own)", existingFile)
    .option('--limit <n>', 'only the first n inputs', positiveInt)
    .requiredOption('--region <spec>', 'box:r0,c0,r1,c1 (token rows r0..r1-1, columns c0..c1-1), half:top|bottom|left|right, or mask:file.png (image size; a cell is regenerated when at least half its pixels are >= 0.5)', regionFlag)
    .option('--allow-full', 'allow a region that covers the whole grid (plain sampling)')
    .option('--completions <k>', `completions per input, each with its own noise (default ${DEFAULT_COMPLETIONS})`, positiveInt)
    .option('--class <c>', "guide every completion toward this class (default: each input's label)", nonNegativeInt)
    .option('--guidance <w>', 'classifier-free guidance weight w >= 0 (default 0: conditioning without guidance)', nonNegativeNumber)
    .option('--steps <T>', 'sampling steps (default 50)', positiveInt)
    .option('--sampler <kind>', 'ancestral, ddim, consistency or commit; maskgit for MaskGIT models (their default)', oneOf(['ancestral', 'ddim', 'consistency', 'commit', 'maskgit'] as const))
    .option('--infill-resample <R>', 'RePaint tries per step, diffusion samplers only (default 1)', positiveInt);
  addSamplerShapeFlags(command)
    .option('--seed <n>', 'seed; completion c of input j is sample j * k + c of it (default 0)', nonNegativeInt)
    .option('--batch-size <n>', 'samples per forward batch (default 64); does not change the completions', positiveInt)
    .option('--device <name>', 'cpu, cuda or cuda:N (default cpu)', device)
    .option('--out <tokens.npy>', 'write the completed token grids [n * k, H, W] here', outputFile)
    .option('--sheet <file.png>', 'write one row per input: original, masked input (region grey), k completions', outputFile)
    .option('--folder <dir>', 'write each completion as INPUT-COMPLETION.png in this folder', outputFolder)
    .option('--force', 'replace an output file even if it holds another kind of file (a checkpoint, a tokenizer) or is an input')
    .addHelpText('after', '\nExample:\n  lcmd inpaint --checkpoint run/checkpoint.safetensors --tokenizer tok.safetensors --images mnist:test --limit 8 --region half:bottom --completions 4 --guidance 3 --sheet inpaint.png')
    .action(async (opts: InpaintCommandOptions) => {
      await interruptible(
        async (signal) => {
          const result = await runInpaint(opts, { signal });
          result.dispose();
        },
        { onAborted: (name) => console.error(`lcmd inpaint: stopped by ${name}; nothing was written`) },
      );
    });
}
