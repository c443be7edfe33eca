/**
 * `lcmd train`: trains a VQ-LCMD model on a token .npy file (and optional labels), writing DIR/checkpoint.safetensors,
 * DIR/log.jsonl and DIR/config.json. The grid (H, W) and the classes come from the data; K from --vocab-size or the
 * preset. SIGINT / SIGTERM finish the step in flight, write a checkpoint and exit with 130 / 143; `--resume`
 * continues from it exactly: same step counter, optimizer, EMAs, RNG and data order.
 */
import { Command, Option } from 'commander';
import * as fs from 'fs';
import * as path from 'path';
import {
  device,
  existingFile,
  nonNegativeInt,
  nonNegativeNumber,
  oneOf,
  outputFolder,
  port,
  positiveInt,
  positiveNumber,
  unitInterval,
  usage,
  type Parser,
} from '../cli-options';
import { interruptible } from '../interrupt';
import { formatDuration, formatValue, ProgressLine } from '../progress';
import { checkDeviceAvailable } from '../../lib/device';
import { ensureFolder } from '../../lib/folders';
import type { ModelConfig, TrainConfig } from '../../lib/config';
import { TokenDataset } from '../../lib/data';
import { initProcessGroup, readDistributedEnv, type ProcessGroup } from '../../lib/distributed';
import { check, LcmdError } from '../../lib/errors';
import { blasWarning, info, lcmdVersion } from '../../lib/info';
import { launchWorkers, stripLauncherFlags } from '../../lib/launcher';
import { ABLATIONS, presetNames, resolveConfig } from '../../lib/presets';
import { readSafetensors, readSafetensorsMetadata } from '../../lib/safetensors';
import { Trainer, type Batch, type Evaluation, type StepResult } from '../../lib/trainer';

export const CHECKPOINT_FILE = 'checkpoint.safetensors';
export const LOG_FILE = 'log.jsonl';
export const CONFIG_FILE = 'config.json';
/** Checkpoint metadata key holding where the data stood, so a resumed run reads the same batches next. */
export const DATA_METADATA_KEY = 'lcmd.data';
/** Checkpoint metadata key holding the command's own settings (the step target, logging intervals). */
export const RUN_METADATA_KEY = 'lcmd.run';
export const DEFAULT_PRESET = 'small';
export const DEFAULT_BATCH_SIZE = 64;

/** Model fields a flag may set, by commander attribute name (camelCase of the flag). */
const MODEL_FLAGS: { flag: string; key: keyof ModelConfig; parser: Parser<number>; text: string }[] = [
  { flag: '--vocab-size <k>', key: 'vocabSize', parser: positiveInt, text: "K, the number of token ids (default: the preset's; must exceed every id in --data)" },
  { flag: '--embed-dim <d>', key: 'embedDim', parser: positiveInt, text: 'd, the embedding width' },
  { flag: '--layers <n>', key: 'layers', parser: positiveInt, text: 'transformer blocks' },
  { flag: '--hidden <n>', key: 'hidden', parser: positiveInt, text: 'transformer width' },
  { flag: '--heads <n>', key: 'heads', parser: positiveInt, text: 'attention heads (must divide --hidden)' },
  { flag: '--shift <s>', key: 'shift', parser: positiveNumber, text: 's of the shifted cosine schedule (1 = plain cosine)' },
];

