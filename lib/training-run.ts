/**
 * A training run as `lcmd train` runs it: a run folder (lib/run-folder.ts), a trainer that is new or resumed
 * exactly (step counter, optimizer, EMAs, random state and data position), its token data, and the schedule of
 * logging, held-out evaluation and checkpoints. Under torchrun's variables (RANK, WORLD_SIZE, ...) it is one rank of
 * a data-parallel run: the ranks agree each step whether to stop, and the logged losses are means over the ranks.
 *
 *   const run = await TrainingRun.open({ out: 'run', data: 'tokens.npy', steps: 20000, model: { vocabSize: 1024 } });
 *   const outcome = await run.train({ onEvaluation: (e) => console.log(e.step, e.report.vlb.totalBits) });
 *   run.dispose();
 *   // after an interrupt, or to train further: one call, the checkpoint holds the rest
 *   const again = await TrainingRun.resume('run/checkpoint.safetensors', { steps: 40000 });
 *
 * Messages name each option by its `lcmd train` flag (--data for `data`), since the command passes its flags here.
 */
import * as fs from 'fs';
import * as path from 'path';
import type { ModelConfig, TrainConfig } from './config';
import { readConfigFile } from './config-file';
import { TokenDataset } from './data';
import { checkDeviceAvailable } from './device';
import { initProcessGroup, readDistributedEnv, type DistributedBackend, type ProcessGroup } from './distributed';
import { check } from './errors';
import { checkWritable } from './folders';
import { blasWarning, info, lcmdVersion } from './info';
import { LossWindow } from './loss-window';
import { freezesCodebookEmbeddings, PRESETS, resolveConfig } from './presets';
import { RunFolder } from './run-folder';
import { DATA_METADATA_KEY, metadataJson, RUN_METADATA_KEY, runMetadata, storedTrainConfig, type DataRecord, type RunRecord } from './run-metadata';
import { readSafetensors } from './safetensors';
import { Trainer, type Batch, type Evaluation, type StepResult } from './trainer';

export const DEFAULT_PRESET = 'small';
export const DEFAULT_BATCH_SIZE = 64;
const DEFAULT_LOG_EVERY = 10;
const DEFAULT_CHECKPOINT_EVERY = 1000;
/** The most classes a model may have: the native ceiling on model.numClasses (ModelConfig::validate). */
const MAX_CLASSES = 10_000_000;

export interface TrainingRunOptions {
  /** the run folder (created if needed); default: the folder of `resume` */
  out?: string;
  /** continue this checkpoint; `true`: the checkpoint of `out` */
  resume?: string | true;
  /** token grids .npy [n, H, W] or [n, N]; a resumed run defaults to the checkpoint's data */
  data?: string;
  /** class labels .npy [n]; they make a new model class-conditional */
  labels?: string;
  /** classes of a new model (default: the largest label + 1) */
  numClasses?: number;
  /** total steps, earlier runs included (required for a new run; a resumed run defaults to its target) */
  steps?: number;
  /** the global batch, all ranks together (default 64) */
  batchSize?: number;
  /** examples held out of training at the end of the data, to evaluate on (default 0) */
  heldout?: number;
  /** a new run's configuration: a preset (default small, unless `config` is given), a JSON file, an ablation, overrides */
  preset?: string;
  /** a JSON file {preset?, ablation?, model?, train?} (lib/config-file.ts); the other options override it */
  config?: string;
  ablation?: string;
  model?: Partial<ModelConfig>;
  /** train config overrides; on resume they change the stored train config (e.g. lr, device) */
  train?: Partial<TrainConfig>;
  /** a tokenizer file whose codebook starts the embedding table (the csdm-dagger ablation) */
  codebook?: string;
  /** steps between log.jsonl lines (default 10), checkpoints (default 1000; 0: at the end and on interrupt only) and held-out evaluations (default: at the end only) */
  logEvery?: number;
  checkpointEvery?: number;
  evalEvery?: number;
  /** data-parallel runs: the c10d backend (default nccl on CUDA, gloo on the CPU) and the timeout of every wait, in seconds */
  backend?: DistributedBackend;
  distTimeout?: number;
  /** aborting it stops the run at the next step boundary, after a checkpoint */
  signal?: AbortSignal;
  /** notes for the user: the slow-BLAS warning of a CPU run (measured on rank 0 when this is given, unless `blasCheck` is false) */
  onWarning?: (message: string) => void;
  blasCheck?: boolean;
}

