/**
 * lcmd against the same model written in plain eager PyTorch (bench/pytorch/lcmd_model.py), on the CPU, both loaded
 * from one lcmd checkpoint. See docs/benchmarks-cpu.md.
 *
 *   npx tsc -p tsconfig.json && node dist/bench/cpu-vs-pytorch.js [--rounds 3] [--threads 1,2] [--modes default,pinned]
 *     [--batch 64] [--steps 10] [--warmup 2] [--n 64] [--ddim-steps 8] [--guidance 3] [--ancestral-steps 50]
 *     [--check yes|no|only] [--python /usr/bin/python3] [--work DIR] [--out cpu-vs-pytorch.json] [--quick]
 *
 * Model: 'paper-small' on a 7x7 grid, K = 256, width 128, 3 layers, 10 classes, with the paper objective (EMA teacher,
 * token dropping, class dropout). Measured, for each thread count and thread mode, in alternating rounds (lcmd, then
 * PyTorch, then lcmd, ...), each side in a fresh process: ms per training step, DDIM-8 with guidance and ancestral-50
 * (64 samples each). Thread modes: 'default' sets only what a user sets to ask for n threads (LCMD_NUM_THREADS for
 * lcmd, torch.set_num_threads for PyTorch; OMP_NUM_THREADS and OPENBLAS_NUM_THREADS removed from the environment);
 * 'pinned' also sets OMP_NUM_THREADS and OPENBLAS_NUM_THREADS for both. Before timing, a numerics check compares
 * PyTorch's logits, loss terms and sampler outputs with lcmd's (bench/pytorch/check_model.py).
 * Writes JSON with every round and the median ratio lcmd / PyTorch per measurement, and prints a table.
 * `--quick` is a smoke run (1 round, 1 pinned thread, batch 8, 8 samples, few steps; about 20 s with the check, most
 * of it the check's setup).
 */
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { writeFileAtomic } from '../lib/atomic-write';
import { native } from '../lib/binding';
import type { ModelConfig, PartialRunConfig, TrainConfig } from '../lib/config';
import { Model } from '../lib/model';
import { readNpy, writeNpy } from '../lib/npy';
import { readSafetensorsMetadata } from '../lib/safetensors';
import { sampleDetailed } from '../lib/sampler';
import { Tensor } from '../lib/tensor';
import { Trainer, type Batch } from '../lib/trainer';
import { parseBenchArgs } from './args';

/** The benchmark's model and objective: the paper objective of 'paper-small', on the issue's smaller body. */
export const BENCH_CONFIG: PartialRunConfig = {
  preset: 'paper-small',
  model: { height: 7, width: 7, vocabSize: 256, numClasses: 10, layers: 3, hidden: 128, condDim: 128 },
};

const DEFAULTS = {
  rounds: '3', threads: '1,2', modes: 'default,pinned', batch: '64', steps: '10', warmup: '2', n: '64', 'ddim-steps': '8',
  guidance: '3', 'ancestral-steps': '50', 'ancestral-guidance': '0', check: 'yes', python: '/usr/bin/python3', work: '',
  out: 'cpu-vs-pytorch.json',
  // internal: the child processes
  worker: '', spec: '',
};
const QUICK: Partial<typeof DEFAULTS> = { rounds: '1', threads: '1', modes: 'pinned', batch: '8', steps: '2', warmup: '1', n: '8', 'ddim-steps': '4', 'ancestral-steps': '8' };

const MEASUREMENTS = ['train', 'ddim', 'ancestral'] as const;
type Measurement = (typeof MEASUREMENTS)[number];
type Mode = 'default' | 'pinned';

/** What one worker (either side) is asked to time; time_model.py reads the same object. */
interface TimingSpec {
  checkpoint: string;
  tokens: string;
  labels: string;
  steps: number;
  warmup: number;
  n: number;
  ddimSteps: number;
  guidance: number;
  ancestralSteps: number;
  ancestralGuidance: number;
  threads: number;
  device: 'cpu';
  out: string;
}

interface Timing {
  ms: number;
  wallSeconds: number;
  cpuUserSeconds: number;
  cpuSystemSeconds: number;
  cpusUsed: number;
}

type WorkerResult = Record<Measurement, Timing> & Record<string, unknown>;

interface SetupSpec {
  work: string;
  batch: number;
  check: boolean;
  out: string;
}

