/**
 * Sample quality, side by side: VQ-LCMD variants against the in-tool MaskGIT baseline, on MNIST tokens from lcmd's
 * own tokenizer, scored by lcmd's classifier-feature scorer (not Inception FID). One command:
 *
 *   npx tsc -p tsconfig.json && node dist/bench/quality.js [--work DIR] [--variants small,maskgit-small,paper-small]
 *     [--milestones 1000,4000] [--batch 32] [--n 1000] [--samplers ddim:2,ddim:4,ddim:8,ddim:8:1:0.2-0.7,commit:8,ancestral:50]
 *     [--maskgit-samplers maskgit:2,maskgit:4,maskgit:8] [--guidance 1] [--equal-time no|yes] [--out quality.json] [--sheet quality.png]
 *
 * A sampler is name:steps[:guidance[:lo-hi[:gridShift[:temperature[:commitTemperature[:solverOrder[:corrector]]]]]]]
 * (empty fields keep their defaults; corrector 1 turns on UniPC's corrector); gridShift 'learned' samples on the
 * model's learned time grid (timeGrid 'learned', for variants trained with train.timeWarp 'learned').
 *
 * A variant is a preset name, optionally with overrides: `small@model.shift=0.05@train.lr=1e-3`; `@codebook` starts
 * the embedding table from the tokenizer's codebook (as `lcmd train --codebook` does); a preset measured that way
 * (`small`) always gets it, frozen where the preset freezes it.
 *
 * DIR keeps the tokenizer, the token files and the scorer between runs (trained here when missing). Each variant
 * trains once, from the same seed and data order; at each milestone (cumulative steps) it samples n images (n / 10
 * per class) with every sampler listed for its method, decodes them and scores them against a fixed random subset
 * of MNIST test digits, with the real-vs-real floor at the same n. Training time (CPU seconds, see trainingClock) is
 * recorded so that variants can also be compared at equal training time: with --equal-time yes and a MaskGIT variant listed first, every later
 * variant is also sampled and scored at the step where its own cumulative training time first reaches MaskGIT's at
 * each milestone (rows with `equalTimeTo`; timing pauses while it samples). The JSON holds every number; the PNG puts a 10 x 10 grid of each
 * variant's samples at the last milestone side by side.
 */
import * as fs from 'fs';
import * as path from 'path';
import { PNG } from 'pngjs';
import { writeFileAtomic } from '../lib/atomic-write';
import { defaultThreadCount } from '../lib/binding';
import { ensureFolder } from '../lib/folders';
import { TokenDataset } from '../lib/data';
import { loadMnist } from '../lib/images';
import { tokenDTypeFor, writeNpy } from '../lib/npy';
import { freezesCodebookEmbeddings, PRESETS } from '../lib/presets';
import { sampleDetailed, type SampleOptions } from '../lib/sampler';
import { Scorer, scoreAgainstReal, type QualityReport } from '../lib/score';
import { Tokenizer, TOKENIZER_PRESETS } from '../lib/tokenizer';
import { Trainer } from '../lib/trainer';
import { loadTokenizerCodebook } from '../lib/training-run';
import { parseBenchArgs } from './args';

/**
 * Training time is the process's CPU time (user + system), not the wall clock: on a shared machine other jobs stretch
 * the wall time of one variant and not another's, and would move the equal-time comparison point. With one libtorch
 * thread (the bench's setting) it equals the wall time on an idle core.
 */
function trainingClock(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
}

interface SamplerSpec {
  sampler: NonNullable<SampleOptions['sampler']>;
  steps: number;
  /** guidance weight; the --guidance / --maskgit-guidance default when absent */
  guidance?: number;
  /** diffusion samplers: the times [lo, hi] where guidance applies (all when absent) */
  interval?: [number, number];
  /** diffusion samplers: the time grid's shift g (1 when absent), or 'learned' for the model's learned time grid */
  gridShift?: number | 'learned';
  /** diffusion samplers: softmax temperature (1 when absent) */
  temperature?: number;
  /** commit: MaskGIT's randomised choice at this Gumbel scale (0, the deterministic choice, when absent) */
  commitTemperature?: number;
  /** ddim and commit: 2 for DPM-Solver++(2M)'s multistep update (1, DDIM's step, when absent) */
  solverOrder?: 1 | 2;
  /** ddim and commit: UniPC's corrector */
  corrector?: boolean;
}

