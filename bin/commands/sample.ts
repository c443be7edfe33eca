/**
 * `lcmd sample`: draws token grids from a checkpoint and writes them as .npy; with a tokenizer it also decodes them
 * into a PNG grid (one row per class when classes are given) and/or a folder of PNG files for FID tools.
 */
import { Command } from 'commander';
import * as path from 'path';
import { classList, device, existingFile, nonNegativeInt, nonNegativeNumber, oneOf, outputFile, outputFolder, positiveInt, usage } from '../cli-options';
import { interruptible } from '../interrupt';
import { formatDuration, ProgressLine } from '../progress';
import { addSamplerShapeFlags, checkLearnedTimeGrid, checkSamplerShapeFlags, samplerShapeOptions, type SamplerShapeFlags } from '../sampler-flags';
import { checkDeviceAvailable } from '../../lib/device';
import { check } from '../../lib/errors';
import { checkWritable, ensureParentFolder } from '../../lib/folders';
import { writePngFolder, writePngGrid } from '../../lib/images';
import { Model } from '../../lib/model';
import { checkDistinctOutputs, checkOutputFile, type FileKind } from '../../lib/output-targets';
import { tokenDTypeFor, writeNpy } from '../../lib/npy';
import { sampleDetailed } from '../../lib/sampler';
import { Tensor } from '../../lib/tensor';
import { Tokenizer } from '../../lib/tokenizer';

export interface SampleCommandOptions extends SamplerShapeFlags {
  checkpoint: string;
  /** samples per class with classes, otherwise in total (default 8) */
  num?: number;
  steps?: number;
  sampler?: 'ancestral' | 'ddim' | 'consistency' | 'commit' | 'maskgit';
  guidance?: number;
  /** class ids, or 'all' (the default for class-conditional models) */
  classes?: number[] | 'all';
  seed?: number;
  batchSize?: number;
  useOnline?: boolean;
  device?: string;
  out?: string;
  labelsOut?: string;
  tokenizer?: string;
  grid?: string;
  folder?: string;
  /** replace output files of another kind, or the inputs */
  force?: boolean;
}

export interface SampleOutcome {
  /** int32 [n, H, W]; the caller disposes it */
  tokens: Tensor;
  /** one class per sample, for class-conditional models */
  classes?: Int32Array;
  rows: number;
  cols: number;
  seconds: number;
  networkEvaluations: number;
}

const DEFAULT_COUNT = 8;

/** The class of each sample: `perClass` samples of each class in turn (one grid row per class). */
export function classPlan(classes: number[] | 'all' | undefined, numClasses: number, perClass: number): Int32Array | undefined {
  if (numClasses === 0) {
    usage(classes === undefined, '--classes was given, but this model is unconditional (it was trained without labels)');
    return undefined;
  }
  const list = classes === undefined || classes === 'all' ? Array.from({ length: numClasses }, (_, c) => c) : classes;
  for (const c of list) check(c < numClasses, 'E_RANGE', `--classes: class ${c} is not a class of this model, which has ${numClasses} (0 .. ${numClasses - 1})`);
  const out = new Int32Array(list.length * perClass);
  list.forEach((c, row) => out.fill(c, row * perClass, (row + 1) * perClass));
  return out;
}

/**
 * Checks every output before the model is loaded: two outputs may not be one file, none may replace an input or a
 * file of another kind (unless --force), and each folder must take files. Nothing is created yet.
 */
function checkOutputs(opts: SampleCommandOptions): void {
  checkDistinctOutputs([{ flag: '--out', path: opts.out }, { flag: '--labels-out', path: opts.labelsOut }, { flag: '--grid', path: opts.grid }]);
  const inputs = [{ flag: '--checkpoint', path: opts.checkpoint }, { flag: '--tokenizer', path: opts.tokenizer }];
  const files: [string, string | undefined, FileKind][] = [['--out', opts.out, 'npy'], ['--labels-out', opts.labelsOut, 'npy'], ['--grid', opts.grid, 'png']];
  for (const [flag, file, kind] of files) if (file) checkOutputFile(file, { flag, kind, inputs, force: opts.force });
  if (opts.folder) checkWritable(opts.folder, 'folder', '--folder');
}

