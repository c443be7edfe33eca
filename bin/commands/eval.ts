/**
 * `lcmd eval`: the held-out variational bound in bits per token (its three terms), the per-noise-level table of token
 * accuracy and cross-entropy, embedding statistics, codebook usage, and (with --samples) how the token frequencies of
 * samples compare with the data's.
 */
import { Command } from 'commander';
import { device, existingFile, nonNegativeInt, positiveInt, usage } from '../cli-options';
import { interruptible } from '../interrupt';
import { formatValue } from '../progress';
import { codebookUsage, compareTokenFrequencies, entropyBits, tokenCounts, type TokenComparison } from '../token-stats';
import { checkDeviceAvailable } from '../../lib/device';
import { check, LcmdError } from '../../lib/errors';
import { readNpy } from '../../lib/npy';
import { Tensor } from '../../lib/tensor';
import { Trainer, type Evaluation } from '../../lib/trainer';

export interface EvalCommandOptions {
  checkpoint: string;
  data: string;
  labels?: string;
  samples?: string;
  limit?: number;
  importanceSamples?: number;
  bins?: number;
  batchSize?: number;
  seed?: number;
  useOnline?: boolean;
  device?: string;
  json?: boolean;
}

export interface EvalReport {
  checkpoint: string;
  steps: number;
  examples: number;
  model: { height: number; width: number; vocabSize: number; numClasses: number };
  weights: 'ema' | 'online';
  /** L_VLB and its three terms, bits per token */
  vlb: Evaluation['vlb'];
  table: Evaluation['table'];
  embeddings: Evaluation['embeddings'];
  data: { codebookUsage: number; entropyBits: number };
  samples?: { count: number; codebookUsage: number; entropyBits: number } & TokenComparison;
}

/** The first `limit` rows of a tensor (all when limit is undefined or larger). */
function firstRows(t: Tensor, limit: number | undefined): Tensor {
  const n = t.shape[0];
  if (limit === undefined || limit >= n) return t;
  const per = t.shape.slice(1).reduce((a, b) => a * b, 1);
  const kept = Tensor.from(t.toTypedArray().slice(0, limit * per), [limit, ...t.shape.slice(1)], t.dtype);
  t.dispose();
  return kept;
}

/** Token grids from an .npy file as [n, N], checked against the model's grid and K. */
async function readTokens(file: string, flag: string, model: EvalReport['model'], limit?: number): Promise<Tensor> {
  const { tensor, stored } = await readNpy(file);
  let t = firstRows(tensor, limit);
  const s = t.shape;
  const n = model.height * model.width;
  const ok = (s.length === 3 && s[1] === model.height && s[2] === model.width) || (s.length === 2 && s[1] === n);
  if (!ok || s[0] === 0 || ['float32', 'float64', 'bool', 'float16', 'bfloat16'].includes(t.dtype)) {
    t.dispose();
    check(ok && s[0] > 0, 'E_SHAPE', `${flag} ${file}: expected token grids [n, ${model.height}, ${model.width}] (or [n, ${n}]) with n > 0, got [${s.join(', ')}]`);
    throw new LcmdError(`${flag} ${file}: expected integer token ids, got ${stored}`, 'E_DTYPE');
  }
  if (s.length === 3) {
    const flat = Tensor.from(t.toTypedArray(), [s[0], n], t.dtype);
    t.dispose();
    t = flat;
  }
  return t;
}

export async function runEvaluation(opts: EvalCommandOptions, signal?: AbortSignal): Promise<EvalReport> {
  const dev = opts.device ?? 'cpu';
  checkDeviceAvailable(dev);
  const trainer = await Trainer.resume(opts.checkpoint, { device: dev }, signal);
  const toDispose: Tensor[] = [];
  try {
    const { height, width, vocabSize, numClasses } = trainer.config.model;
    const model = { height, width, vocabSize, numClasses };
    const tokens = await readTokens(opts.data, '--data', model, opts.limit);
    toDispose.push(tokens);
    const ids = tokens.toTypedArray() as ArrayLike<number | bigint>;
    const dataCounts = tokenCounts(ids, vocabSize, `--data ${opts.data}`);
    let labels: Tensor | undefined;
    if (opts.labels) {
      usage(numClasses > 0, '--labels was given, but this model is unconditional');
      labels = firstRows((await readNpy(opts.labels)).tensor, opts.limit);
      toDispose.push(labels);
      check(labels.shape.length === 1 && labels.shape[0] === tokens.shape[0], 'E_SHAPE', `--labels ${opts.labels}: expected one label per example ([${tokens.shape[0]}]), got [${labels.shape.join(', ')}]`);
      const values = labels.toTypedArray() as ArrayLike<number | bigint>;
      for (let i = 0; i < values.length; i++) {
        const c = Number(values[i]);
        check(Number.isInteger(c) && c >= 0 && c < numClasses, 'E_RANGE', `--labels ${opts.labels}: label ${c} of example ${i} is not a class of this model (0 .. ${numClasses - 1})`);
      }
    }
    const useEma = !opts.useOnline;
    const evaluation = await trainer.evaluate(tokens, labels, {
      importanceSamples: opts.importanceSamples,
      bins: opts.bins,
      batchSize: opts.batchSize,
      seed: opts.seed ?? 0,
      useEma,
      signal,
    });
    const report: EvalReport = {
      checkpoint: opts.checkpoint,
      steps: trainer.steps,
      examples: tokens.shape[0],
      model,
      weights: useEma ? 'ema' : 'online',
      vlb: evaluation.vlb,
      table: evaluation.table,
      embeddings: evaluation.embeddings,
      data: { codebookUsage: codebookUsage(dataCounts), entropyBits: entropyBits(dataCounts) },
    };
    if (opts.samples) {
      const samples = await readTokens(opts.samples, '--samples', model);
      toDispose.push(samples);
      const sampleCounts = tokenCounts(samples.toTypedArray() as ArrayLike<number | bigint>, vocabSize, `--samples ${opts.samples}`);
      report.samples = { count: samples.shape[0], codebookUsage: codebookUsage(sampleCounts), entropyBits: entropyBits(sampleCounts), ...compareTokenFrequencies(sampleCounts, dataCounts) };
    }
    return report;
  } finally {
    for (const t of toDispose) t.dispose();
    trainer.dispose();
  }
}

