/**
 * Inpainting, measured: test digits with a region regenerated (default: the bottom half), each completion guided
 * toward the original's class. Reports, as JSON:
 * - classAgreement: the share of completions the scorer (lib/score.ts) classifies as the original's class, beside
 *   the scorer's accuracy on the originals and on their tokenizer reconstructions (what a perfect completion would get);
 * - keptFraction: the share of known tokens, over every completion, kept exactly (it must be 1; the exit code is 1
 *   otherwise);
 * - secondsPerCompletion: sampling time per completion (and with decoding).
 *
 *   npx tsc -p tsconfig.json && node dist/bench/inpainting.js [--checkpoint lcmd-demo/model/checkpoint.safetensors]
 *     [--tokenizer lcmd-demo/tokenizer.safetensors] [--scorer lcmd-demo/scorer.safetensors] [--images mnist:test]
 *     [--n 100] [--completions 4] [--region half:bottom] [--steps 50] [--sampler ancestral] [--guidance 3]
 *     [--grid-shift 1] [--guidance-interval 0,1] [--infill-resample 1] [--seed 0] [--batch-size 64] [--device cpu]
 *     [--out inpainting.json]
 *
 * The defaults are the files `lcmd demo` writes. A --scorer file that does not exist yet is trained on the MNIST
 * training digits (--scorer-steps, default 1500) and saved there, as bench/quality.ts does.
 */
import * as fs from 'fs';
import { defaultThreadCount } from '../lib/binding';
import { writeFileAtomic } from '../lib/atomic-write';
import { ensureParentFolder } from '../lib/folders';
import { loadImages, loadMnist } from '../lib/images';
import { inpaint } from '../lib/inpaint';
import { parseRegion } from '../lib/inpaint-region';
import { Model } from '../lib/model';
import { Scorer } from '../lib/score';
import type { SampleOptions } from '../lib/sampler';
import type { Tensor } from '../lib/tensor';
import { Tokenizer } from '../lib/tokenizer';
import { parseBenchArgs } from './args';

const log = (s: string) => process.stderr.write(`[inpainting] ${s}\n`);

async function loadOrTrainScorer(file: string, steps: number, size: 28 | 32): Promise<Scorer> {
  if (fs.existsSync(file)) return Scorer.load(file);
  log(`training the scorer (${steps} steps on the MNIST training digits) into ${file}`);
  const train = loadMnist({ split: 'train', size });
  const scorer = Scorer.create({ channels: 1, height: size, width: size, numClasses: 10 }, { seed: 0 });
  await scorer.train(train.images, train.labels, { steps, seed: 0 });
  ensureParentFolder(file);
  await scorer.save(file);
  train.images.dispose();
  train.labels.dispose();
  return scorer;
}

/** Share of `images` the scorer classifies as `labels` (overall, and per class). */
async function agreement(scorer: Scorer, images: Tensor, labels: number[]): Promise<{ overall: number; byClass: Record<string, number> }> {
  const { features, classes } = await scorer.embed(images);
  features.dispose();
  const hits: Record<string, [number, number]> = {};
  let agree = 0;
  labels.forEach((label, i) => {
    const ok = classes[i] === label ? 1 : 0;
    agree += ok;
    const h = (hits[label] ??= [0, 0]);
    h[0] += ok;
    h[1] += 1;
  });
  return { overall: agree / labels.length, byClass: Object.fromEntries(Object.entries(hits).map(([c, [a, n]]) => [c, a / n])) };
}