/** Samples as `lcmd sample` does (the demo calls it too). */
export async function runSampling(opts: SampleCommandOptions, context: { signal?: AbortSignal; progress?: ProgressLine; print?: (line: string) => void } = {}): Promise<SampleOutcome> {
  const print = context.print ?? ((line: string) => console.log(line));
  usage(opts.out || opts.grid || opts.folder, 'nothing to write: give --out tokens.npy, and/or --tokenizer with --grid grid.png or --folder DIR');
  usage(!(opts.grid || opts.folder) || opts.tokenizer, '--grid and --folder decode the samples into images: they need --tokenizer tok.safetensors');
  usage(!opts.tokenizer || opts.grid || opts.folder, '--tokenizer is only used to write images: add --grid grid.png and/or --folder DIR');
  usage(!opts.labelsOut || opts.out, '--labels-out goes with --out');
  checkSamplerShapeFlags(opts);
  checkOutputs(opts);
  const dev = opts.device ?? 'cpu';
  checkDeviceAvailable(dev);
  const model = await Model.load(opts.checkpoint, { useEma: !opts.useOnline, device: dev, signal: context.signal });
  let tokenizer: Tokenizer | undefined;
  try {
    const { height, width, vocabSize, numClasses } = model.config;
    if (opts.tokenizer) {
      tokenizer = await Tokenizer.load(opts.tokenizer);
      check(tokenizer.config.codebookSize === vocabSize, 'E_CONFIG', `--tokenizer ${opts.tokenizer} has ${tokenizer.config.codebookSize} codes, but the model's K is ${vocabSize}: use the tokenizer that made the training tokens`);
    }
    checkLearnedTimeGrid(opts, model, opts.checkpoint);
    const perClass = opts.num ?? DEFAULT_COUNT;
    const classes = classPlan(opts.classes, numClasses, perClass);
    const n = classes ? classes.length : perClass;
    usage(!(opts.guidance && numClasses === 0), '--guidance needs a class-conditional model; this one is unconditional');
    const steps = opts.steps ?? 50;
    const progress = context.progress ?? new ProgressLine({ label: 'sample', plainEvery: Math.max(1, Math.round(steps / 4)) });
    const started = Date.now();
    const result = await sampleDetailed(model, {
      n,
      steps,
      sampler: opts.sampler,
      ...samplerShapeOptions(opts),
      guidance: opts.guidance ?? 0,
      classes,
      seed: opts.seed ?? 0,
      batchSize: opts.batchSize,
      useEma: !opts.useOnline,
      signal: context.signal,
      onProgress: (e) => {
        const done = (e.batch - 1) * e.steps + e.step;
        const total = e.batches * e.steps;
        const elapsed = (Date.now() - started) / 1000;
        const rate = (n * done) / total / Math.max(elapsed, 1e-9);
        progress.update({ step: done, total, rate, rateUnit: 'samples/s', etaSeconds: (elapsed / done) * (total - done) });
      },
    });
    progress.finish();
    const seconds = (Date.now() - started) / 1000;
    const tokens = result.tokens;
    const cols = classes ? perClass : Math.ceil(Math.sqrt(n));
    const rows = Math.ceil(n / cols);
    print(`sampled ${n} grids of ${height}x${width} tokens in ${formatDuration(seconds)} (${result.evaluationsPerSample} network evaluations each, ${opts.sampler ?? (model.config.method === 'maskgit' ? 'maskgit' : 'ancestral')}, guidance ${opts.guidance ?? 0})`);
    if (opts.out) {
      ensureParentFolder(opts.out, '--out');
      await writeNpy(opts.out, tokens, { dtype: tokenDTypeFor(vocabSize) });
      print(`wrote tokens ${path.resolve(opts.out)}`);
      if (opts.labelsOut && classes) {
        ensureParentFolder(opts.labelsOut, '--labels-out');
        const labels = Tensor.from(BigInt64Array.from(classes, (c) => BigInt(c)), [n], 'int64');
        await writeNpy(opts.labelsOut, labels);
        labels.dispose();
        print(`wrote labels ${path.resolve(opts.labelsOut)}`);
      }
    }
    if (tokenizer) {
      const images = await tokenizer.decode(tokens, { signal: context.signal });
      try {
        if (opts.grid) {
          ensureParentFolder(opts.grid, '--grid');
          const layout = writePngGrid(opts.grid, images, { cols });
          print(`wrote a ${layout.rows}x${layout.cols} grid${classes ? ' (one row per class)' : ''} to ${path.resolve(opts.grid)}`);
        }
        if (opts.folder) {
          const files = writePngFolder(opts.folder, images);
          print(`wrote ${files.length} PNG files to ${path.resolve(opts.folder)}`);
        }
      } finally {
        images.dispose();
      }
    }
    result.probs?.dispose();
    return { tokens, classes, rows, cols, seconds, networkEvaluations: result.forwardRows };
  } finally {
    tokenizer?.dispose();
    model.dispose();
  }
}