const ROOT = [path.resolve(__dirname, '..'), path.resolve(__dirname, '..', '..')].find((d) => fs.existsSync(path.join(d, 'bench', 'pytorch', 'lcmd_model.py')));

export function pythonScript(name: string): string {
  if (!ROOT) throw new Error('bench/pytorch/ was not found above ' + __dirname);
  return path.join(ROOT, 'bench', 'pytorch', name);
}

// ---------------------------------------------------------------------------------------------------------------
// Setup worker: the checkpoint, the training batch, and what lcmd computes for the numerics check.

/** Deterministic standard normals (an LCG and Box-Muller), so the setup does not depend on Math.random. */
function normals(count: number, seed: number): Float32Array {
  let state = seed >>> 0;
  const uniform = () => ((state = (Math.imul(state, 1664525) + 1013904223) >>> 0) + 0.5) / 2 ** 32;
  const out = new Float32Array(count);
  for (let i = 0; i < count; i++) out[i] = Math.sqrt(-2 * Math.log(uniform())) * Math.cos(2 * Math.PI * uniform());
  return out;
}

function makeBatch(model: ModelConfig, batch: number): { tokens: Int32Array; labels?: Int32Array } {
  const n = model.height * model.width;
  return {
    tokens: Int32Array.from({ length: batch * n }, (_, i) => (i * 2654435761) % model.vocabSize),
    labels: model.numClasses > 0 ? Int32Array.from({ length: batch }, (_, i) => i % model.numClasses) : undefined,
  };
}

/** The batch as .npy files (labels null for an unconditional model) and as tensors. */
export async function writeBatch(dir: string, name: string, model: ModelConfig, batch: number): Promise<{ tokens: string; labels: string | null; batch: Batch }> {
  const data = makeBatch(model, batch);
  const b: Batch = { tokens: Tensor.from(data.tokens, [batch, model.height * model.width]), labels: data.labels && Tensor.from(data.labels, [batch]) };
  const tokens = path.join(dir, `${name}-tokens.npy`);
  await writeNpy(tokens, b.tokens);
  const labels = b.labels ? path.join(dir, `${name}-labels.npy`) : null;
  if (labels) await writeNpy(labels, b.labels!);
  return { tokens, labels, batch: b };
}

/**
 * A checkpoint whose every weight is off its initial value (the AdaLN modulations start at zero, which would hide the
 * conditioning from the check) and whose EMA, teacher and Adam moments hold two steps of history.
 */
export async function prepareCheckpoint(config: PartialRunConfig, file: string, batch: Batch): Promise<void> {
  const trainer = Trainer.create(config);
  const model = trainer.model;
  model.parameterNames().forEach((name, i) => {
    const p = model.getParameter(name);
    const values = p.toTypedArray() as Float32Array;
    const noise = normals(values.length, 1000 + i);
    for (let j = 0; j < values.length; j++) values[j] += 0.02 * noise[j];
    const shape = p.shape;
    p.dispose();
    const q = Tensor.from(values, shape);
    model.setParameter(name, q);
    q.dispose();
  });
  for (let i = 0; i < 2; i++) await trainer.step(batch);
  await trainer.save(file, { 'lcmd.bench': 'cpu-vs-pytorch' });
  trainer.dispose();
}

/** Noisy inputs z = alpha_t e_x + sigma_t eps at times that include both ends, and classes that include the null class. */
function forwardInputs(model: ModelConfig, table: Float32Array): { z: Tensor; t: Tensor; classes: Tensor } {
  const ts = [0, 1, 0.05, 0.2, 0.4, 0.6, 0.8, 0.95];
  const b = ts.length, n = model.height * model.width, d = model.embedDim;
  // the schedule (docs/method.md section 3), only to make realistic inputs
  const uMin = (2 / Math.PI) * Math.atan(Math.exp(-model.maxLogsnr / 2)), uMax = (2 / Math.PI) * Math.atan(Math.exp(model.maxLogsnr / 2));
  const eps = normals(b * n * d, 7);
  const z = new Float32Array(b * n * d);
  ts.forEach((t, i) => {
    const x = ((uMin + t * (uMax - uMin)) * Math.PI) / 2;
    const lambda = 2 * (Math.log(Math.cos(x)) - Math.log(Math.sin(x))) + 2 * Math.log(model.shift);
    const alpha = Math.sqrt(1 / (1 + Math.exp(-lambda))), sigma = Math.sqrt(1 / (1 + Math.exp(lambda)));
    for (let j = 0; j < n; j++) {
      const token = (i * 31 + j * 7) % model.vocabSize;
      for (let k = 0; k < d; k++) z[(i * n + j) * d + k] = alpha * table[token * d + k] + sigma * eps[(i * n + j) * d + k];
    }
  });
  const classes = Int32Array.from(ts, (_, i) => (i % 3 === 2 ? model.numClasses : i % model.numClasses));
  return { z: Tensor.from(z, [b, n, d]), t: Tensor.from(Float32Array.from(ts), [b]), classes: Tensor.from(classes, [b]) };
}