/** What a resumed run may change: the schedule, the data files, the train config's runtime fields. */
export type ResumeOptions = Pick<TrainingRunOptions, 'out' | 'data' | 'labels' | 'steps' | 'batchSize' | 'heldout' | 'train' | 'logEvery' | 'checkpointEvery' | 'evalEvery' | 'backend' | 'distTimeout' | 'signal' | 'onWarning' | 'blasCheck'>;

export interface TrainingRunEvents {
  /** after every step (skipped steps too; `skippedSteps` counts them) */
  onStep?: (event: { result: StepResult; imagesPerSecond: number; etaSeconds: number; skippedSteps: number }) => void;
  /** each line appended to log.jsonl for a window of steps (losses averaged over the window and the ranks) */
  onLog?: (entry: Record<string, unknown>) => void;
  /** each held-out evaluation; `final` marks the one after the last step */
  onEvaluation?: (event: { step: number; report: Evaluation; final: boolean }) => void;
  onCheckpoint?: (event: { step: number; path: string }) => void;
}

export interface TrainingOutcome {
  out: string;
  checkpoint: string;
  /** steps taken in total (earlier runs included) */
  steps: number;
  /** steps this run took */
  stepsThisRun: number;
  seconds: number;
  interrupted: boolean;
  lastEvaluation?: Evaluation;
  /** the last logged window's mean losses */
  lastLosses?: Record<string, number>;
}

/** The entries of `values` that are set (so an undefined override does not hide a preset's or a file's value). */
function defined<T extends object>(values: T | undefined): Partial<T> {
  return Object.fromEntries(Object.entries(values ?? {}).filter(([, v]) => v !== undefined)) as Partial<T>;
}

/** The tensor of a tokenizer file (lcmd tokenize train) that holds its codebook [K, codeDim]. */
const TOKENIZER_CODEBOOK = 'codebook.embedding';

