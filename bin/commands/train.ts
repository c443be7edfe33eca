/**
 * `lcmd train`: trains a VQ-LCMD model on a token .npy file (and optional labels), writing DIR/checkpoint.safetensors,
 * DIR/log.jsonl and DIR/config.json. The grid (H, W) and the classes come from the data; K from --vocab-size or the
 * preset. SIGINT / SIGTERM finish the step in flight, write a checkpoint and exit with 130 / 143; `--resume`
 * continues from it exactly: same step counter, optimizer, EMAs, RNG and data order. The run itself is
 * lib/training-run.ts; this file has the flags, the printing (bin/training-output.ts) and the signal handling.
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
import { trainWithOutput } from '../training-output';
import type { ModelConfig, TrainConfig } from '../../lib/config';
import { readDistributedEnv } from '../../lib/distributed';
import { checkLaunchPlan, launchWorkers, stripLauncherFlags } from '../../lib/launcher';
import { CHECKPOINT_FILE } from '../../lib/run-folder';
import { DATA_METADATA_KEY, metadataJson, storedTrainConfig, type DataRecord } from '../../lib/run-metadata';
import { readSafetensorsMetadata } from '../../lib/safetensors';
import { ABLATIONS, presetNames } from '../../lib/presets';
import { DEFAULT_BATCH_SIZE, TrainingRun, type TrainingOutcome } from '../../lib/training-run';

/** Model fields a flag may set, by commander attribute name (camelCase of the flag). */
const MODEL_FLAGS: { flag: string; key: keyof ModelConfig; parser: Parser<number> | Parser<string>; text: string }[] = [
  { flag: '--method <kind>', key: 'method', parser: oneOf(['lcmd', 'maskgit'] as const), text: 'lcmd (continuous diffusion, default) or maskgit (the masked-token baseline on the same body)' },
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
  { flag: '--lambda-ce <x>', key: 'lambdaCe', parser: nonNegativeNumber, text: 'weight of the cross-entropy -log p(x | z_t) at the sampled t' },
  { flag: '--lambda-recon <x>', key: 'lambdaRecon', parser: nonNegativeNumber, text: 'weight of the reconstruction term at t = 0 (0 skips its forward)' },
  { flag: '--self-cond-rate <p>', key: 'selfCondRate', parser: unitInterval, text: 'self-conditioning models: share of examples that see a first prediction' },
  { flag: '--label-smoothing <x>', key: 'labelSmoothing', parser: unitInterval, text: 'MaskGIT: label smoothing of the masked-token cross-entropy' },
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
  { flag: '--time-warp <kind>', key: 'timeWarp', parser: oneOf(['uniform', 'learned'] as const), text: "how t is drawn: uniform, or learned (CDCD's time warping from the online CE curve)" },
  { flag: '--time-sampling <kind>', key: 'timeSampling', parser: oneOf(['iid', 'low-discrepancy'] as const), text: 'the uniforms behind t: iid, or low-discrepancy (spread evenly over each batch)' },
  { flag: '--objective <kind>', key: 'objective', parser: oneOf(['lcmd', 'vlb'] as const), text: "lcmd (docs/method.md section 6) or vlb (CSDM's bound)" },
  { flag: '--device <name>', key: 'device', parser: device, text: 'cpu, cuda or cuda:N (default cpu)' },
  { flag: '--precision <p>', key: 'precision', parser: oneOf(['fp32', 'bf16'] as const), text: 'fp32, or bf16 autocast' },
];

/** The flags, by commander attribute name; model and train overrides by config key. */
export interface TrainFlags {
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
  codebook?: string;
  backend?: 'gloo' | 'nccl';
  distTimeout?: number;
  [key: string]: unknown;
}

/** Model and train overrides given as flags. */
function flagOverrides(opts: TrainFlags): { model: Partial<ModelConfig>; train: Partial<TrainConfig> } {
  const model: Record<string, unknown> = {};
  const train: Record<string, unknown> = {};
  for (const f of MODEL_FLAGS) if (opts[f.key] !== undefined) model[f.key] = opts[f.key];
  for (const f of TRAIN_FLAGS) if (opts[f.key] !== undefined) train[f.key] = opts[f.key];
  return { model: model as Partial<ModelConfig>, train: train as Partial<TrainConfig> };
}