async function main(): Promise<void> {
  const args = parseBenchArgs(process.argv.slice(2), {
    checkpoint: 'lcmd-demo/model/checkpoint.safetensors', tokenizer: 'lcmd-demo/tokenizer.safetensors', scorer: 'lcmd-demo/scorer.safetensors',
    'scorer-steps': '1500', images: 'mnist:test', n: '100', completions: '4', region: 'half:bottom', steps: '50', sampler: '', guidance: '3',
    'grid-shift': '1', 'guidance-interval': '0,1', 'infill-resample': '1', seed: '0', 'batch-size': '64', device: 'cpu', out: '',
  });
  for (const flag of ['checkpoint', 'tokenizer'] as const) {
    if (!fs.existsSync(args[flag])) throw new Error(`--${flag} ${args[flag]} does not exist: run lcmd demo first, or pass --${flag}`);
  }
  const n = Number(args.n), k = Number(args.completions), steps = Number(args.steps), guidance = Number(args.guidance);
  const gridShift = Number(args['grid-shift']);
  const guidanceInterval = args['guidance-interval'].split(',').map(Number) as [number, number];
  const tokenizer = await Tokenizer.load(args.tokenizer);
  const model = await Model.load(args.checkpoint, { device: args.device });
  const size = 28 % tokenizer.config.downsample === 0 ? 28 : 32;
  const scorer = await loadOrTrainScorer(args.scorer, Number(args['scorer-steps']), size);
  const set = await loadImages(args.images, { limit: n, mnistSize: size });
  if (!set.labels) throw new Error(`--images ${args.images} has no labels: the class agreement needs labelled images (mnist:test)`);
  const labels = Array.from(set.labels.toTypedArray() as BigInt64Array, Number);
  const region = parseRegion(args.region, '--region');

  log(`${labels.length} inputs x ${k} completions, ${args.region}, ${steps} steps, guidance ${guidance} on [${guidanceInterval}], grid shift ${gridShift}`);
  const started = process.hrtime.bigint();
  const result = await inpaint(model, { images: set.images, tokenizer }, {
    region,
    regionName: '--region',
    completions: k,
    classes: labels,
    guidance,
    steps,
    sampler: (args.sampler || undefined) as SampleOptions['sampler'],
    gridShift,
    guidanceInterval,
    infillResample: Number(args['infill-resample']),
    seed: Number(args.seed),
    batchSize: Number(args['batch-size']),
  });
  const totalSeconds = Number(process.hrtime.bigint() - started) / 1e9;
  const completionLabels = Array.from({ length: labels.length * k }, (_, row) => labels[Math.floor(row / k)]);
  const completions = await agreement(scorer, result.images!, completionLabels);
  const originals = await agreement(scorer, set.images, labels);
  const reconstructions = await agreement(scorer, result.reconstructions!, labels);
  const regenerated = result.cells.reduce((a, b) => a + b, 0);

  const report = {
    benchmark: 'inpainting',
    date: new Date().toISOString(),
    threads: defaultThreadCount(),
    device: args.device,
    checkpoint: args.checkpoint,
    method: model.config.method,
    tokenizer: args.tokenizer,
    scorer: args.scorer,
    images: args.images,
    inputs: result.n,
    completions: k,
    region: args.region,
    regeneratedCells: regenerated,
    gridCells: result.cells.length,
    steps,
    sampler: args.sampler || (model.config.method === 'maskgit' ? 'maskgit' : 'ancestral'),
    guidance,
    guidanceInterval,
    gridShift,
    infillResample: Number(args['infill-resample']),
    seed: Number(args.seed),
    evaluationsPerSample: result.evaluationsPerSample,
    /** completions classified as their original's class (the requested class) */
    classAgreement: completions.overall,
    classAgreementByClass: completions.byClass,
    /** the scorer's accuracy on the originals and on their reconstructions: the ceiling for the completions */
    originalAgreement: originals.overall,
    reconstructionAgreement: reconstructions.overall,
    /** known tokens kept exactly, over every completion: must be 1 */
    keptFraction: result.keptFraction,
    secondsPerCompletion: result.sampleSeconds / (result.n * k),
    secondsPerCompletionWithCoding: totalSeconds / (result.n * k),
    sampleSeconds: result.sampleSeconds,
  };
  const text = JSON.stringify(report, null, 2) + '\n';
  if (args.out) {
    ensureParentFolder(args.out, '--out');
    writeFileAtomic(args.out, text);
    log(`wrote ${args.out}`);
  } else {
    process.stdout.write(text);
  }
  log(`class agreement ${completions.overall.toFixed(3)} (originals ${originals.overall.toFixed(3)}, reconstructions ${reconstructions.overall.toFixed(3)}), known tokens kept ${report.keptFraction}, ${(1000 * report.secondsPerCompletion).toFixed(1)} ms per completion`);
  result.dispose();
  set.images.dispose();
  set.labels.dispose();
  scorer.dispose();
  model.dispose();
  tokenizer.dispose();
  if (report.keptFraction !== 1) {
    log('FAILED: some known tokens changed');
    process.exitCode = 1;
  }
}

void main().catch((err) => {
  console.error(err);
  process.exitCode = 1;
});