interface MilestoneResult {
  step: number;
  trainSeconds: number;
  msPerStep: number;
  /** --equal-time: this row was taken when the training time reached the baseline's at that milestone */
  equalTimeTo?: { variant: string; step: number };
  samples: ({ sampler: string; steps: number; guidance: number; guidanceInterval: [number, number]; gridShift: number | 'learned'; temperature: number; commitTemperature: number; solverOrder: number; corrector: boolean; sampleSeconds: number; evaluationsPerSample: number } & QualityReport)[];
}

async function prepareData(work: string, log: (s: string) => void) {
  ensureFolder(work);
  const files = { tokenizer: path.join(work, 'tokenizer.safetensors'), tokens: path.join(work, 'train-tokens.npy'), labels: path.join(work, 'train-labels.npy'), scorer: path.join(work, 'scorer.safetensors') };
  const train = loadMnist({ split: 'train' });
  if (!fs.existsSync(files.tokenizer)) {
    log('training the tokenizer (mnist preset)');
    const tokenizer = Tokenizer.create('mnist', { seed: 0 });
    const preset = TOKENIZER_PRESETS.mnist.train;
    await tokenizer.train(train.images, { steps: preset.steps, batchSize: preset.batchSize, lr: preset.lr, seed: 0 });
    await tokenizer.save(files.tokenizer);
    tokenizer.dispose();
  }
  const tokenizer = await Tokenizer.load(files.tokenizer);
  if (!fs.existsSync(files.tokens)) {
    log('encoding the training digits');
    const tokens = await tokenizer.encode(train.images);
    await writeNpy(files.tokens, tokens, { dtype: tokenDTypeFor(tokenizer.config.codebookSize) });
    await writeNpy(files.labels, train.labels, { dtype: 'int64' });
    tokens.dispose();
  }
  if (!fs.existsSync(files.scorer)) {
    log('training the scorer');
    const scorer = Scorer.create({ channels: 1, height: 28, width: 28, numClasses: 10 }, { seed: 0 });
    await scorer.train(train.images, train.labels, { steps: 1500, seed: 0 });
    await scorer.save(files.scorer);
    scorer.dispose();
  }
  train.images.dispose();
  train.labels.dispose();
  return { files, tokenizer, scorer: await Scorer.load(files.scorer) };
}

/** `preset@section.key=value@...`: a preset with model / train overrides (numbers, true/false, or strings). */
function parseVariant(text: string): { preset: string; model: Record<string, unknown>; train: Record<string, unknown>; codebook: boolean } {
  const [preset, ...overrides] = text.split('@');
  const out = { preset, model: {} as Record<string, unknown>, train: {} as Record<string, unknown>, codebook: false };
  for (const item of overrides) {
    if (item === 'codebook') {
      out.codebook = true;
      continue;
    }
    const match = /^(model|train)\.(\w+)=(.+)$/.exec(item);
    if (!match) throw new Error(`bad override '${item}' in variant '${text}' (expected model.key=value or train.key=value)`);
    const [, section, key, raw] = match;
    out[section as 'model' | 'train'][key] = raw === 'true' ? true : raw === 'false' ? false : Number.isFinite(Number(raw)) ? Number(raw) : raw;
  }
  return out;
}