const CHECKED_PARAMETERS = ['embedding.table', 'embedding.mask', 'time_mlp.0.weight', 'class_embed.weight', 'blocks.0.norm1.modulation.weight', 'blocks.0.attn.qkv.weight', 'blocks.0.fc2.bias', 'final_norm.weight', 'head.weight'];

interface CheckCase {
  name: string;
  config: PartialRunConfig;
  step: boolean;
  samples: { sampler: 'ddim' | 'ancestral'; steps: number; guidance: number }[];
  /** reuse this checkpoint instead of preparing one */
  checkpoint?: string;
}

/** Runs lcmd on one check case and writes its inputs and outputs; returns the case's manifest entry. */
async function writeCheckCase(dir: string, c: CheckCase, batch: Batch): Promise<Record<string, unknown>> {
  const file = (what: string) => path.join(dir, `${c.name}-${what}`);
  const checkpoint = c.checkpoint ?? file('checkpoint.safetensors');
  if (!c.checkpoint) await prepareCheckpoint(c.config, checkpoint, batch);
  const entry: Record<string, unknown> = { name: c.name, checkpoint };

  const online = await Model.load(checkpoint, { useEma: false });
  const config = online.config;
  const table = online.getParameter('embedding.table');
  const inputs = forwardInputs(config, table.toTypedArray() as Float32Array);
  table.dispose();
  const forward = { z: file('z.npy'), t: file('t.npy'), classes: file('classes.npy'), logits: {} as Record<string, string> };
  await writeNpy(forward.z, inputs.z);
  await writeNpy(forward.t, inputs.t);
  await writeNpy(forward.classes, inputs.classes);
  for (const group of ['model', 'ema']) {
    const model = group === 'model' ? online : await Model.load(checkpoint, { useEma: true });
    const logits = await model.forward(inputs.z, inputs.t, inputs.classes);
    forward.logits[group] = file(`logits-${group}.npy`);
    await writeNpy(forward.logits[group], logits);
    logits.dispose();
    model.dispose();
  }
  entry.forward = forward;

  if (c.step) {
    const tokens = file('step-tokens.npy'), labels = file('step-labels.npy');
    await writeNpy(tokens, batch.tokens);
    await writeNpy(labels, batch.labels!);
    const trainer = await Trainer.resume(checkpoint);
    const result = await trainer.step(batch);
    const params: Record<string, Record<string, string>> = { model: {}, ema: {} };
    const model = trainer.model;
    for (const group of ['model', 'ema']) {
      for (const name of CHECKED_PARAMETERS) {
        const p = model.getParameter(name, group === 'ema');
        params[group][name] = file(`after-${group}-${name}.npy`);
        await writeNpy(params[group][name], p);
        p.dispose();
      }
    }
    trainer.dispose();
    entry.step = { tokens, labels, exampleOffset: 0, result, params };
  }

  const samples: Record<string, unknown>[] = [];
  const ema = await Model.load(checkpoint);
  for (const s of c.samples) {
    const n = 8;
    const classes = Int32Array.from({ length: n }, (_, i) => (i * 3) % config.numClasses);
    const r = await sampleDetailed(ema, { n, batchSize: n, steps: s.steps, sampler: s.sampler, guidance: s.guidance, classes, seed: 7, returnProbs: true });
    const label = `${s.sampler}${s.steps}-w${s.guidance}`;
    const entryFiles = { classes: file(`${label}-classes.npy`), tokens: file(`${label}-tokens.npy`), probs: file(`${label}-probs.npy`) };
    const ct = Tensor.from(classes, [n]);
    await writeNpy(entryFiles.classes, ct);
    ct.dispose();
    await writeNpy(entryFiles.tokens, r.tokens);
    await writeNpy(entryFiles.probs, r.probs!);
    r.tokens.dispose();
    r.probs?.dispose();
    samples.push({ ...s, seed: 7, ...entryFiles });
  }
  ema.dispose();
  entry.sample = samples;
  return entry;
}