type TrainFlagParser = Parser<number> | Parser<string>;
const TRAIN_FLAGS: { flag: string; key: keyof TrainConfig; parser: TrainFlagParser; text: string }[] = [
  { flag: '--lr <x>', key: 'lr', parser: positiveNumber, text: 'AdamW learning rate' },
  { flag: '--lambda-cm <x>', key: 'lambdaCm', parser: nonNegativeNumber, text: 'weight of the consistency-matching loss' },
  { flag: '--lambda-diff <x>', key: 'lambdaDiff', parser: nonNegativeNumber, text: 'weight of the diffusion (embedding MSE) loss' },
  { flag: '--seed <n>', key: 'seed', parser: nonNegativeInt, text: 'seed of the initial weights, the training noise and the data order' },
  { flag: '--teacher <kind>', key: 'teacher', parser: oneOf(['ema', 'sampling', 'online'] as const), text: 'CM teacher: ema (own EMA), sampling (share the sampling EMA), online (stop-gradient student)' },
  { flag: '--cm-target <kind>', key: 'cmTarget', parser: oneOf(['teacher', 'data'] as const), text: "CM target: teacher (the paper's DDIM step) or data" },
  { flag: '--ema-decay <mu>', key: 'emaDecay', parser: unitInterval, text: 'sampling EMA rate in [0, 1)' },
  { flag: '--teacher-decay <mu>', key: 'teacherDecay', parser: unitInterval, text: 'teacher EMA rate in [0, 1)' },
  { flag: '--warmup-steps <n>', key: 'warmupSteps', parser: nonNegativeInt, text: 'linear learning-rate warm-up steps' },
  { flag: '--lr-schedule <kind>', key: 'lrSchedule', parser: oneOf(['constant', 'cosine'] as const), text: 'learning-rate schedule after warm-up' },
  { flag: '--drop-rate <r>', key: 'dropRate', parser: unitInterval, text: 'random dropping rate r in [0, 1)' },
  { flag: '--class-dropout <p>', key: 'classDropout', parser: unitInterval, text: 'probability of the null class (guidance training)' },
  { flag: '--weight-decay <x>', key: 'weightDecay', parser: nonNegativeNumber, text: 'AdamW weight decay' },
  { flag: '--grad-clip <x>', key: 'gradClip', parser: nonNegativeNumber, text: 'gradient-norm clip (0 = off)' },
  { flag: '--objective <kind>', key: 'objective', parser: oneOf(['lcmd', 'vlb'] as const), text: "lcmd (SPEC 6) or vlb (CSDM's bound)" },
  { flag: '--device <name>', key: 'device', parser: device, text: 'cpu, cuda or cuda:N (default cpu)' },
  { flag: '--precision <p>', key: 'precision', parser: oneOf(['fp32', 'bf16'] as const), text: 'fp32, or bf16 autocast' },
];

export interface TrainOptions {
  preset?: string;
  config?: string;
  ablation?: string;
  data?: string;
  labels?: string;
  out?: string;
  steps?: number;
  batchSize?: number;
  /** true: DIR/checkpoint.safetensors of --out; a string: that checkpoint */
  resume?: string | boolean;
  checkpointEvery?: number;
  logEvery?: number;
  evalEvery?: number;
  heldout?: number;
  numClasses?: number;
  blasCheck?: boolean;
  /** a tokenizer file whose codebook starts the embedding table (CSDM-dagger) */
  codebook?: string;
  /** data-parallel runs: the c10d backend (default: nccl on CUDA, gloo on the CPU) and the timeout of every wait */
  backend?: 'gloo' | 'nccl';
  distTimeout?: number;
  /** model and train overrides, by config key */
  [key: string]: unknown;
}

export interface TrainOutcome {
  out: string;
  checkpoint: string;
  /** steps taken in total (earlier runs included) */
  steps: number;
  /** steps this call took */
  stepsThisRun: number;
  seconds: number;
  interrupted: boolean;
  lastEvaluation?: Evaluation;
  /** the last logged window's mean losses */
  lastLosses?: Record<string, number>;
}

export interface RunTrainingContext {
  signal?: AbortSignal;
  /** where the progress line goes (default stderr) */
  progress?: ProgressLine;
  /** where summaries go (default console.log) */
  print?: (line: string) => void;
}

interface DataRecord {
  tokens: string;
  labels?: string;
  size: number;
  batchSize: number;
  seed: number;
  heldout: number;
  position?: { epoch: number; step: number };
}

interface RunRecord {
  steps: number;
  logEvery: number;
  checkpointEvery: number;
  evalEvery: number;
}

function readJsonFile(file: string, what: string): unknown {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    throw new LcmdError(`cannot read ${what} ${file}: ${(err as Error).message}`, 'E_IO');
  }
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new LcmdError(`${what} ${file} is not valid JSON: ${(err as Error).message}`, 'E_CONFIG');
  }
}

/** A --config file: {preset?, ablation?, model?, train?}. */
function readConfigFile(file: string): { preset?: string; ablation?: string; model?: Partial<ModelConfig>; train?: Partial<TrainConfig> } {
  const json = readJsonFile(file, '--config');
  check(json !== null && typeof json === 'object' && !Array.isArray(json), 'E_CONFIG', `--config ${file} must hold a JSON object {preset?, ablation?, model?, train?}`);
  const allowed = ['preset', 'ablation', 'model', 'train'];
  for (const key of Object.keys(json)) check(allowed.includes(key), 'E_CONFIG', `--config ${file}: unknown key '${key}': expected ${allowed.join(', ')}`);
  const c = json as Record<string, unknown>;
  check(c.preset === undefined || typeof c.preset === 'string', 'E_CONFIG', `--config ${file}: preset must be a string`);
  check(c.ablation === undefined || typeof c.ablation === 'string', 'E_CONFIG', `--config ${file}: ablation must be a string`);
  for (const key of ['model', 'train']) {
    check(c[key] === undefined || (typeof c[key] === 'object' && c[key] !== null && !Array.isArray(c[key])), 'E_CONFIG', `--config ${file}: ${key} must be an object`);
  }
  return c as ReturnType<typeof readConfigFile>;
}