/** One rank's training run, printed as it goes. */
async function trainFromFlags(opts: TrainFlags, signal: AbortSignal): Promise<TrainingOutcome> {
  const print = (line: string) => console.log(line);
  const { model, train } = flagOverrides(opts);
  const run = await TrainingRun.open({
    out: opts.out,
    resume: opts.resume === true ? true : opts.resume || undefined,
    data: opts.data,
    labels: opts.labels,
    numClasses: opts.numClasses,
    steps: opts.steps,
    batchSize: opts.batchSize,
    heldout: opts.heldout,
    preset: opts.preset,
    config: opts.config,
    ablation: opts.ablation,
    model,
    train,
    codebook: opts.codebook,
    logEvery: opts.logEvery,
    checkpointEvery: opts.checkpointEvery,
    evalEvery: opts.evalEvery,
    backend: opts.backend,
    distTimeout: opts.distTimeout,
    signal,
    onWarning: print,
    blasCheck: opts.blasCheck,
  });
  try {
    return await trainWithOutput(run, { print, plainEvery: opts.logEvery ?? 10 });
  } finally {
    run.dispose();
  }
}

function launcherCommand(opts: TrainFlags & { nprocPerNode?: number; nnodes?: number; nodeRank?: number; masterAddr?: string; masterPort?: number }): boolean {
  const launcherGiven = ['nnodes', 'nodeRank', 'masterAddr', 'masterPort'].filter((k) => opts[k] !== undefined);
  if (opts.nprocPerNode === undefined) {
    const flags = launcherGiven.map((k) => '--' + k.replace(/[A-Z]/g, (c) => '-' + c.toLowerCase()));
    usage(flags.length === 0, `${flags.join(', ')} only ${flags.length > 1 ? 'apply' : 'applies'} with --nproc-per-node`);
    return false;
  }
  usage(!readDistributedEnv(), '--nproc-per-node starts its own workers; do not combine it with RANK / WORLD_SIZE in the environment (those mean this process already is a worker)');
  return true;
}

/**
 * The launcher checks the batch split and the backend once, before the workers start. A resumed run takes its batch
 * size and device from the checkpoint, as the workers will; a checkpoint that cannot be read is left to them.
 */
function checkBeforeLaunch(opts: TrainFlags & { nprocPerNode?: number; nnodes?: number }): void {
  const checkpoint = opts.resume === true ? (opts.out ? path.join(opts.out, CHECKPOINT_FILE) : undefined) : opts.resume || undefined;
  let storedBatch: number | undefined;
  let storedDevice: string | undefined;
  if (checkpoint && fs.existsSync(checkpoint)) {
    try {
      storedBatch = metadataJson<DataRecord>(readSafetensorsMetadata(checkpoint), DATA_METADATA_KEY)?.batchSize;
      storedDevice = storedTrainConfig(checkpoint).device;
    } catch {
      // the workers report an unreadable checkpoint
    }
  }
  const worldSize = opts.nprocPerNode! * (opts.nnodes ?? 1);
  const device = (opts.device as string | undefined) ?? (storedDevice?.startsWith('cuda') ? 'cuda' : storedDevice) ?? 'cpu';
  checkLaunchPlan({ worldSize, batchSize: opts.batchSize ?? storedBatch ?? DEFAULT_BATCH_SIZE, device, backend: opts.backend });
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
    .option('--codebook <tokenizer.safetensors>', "start the embedding table from a tokenizer's codebook (the small preset and --ablation csdm-dagger also freeze it there)", existingFile)
    .option('--no-blas-check', 'skip the short matrix-product speed check');
  for (const f of MODEL_FLAGS) cmd.option(f.flag, f.text, f.parser as Parser<unknown>);
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
  cmd.action(async (opts: TrainFlags & { nprocPerNode?: number; nnodes?: number; nodeRank?: number; masterAddr?: string; masterPort?: number }) => {
    if (launcherCommand(opts)) {
      checkBeforeLaunch(opts);
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
    await interruptible((signal) => trainFromFlags(opts, signal), {
      onSignal: (name) => process.stderr.write(`\nlcmd train: ${name} received: finishing the current step and writing a checkpoint (send it again to exit at once)\n`),
    });
  });
}