async function runSetup(spec: SetupSpec): Promise<void> {
  const created = Model.create(BENCH_CONFIG);
  const model = created.config;  // every field, defaults included
  created.dispose();
  const timing = await writeBatch(spec.work, 'bench', model, spec.batch);
  const checkpoint = path.join(spec.work, 'bench.safetensors');
  await prepareCheckpoint(BENCH_CONFIG, checkpoint, timing.batch);
  // the full configs, defaults included, as the checkpoint holds them
  const metadata = readSafetensorsMetadata(checkpoint);
  const config = { model: JSON.parse(metadata['lcmd.model']) as ModelConfig, train: JSON.parse(metadata['lcmd.train']) as TrainConfig };
  const manifest: Record<string, unknown> = { checkpoint, tokens: timing.tokens, labels: timing.labels, config };
  if (spec.check) {
    const small = (await writeBatch(spec.work, 'check', model, 16)).batch;
    const noDropout = { ...BENCH_CONFIG, model: { ...BENCH_CONFIG.model, attnDropout: 0 } };
    // Attention dropout draws from libtorch's generator, which PyTorch cannot replay: the training-step cases run
    // without it. The variants cover the model and objective options that the benchmark's config leaves off.
    const cases: CheckCase[] = [
      { name: 'bench', config: BENCH_CONFIG, checkpoint, step: false, samples: [{ sampler: 'ddim', steps: 8, guidance: 3 }, { sampler: 'ancestral', steps: 10, guidance: 0 }] },
      { name: 'bench-no-dropout', config: noDropout, step: true, samples: [] },
      {
        name: 'exact-selfcond-l2-posterior',
        config: {
          ...noDropout,
          model: { ...noDropout.model, exactLikelihoodLogits: true, posteriorInput: true, selfCondition: true, l2NormalizeEmbeddings: true },
          train: { dropPlacement: 'after-noise', dropStrategy: 'count', lambdaCe: 0.5, classDropout: 0.5 },
        },
        step: true,
        samples: [{ sampler: 'ddim', steps: 8, guidance: 3 }, { sampler: 'ancestral', steps: 10, guidance: 2 }],
      },
      {
        name: 'data-target-online',
        config: {
          ...noDropout,
          model: { ...noDropout.model, timeInput: 't' },
          train: { cmTarget: 'data', teacher: 'online', klDirection: 'student-teacher', dropStrategy: 'linear-t', lambdaRecon: 0, lambdaCe: 1 },
        },
        step: true,
        samples: [],
      },
    ];
    const entries = [];
    for (const c of cases) entries.push(await writeCheckCase(spec.work, c, small));
    manifest.cases = entries;
  }
  writeFileAtomic(spec.out, JSON.stringify(manifest, null, 2) + '\n');
}

// ---------------------------------------------------------------------------------------------------------------
// lcmd timing worker: one round, in a process of its own so that the thread settings apply from the addon's load.

async function timed(run: () => Promise<void>): Promise<Omit<Timing, 'ms'>> {
  const cpu = process.cpuUsage();
  const start = process.hrtime.bigint();
  await run();
  const wallSeconds = Number(process.hrtime.bigint() - start) / 1e9;
  const used = process.cpuUsage(cpu);
  const cpuUserSeconds = used.user / 1e6, cpuSystemSeconds = used.system / 1e6;
  return { wallSeconds, cpuUserSeconds, cpuSystemSeconds, cpusUsed: (cpuUserSeconds + cpuSystemSeconds) / wallSeconds };
}