export function registerSample(program: Command): void {
  const command = program
    .command('sample')
    .description('draw token grids from a trained checkpoint; write them as .npy, and decode them into PNGs with a tokenizer')
    .requiredOption('--checkpoint <file>', 'a checkpoint written by lcmd train', existingFile)
    .option('-n, --num <n>', `samples per class with --classes (one grid row each), otherwise in total (default ${DEFAULT_COUNT})`, positiveInt)
    .option('--steps <T>', 'sampling steps; each sample takes T + 1 network evaluations, T with the commit and maskgit samplers (default 50)', positiveInt)
    .option('--sampler <kind>', "ancestral (the paper's), ddim (deterministic), consistency (draw tokens and re-noise, for few steps), commit (DDIM that commits tokens in order of confidence); maskgit for MaskGIT models (their default)", oneOf(['ancestral', 'ddim', 'consistency', 'commit', 'maskgit'] as const))
    .option('--guidance <w>', 'classifier-free guidance weight w >= 0 (default 0: none)', nonNegativeNumber);
  addSamplerShapeFlags(command)
    .option('--classes <list>', "comma-separated class ids, or 'all' (default for class-conditional models): one grid row per class", classList)
    .option('--seed <n>', 'seed; the same seed gives the same samples whatever --batch-size (default 0)', nonNegativeInt)
    .option('--batch-size <n>', 'samples per forward batch (default 64)', positiveInt)
    .option('--use-online', 'sample with the online weights instead of the sampling EMA')
    .option('--device <name>', 'cpu, cuda or cuda:N (default cpu)', device)
    .option('--out <tokens.npy>', 'write the token grids [n, H, W] here', outputFile)
    .option('--labels-out <labels.npy>', 'write the class of each sample here (int64 [n])', outputFile)
    .option('--tokenizer <file>', 'a tokenizer from lcmd tokenize train, to decode the samples into images', existingFile)
    .option('--grid <file.png>', 'write the decoded samples as one PNG grid', outputFile)
    .option('--folder <dir>', 'write each decoded sample as a PNG file in this folder (for FID tools)', outputFolder)
    .option('--force', 'replace an output file even if it holds another kind of file (a checkpoint, a tokenizer) or is an input')
    .addHelpText('after', '\nExample:\n  lcmd sample --checkpoint run/checkpoint.safetensors --classes all -n 10 --guidance 3 --tokenizer tok.safetensors --grid digits.png')
    .action(async (opts: SampleCommandOptions) => {
      await interruptible(
        async (signal) => {
          const outcome = await runSampling(opts, { signal });
          outcome.tokens.dispose();
        },
        { onAborted: (name) => console.error(`lcmd sample: stopped by ${name}; nothing was written`) },
      );
    });
}