function parseSamplers(text: string): SamplerSpec[] {
  return text.split(',').map((item) => {
    // an empty optional field keeps its default (Number('') would be 0)
    const [sampler = '', steps, guidance, range, shift, temp, commitTemp, order, correct] = item.split(':').map((field, i) => (i >= 2 && field === '' ? undefined : field));
    const interval = range === undefined ? undefined : (range.split('-').map(Number) as [number, number]);
    const gridShift = shift === undefined || shift === 'learned' ? shift : Number(shift);
    const temperature = temp === undefined ? undefined : Number(temp);
    if (temperature !== undefined && !(temperature > 0)) throw new Error(`bad temperature in sampler '${item}'`);
    const commitTemperature = commitTemp === undefined ? undefined : Number(commitTemp);
    if (commitTemperature !== undefined && !(commitTemperature >= 0 && sampler === 'commit')) throw new Error(`bad commit temperature in sampler '${item}' (a number >= 0, for commit only)`);
    const solverOrder = order === undefined ? undefined : Number(order);
    if (solverOrder !== undefined && !((solverOrder === 1 || solverOrder === 2) && (sampler === 'ddim' || sampler === 'commit'))) throw new Error(`bad solver order in sampler '${item}' (1 or 2, for ddim and commit only)`);
    if (correct !== undefined && !((correct === '0' || correct === '1') && (sampler === 'ddim' || sampler === 'commit'))) throw new Error(`bad corrector in sampler '${item}' (0 or 1, for ddim and commit only)`);
    if (typeof gridShift === 'number' && !(gridShift > 0)) throw new Error(`bad grid shift in sampler '${item}'`);
    if (!['ancestral', 'ddim', 'consistency', 'commit', 'maskgit'].includes(sampler) || !(Number(steps) > 0) || (guidance !== undefined && !(Number(guidance) >= 0)) ||
      (interval !== undefined && (interval.length !== 2 || !interval.every(Number.isFinite))))
      throw new Error(`bad sampler '${item}' (expected name:steps[:guidance[:lo-hi[:gridShift[:temperature[:commitTemperature[:solverOrder[:corrector]]]]]]], any optional field may be empty)`);
    return { sampler: sampler as SamplerSpec['sampler'], steps: Number(steps), guidance: guidance === undefined ? undefined : Number(guidance), interval, gridShift, temperature, commitTemperature, solverOrder: solverOrder as SamplerSpec['solverOrder'], corrector: correct === '1' };
  });
}

/** A grid of images [n, 1, H, W] as RGBA rows of `cols` images. */
function gridPixels(images: Float32Array, count: number, h: number, w: number, cols: number) {
  const rows = Math.ceil(count / cols);
  const width = cols * (w + 2), height = rows * (h + 2);
  const data = new Uint8Array(width * height);
  for (let i = 0; i < count; i++) {
    const ox = (i % cols) * (w + 2) + 1, oy = Math.floor(i / cols) * (h + 2) + 1;
    for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) data[(oy + y) * width + ox + x] = Math.round(Math.min(1, Math.max(0, images[i * h * w + y * w + x])) * 255);
  }
  return { data, width, height };
}

function writeSheet(file: string, panels: { data: Uint8Array; width: number; height: number }[]): void {
  const gap = 12;
  const width = panels.reduce((a, p) => a + p.width + gap, gap), height = Math.max(...panels.map((p) => p.height)) + 2 * gap;
  const png = new PNG({ width, height });
  png.data.fill(255);
  let x0 = gap;
  for (const p of panels) {
    for (let y = 0; y < p.height; y++) for (let x = 0; x < p.width; x++) {
      const v = p.data[y * p.width + x], o = 4 * ((y + gap) * width + x0 + x);
      png.data[o] = png.data[o + 1] = png.data[o + 2] = v;
      png.data[o + 3] = 255;
    }
    x0 += p.width + gap;
  }
  writeFileAtomic(file, PNG.sync.write(png));
}