/** The train config stored in a checkpoint's metadata (read from the header alone). */
function storedTrainConfig(file: string): Partial<TrainConfig> {
  return metadataJson<Partial<TrainConfig>>(readSafetensorsMetadata(file), 'lcmd.train') ?? {};
}

function metadataJson<T>(metadata: Record<string, string>, key: string): T | undefined {
  const raw = metadata[key];
  if (raw === undefined) return undefined;
  try {
    return JSON.parse(raw) as T;
  } catch {
    throw new LcmdError(`the checkpoint's metadata entry '${key}' is not valid JSON`, 'E_CHECKPOINT');
  }
}

/** Model and train overrides given as flags. */
function flagOverrides(opts: TrainOptions): { model: Partial<ModelConfig>; train: Partial<TrainConfig> } {
  const model: Record<string, unknown> = {};
  const train: Record<string, unknown> = {};
  for (const f of MODEL_FLAGS) if (opts[f.key] !== undefined) model[f.key] = opts[f.key];
  for (const f of TRAIN_FLAGS) if (opts[f.key] !== undefined) train[f.key] = opts[f.key];
  return { model: model as Partial<ModelConfig>, train: train as Partial<TrainConfig> };
}

/** The tensor of a tokenizer file (lcmd tokenize train) that holds its codebook [K, codeDim]. */
const TOKENIZER_CODEBOOK = 'codebook.embedding';

/** CSDM-dagger: the tokenizer's codebook becomes the embedding table (frozen by the csdm-dagger ablation). */
async function loadTokenizerCodebook(trainer: Trainer, file: string): Promise<void> {
  const { tensors } = await readSafetensors(file);
  try {
    const codebook = tensors[TOKENIZER_CODEBOOK];
    check(codebook !== undefined, 'E_DATA', `--codebook ${file} holds no tensor '${TOKENIZER_CODEBOOK}': give a tokenizer file written by lcmd tokenize train`);
    const m = trainer.config.model;
    check(codebook.shape[0] === m.vocabSize && codebook.shape[1] === m.embedDim, 'E_SHAPE',
      `--codebook ${file} holds a [${codebook.shape.join(', ')}] codebook, but the model's table is [${m.vocabSize}, ${m.embedDim}]: pass --vocab-size ${codebook.shape[0]} --embed-dim ${codebook.shape[1]}`);
    trainer.loadCodebook(codebook);
  } finally {
    Object.values(tensors).forEach((t) => t.dispose());
  }
}

async function warnAboutBlas(print: (line: string) => void): Promise<void> {
  const r = await info({ measureGemm: true });
  const warning = blasWarning(r);
  if (warning) print(warning);
}

/** Keeps the log lines of steps up to `step` (a resumed run rewrites what came after its checkpoint). */
function truncateLog(file: string, step: number): void {
  if (!fs.existsSync(file)) return;
  const kept = fs
    .readFileSync(file, 'utf8')
    .split('\n')
    .filter((line) => {
      if (line.trim() === '') return false;
      try {
        const entry = JSON.parse(line) as { step?: number };
        return typeof entry.step !== 'number' || entry.step <= step;
      } catch {
        return false;
      }
    });
  fs.writeFileSync(file, kept.map((l) => l + '\n').join(''));
}

/** Mean of the step results since the last log line. */
class LossWindow {
  private sums: Record<string, number> = {};
  private count = 0;
  private static readonly KEYS = ['loss', 'recon', 'cm', 'diff', 'prior', 'accuracyT'] as const;

  add(r: StepResult): void {
    if (r.skipped) return;
    for (const k of LossWindow.KEYS) this.sums[k] = (this.sums[k] ?? 0) + r[k];
    this.count++;
  }

  take(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const k of LossWindow.KEYS) out[k] = this.count > 0 ? this.sums[k] / this.count : NaN;
    this.sums = {};
    this.count = 0;
    return out;
  }
}

