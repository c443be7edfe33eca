/**
 * `lcmd score`: sample quality with a small classifier (not Inception FID).
 *   lcmd score train --images mnist --out scorer.safetensors          trains the scorer once on labelled images
 *   lcmd score eval  --scorer scorer.safetensors --images samples/ --labels sample-labels.npy --real mnist:test
 * `eval` prints the Frechet distance, precision / recall, density / coverage, class agreement and duplicates, each
 * beside the real-vs-real floor at the same n.
 */
import { Command } from 'commander';
import { existingFile, nonNegativeInt, outputFile, positiveInt, positiveNumber, usage } from '../cli-options';
import { interruptible } from '../interrupt';
import { formatDuration, ProgressLine } from '../progress';
import { check } from '../../lib/errors';
import { ensureParentFolder } from '../../lib/folders';
import { loadImages } from '../../lib/images';
import { readNpy } from '../../lib/npy';
import { checkOutputFile } from '../../lib/output-targets';
import { Scorer, scoreAgainstReal, type QualityReport, type SampleScore } from '../../lib/score';
import { Tensor } from '../../lib/tensor';
import { Tokenizer } from '../../lib/tokenizer';

interface ScoreTrainOptions {
  images: string;
  evalImages?: string;
  out: string;
  steps: number;
  batchSize: number;
  lr: number;
  seed: number;
  limit?: number;
  force?: boolean;
}

interface ScoreEvalOptions {
  scorer: string;
  images?: string;
  tokens?: string;
  tokenizer?: string;
  labels?: string;
  real: string;
  seed: number;
  json?: boolean;
}

function labelsOf(set: { labels?: Tensor }, flag: string): Tensor {
  check(set.labels, 'E_DATA', `${flag} has no labels: the scorer trains on a labelled source (mnist, or an image set with labels)`);
  return set.labels;
}

async function runScoreTrain(opts: ScoreTrainOptions, signal: AbortSignal): Promise<void> {
  const mnist = (source?: string) => (source && !/^mnist(:train|:test)?$/.test(source) ? source : undefined);
  checkOutputFile(opts.out, { flag: '--out', kind: 'scorer', inputs: [{ flag: '--images', path: mnist(opts.images) }, { flag: '--eval-images', path: mnist(opts.evalImages) }], force: opts.force });
  const train = await loadImages(opts.images, { limit: opts.limit });
  const [n, c, h, w] = train.images.shape;
  const numClasses = Math.max(...Array.from(labelsOf(train, '--images').toTypedArray() as BigInt64Array, Number)) + 1;
  const scorer = Scorer.create({ channels: c, height: h, width: w, numClasses }, { seed: opts.seed });
  const progress = new ProgressLine({ label: 'scorer', plainEvery: 500 });
  const result = await scorer.train(train.images, labelsOf(train, '--images'), {
    steps: opts.steps, batchSize: opts.batchSize, lr: opts.lr, seed: opts.seed, signal,
    onProgress: (e) => progress.update({ step: Number(e.step), total: opts.steps, values: { loss: Number(e.loss) } }),
  });
  progress.finish();
  console.log(`trained on ${n} images of ${c}x${h}x${w}, ${numClasses} classes: ${result.steps} steps in ${formatDuration(result.seconds)}, loss ${result.loss.toFixed(4)}`);
  const evalSource = opts.evalImages ?? (opts.images.startsWith('mnist') ? 'mnist:test' : undefined);
  if (evalSource) {
    const held = await loadImages(evalSource);
    const { classes, features } = await scorer.embed(held.images, { signal });
    features.dispose();
    const truth = labelsOf(held, '--eval-images').toTypedArray() as BigInt64Array;
    let right = 0;
    for (let i = 0; i < classes.length; i++) right += classes[i] === Number(truth[i]) ? 1 : 0;
    console.log(`held-out accuracy on ${evalSource}: ${(right / classes.length).toFixed(4)} (${classes.length} images)`);
  }
  ensureParentFolder(opts.out, '--out');
  await scorer.save(opts.out);
  console.log(`wrote ${opts.out}`);
}