async function main(): Promise<void> {
  const args = parseBenchArgs(process.argv.slice(2), {
    work: '.dev/quality', variants: 'small,maskgit-small', milestones: '1000,4000', batch: '32', n: '1000',
    samplers: 'ddim:2,ddim:4,ddim:8,ddim:8:1:0.2-0.7,commit:8,ancestral:50', 'maskgit-samplers': 'maskgit:2,maskgit:4,maskgit:8', guidance: '1', 'maskgit-guidance': '1', seed: '0', out: 'quality.json', sheet: 'quality.png', 'equal-time': 'no',
  });
  const log = (s: string) => process.stderr.write(`[quality] ${s}\n`);
  if (!['yes', 'no'].includes(args['equal-time'])) throw new Error(`--equal-time is '${args['equal-time']}': pass yes or no`);
  if (args['equal-time'] === 'yes' && PRESETS[parseVariant(args.variants.split(',')[0]).preset]?.model.method !== 'maskgit')
    throw new Error(`--equal-time yes matches MaskGIT's training time: list a MaskGIT variant first in --variants (got '${args.variants}')`);
  const milestones = args.milestones.split(',').map(Number);
  const n = Number(args.n), batch = Number(args.batch), seed = Number(args.seed);
  const { files, tokenizer, scorer } = await prepareData(args.work, log);
  const test = loadMnist({ split: 'test' });
  const testLabels = Array.from(test.labels.toTypedArray() as BigInt64Array, Number);
  const classes = Array.from({ length: n }, (_, i) => Math.floor((i * 10) / n));
  const report: Record<string, unknown> = { threads: defaultThreadCount(), n, batch, milestones, date: new Date().toISOString(), variants: {} };
  const panels: ReturnType<typeof gridPixels>[] = [];
  // --equal-time yes: the first MaskGIT variant's training time at each milestone, matched by the variants after it
  const equalTimeTargets: { variant: string; step: number; trainSeconds: number }[] = [];
  for (const name of args.variants.split(',')) {
    const variant = parseVariant(name);
    const preset = PRESETS[variant.preset];
    if (!preset) throw new Error(`unknown variant '${name}' (a preset name: ${Object.keys(PRESETS).join(', ')}, with @model.key=value overrides)`);
    const maskgit = preset.model.method === 'maskgit';
    const samplers = parseSamplers(maskgit ? args['maskgit-samplers'] : args.samplers);
    const defaultGuidance = Number(maskgit ? args['maskgit-guidance'] : args.guidance);
    // a checkpoint of an earlier run of this variant at a milestone is reused, so samplers can be added without retraining
    const checkpointAt = (step: number) => path.join(args.work, `${name}-${step}.safetensors`);
    // a preset measured with codebook embeddings gets them, as lcmd train --codebook gives them (lib/training-run.ts)
    const fromCodebook = preset.embeddingsFromCodebook ?? (variant.codebook ? 'trained' : undefined);
    const freeze = fromCodebook && freezesCodebookEmbeddings(variant.preset, variant.model.freezeEmbeddings as boolean | undefined) ? { freezeEmbeddings: true } : {};
    const model = { ...freeze, ...variant.model, vocabSize: tokenizer.config.codebookSize, height: 7, width: 7, numClasses: 10 };
    let trainer = Trainer.create({ preset: variant.preset, model, train: { ...variant.train, seed } });
    if (fromCodebook) await loadTokenizerCodebook(trainer, files.tokenizer);
    const data = await TokenDataset.open({ tokens: files.tokens, labels: files.labels, batchSize: batch, seed });
    const results: MilestoneResult[] = [];
    let trainSeconds = 0;
    let lastImages: Float32Array | undefined;
    // the baseline's training times still to be matched (--equal-time), earliest first
    const pending = maskgit ? [] : [...equalTimeTargets];
    const evaluate = async (row: MilestoneResult) => {
      log(`${name}: step ${row.step}, ${row.msPerStep.toFixed(0)} ms/step${row.equalTimeTo ? `, ${row.trainSeconds.toFixed(0)} s: ${row.equalTimeTo.variant}'s time at ${row.equalTimeTo.step}` : ''}`);
      for (const spec of samplers) {
        const guidance = spec.guidance ?? defaultGuidance;
        const t0 = process.hrtime.bigint();
        const result = await sampleDetailed(trainer.model, { n, steps: spec.steps, sampler: spec.sampler, guidance, guidanceInterval: spec.interval, gridShift: spec.gridShift === 'learned' ? undefined : spec.gridShift, timeGrid: spec.gridShift === 'learned' ? 'learned' : undefined, temperature: spec.temperature, commitTemperature: spec.commitTemperature, solverOrder: spec.solverOrder, corrector: spec.corrector, classes, seed, batchSize: 100 });
        const sampleSeconds = Number(process.hrtime.bigint() - t0) / 1e9;
        const images = await tokenizer.decode(result.tokens, { grid: [7, 7] });
        const quality = await scoreAgainstReal(scorer, images, test.images, { labels: classes, realLabels: testLabels, seed });
        log(`${name} @${row.step} ${spec.sampler}:${spec.steps} w=${guidance}${spec.interval ? ` in [${spec.interval.join(', ')}]` : ''}${spec.gridShift ? ` g=${spec.gridShift}` : ''}${spec.temperature ? ` T=${spec.temperature}` : ''}${spec.commitTemperature ? ` tau=${spec.commitTemperature}` : ''}${spec.solverOrder === 2 ? ' 2M' : ''}${spec.corrector ? ' UniC' : ''}: FD ${quality.score.frechetDistance.toFixed(1)} (floor ${quality.floor.frechetDistance.toFixed(1)}), agreement ${quality.score.classAgreement?.toFixed(3)}, ${sampleSeconds.toFixed(0)} s`);
        row.samples.push({ sampler: spec.sampler, steps: spec.steps, guidance, guidanceInterval: spec.interval ?? [0, 1], gridShift: spec.gridShift ?? 1, temperature: spec.temperature ?? 1, commitTemperature: spec.commitTemperature ?? 0, solverOrder: spec.solverOrder ?? 1, corrector: spec.corrector ?? false, sampleSeconds, evaluationsPerSample: result.evaluationsPerSample, ...quality });
        if (spec === samplers[0] && !row.equalTimeTo) lastImages = images.toTypedArray() as Float32Array;
        images.dispose();
        result.tokens.dispose();
      }
      results.push(row);
      (report.variants as Record<string, unknown>)[name] = { preset: PRESETS[variant.preset], overrides: { model: variant.model, train: variant.train }, parameters: trainer.model.parameterCount, milestones: results };
      writeFileAtomic(args.out, JSON.stringify(report, null, 2) + '\n');
    };
    for (const milestone of milestones) {
      const cached = fs.existsSync(checkpointAt(milestone)) ? (JSON.parse(fs.readFileSync(`${checkpointAt(milestone)}.json`, 'utf8')) as { trainSeconds: number; clock?: string }) : undefined;
      if (cached && cached.clock !== 'cpu') log(`warning: ${checkpointAt(milestone)}.json was timed by the wall clock (an older bench): its training time is not comparable with CPU times`);
      // a cached checkpoint is skipped to when no baseline time to match lies before it
      if (cached && trainer.steps < milestone && !pending.some((target) => target.trainSeconds < cached.trainSeconds)) {
        trainer.dispose();
        trainer = await Trainer.resume(checkpointAt(milestone));
        data.seek({ epoch: Math.floor(milestone / data.stepsPerEpoch), step: milestone % data.stepsPerEpoch });
        trainSeconds = cached.trainSeconds;
        while (pending.length && pending[0].trainSeconds <= trainSeconds) pending.shift();
      }
      let from = trainer.steps;
      let started = trainingClock();
      while (trainer.steps < milestone) {
        const b = await data.next();
        await trainer.step({ tokens: b.tokens, labels: b.labels });
        b.tokens.dispose();
        b.labels?.dispose();
        const elapsed = trainSeconds + (trainingClock() - started);
        if (pending.length && elapsed >= pending[0].trainSeconds) {
          // the baseline's training time is reached: evaluate here too (timing paused), without a checkpoint
          const target = pending.shift()!;
          await evaluate({ step: trainer.steps, trainSeconds: elapsed, msPerStep: (1000 * (elapsed - trainSeconds)) / Math.max(1, trainer.steps - from), equalTimeTo: { variant: target.variant, step: target.step }, samples: [] });
          trainSeconds = elapsed;
          from = trainer.steps;
          started = trainingClock();
        }
      }
      const seconds = trainingClock() - started;
      trainSeconds += seconds;
      if (!fs.existsSync(checkpointAt(milestone))) {
        await trainer.save(checkpointAt(milestone));
        writeFileAtomic(`${checkpointAt(milestone)}.json`, JSON.stringify({ trainSeconds, msPerStep: (1000 * seconds) / Math.max(1, milestone - from), clock: 'cpu' }) + '\n');
      }
      const timing = JSON.parse(fs.readFileSync(`${checkpointAt(milestone)}.json`, 'utf8')) as { trainSeconds: number; msPerStep: number };
      await evaluate({ step: milestone, trainSeconds: timing.trainSeconds, msPerStep: timing.msPerStep, samples: [] });
      if (maskgit && args['equal-time'] === 'yes' && !equalTimeTargets.some((target) => target.variant !== name)) equalTimeTargets.push({ variant: name, step: milestone, trainSeconds: timing.trainSeconds });
    }
    if (lastImages) {
      // 10 x 10: ten samples of each class, one row per class
      const pick = new Float32Array(100 * 28 * 28);
      const perClass = n / 10;
      for (let c = 0; c < 10; c++) for (let j = 0; j < 10; j++) pick.set(lastImages.subarray((c * perClass + j) * 784, (c * perClass + j + 1) * 784), (c * 10 + j) * 784);
      panels.push(gridPixels(pick, 100, 28, 28, 10));
    }
    data.dispose();
    trainer.dispose();
  }
  if (panels.length) writeSheet(args.sheet, panels);
  log(`wrote ${args.out}${panels.length ? ` and ${args.sheet}` : ''}`);
}

void main().catch((err) => {
  console.error(err);
  process.exitCode = 1;
});
