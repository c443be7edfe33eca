/** `lcmd tokenize train | encode | decode`: learn a VQ-VAE tokenizer, turn images into token .npy files and back. */
import { Command, InvalidArgumentError } from 'commander';
import * as fs from 'fs';
import * as path from 'path';
import { interruptible } from '../interrupt';
import { check } from '../../lib/errors';
import { checkWritable, ensureParentFolder } from '../../lib/folders';
import { loadImages, writePngFolder, writePngGrid } from '../../lib/images';
import { readNpy, tokenDTypeFor, writeNpy } from '../../lib/npy';
import { checkDistinctOutputs, checkOutputFile, type FileKind } from '../../lib/output-targets';
import { Tensor } from '../../lib/tensor';
import { Tokenizer, TOKENIZER_PRESETS, type TokenizerConfig } from '../../lib/tokenizer';

function positiveInt(value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value.trim()) || !Number.isSafeInteger(n) || n <= 0) throw new InvalidArgumentError('expected a positive integer.');
  return n;
}

function nonNegativeInt(value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value.trim()) || !Number.isSafeInteger(n)) throw new InvalidArgumentError('expected a non-negative integer.');
  return n;
}

function positiveNumber(value: string): number {
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n) || n <= 0) throw new InvalidArgumentError('expected a positive number.');
  return n;
}

function oneOf(choices: number[]) {
  return (value: string): number => {
    const n = Number(value);
    if (!choices.includes(n) || !/^\d+$/.test(value.trim())) throw new InvalidArgumentError(`expected one of ${choices.join(', ')}.`);
    return n;
  };
}

function existingFile(file: string, what: string): void {
  check(fs.existsSync(file) && fs.statSync(file).isFile(), 'E_IO', `${what} ${file} does not exist or is not a file`);
}

/** The input files among the command's flags (an MNIST source is not a file). */
function inputFiles(inputs: [string, string | undefined][]): { flag: string; path?: string }[] {
  return inputs.map(([flag, file]) => ({ flag, path: file && !/^mnist(:train|:test)?$/.test(file) ? file : undefined }));
}

/** Before any work: the output may be written (not an input, not a file of another kind, unless forced). */
function checkTarget(file: string, flag: string, kind: FileKind, inputs: { flag: string; path?: string }[], force?: boolean): void {
  checkOutputFile(file, { flag, kind, inputs, force });
}

function imageSource(source: string): void {
  if (/^mnist(:train|:test)?$/.test(source)) return;
  check(fs.existsSync(source), 'E_IO', `--images ${source} does not exist: expected mnist, mnist:test, a folder of PNG files, or an .npy file`);
}

/** MNIST digits are 28x28; a factor that does not divide 28 gets the 32x32 zero-padded digits. */
function mnistSizeFor(downsample: number): 28 | 32 {
  return 28 % downsample === 0 ? 28 : 32;
}

/** Native work that Ctrl-C or SIGTERM cancels; an interrupted step writes nothing. */
const stopped = { onAborted: (name: NodeJS.Signals) => process.stderr.write(`lcmd tokenize: stopped by ${name}; nothing was written\n`) };

interface TrainFlags {
  images: string;
  out: string;
  preset: string;
  steps?: number;
  batchSize?: number;
  lr?: number;
  codebookSize?: number;
  downsample?: number;
  codeDim?: number;
  hiddenChannels?: number;
  seed: number;
  limit?: number;
  evalImages?: string;
  evalLimit: number;
  json?: boolean;
  force?: boolean;
}