async function runLcmd(spec: TimingSpec): Promise<void> {
  const info = native().runtimeInfo();
  const trainer = await Trainer.resume(spec.checkpoint);
  const { model: mc } = trainer.config;
  // the batch the setup wrote, which PyTorch reads too
  const batch: Batch = { tokens: (await readNpy(spec.tokens)).tensor, labels: (await readNpy(spec.labels)).tensor };
  for (let i = 0; i < spec.warmup; i++) await trainer.step(batch);
  let lastLoss = NaN;
  const train = await timed(async () => {
    for (let i = 0; i < spec.steps; i++) lastLoss = (await trainer.step(batch)).loss;
  });
  trainer.dispose();

  const model = await Model.load(spec.checkpoint);
  const classes = Array.from({ length: spec.n }, (_, i) => i % mc.numClasses);
  (await sampleDetailed(model, { n: spec.n, batchSize: spec.n, steps: 2, sampler: 'ddim', classes, seed: 1 })).tokens.dispose(); // warm-up
  const ddim = await timed(async () => {
    (await sampleDetailed(model, { n: spec.n, batchSize: spec.n, steps: spec.ddimSteps, sampler: 'ddim', guidance: spec.guidance, classes, seed: 1 })).tokens.dispose();
  });
  const ancestral = await timed(async () => {
    (await sampleDetailed(model, { n: spec.n, batchSize: spec.n, steps: spec.ancestralSteps, sampler: 'ancestral', guidance: spec.ancestralGuidance, classes, seed: 1 })).tokens.dispose();
  });
  model.dispose();
  const result = {
    torchVersion: info.torchVersion,
    threads: native().numThreads(),
    threadPools: info.threadPools,
    blas: info.blasLibrary,
    env: Object.fromEntries(['OMP_NUM_THREADS', 'OPENBLAS_NUM_THREADS', 'LCMD_NUM_THREADS'].map((k) => [k, process.env[k] ?? null])),
    train: { ms: (train.wallSeconds / spec.steps) * 1000, ...train, lastLoss },
    ddim: { ms: ddim.wallSeconds * 1000, ...ddim },
    ancestral: { ms: ancestral.wallSeconds * 1000, ...ancestral },
  };
  writeFileAtomic(spec.out, JSON.stringify(result) + '\n');
}

// ---------------------------------------------------------------------------------------------------------------
// The orchestrator: setup, numerics check, then alternating rounds of the two sides.

const THREAD_VARIABLES = ['OMP_NUM_THREADS', 'OPENBLAS_NUM_THREADS', 'GOTO_NUM_THREADS', 'MKL_NUM_THREADS', 'LCMD_NUM_THREADS'];

/** The environment of a worker: 'default' asks for n threads the way a user would, 'pinned' bounds every pool. */
function workerEnv(mode: Mode, threads: number): NodeJS.ProcessEnv {
  const env = { ...process.env };
  for (const k of THREAD_VARIABLES) delete env[k];
  env.LCMD_NUM_THREADS = String(threads);
  if (mode === 'pinned') env.OMP_NUM_THREADS = env.OPENBLAS_NUM_THREADS = String(threads);
  return env;
}

export function run(what: string, command: string, args: string[], env: NodeJS.ProcessEnv): void {
  const r = spawnSync(command, args, { env, stdio: 'inherit' });
  if (r.error) throw new Error(`${what}: could not start ${command}: ${r.error.message}`);
  if (r.status !== 0) throw new Error(`${what} failed (${command} ${args.join(' ')} exited with ${r.status ?? r.signal})`);
}

export function readJson<T>(file: string): T {
  return JSON.parse(fs.readFileSync(file, 'utf8')) as T;
}

export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

export function positiveInt(value: string, flag: string): number {
  const n = Number(value);
  if (!Number.isSafeInteger(n) || n < 1) throw new Error(`--${flag} must be a positive integer, got '${value}'`);
  return n;
}

interface Round {
  round: number;
  lcmd: WorkerResult;
  pytorch: WorkerResult;
}

interface ConfigResult {
  mode: Mode;
  threads: number;
  rounds: Round[];
  summary?: Record<Measurement, { lcmdMs: number[]; pytorchMs: number[]; ratios: number[]; medianRatio: number; medianLcmdMs: number; medianPytorchMs: number; medianLcmdCpus: number; medianPytorchCpus: number }>;
}