async function generatedImages(opts: ScoreEvalOptions): Promise<Tensor> {
  if (opts.images) return (await loadImages(opts.images)).images;
  usage(opts.tokens && opts.tokenizer, 'give --images (a PNG folder or an image .npy), or --tokens with --tokenizer');
  const tokenizer = await Tokenizer.load(opts.tokenizer);
  const { tensor } = await readNpy(opts.tokens);
  const images = await tokenizer.decode(tensor);
  tensor.dispose();
  tokenizer.dispose();
  return images;
}

function formatScore(name: string, s: SampleScore): string {
  const agree = s.classAgreement === undefined ? '    -' : s.classAgreement.toFixed(3);
  return `${name.padEnd(10)} FD ${s.frechetDistance.toFixed(2).padStart(8)}  precision ${s.precision.toFixed(3)}  recall ${s.recall.toFixed(3)}  ` +
    `density ${s.density.toFixed(3)}  coverage ${s.coverage.toFixed(3)}  class agreement ${agree}  duplicates ${s.duplicateFraction.toFixed(3)}`;
}

export function formatQuality(report: QualityReport): string {
  return [formatScore('generated', report.score), formatScore('real floor', report.floor),
    `(n = ${report.score.n} against a fixed random reference of as many real images; a classifier-feature score, not Inception FID)`].join('\n');
}

async function runScoreEval(opts: ScoreEvalOptions, signal: AbortSignal): Promise<QualityReport> {
  const scorer = await Scorer.load(opts.scorer);
  const generated = await generatedImages(opts);
  let labels: number[] | undefined;
  if (opts.labels) {
    const { tensor } = await readNpy(opts.labels);
    labels = Array.from(tensor.toTypedArray() as ArrayLike<number | bigint>, Number);
    tensor.dispose();
  }
  const real = await loadImages(opts.real);
  const realLabels = real.labels ? Array.from(real.labels.toTypedArray() as BigInt64Array, Number) : undefined;
  return scoreAgainstReal(scorer, generated, real.images, { labels, realLabels, seed: opts.seed, signal });
}

export function registerScore(program: Command): void {
  const score = program.command('score').description('sample quality with a small classifier trained on labelled images (not Inception FID)');
  score
    .command('train')
    .description('train the scorer on labelled images and save it')
    .requiredOption('--images <source>', 'labelled images: mnist (or a source with labels)')
    .option('--eval-images <source>', 'held-out labelled images for the accuracy report (default mnist:test for mnist)')
    .requiredOption('--out <file.safetensors>', 'where to write the scorer', outputFile)
    .option('--steps <n>', 'Adam steps', positiveInt, 1500)
    .option('--batch-size <n>', 'images per step', positiveInt, 128)
    .option('--lr <x>', 'Adam learning rate', positiveNumber, 1e-3)
    .option('--seed <n>', 'seed of the weights and the batch order', nonNegativeInt, 0)
    .option('--limit <n>', 'only the first n training images', positiveInt)
    .option('--force', 'replace --out even if it holds another kind of file (a checkpoint, a tokenizer) or is an input')
    .action(async (opts: ScoreTrainOptions) => {
      await interruptible((signal) => runScoreTrain(opts, signal));
    });
  score
    .command('eval')
    .description('score generated images against real ones, with the real-vs-real floor')
    .requiredOption('--scorer <file>', 'a scorer from `lcmd score train`', existingFile)
    .option('--images <source>', 'generated images: a PNG folder or an image .npy')
    .option('--tokens <tokens.npy>', 'generated token grids (with --tokenizer)', existingFile)
    .option('--tokenizer <file>', 'decodes --tokens', existingFile)
    .option('--labels <labels.npy>', 'the class each generated image was asked for (class agreement)', existingFile)
    .option('--real <source>', 'real images: mnist:test, a PNG folder or an image .npy', 'mnist:test')
    .option('--seed <n>', 'seed of the random reference subset', nonNegativeInt, 0)
    .option('--json', 'print JSON')
    .action(async (opts: ScoreEvalOptions) => {
      await interruptible(async (signal) => {
        const report = await runScoreEval(opts, signal);
        console.log(opts.json ? JSON.stringify(report, null, 2) : formatQuality(report));
      });
    });
}