async function trainCommand(opts: TrainFlags): Promise<void> {
  imageSource(opts.images);
  if (opts.evalImages) imageSource(opts.evalImages);
  checkTarget(opts.out, '--out', 'tokenizer', inputFiles([['--images', opts.images], ['--eval-images', opts.evalImages]]), opts.force);
  const preset = TOKENIZER_PRESETS[opts.preset];
  check(preset, 'E_USAGE', `unknown --preset ${opts.preset}: expected one of ${Object.keys(TOKENIZER_PRESETS).join(', ')}`);
  const config: TokenizerConfig = { ...preset.config };
  if (opts.codebookSize !== undefined) config.codebookSize = opts.codebookSize;
  if (opts.downsample !== undefined) config.downsample = opts.downsample;
  if (opts.codeDim !== undefined) config.codeDim = opts.codeDim;
  if (opts.hiddenChannels !== undefined) config.hiddenChannels = opts.hiddenChannels;
  const steps = opts.steps ?? preset.train.steps;
  const batchSize = opts.batchSize ?? preset.train.batchSize;
  const lr = opts.lr ?? preset.train.lr;

  const mnistSize = mnistSizeFor(config.downsample);
  const { images } = await loadImages(opts.images, { limit: opts.limit, mnistSize });
  if (images.shape[1] !== config.inChannels) config.inChannels = images.shape[1];
  // Evaluate on the held-out split: MNIST's test digits by default, else what --eval-images names.
  const evalSource = opts.evalImages ?? (opts.images.startsWith('mnist') && opts.images !== 'mnist:test' ? 'mnist:test' : undefined);
  const tokenizer = Tokenizer.create(config, { seed: opts.seed });
  const [, c, h, w] = images.shape;
  const [gh, gw] = tokenizer.tokenGrid(h, w);
  console.error(`training a tokenizer on ${images.shape[0]} images of ${c}x${h}x${w} -> ${gh}x${gw} tokens, K = ${config.codebookSize}, ${steps} steps of ${batchSize}`);
  const started = Date.now();
  const reportEvery = Math.max(1, Math.round(steps / 20));
  const trained = await interruptible((signal) =>
    tokenizer.train(images, {
      steps,
      batchSize,
      lr,
      seed: opts.seed,
      reportEvery,
      signal,
      onProgress: (p) =>
        console.error(
          `step ${p.step}/${p.steps}  loss ${p.loss.toFixed(5)}  psnr ${p.psnr.toFixed(2)} dB  usage ${(100 * p.usage).toFixed(0)}%  perplexity ${p.perplexity.toFixed(1)}  ${p.imagesPerSecond.toFixed(0)} img/s`,
        ),
    }),
    stopped,
  );
  if (!trained.value) {
    tokenizer.dispose();
    return;
  }
  const seconds = (Date.now() - started) / 1000;
  ensureParentFolder(opts.out, '--out');
  await tokenizer.save(opts.out);
  const report: Record<string, unknown> = { out: path.resolve(opts.out), steps, seconds, config: tokenizer.config };
  if (evalSource) {
    const held = await loadImages(evalSource, { limit: opts.evalLimit, mnistSize });
    const e = await tokenizer.evaluate(held.images);
    report.evaluation = { source: evalSource, ...e };
    if (!opts.json)
      console.log(
        `held-out (${evalSource}, ${e.count} images): MSE ${e.mse.toFixed(5)}, PSNR ${e.psnr.toFixed(2)} dB, codebook usage ${(100 * e.usage).toFixed(1)}%, perplexity ${e.perplexity.toFixed(1)}`,
      );
  }
  if (opts.json) console.log(JSON.stringify(report, null, 2));
  else console.log(`wrote ${path.resolve(opts.out)} (${seconds.toFixed(1)} s of training)`);
  tokenizer.dispose();
}

async function encodeCommand(opts: { tokenizer: string; images: string; out: string; labelsOut?: string; batchSize: number; limit?: number; force?: boolean }): Promise<void> {
  existingFile(opts.tokenizer, '--tokenizer');
  imageSource(opts.images);
  checkDistinctOutputs([{ flag: '--out', path: opts.out }, { flag: '--labels-out', path: opts.labelsOut }]);
  const inputs = inputFiles([['--tokenizer', opts.tokenizer], ['--images', opts.images]]);
  checkTarget(opts.out, '--out', 'npy', inputs, opts.force);
  if (opts.labelsOut) checkTarget(opts.labelsOut, '--labels-out', 'npy', inputs, opts.force);
  const tokenizer = await Tokenizer.load(opts.tokenizer);
  const set = await loadImages(opts.images, { limit: opts.limit, mnistSize: mnistSizeFor(tokenizer.config.downsample) });
  check(!opts.labelsOut || set.labels, 'E_USAGE', `--labels-out was given but ${opts.images} has no labels (only MNIST does)`);
  const tokens = (await interruptible((signal) => tokenizer.encode(set.images, { batchSize: opts.batchSize, signal }), stopped)).value;
  if (!tokens) {
    tokenizer.dispose();
    return;
  }
  // The smallest unsigned dtype that holds every id (uint8 for K <= 256): a quarter of int32 on disk.
  const dtype = tokenDTypeFor(tokenizer.config.codebookSize);
  ensureParentFolder(opts.out, '--out');
  await writeNpy(opts.out, tokens, { dtype });
  console.log(`wrote ${tokens.shape.join('x')} ${dtype} tokens to ${path.resolve(opts.out)}`);
  if (opts.labelsOut && set.labels) {
    ensureParentFolder(opts.labelsOut, '--labels-out');
    await writeNpy(opts.labelsOut, set.labels);
    console.log(`wrote ${set.labels.shape[0]} int64 labels to ${path.resolve(opts.labelsOut)}`);
  }
  tokenizer.dispose();
}