/** CSDM-dagger: the tokenizer's codebook becomes the embedding table (frozen by the csdm-dagger ablation). */
export async function loadTokenizerCodebook(trainer: Trainer, file: string): Promise<void> {
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

/** Checks the flags that must, or must not, come together, before any work starts. */
function checkOptions(o: TrainingRunOptions, resumeFrom: string | undefined, folder: RunFolder): void {
  if (resumeFrom) {
    check(fs.existsSync(resumeFrom), 'E_USAGE', `--resume: checkpoint ${resumeFrom} does not exist`);
    const modelFlags = Object.keys(defined(o.model)).concat(o.codebook ? ['codebook'] : [], o.preset ? ['preset'] : [], o.config ? ['config'] : [], o.ablation ? ['ablation'] : [], o.numClasses !== undefined ? ['numClasses'] : []);
    check(modelFlags.length === 0, 'E_USAGE', `--resume continues the checkpoint's model; these flags would change it: ${modelFlags.join(', ')}. Drop them, or start a new run with another --out`);
  } else {
    check(!fs.existsSync(folder.checkpoint), 'E_USAGE', `${folder.dir} already holds a checkpoint (${folder.checkpoint}): add --resume to continue it, or choose another --out`);
    check(o.data, 'E_USAGE', 'give --data tokens.npy: the token grids to train on ([n, H, W] integers)');
    check(o.steps !== undefined, 'E_USAGE', 'give --steps N: the number of training steps');
    check(o.ablation !== 'csdm-dagger' || o.codebook, 'E_USAGE', 'the csdm-dagger ablation takes its embeddings from the tokenizer: give --codebook tokenizer.safetensors');
  }
  check(o.numClasses === undefined || o.labels, 'E_USAGE', '--num-classes needs --labels');
  check(o.evalEvery === undefined || (o.heldout ?? 0) > 0 || resumeFrom, 'E_USAGE', '--eval-every needs --heldout N (examples held out of training to evaluate on)');
}

/** The parts of a run that open() assembles. */
interface RunParts {
  options: TrainingRunOptions;
  folder: RunFolder;
  resumedFrom?: string;
  group?: ProcessGroup;
  device: string;
  trainer: Trainer;
  dataset: TokenDataset;
  openDataset: (rank: number, worldSize: number) => Promise<TokenDataset>;
  data: Omit<DataRecord, 'position'>;
  schedule: RunRecord;
}

export class TrainingRun {
  /** the run folder */
  readonly out: string;
  /** where checkpoints are written: `out`/checkpoint.safetensors */
  readonly checkpoint: string;
  readonly logFile: string;
  /** the checkpoint this run continues, if it is resumed */
  readonly resumedFrom?: string;
  /** steps taken before this run (the resumed checkpoint's) */
  readonly startStep: number;
  /** the step target and the logging, checkpoint and evaluation intervals */
  readonly schedule: Readonly<RunRecord>;
  /** the data files and settings (the position is the dataset's) */
  readonly data: Readonly<Omit<DataRecord, 'position'>>;
  /** the device this rank trains on */
  readonly device: string;
  readonly trainer: Trainer;
  readonly dataset: TokenDataset;
  /** the data-parallel group, when there are several ranks */
  readonly group?: ProcessGroup;
  private readonly options: TrainingRunOptions;
  private readonly folder: RunFolder;
  private readonly openDataset: RunParts['openDataset'];
  private started = false;

  private constructor(parts: RunParts) {
    this.options = parts.options;
    this.folder = parts.folder;
    this.out = parts.folder.dir;
    this.checkpoint = parts.folder.checkpoint;
    this.logFile = parts.folder.log;
    this.resumedFrom = parts.resumedFrom;
    this.group = parts.group;
    this.device = parts.device;
    this.trainer = parts.trainer;
    this.dataset = parts.dataset;
    this.openDataset = parts.openDataset;
    this.data = parts.data;
    this.schedule = parts.schedule;
    this.startStep = parts.trainer.steps;
  }

  /** Continues the run of `checkpoint` where it stopped: its data, data position, step target and intervals. */
  static resume(checkpoint: string, options: ResumeOptions = {}): Promise<TrainingRun> {
    return TrainingRun.open({ ...options, resume: checkpoint });
  }

  /**
   * Checks the options, joins the data-parallel group (if any), makes or resumes the trainer and opens the data,
   * checked against the model's grid, K and classes. Unless the run has already reached its step target, rank 0 then
   * prepares the run folder: config.json, and log.jsonl started afresh or cut back to the checkpoint's step.
   */
  static async open(options: TrainingRunOptions): Promise<TrainingRun> {
    check(options !== null && typeof options === 'object' && !Array.isArray(options), 'E_TYPE', 'expected the run options as an object {out, data, steps, ...}');
    const o = options;
    let resumeFrom: string | undefined;
    if (o.resume === true) {
      check(o.out, 'E_USAGE', '--resume without a path needs --out DIR (it continues DIR/checkpoint.safetensors)');
      resumeFrom = new RunFolder(o.out).checkpoint;
    } else {
      resumeFrom = o.resume || undefined;
    }
    const out = o.out ?? (resumeFrom ? path.dirname(resumeFrom) : undefined);
    check(out, 'E_USAGE', 'give --out DIR: where the checkpoint, log.jsonl and config.json go');
    const folder = new RunFolder(out);
    checkOptions(o, resumeFrom, folder);
    const modelOverrides = defined(o.model);
    const trainOverrides = defined(o.train);

    const distributed = readDistributedEnv();
    const manyRanks = Boolean(distributed && distributed.worldSize > 1);
    if (!distributed || distributed.rank === 0) {
      // rank 0 writes the folder: it must take files before any work starts, and torn files of killed runs go
      checkWritable(out, 'folder', '--out');
      folder.removeStaleTempFiles();
    }
    // A resumed run stays on the checkpoint's device unless the train overrides say otherwise (ranks each take cuda:LOCAL_RANK).
    const storedDevice = resumeFrom ? storedTrainConfig(resumeFrom).device : undefined;
    // A new run's --config file may name the device too (the flag wins).
    const file = !resumeFrom && o.config ? readConfigFile(o.config) : undefined;
    const fileDevice: unknown = file?.train?.device;
    check(fileDevice === undefined || typeof fileDevice === 'string', 'E_CONFIG', () => `--config ${o.config}: expected a device name such as "cpu" or "cuda" for train.device, got ${JSON.stringify(fileDevice)}`);
    const requestedDevice = trainOverrides.device ?? (fileDevice as string | undefined) ?? (storedDevice?.startsWith('cuda') && manyRanks ? 'cuda' : storedDevice) ?? 'cpu';
    const group = manyRanks ? await initProcessGroup({ device: requestedDevice, backend: o.backend, timeoutSeconds: o.distTimeout, signal: o.signal }) : undefined;
    const isMain = !group || group.isMain;
    let trainer: Trainer | undefined;
    let dataset: TokenDataset | undefined;
    try {
      const device = group?.device ?? requestedDevice;
      checkDeviceAvailable(device);
      if (isMain && device === 'cpu' && o.onWarning && o.blasCheck !== false) {
        const warning = blasWarning(await info({ measureGemm: true }));
        if (warning) o.onWarning(warning);
      }

      // 1. The trainer's configuration: the checkpoint's, or the preset / config file / overrides (grid and classes follow).
      let record: DataRecord | undefined;
      let run: RunRecord | undefined;
      let fresh: ReturnType<typeof resolveConfig> | undefined;
      if (resumeFrom) {
        trainer = await Trainer.resume(resumeFrom, { ...trainOverrides, device }, o.signal);
        record = metadataJson<DataRecord>(trainer.resumedMetadata, DATA_METADATA_KEY);
        run = metadataJson<RunRecord>(trainer.resumedMetadata, RUN_METADATA_KEY);
      } else {
        const presetName = o.preset ?? file?.preset ?? (file ? undefined : DEFAULT_PRESET);
        fresh = resolveConfig({
          preset: presetName,
          ablation: o.ablation ?? file?.ablation,
          model: { ...file?.model, ...modelOverrides },
          train: { ...file?.train, ...trainOverrides },
        });
        const fromCodebook = presetName ? PRESETS[presetName]?.embeddingsFromCodebook : undefined;
        if (isMain && fromCodebook && !o.codebook && o.onWarning)
          o.onWarning(`the ${presetName} preset is measured with its embedding table ${fromCodebook === 'frozen' ? 'frozen at' : 'started from'} the tokenizer's codebook: pass --codebook tokenizer.safetensors (the tokenizer that made --data). Without it the table starts from random rows and is trained.`);
        if (o.codebook && freezesCodebookEmbeddings(presetName, modelOverrides.freezeEmbeddings ?? file?.model?.freezeEmbeddings)) fresh.model.freezeEmbeddings = true;
        check(fresh.model.vocabSize !== undefined, 'E_USAGE', 'the configuration sets no vocabSize: pass --vocab-size K (the codebook size of the tokenizer that made --data)');
      }
      const vocabSize = trainer ? trainer.config.model.vocabSize : fresh!.model.vocabSize!;
      const dataSeed = trainer ? (record?.seed ?? trainer.config.train.seed) : (fresh!.train.seed ?? 0);

      // 2. The data, checked against the model's grid, K and classes.
      const tokensFile = o.data ?? record?.tokens;
      check(tokensFile, 'E_USAGE', '--resume: the checkpoint does not say which data it trained on; give --data (and --labels)');
      check(fs.existsSync(tokensFile), 'E_USAGE', `--data ${tokensFile} does not exist`);
      const labelsFile = o.labels ?? (o.data ? undefined : record?.labels);
      if (labelsFile) check(fs.existsSync(labelsFile), 'E_USAGE', `--labels ${labelsFile} does not exist`);
      const batchSize = o.batchSize ?? record?.batchSize ?? DEFAULT_BATCH_SIZE;
      const heldoutCount = o.heldout ?? record?.heldout ?? 0;
      check(o.evalEvery === undefined || heldoutCount > 0, 'E_USAGE', '--eval-every needs held-out examples: this run was started without --heldout');
      const openDataset = (rank: number, worldSize: number) =>
        TokenDataset.open({ tokens: tokensFile, labels: labelsFile, batchSize, seed: dataSeed, heldout: heldoutCount, rank, worldSize });
      dataset = await openDataset(group?.rank ?? 0, group?.worldSize ?? 1);
      const ds = dataset;
      const grid = ds.gridShape.length === 2 ? ds.gridShape : [1, ds.gridShape[0]];
      check(ds.maxToken < vocabSize, 'E_RANGE', `--data ${tokensFile} holds token id ${ds.maxToken}, but K = ${vocabSize}${trainer ? ' in the checkpoint' : ''}: ids must lie in [0, K). ${trainer ? 'Use data made by the same tokenizer.' : `Pass --vocab-size ${ds.maxToken + 1} or more (the tokenizer's codebook size).`}`);
      check(ds.trainSize >= batchSize, 'E_DATA', `--data ${tokensFile} has ${ds.trainSize} training examples${heldoutCount ? ` (after holding out ${ds.heldoutSize})` : ''}, fewer than one batch of ${batchSize}: lower --batch-size`);

      if (trainer) {
        const m = trainer.config.model;
        check(grid[0] === m.height && grid[1] === m.width, 'E_DATA', `--data ${tokensFile} holds ${grid.join('x')} grids, but the checkpoint's model takes ${m.height}x${m.width}`);
        check(m.numClasses === 0 || ds.hasLabels, 'E_USAGE', `the checkpoint's model is class-conditional (${m.numClasses} classes): give --labels`);
        check(ds.maxLabel === undefined || m.numClasses === 0 || ds.maxLabel < m.numClasses, 'E_RANGE', `--labels holds class ${ds.maxLabel}, but the model has ${m.numClasses} classes`);
        if (record?.position) {
          const same = record.batchSize === batchSize && record.seed === dataSeed && record.heldout === heldoutCount && record.size === ds.size;
          check(same, 'E_USAGE', `--resume: the data settings differ from the checkpoint's (batch size ${record.batchSize}, ${record.size} examples, ${record.heldout} held out, seed ${record.seed}), so the data order cannot continue where it stopped; resume with the same --batch-size, --heldout and data`);
          ds.seek(record.position);
        }
      } else {
        let numClasses = 0;
        if (ds.hasLabels) {
          const needed = (ds.maxLabel ?? -1) + 1;
          check(needed <= MAX_CLASSES, 'E_RANGE', `--labels ${labelsFile} holds class ${ds.maxLabel}, so the model would need ${needed} classes; at most ${MAX_CLASSES} are supported: labels must be class ids in [0, ${MAX_CLASSES})`);
          numClasses = o.numClasses ?? needed;
          check(needed <= numClasses, 'E_RANGE', `--labels holds class ${ds.maxLabel}, so --num-classes must be at least ${needed}, got ${numClasses}`);
        }
        const model = { ...fresh!.model, height: grid[0], width: grid[1], vocabSize, numClasses };
        // totalSteps: the length of the cosine schedule, when one is used
        const train = { totalSteps: o.steps, ...fresh!.train, device, seed: dataSeed };
        trainer = Trainer.create({ model, train });
        if (o.codebook) await loadTokenizerCodebook(trainer, o.codebook);
      }
      if (group) await group.attach(trainer);

      const schedule: RunRecord = {
        steps: o.steps ?? run?.steps ?? trainer.steps,
        logEvery: o.logEvery ?? run?.logEvery ?? DEFAULT_LOG_EVERY,
        checkpointEvery: o.checkpointEvery ?? run?.checkpointEvery ?? DEFAULT_CHECKPOINT_EVERY,
        evalEvery: o.evalEvery ?? run?.evalEvery ?? 0,
      };
      const data = { tokens: path.resolve(tokensFile), labels: labelsFile ? path.resolve(labelsFile) : undefined, size: ds.size, batchSize, seed: dataSeed, heldout: heldoutCount };
      const result = new TrainingRun({ options: o, folder, resumedFrom: resumeFrom, group, device, trainer, dataset, openDataset, data, schedule });
      if (isMain && !result.finished) {
        const { model, train } = trainer.config;
        const described = { lcmdVersion: lcmdVersion(), model, train, data: { ...data, position: undefined }, run: schedule, parameters: trainer.model.parameterCount };
        folder.prepare(described, resumeFrom ? result.startStep : undefined);
      }
      return result;
    } catch (err) {
      dataset?.dispose();
      trainer?.dispose();
      group?.dispose();
      throw err;
    }
  }

  /** Whether this process is rank 0 (or the only one), which writes the checkpoint, the log and config.json. */
  get isMain(): boolean {
    return !this.group || this.group.isMain;
  }

  /** Whether a resumed run has already reached its step target (train() then takes no step). */
  get finished(): boolean {
    return this.resumedFrom !== undefined && this.schedule.steps <= this.startStep;
  }

  /**
   * Trains to the step target, logging to log.jsonl, evaluating on the held-out examples and writing checkpoints on
   * the schedule, and once more at the end. An abort of the run's signal finishes the step in flight, writes the
   * checkpoint and resolves with `interrupted` set; the ranks of a data-parallel run stop at the same step.
   */
  async train(events: TrainingRunEvents = {}): Promise<TrainingOutcome> {
    check(!this.started, 'E_USAGE', 'a TrainingRun trains once; resume its checkpoint to train further');
    this.started = true;
    const t = this.trainer;
    if (this.finished) return { out: this.out, checkpoint: this.resumedFrom!, steps: this.startStep, stepsThisRun: 0, seconds: 0, interrupted: false };
    const { group, schedule } = this;
    const isMain = this.isMain;
    const heldout = isMain ? await heldoutBatch(this.dataset, group, () => this.openDataset(0, 1)) : undefined;
    try {
      const appendLog = (entry: Record<string, unknown>) => {
        if (isMain) this.folder.appendLog(entry);
      };
      // In a data-parallel run the ranks must stop at the same step: each step they agree whether any rank was
      // interrupted (one tiny all-reduce), and all stop at the next step boundary.
      const fitController = new AbortController();
      const outer = this.options.signal;
      if (!group && outer) {
        if (outer.aborted) fitController.abort();
        else outer.addEventListener('abort', () => fitController.abort(), { once: true });
      }
      const source = {
        next: async () => {
          if (group && !fitController.signal.aborted && (await group.anyRank(Boolean(outer?.aborted)))) fitController.abort();
          return this.dataset.next();
        },
      };

      const window = new LossWindow();
      let lastLosses: Record<string, number> | undefined;
      let lastEvaluation: Evaluation | undefined;
      let lastEvalStep = -1;
      let interrupted = false;
      let skipped = 0;
      const started = Date.now();
      const evaluationOptions = { batchSize: Math.max(this.data.batchSize, 64), seed: 0 };
      const onEvaluation = (step: number, report: Evaluation, final: boolean) => {
        lastEvaluation = report;
        lastEvalStep = step;
        appendLog({ type: 'eval', step, heldout: heldout?.tokens.shape[0], bitsPerToken: report.vlb.totalBits, vlb: report.vlb, table: report.table, embeddings: report.embeddings });
        events.onEvaluation?.({ step, report, final });
      };
      for await (const event of t.fit(source, {
        steps: schedule.steps,
        checkpointPath: this.checkpoint,
        checkpointEvery: schedule.checkpointEvery,
        signal: fitController.signal,
        metadata: () => runMetadata({ ...this.data, position: this.dataset.position }, schedule),
        heldout: schedule.evalEvery > 0 ? heldout : undefined,
        evaluateEvery: schedule.evalEvery > 0 ? schedule.evalEvery : undefined,
        evaluateOptions: evaluationOptions,
        exampleOffset: group ? group.shard(this.data.batchSize).exampleOffset : undefined,
        globalBatchSize: this.data.batchSize,
        writeCheckpoints: isMain,
        beforeCheckpoint: group ? () => group.barrier() : undefined,
      })) {
        if (event.type === 'step') {
          const r = event.result;
          window.add(r);
          if (r.skipped) skipped++;
          events.onStep?.({ result: r, imagesPerSecond: event.imagesPerSecond, etaSeconds: event.etaSeconds, skippedSteps: skipped });
          if (r.step % schedule.logEvery === 0 || r.step === schedule.steps || r.step === this.startStep + 1) {
            lastLosses = window.take();
            if (group) {
              // every rank logs at the same steps, so the window means can be averaged over the ranks
              const keys = Object.keys(lastLosses);
              const means = await group.allreduceNumbers(keys.map((k) => lastLosses![k]), 'mean');
              keys.forEach((k, i) => (lastLosses![k] = means[i]));
            }
            // the embedding scale and spread, so that a collapse shows in the log (and in `lcmd plot`)
            const embeddings = this.trainer.embeddingStats();
            const entry = { type: 'step', step: r.step, ...lastLosses, embedNorm: embeddings.meanNorm, embedDistanceRatio: embeddings.distanceToNorm, gradNorm: r.gradNorm, lr: r.lr, lambdaCm: r.lambdaCm, lambdaDiff: r.lambdaDiff, skippedSteps: skipped, imagesPerSecond: event.imagesPerSecond, seconds: (Date.now() - started) / 1000 };
            appendLog(entry);
            events.onLog?.(entry);
          }
        } else if (event.type === 'evaluation') {
          onEvaluation(event.step, event.report, false);
        } else if (event.type === 'checkpoint') {
          appendLog({ type: 'checkpoint', step: event.step, path: path.resolve(event.path) });
          events.onCheckpoint?.({ step: event.step, path: event.path });
        } else if (event.type === 'stopped') {
          interrupted = true;
        }
      }
      if (heldout && !interrupted && lastEvalStep !== t.steps) {
        onEvaluation(t.steps, await t.evaluate(heldout.tokens, heldout.labels, evaluationOptions), true);
      }
      const seconds = (Date.now() - started) / 1000;
      appendLog({ type: interrupted ? 'interrupted' : 'end', step: t.steps, seconds });
      if (group) await group.barrier();
      return { out: this.out, checkpoint: this.checkpoint, steps: t.steps, stepsThisRun: t.steps - this.startStep, seconds, interrupted, lastEvaluation, lastLosses };
    } finally {
      heldout?.tokens.dispose();
      heldout?.labels?.dispose();
    }
  }

  /** Frees the data, the trainer and the process group (rank 0 hosts the rendezvous store, so the group goes last). */
  dispose(): void {
    this.dataset.dispose();
    this.trainer.dispose();
    this.group?.dispose();
  }

  [Symbol.dispose](): void {
    this.dispose();
  }
}