/** The report for people. */
export function formatEvalReport(r: EvalReport, labelsGiven: boolean): string {
  const v = r.vlb;
  const lines = [
    `checkpoint     ${r.checkpoint} (step ${r.steps}, ${r.weights} weights)`,
    `examples       ${r.examples} grids of ${r.model.height}x${r.model.width} tokens, K = ${r.model.vocabSize}${r.model.numClasses > 0 && !labelsGiven ? ' (no --labels: evaluated with the null class)' : ''}`,
    `bits/token     ${v.totalBits.toFixed(4)}  (L_VLB upper bound on -log2 p(x) per token)`,
    `  recon        ${v.reconBits.toFixed(4)}`,
    `  prior        ${v.priorBits.toFixed(4)}`,
    `  diffusion    ${v.diffusionBits.toFixed(4)} +- ${v.diffusionStderrBits.toFixed(4)} (importance-sampled; standard error)`,
    '',
    'per noise level      t range       log-SNR   accuracy   cross-entropy (nats)',
    ...r.table.map(
      (row) =>
        `                 ${row.tLow.toFixed(2)} - ${row.tHigh.toFixed(2)}   ${row.logsnr.toFixed(2).padStart(8)}   ${row.accuracy.toFixed(4).padStart(8)}   ${formatValue(row.crossEntropy).padStart(10)}`,
    ),
    '',
    `embeddings     mean norm ${formatValue(r.embeddings.meanNorm)}, mean pairwise distance ${formatValue(r.embeddings.meanPairwiseDistance)}, min ${formatValue(r.embeddings.minPairwiseDistance)}, distance / norm ${formatValue(r.embeddings.distanceToNorm)}`,
    `codebook       data uses ${(100 * r.data.codebookUsage).toFixed(1)}% of the K ids (unigram entropy ${r.data.entropyBits.toFixed(3)} bits)`,
  ];
  if (r.samples) {
    const s = r.samples;
    lines.push(
      `samples        ${s.count} grids use ${(100 * s.codebookUsage).toFixed(1)}% of the K ids (unigram entropy ${s.entropyBits.toFixed(3)} bits)`,
      `               unigram KL(samples || data) ${s.klSamplesDataBits.toFixed(4)} bits, KL(data || samples) ${s.klDataSamplesBits.toFixed(4)} bits, total variation ${s.totalVariation.toFixed(4)}`,
    );
  }
  return lines.join('\n');
}

export function registerEval(program: Command): void {
  program
    .command('eval')
    .description('held-out bits per token (L_VLB and its terms), the per-noise-level table, embedding and codebook statistics')
    .requiredOption('--checkpoint <file>', 'a checkpoint written by lcmd train', existingFile)
    .requiredOption('--data <tokens.npy>', 'held-out token grids [n, H, W]', existingFile)
    .option('--labels <labels.npy>', 'their class labels [n] (class-conditional models; without them the null class is used)', existingFile)
    .option('--samples <tokens.npy>', 'sampled token grids to compare with the data (codebook usage, unigram KL, total variation)', existingFile)
    .option('--limit <n>', 'only the first n examples of --data', positiveInt)
    .option('--importance-samples <n>', 'noise levels drawn per example for the diffusion term (default 4)', positiveInt)
    .option('--bins <n>', 'rows of the per-noise-level table (default 10)', positiveInt)
    .option('--batch-size <n>', 'examples per forward batch (default 64)', positiveInt)
    .option('--seed <n>', 'seed of the noise draws (default 0)', nonNegativeInt)
    .option('--use-online', 'evaluate the online weights instead of the sampling EMA')
    .option('--device <name>', 'cpu, cuda or cuda:N (default cpu)', device)
    .option('--json', 'print the report as JSON')
    .action(async (opts: EvalCommandOptions) => {
      await interruptible(async (signal) => {
        const report = await runEvaluation(opts, signal);
        console.log(opts.json ? JSON.stringify(report, null, 2) : formatEvalReport(report, Boolean(opts.labels)));
      });
    });
}