/** The held-out examples of the data as one batch (all of them, whatever the rank). */
async function heldoutBatch(dataset: TokenDataset, group: ProcessGroup | undefined, open: () => Promise<TokenDataset>): Promise<Batch | undefined> {
  if (dataset.heldoutSize === 0) return undefined;
  const source = group && group.worldSize > 1 ? await open() : dataset;
  try {
    const batches = [...source.heldoutBatches(source.heldoutSize)];
    check(batches.length === 1, 'E_DATA', `expected the held-out split as one batch, got ${batches.length}`);
    return { tokens: batches[0].tokens, labels: batches[0].labels };
  } finally {
    if (source !== dataset) source.dispose();
  }
}

function evaluationLine(step: number, e: Evaluation): string {
  const v = e.vlb;
  return `step ${step} held-out: ${v.totalBits.toFixed(4)} bits/token (recon ${v.reconBits.toFixed(4)}, prior ${v.priorBits.toFixed(4)}, diffusion ${v.diffusionBits.toFixed(4)} +- ${v.diffusionStderrBits.toFixed(4)}); embedding norm ${formatValue(e.embeddings.meanNorm)}`;
}

/** Trains as `lcmd train` does (the demo calls it too). Resolves once the run has ended or was interrupted. */
export async function runTraining(opts: TrainOptions, context: RunTrainingContext = {}): Promise<TrainOutcome> {
  const print = context.print ?? ((line: string) => console.log(line));
  const resumeFrom = opts.resume === true ? (usage(opts.out, '--resume without a path needs --out DIR (it continues DIR/checkpoint.safetensors)'), path.join(opts.out, CHECKPOINT_FILE)) : opts.resume || undefined;
  const out = opts.out ?? (resumeFrom ? path.dirname(resumeFrom) : undefined);
  usage(out, 'give --out DIR: where the checkpoint, log.jsonl and config.json go');
  const checkpoint = path.join(out, CHECKPOINT_FILE);
  const logFile = path.join(out, LOG_FILE);
  const overrides = flagOverrides(opts);

  if (resumeFrom) {
    usage(fs.existsSync(resumeFrom), `--resume: checkpoint ${resumeFrom} does not exist`);
    const modelFlags = Object.keys(overrides.model).concat(opts.codebook ? ['codebook'] : [], opts.preset ? ['preset'] : [], opts.config ? ['config'] : [], opts.ablation ? ['ablation'] : [], opts.numClasses !== undefined ? ['numClasses'] : []);
    usage(modelFlags.length === 0, `--resume continues the checkpoint's model; these flags would change it: ${modelFlags.join(', ')}. Drop them, or start a new run with another --out`);
  } else {
    usage(!fs.existsSync(checkpoint), `${out} already holds a checkpoint (${checkpoint}): add --resume to continue it, or choose another --out`);
    usage(opts.data, 'give --data tokens.npy: the token grids to train on ([n, H, W] integers)');
    usage(opts.steps !== undefined, 'give --steps N: the number of training steps');
    usage(opts.ablation !== 'csdm-dagger' || opts.codebook, 'the csdm-dagger ablation takes its embeddings from the tokenizer: give --codebook tokenizer.safetensors');
  }
  usage(opts.numClasses === undefined || opts.labels, '--num-classes needs --labels');
  usage(opts.evalEvery === undefined || (opts.heldout ?? 0) > 0 || resumeFrom, '--eval-every needs --heldout N (examples held out of training to evaluate on)');

  const distributed = readDistributedEnv();
  const manyRanks = Boolean(distributed && distributed.worldSize > 1);
  // A resumed run stays on the checkpoint's device unless --device says otherwise (ranks each take cuda:LOCAL_RANK).
  const storedDevice = resumeFrom ? storedTrainConfig(resumeFrom).device : undefined;
  const requestedDevice = (overrides.train.device as string | undefined) ?? (storedDevice?.startsWith('cuda') && manyRanks ? 'cuda' : storedDevice) ?? 'cpu';
  const group = manyRanks ? await initProcessGroup({ device: requestedDevice, backend: opts.backend, timeoutSeconds: opts.distTimeout, signal: context.signal }) : undefined;
  const isMain = !group || group.isMain;
  const trainDevice = group?.device ?? requestedDevice;
  checkDeviceAvailable(trainDevice);
  if (isMain && trainDevice === 'cpu' && opts.blasCheck !== false) await warnAboutBlas(print);
  const progress = isMain ? (context.progress ?? new ProgressLine({ label: 'train', plainEvery: opts.logEvery ?? 10 })) : undefined;

  let trainer: Trainer | undefined;
  let dataset: TokenDataset | undefined;
  let heldout: Batch | undefined;
  try {
    // 1. The trainer's configuration: the checkpoint's, or the preset / config file / flags (grid and classes follow).
    let record: DataRecord | undefined;
    let run: RunRecord | undefined;
    let fresh: ReturnType<typeof resolveConfig> | undefined;
    if (resumeFrom) {
      trainer = await Trainer.resume(resumeFrom, { ...overrides.train, device: trainDevice }, context.signal);
      record = metadataJson<DataRecord>(trainer.resumedMetadata, DATA_METADATA_KEY);
      run = metadataJson<RunRecord>(trainer.resumedMetadata, RUN_METADATA_KEY);
    } else {
      const file = opts.config ? readConfigFile(opts.config) : undefined;
      fresh = resolveConfig({
        preset: opts.preset ?? file?.preset ?? (file ? undefined : DEFAULT_PRESET),
        ablation: opts.ablation ?? file?.ablation,
        model: { ...file?.model, ...overrides.model },
        train: { ...file?.train, ...overrides.train },
      });
      usage(fresh.model.vocabSize !== undefined, 'the configuration sets no vocabSize: pass --vocab-size K (the codebook size of the tokenizer that made --data)');
    }
    const vocabSize = trainer ? trainer.config.model.vocabSize : fresh!.model.vocabSize!;
    const dataSeed = trainer ? (record?.seed ?? trainer.config.train.seed) : (fresh!.train.seed ?? 0);

    // 2. The data, checked against the model's grid, K and classes.
    const tokensFile = opts.data ?? record?.tokens;
    usage(tokensFile, '--resume: the checkpoint does not say which data it trained on; give --data (and --labels)');
    usage(fs.existsSync(tokensFile), `--data ${tokensFile} does not exist`);
    const labelsFile = opts.labels ?? (opts.data ? undefined : record?.labels);
    if (labelsFile) usage(fs.existsSync(labelsFile), `--labels ${labelsFile} does not exist`);
    const batchSize = opts.batchSize ?? record?.batchSize ?? DEFAULT_BATCH_SIZE;
    const heldoutCount = opts.heldout ?? record?.heldout ?? 0;
    usage(opts.evalEvery === undefined || heldoutCount > 0, '--eval-every needs held-out examples: this run was started without --heldout');
    const openDataset = (rank: number, worldSize: number) =>
      TokenDataset.open({ tokens: tokensFile, labels: labelsFile, batchSize, seed: dataSeed, heldout: heldoutCount, rank, worldSize });
    dataset = await openDataset(group?.rank ?? 0, group?.worldSize ?? 1);
    const grid = dataset.gridShape.length === 2 ? dataset.gridShape : [1, dataset.gridShape[0]];
    check(dataset.maxToken < vocabSize, 'E_RANGE', `--data ${tokensFile} holds token id ${dataset.maxToken}, but K = ${vocabSize}${trainer ? ' in the checkpoint' : ''}: ids must lie in [0, K). ${trainer ? 'Use data made by the same tokenizer.' : `Pass --vocab-size ${dataset.maxToken + 1} or more (the tokenizer's codebook size).`}`);
    check(dataset.trainSize >= batchSize, 'E_DATA', `--data ${tokensFile} has ${dataset.trainSize} training examples${heldoutCount ? ` (after holding out ${dataset.heldoutSize})` : ''}, fewer than one batch of ${batchSize}: lower --batch-size`);

    if (trainer) {
      const m = trainer.config.model;
      check(grid[0] === m.height && grid[1] === m.width, 'E_DATA', `--data ${tokensFile} holds ${grid.join('x')} grids, but the checkpoint's model takes ${m.height}x${m.width}`);
      check(m.numClasses === 0 || dataset.hasLabels, 'E_USAGE', `the checkpoint's model is class-conditional (${m.numClasses} classes): give --labels`);
      check(dataset.maxLabel === undefined || m.numClasses === 0 || dataset.maxLabel < m.numClasses, 'E_RANGE', `--labels holds class ${dataset.maxLabel}, but the model has ${m.numClasses} classes`);
      if (record?.position) {
        const same = record.batchSize === batchSize && record.seed === dataSeed && record.heldout === heldoutCount && record.size === dataset.size;
        check(same, 'E_USAGE', `--resume: the data settings differ from the checkpoint's (batch size ${record.batchSize}, ${record.size} examples, ${record.heldout} held out, seed ${record.seed}), so the data order cannot continue where it stopped; resume with the same --batch-size, --heldout and data`);
        dataset.seek(record.position);
      }
    } else {
      let numClasses = 0;
      if (dataset.hasLabels) {
        const needed = (dataset.maxLabel ?? -1) + 1;
        numClasses = opts.numClasses ?? needed;
        check(needed <= numClasses, 'E_RANGE', `--labels holds class ${dataset.maxLabel}, so --num-classes must be at least ${needed}, got ${numClasses}`);
      }
      const model = { ...fresh!.model, height: grid[0], width: grid[1], vocabSize, numClasses };
      // totalSteps: the length of the cosine schedule, when one is used
      const train = { totalSteps: opts.steps, ...fresh!.train, device: trainDevice, seed: dataSeed };
      trainer = Trainer.create({ model, train });
      if (opts.codebook) await loadTokenizerCodebook(trainer, opts.codebook);
    }
    if (group) await group.attach(trainer!);
    const t = trainer!;
    const ds = dataset;

    const runRecord: RunRecord = {
      steps: opts.steps ?? run?.steps ?? t.steps,
      logEvery: opts.logEvery ?? run?.logEvery ?? 10,
      checkpointEvery: opts.checkpointEvery ?? run?.checkpointEvery ?? 1000,
      evalEvery: opts.evalEvery ?? run?.evalEvery ?? 0,
    };
    const startStep = t.steps;
    if (resumeFrom && runRecord.steps <= startStep) {
      print(`the checkpoint has already taken ${startStep} steps (target ${runRecord.steps}); pass a larger --steps to train further`);
      return { out, checkpoint: resumeFrom, steps: startStep, stepsThisRun: 0, seconds: 0, interrupted: false };
    }
    const dataRecord = (): DataRecord => ({ tokens: path.resolve(tokensFile), labels: labelsFile ? path.resolve(labelsFile) : undefined, size: ds.size, batchSize, seed: dataSeed, heldout: heldoutCount, position: ds.position });

    if (isMain) {
      ensureFolder(out);
      if (resumeFrom) truncateLog(logFile, startStep);
      else fs.writeFileSync(logFile, '');
      const { model, train } = t.config;
      const described = { lcmdVersion: lcmdVersion(), model, train, data: { ...dataRecord(), position: undefined }, run: runRecord, parameters: t.model.parameterCount };
      fs.writeFileSync(path.join(out, CONFIG_FILE), JSON.stringify(described, null, 2) + '\n');
      const cond = model.numClasses > 0 ? `${model.numClasses} classes` : 'unconditional';
      print(
        `${resumeFrom ? `resuming ${resumeFrom} at step ${startStep}` : 'training'}: ${model.height}x${model.width} tokens, K = ${model.vocabSize}, ${cond}, ` +
          `${(t.model.parameterCount / 1e6).toFixed(2)}M parameters, ${ds.trainSize} examples (${ds.heldoutSize} held out), batch ${batchSize}, ` +
          `${runRecord.steps} steps on ${trainDevice}${group ? ` x ${group.worldSize} ranks` : ''}`,
      );
    }
    heldout = isMain ? await heldoutBatch(ds, group, () => openDataset(0, 1)) : undefined;
    const appendLog = (entry: Record<string, unknown>) => {
      if (isMain) fs.appendFileSync(logFile, JSON.stringify(entry) + '\n');
    };

    // In a data-parallel run the ranks must stop at the same step: each step they agree whether any rank was
    // interrupted (one tiny all-reduce), and all stop at the next step boundary.
    const fitController = new AbortController();
    const outer = context.signal;
    if (!group && outer) {
      if (outer.aborted) fitController.abort();
      else outer.addEventListener('abort', () => fitController.abort(), { once: true });
    }
    const source = {
      next: async () => {
        if (group && !fitController.signal.aborted && (await group.anyRank(Boolean(outer?.aborted)))) fitController.abort();
        return ds.next();
      },
    };

    const window = new LossWindow();
    let lastLosses: Record<string, number> | undefined;
    let lastEvaluation: Evaluation | undefined;
    let lastEvalStep = -1;
    let interrupted = false;
    let skipped = 0;
    const started = Date.now();
    const evaluationOptions = { batchSize: Math.max(batchSize, 64), seed: 0 };
    const onEvaluation = (step: number, report: Evaluation) => {
      lastEvaluation = report;
      lastEvalStep = step;
      appendLog({ type: 'eval', step, heldout: heldout?.tokens.shape[0], bitsPerToken: report.vlb.totalBits, vlb: report.vlb, table: report.table, embeddings: report.embeddings });
      progress?.log(evaluationLine(step, report));
    };
    for await (const event of t.fit(source, {
      steps: runRecord.steps,
      checkpointPath: checkpoint,
      checkpointEvery: runRecord.checkpointEvery,
      signal: fitController.signal,
      metadata: () => ({ [DATA_METADATA_KEY]: JSON.stringify(dataRecord()), [RUN_METADATA_KEY]: JSON.stringify(runRecord) }),
      heldout: runRecord.evalEvery > 0 ? heldout : undefined,
      evaluateEvery: runRecord.evalEvery > 0 ? runRecord.evalEvery : undefined,
      evaluateOptions: evaluationOptions,
      exampleOffset: group ? group.shard(batchSize).exampleOffset : undefined,
      globalBatchSize: batchSize,
      writeCheckpoints: isMain,
      beforeCheckpoint: group ? () => group.barrier() : undefined,
    })) {
      if (event.type === 'step') {
        const r = event.result;
        window.add(r);
        if (r.skipped) {
          skipped++;
          progress?.log(`step ${r.step}: skipped (non-finite loss or gradient; ${skipped} so far)`);
        }
        progress?.update({ step: r.step, total: runRecord.steps, values: { loss: r.loss, recon: r.recon, cm: r.cm, diff: r.diff }, rate: event.imagesPerSecond, etaSeconds: event.etaSeconds });
        if (r.step % runRecord.logEvery === 0 || r.step === runRecord.steps || r.step === startStep + 1) {
          lastLosses = window.take();
          if (group) {
            // every rank logs at the same steps, so the window means can be averaged over the ranks
            const keys = Object.keys(lastLosses);
            const means = await group.allreduceNumbers(keys.map((k) => lastLosses![k]), 'mean');
            keys.forEach((k, i) => (lastLosses![k] = means[i]));
          }
          appendLog({ type: 'step', step: r.step, ...lastLosses, gradNorm: r.gradNorm, lr: r.lr, lambdaCm: r.lambdaCm, lambdaDiff: r.lambdaDiff, skippedSteps: skipped, imagesPerSecond: event.imagesPerSecond, seconds: (Date.now() - started) / 1000 });
        }
      } else if (event.type === 'evaluation') {
        onEvaluation(event.step, event.report);
      } else if (event.type === 'checkpoint') {
        appendLog({ type: 'checkpoint', step: event.step, path: path.resolve(event.path) });
      } else if (event.type === 'stopped') {
        interrupted = true;
      }
    }
    progress?.finish();
    if (heldout && !interrupted && lastEvalStep !== t.steps) {
      onEvaluation(t.steps, await t.evaluate(heldout.tokens, heldout.labels, evaluationOptions));
    }
    const seconds = (Date.now() - started) / 1000;
    appendLog({ type: interrupted ? 'interrupted' : 'end', step: t.steps, seconds });
    if (isMain) {
      print(
        interrupted
          ? `interrupted at step ${t.steps}; checkpoint ${path.resolve(checkpoint)} (continue with: lcmd train --resume ${checkpoint})`
          : `trained to step ${t.steps} in ${formatDuration(seconds)}; checkpoint ${path.resolve(checkpoint)}, log ${path.resolve(logFile)}`,
      );
    }
    if (group) await group.barrier();
    return { out, checkpoint, steps: t.steps, stepsThisRun: t.steps - startStep, seconds, interrupted, lastEvaluation, lastLosses };
  } finally {
    heldout?.tokens.dispose();
    heldout?.labels?.dispose();
    dataset?.dispose();
    trainer?.dispose();
    group?.dispose();
  }
}

function launcherCommand(opts: TrainOptions & { nprocPerNode?: number; nnodes?: number; nodeRank?: number; masterAddr?: string; masterPort?: number }): boolean {
  const launcherGiven = ['nnodes', 'nodeRank', 'masterAddr', 'masterPort'].filter((k) => opts[k] !== undefined);
  if (opts.nprocPerNode === undefined) {
    const flags = launcherGiven.map((k) => '--' + k.replace(/[A-Z]/g, (c) => '-' + c.toLowerCase()));
    usage(flags.length === 0, `${flags.join(', ')} only ${flags.length > 1 ? 'apply' : 'applies'} with --nproc-per-node`);
    return false;
  }
  usage(!readDistributedEnv(), '--nproc-per-node starts its own workers; do not combine it with RANK / WORLD_SIZE in the environment (those mean this process already is a worker)');
  return true;
}

export function registerTrain(program: Command): void {
  const cmd = program
    .command('train')
    .description('train a VQ-LCMD model on token grids (.npy); writes DIR/checkpoint.safetensors, DIR/log.jsonl, DIR/config.json')
    .option('--preset <name>', `a named configuration: ${presetNames().join(', ')} (default small when no --config)`, oneOf(presetNames()))
    .option('--config <file.json>', 'a JSON file {preset?, ablation?, model?, train?}; flags override it', existingFile)
    .option('--ablation <name>', `a Table 1 ablation on top: ${Object.keys(ABLATIONS).join(', ')}`, oneOf(Object.keys(ABLATIONS)))
    .option('--data <tokens.npy>', 'token grids [n, H, W] (or [n, N]), any integer dtype; H, W come from here', existingFile)
    .option('--labels <labels.npy>', 'class labels [n]; the number of classes is the largest label + 1', existingFile)
    .option('--num-classes <c>', 'number of classes, when the labels do not show the largest one', positiveInt)
    .option('--out <dir>', 'output folder (created if needed)', outputFolder)
    .option('--steps <n>', 'total training steps (a resumed run counts the earlier ones)', positiveInt)
    .option('--batch-size <n>', 'examples per step, all ranks together (default 64)', positiveInt)
    .option('--resume [checkpoint]', 'continue a run: the given checkpoint, or DIR/checkpoint.safetensors of --out')
    .option('--checkpoint-every <n>', 'steps between checkpoints (default 1000; 0 = only at the end and on interrupt)', nonNegativeInt)
    .option('--log-every <n>', 'steps between log.jsonl lines (mean losses of the window) and plain progress lines (default 10)', positiveInt)
    .option('--heldout <n>', 'hold the last n examples out of training and evaluate on them (bits per token, per-noise-level table)', nonNegativeInt)
    .option('--eval-every <n>', 'steps between held-out evaluations (default: only at the end)', positiveInt)
    .option('--codebook <tokenizer.safetensors>', "start the embedding table from a tokenizer's codebook (with --ablation csdm-dagger, which also freezes it)", existingFile)
    .option('--no-blas-check', 'skip the short matrix-product speed check');
  for (const f of MODEL_FLAGS) cmd.option(f.flag, f.text, f.parser);
  for (const f of TRAIN_FLAGS) cmd.option(f.flag, f.text, f.parser as Parser<unknown>);
  cmd.addOption(new Option('--nproc-per-node <n>', 'data-parallel: start n worker processes on this node (one per GPU)').argParser(positiveInt));
  cmd.addOption(new Option('--nnodes <n>', 'nodes in the run (default 1)').argParser(positiveInt));
  cmd.addOption(new Option('--node-rank <r>', "this node's index in [0, nnodes)").argParser(nonNegativeInt));
  cmd.addOption(new Option('--master-addr <host>', 'host of node 0 (required with --nnodes > 1)'));
  cmd.addOption(new Option('--master-port <port>', "port of rank 0's rendezvous store").argParser(port));
  cmd.addOption(new Option('--backend <name>', 'data-parallel: the c10d backend (default nccl on CUDA, gloo on the CPU)').argParser(oneOf(['gloo', 'nccl'] as const)));
  cmd.addOption(new Option('--dist-timeout <seconds>', 'data-parallel: the longest wait for the rendezvous or any collective (default LCMD_DIST_TIMEOUT, else 300)').argParser(positiveNumber));
  cmd.addHelpText(
    'after',
    `
Interrupts: SIGINT (Ctrl-C) or SIGTERM finishes the step in flight, writes the checkpoint and exits with 130
(SIGINT) or 143 (SIGTERM); a second signal exits at once. Continue with --resume: the step counter, optimizer,
EMAs, random state and data order carry on as if the run had not stopped.

Data-parallel runs: --nproc-per-node N starts N workers with torchrun's variables (RANK, WORLD_SIZE, ...);
lcmd train also runs under torchrun-style launchers that set them. --batch-size is the global batch.

Examples:
  lcmd train --preset small --data tokens.npy --labels labels.npy --out run --steps 3000 --heldout 1000
  lcmd train --resume run/checkpoint.safetensors --steps 6000`,
  );
  cmd.action(async (opts: TrainOptions & { nprocPerNode?: number; nnodes?: number; nodeRank?: number; masterAddr?: string; masterPort?: number }) => {
    if (launcherCommand(opts)) {
      const args = stripLauncherFlags(process.argv.slice(2));
      const code = await launchWorkers({
        nprocPerNode: opts.nprocPerNode!,
        nnodes: opts.nnodes,
        nodeRank: opts.nodeRank,
        masterAddr: opts.masterAddr,
        masterPort: opts.masterPort,
        argv: [process.execPath, process.argv[1], ...args],
      });
      process.exitCode = code;
      return;
    }
    await interruptible((signal) => runTraining(opts, { signal }), {
      onSignal: (name) => process.stderr.write(`\nlcmd train: ${name} received: finishing the current step and writing a checkpoint (send it again to exit at once)\n`),
    });
  });
}