async function decodeCommand(opts: { tokenizer: string; tokens: string; out?: string; folder?: string; limit?: number; cols?: number; batchSize: number; force?: boolean }): Promise<void> {
  existingFile(opts.tokenizer, '--tokenizer');
  existingFile(opts.tokens, '--tokens');
  check(opts.out || opts.folder, 'E_USAGE', 'give --out grid.png, --folder dir, or both');
  if (opts.out) checkTarget(opts.out, '--out', 'png', inputFiles([['--tokenizer', opts.tokenizer], ['--tokens', opts.tokens]]), opts.force);
  if (opts.folder) checkWritable(opts.folder, 'folder', '--folder');
  const tokenizer = await Tokenizer.load(opts.tokenizer);
  let { tensor: tokens } = await readNpy(opts.tokens);
  check(tokens.shape.length === 3 || tokens.shape.length === 2, 'E_SHAPE', `expected tokens of shape [n, h, w] or [n, N] in ${opts.tokens}, got [${tokens.shape.join(', ')}]`);
  const dtype = tokens.dtype;
  check(['int64', 'int32', 'int16', 'uint8'].includes(dtype), 'E_DTYPE', `expected integer tokens in ${opts.tokens}, got ${dtype}`);
  if (opts.limit !== undefined && opts.limit < tokens.shape[0]) {
    const rest = tokens.shape.slice(1);
    const kept = tokens.toTypedArray().slice(0, opts.limit * rest.reduce((a, b) => a * b, 1));
    tokens.dispose();
    tokens = Tensor.from(kept, [opts.limit, ...rest], dtype);
  }
  const images = await tokenizer.decode(tokens, { batchSize: opts.batchSize });
  if (opts.out) {
    ensureParentFolder(opts.out, '--out');
    const layout = writePngGrid(opts.out, images, { cols: opts.cols });
    console.log(`wrote a ${layout.rows}x${layout.cols} grid (${layout.width}x${layout.height} pixels) to ${path.resolve(opts.out)}`);
  }
  if (opts.folder) {
    const files = writePngFolder(opts.folder, images);
    console.log(`wrote ${files.length} PNG files to ${path.resolve(opts.folder)}`);
  }
  tokenizer.dispose();
}

export function registerTokenize(program: Command): void {
  const tokenize = program.command('tokenize').description('train a VQ-VAE image tokenizer, and convert images to token grids and back');

  tokenize
    .command('train')
    .description('train a tokenizer on images and save it as .safetensors; reports held-out MSE, PSNR and codebook usage')
    .requiredOption('--images <source>', 'mnist, mnist:test, a folder of PNG files, or an .npy file (float32 [n,C,H,W] in [0,1] or uint8 [n,H,W,C])')
    .requiredOption('--out <file>', 'where to write the tokenizer (.safetensors)')
    .option('--preset <name>', `configuration preset (${Object.keys(TOKENIZER_PRESETS).join(', ')})`, 'mnist')
    .option('--steps <n>', 'training steps (default: the preset\'s)', positiveInt)
    .option('--batch-size <n>', 'images per step (default: the preset\'s)', positiveInt)
    .option('--lr <x>', 'Adam learning rate (default: the preset\'s)', positiveNumber)
    .option('--codebook-size <k>', 'number of codes K', positiveInt)
    .option('--downsample <f>', 'image side / token-grid side: 2, 4 or 8', oneOf([2, 4, 8]))
    .option('--code-dim <d>', 'width of a code vector', positiveInt)
    .option('--hidden-channels <c>', 'channels at the token resolution', positiveInt)
    .option('--seed <n>', 'seed for the initial weights and the batches', nonNegativeInt, 0)
    .option('--limit <n>', 'use only the first n images', positiveInt)
    .option('--eval-images <source>', 'held-out images to report on (default for MNIST: mnist:test)')
    .option('--eval-limit <n>', 'held-out images to evaluate', positiveInt, 10000)
    .option('--json', 'print a JSON report')
    .option('--force', 'replace an output file even if it holds another kind of file (a checkpoint, a scorer) or is an input')
    .action(trainCommand);

  tokenize
    .command('encode')
    .description('turn images into a token .npy file [n, h, w] (the smallest unsigned dtype holding K ids)')
    .requiredOption('--tokenizer <file>', 'a tokenizer .safetensors written by `lcmd tokenize train`')
    .requiredOption('--images <source>', 'mnist, mnist:test, a folder of PNG files, or an .npy file')
    .requiredOption('--out <file>', 'the tokens .npy to write')
    .option('--labels-out <file>', 'also write the labels .npy (MNIST sources)')
    .option('--batch-size <n>', 'images per batch', positiveInt, 256)
    .option('--limit <n>', 'only the first n images', positiveInt)
    .option('--force', 'replace an output file even if it holds another kind of file (a checkpoint, a scorer) or is an input')
    .action(encodeCommand);

  tokenize
    .command('decode')
    .description('turn a token .npy file back into images: a PNG grid and/or a folder of PNGs')
    .requiredOption('--tokenizer <file>', 'a tokenizer .safetensors written by `lcmd tokenize train`')
    .requiredOption('--tokens <file>', 'tokens .npy: [n, h, w], or [n, N] with N a square')
    .option('--out <file>', 'write a PNG grid here')
    .option('--folder <dir>', 'write one PNG per image into this folder (for FID tools)')
    .option('--limit <n>', 'only the first n token grids', positiveInt)
    .option('--cols <n>', 'images per grid row (default: a square grid)', positiveInt)
    .option('--batch-size <n>', 'token grids per batch', positiveInt, 256)
    .option('--force', 'replace an output file even if it holds another kind of file (a checkpoint, a scorer) or is an input')
    .action(decodeCommand);
}