function summarise(c: ConfigResult): void {
  const summary = {} as NonNullable<ConfigResult['summary']>;
  for (const m of MEASUREMENTS) {
    const lcmdMs = c.rounds.map((r) => r.lcmd[m].ms), pytorchMs = c.rounds.map((r) => r.pytorch[m].ms);
    // paired per round: the two sides of a round ran back to back, under the same background load
    const ratios = lcmdMs.map((v, i) => v / pytorchMs[i]);
    summary[m] = {
      lcmdMs, pytorchMs, ratios,
      medianRatio: median(ratios),
      medianLcmdMs: median(lcmdMs),
      medianPytorchMs: median(pytorchMs),
      medianLcmdCpus: median(c.rounds.map((r) => r.lcmd[m].cpusUsed)),
      medianPytorchCpus: median(c.rounds.map((r) => r.pytorch[m].cpusUsed)),
    };
  }
  c.summary = summary;
}

function printTable(configs: ConfigResult[], labels: Record<Measurement, string>): void {
  const rows = [['mode', 'threads', 'measurement', 'lcmd ms (rounds)', 'PyTorch ms (rounds)', 'CPUs lcmd / PyTorch', 'median ratio']];
  for (const c of configs) {
    if (!c.summary) continue;
    for (const m of MEASUREMENTS) {
      const s = c.summary[m];
      const ms = (v: number[]) => v.map((x) => x.toFixed(0)).join(' / ');
      rows.push([c.mode, String(c.threads), labels[m], ms(s.lcmdMs), ms(s.pytorchMs), `${s.medianLcmdCpus.toFixed(2)} / ${s.medianPytorchCpus.toFixed(2)}`, s.medianRatio.toFixed(2)]);
    }
  }
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  for (const r of rows) console.log(r.map((cell, i) => cell.padEnd(widths[i])).join('  ').trimEnd());
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  const quick = argv.includes('--quick');
  const args = parseBenchArgs(argv.filter((a) => a !== '--quick'), quick ? { ...DEFAULTS, ...QUICK } : DEFAULTS);
  if (args.worker === 'setup') return runSetup(readJson<SetupSpec>(args.spec));
  if (args.worker === 'lcmd') return runLcmd(readJson<TimingSpec>(args.spec));
  if (args.worker) throw new Error(`unknown --worker '${args.worker}'`);

  const rounds = positiveInt(args.rounds, 'rounds');
  const threadCounts = args.threads.split(',').map((t) => positiveInt(t, 'threads'));
  const modes = args.modes.split(',') as Mode[];
  for (const m of modes) if (m !== 'default' && m !== 'pinned') throw new Error(`--modes takes default and/or pinned, got '${m}'`);
  if (!['yes', 'no', 'only'].includes(args.check)) throw new Error(`--check takes yes, no or only, got '${args.check}'`);
  const batch = positiveInt(args.batch, 'batch');
  const guidance = Number(args.guidance), ancestralGuidance = Number(args['ancestral-guidance']);
  if (!(guidance >= 0) || !(ancestralGuidance >= 0)) throw new Error('--guidance and --ancestral-guidance must be numbers >= 0');
  const out = path.resolve(args.out);
  if (!fs.existsSync(path.dirname(out))) throw new Error(`--out: folder ${path.dirname(out)} does not exist`);
  const keepWork = args.work !== '';
  const work = keepWork ? path.resolve(args.work) : fs.mkdtempSync(path.join(os.tmpdir(), 'lcmd-cpu-vs-pytorch-'));
  fs.mkdirSync(work, { recursive: true });
  const self = __filename;

  const report: Record<string, unknown> = {
    benchmark: 'cpu-vs-pytorch',
    date: new Date().toISOString(),
    quick,
    cpus: os.availableParallelism(),
    cpuModel: os.cpus()[0]?.model,
    loadAverageAtStart: os.loadavg(),
    options: { rounds, threads: threadCounts, modes, batch, steps: Number(args.steps), warmup: Number(args.warmup), n: Number(args.n), ddimSteps: Number(args['ddim-steps']), guidance, ancestralSteps: Number(args['ancestral-steps']), ancestralGuidance },
  };
  const save = () => writeFileAtomic(out, JSON.stringify(report, null, 2) + '\n');

  // setup and check run pinned to one thread: their speed does not matter, and they must not crowd the cores
  console.log(`setup in ${work} ...`);
  const manifestFile = path.join(work, 'manifest.json');
  const setupSpec = path.join(work, 'setup-spec.json');
  fs.writeFileSync(setupSpec, JSON.stringify({ work, batch, check: args.check !== 'no', out: manifestFile } satisfies SetupSpec));
  run('setup', process.execPath, [self, '--worker', 'setup', '--spec', setupSpec], workerEnv('pinned', 1));
  const manifest = readJson<{ checkpoint: string; tokens: string; labels: string; config: unknown }>(manifestFile);
  report.config = manifest.config;

  let checkFailed = false;
  if (args.check !== 'no') {
    const checkFile = path.join(work, 'check.json');
    const r = spawnSync(args.python, [pythonScript('check_model.py'), manifestFile, '--out', checkFile], { env: workerEnv('pinned', 1), stdio: 'inherit' });
    if (r.error) throw new Error(`numerics check: could not start ${args.python}: ${r.error.message}`);
    if (!fs.existsSync(checkFile)) throw new Error(`numerics check failed to run (exit ${r.status ?? r.signal})`);
    report.check = readJson(checkFile);
    checkFailed = r.status !== 0;
  }
  if (args.check === 'only') {
    save();
    console.log(`wrote ${out}`);
    process.exitCode = checkFailed ? 2 : 0;
    return;
  }
  if (checkFailed) console.log('warning: the numerics check failed; the PyTorch model may not be the same computation');

  const configs: ConfigResult[] = [];
  for (const mode of modes) for (const threads of threadCounts) configs.push({ mode, threads, rounds: [] });
  report.configs = configs;
  const total = rounds * configs.length;
  let done = 0;
  for (let round = 1; round <= rounds; round++) {
    for (const c of configs) {
      const env = workerEnv(c.mode, c.threads);
      const results: Partial<Record<'lcmd' | 'pytorch', WorkerResult>> = {};
      for (const side of ['lcmd', 'pytorch'] as const) {
        const spec: TimingSpec = {
          checkpoint: manifest.checkpoint, tokens: manifest.tokens, labels: manifest.labels,
          steps: positiveInt(args.steps, 'steps'), warmup: Number(args.warmup), n: positiveInt(args.n, 'n'),
          ddimSteps: positiveInt(args['ddim-steps'], 'ddim-steps'), guidance,
          ancestralSteps: positiveInt(args['ancestral-steps'], 'ancestral-steps'), ancestralGuidance,
          threads: c.threads, device: 'cpu', out: path.join(work, `result-${side}-${c.mode}-${c.threads}-${round}.json`),
        };
        const specFile = path.join(work, `spec-${side}-${c.mode}-${c.threads}-${round}.json`);
        fs.writeFileSync(specFile, JSON.stringify(spec));
        const label = `round ${round}/${rounds}, ${c.mode} threads ${c.threads}, ${side}`;
        if (side === 'lcmd') run(label, process.execPath, [self, '--worker', 'lcmd', '--spec', specFile], env);
        else run(label, args.python, [pythonScript('time_model.py'), specFile], env);
        results[side] = readJson<WorkerResult>(spec.out);
      }
      c.rounds.push({ round, lcmd: results.lcmd!, pytorch: results.pytorch! });
      summarise(c);
      console.log(`[${++done}/${total}] round ${round}, ${c.mode}, ${c.threads} thread(s): ` +
        MEASUREMENTS.map((m) => `${m} ${results.lcmd![m].ms.toFixed(0)} / ${results.pytorch![m].ms.toFixed(0)} ms`).join(', '));
      report.loadAverageAtEnd = os.loadavg();
      save();  // partial results survive an interrupted run
    }
  }
  const o = report.options as { batch: number; ddimSteps: number; guidance: number; ancestralSteps: number; ancestralGuidance: number; n: number };
  printTable(configs, {
    train: `train step (batch ${o.batch})`,
    ddim: `DDIM-${o.ddimSteps} w=${o.guidance}, ${o.n} samples`,
    ancestral: `ancestral-${o.ancestralSteps}${o.ancestralGuidance ? ` w=${o.ancestralGuidance}` : ''}, ${o.n} samples`,
  });
  console.log(`ratio = lcmd / PyTorch, the median of the per-round ratios; load average ${os.loadavg().map((l) => l.toFixed(2)).join(' ')} (cores: ${os.availableParallelism()})`);
  console.log(`wrote ${out}`);
  if (!keepWork) fs.rmSync(work, { recursive: true, force: true });
  if (checkFailed) process.exitCode = 2;
}

if (require.main === module) {
  main().catch((err) => {
    console.error(err instanceof Error ? err.message : err);
    process.exitCode = 1;
  });
}
