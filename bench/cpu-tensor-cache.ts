/**
 * lcmd's CPU tensor cache (native/core/base/cpu_tensor_cache.h) against libtorch's own allocator (LCMD_HEAP=system),
 * side by side.
 *
 *   npx tsc -p tsconfig.json && node dist/bench/cpu-tensor-cache.js [--rounds 3] [--threads 1] [--batch 64] [--steps 10]
 *     [--n 64] [--ddim-steps 8] [--guidance 3] [--out cpu-tensor-cache.json]
 *
 * Each round runs both settings in alternating fresh processes (so glibc reads its settings at start-up), with every
 * thread pool pinned to --threads. Each process trains the bench/cpu-vs-pytorch model (7x7, K = 256, width 128,
 * 3 layers, the paper objective) for --steps steps at --batch after two warm-up steps, then draws --n guided DDIM
 * samples. It reports, per phase: wall ms, minor page faults, user and system CPU time, and the process's peak
 * resident memory. The JSON holds every round and the median ratio cache / system per measurement.
 */
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { writeFileAtomic } from '../lib/atomic-write';
import { native } from '../lib/binding';
import { sampleDetailed } from '../lib/sampler';
import { Tensor } from '../lib/tensor';
import { Trainer } from '../lib/trainer';
import { parseBenchArgs } from './args';
import { BENCH_CONFIG } from './cpu-vs-pytorch';

const DEFAULTS = { rounds: '3', threads: '1', batch: '64', steps: '10', n: '64', 'ddim-steps': '8', guidance: '3', out: 'cpu-tensor-cache.json', worker: '' };
type Setting = 'lcmd' | 'system';

interface Phase {
  ms: number;
  minorFaults: number;
  userMs: number;
  systemMs: number;
}
interface WorkerResult {
  heap: unknown;
  train: Phase;
  ddim: Phase;
  peakRssMiB: number;
}

/** Runs `work` `repeat` times; the phase's numbers are per repetition. */
async function measure(repeat: number, work: () => Promise<void>): Promise<Phase> {
  const before = process.resourceUsage();
  const start = process.hrtime.bigint();
  for (let i = 0; i < repeat; i++) await work();
  const ms = Number(process.hrtime.bigint() - start) / 1e6;
  const after = process.resourceUsage();
  return {
    ms: ms / repeat,
    minorFaults: (after.minorPageFault - before.minorPageFault) / repeat,
    userMs: (after.userCPUTime - before.userCPUTime) / 1000 / repeat,
    systemMs: (after.systemCPUTime - before.systemCPUTime) / 1000 / repeat,
  };
}

async function runWorker(args: typeof DEFAULTS): Promise<void> {
  const batchSize = Number(args.batch);
  const trainer = Trainer.create(BENCH_CONFIG);
  const { model: mc } = trainer.config;
  const n = mc.height * mc.width;
  const tokens = new Int32Array(batchSize * n).map((_, i) => (i * 2654435761) % mc.vocabSize);
  const labels = new Int32Array(batchSize).map((_, i) => i % mc.numClasses);
  const batch = { tokens: Tensor.from(tokens, [batchSize, n]), labels: Tensor.from(labels, [batchSize]) };
  for (let i = 0; i < 2; i++) await trainer.step(batch);
  const train = await measure(Number(args.steps), async () => {
    await trainer.step(batch);
  });
  const classes = Array.from({ length: Number(args.n) }, (_, i) => i % mc.numClasses);
  const options = { n: Number(args.n), batchSize: Number(args.n), steps: Number(args['ddim-steps']), sampler: 'ddim' as const, guidance: Number(args.guidance), classes, seed: 1 };
  const model = trainer.model;
  (await sampleDetailed(model, { ...options, steps: 2 })).tokens.dispose(); // warm-up
  const ddim = await measure(1, async () => {
    (await sampleDetailed(model, options)).tokens.dispose();
  });
  trainer.dispose();
  const result: WorkerResult = { heap: native().runtimeInfo().heap, train, ddim, peakRssMiB: process.resourceUsage().maxRSS / 1024 };
  process.stdout.write(JSON.stringify(result) + '\n');
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

function runChild(setting: Setting, args: typeof DEFAULTS): WorkerResult {
  const env: NodeJS.ProcessEnv = { ...process.env, LCMD_NUM_THREADS: args.threads, OMP_NUM_THREADS: args.threads, OPENBLAS_NUM_THREADS: args.threads };
  for (const key of ['LCMD_HEAP', 'LCMD_HEAP_CACHE_MIB']) delete env[key];
  if (setting === 'system') env.LCMD_HEAP = 'system';
  const flags = Object.entries({ ...args, worker: 'yes' }).flatMap(([k, v]) => [`--${k}`, v]);
  const r = spawnSync(process.execPath, [__filename, ...flags], { env, encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
  if (r.status !== 0) throw new Error(`the ${setting} worker failed (exit ${r.status})`);
  return JSON.parse(r.stdout.trim().split('\n').pop()!) as WorkerResult;
}

async function main(): Promise<void> {
  const args = parseBenchArgs(process.argv.slice(2), DEFAULTS);
  if (args.worker) return runWorker(args);
  const rounds: Record<Setting, WorkerResult>[] = [];
  for (let round = 0; round < Number(args.rounds); round++) {
    const order: Setting[] = round % 2 === 0 ? ['system', 'lcmd'] : ['lcmd', 'system'];
    const results = {} as Record<Setting, WorkerResult>;
    for (const setting of order) {
      results[setting] = runChild(setting, args);
      const r = results[setting];
      console.log(`round ${round + 1} ${setting.padEnd(6)}  train ${r.train.ms.toFixed(0)} ms/step, ${r.train.minorFaults.toFixed(0)} faults/step, system ${((100 * r.train.systemMs) / (r.train.userMs + r.train.systemMs)).toFixed(1)}%  |  ddim ${r.ddim.ms.toFixed(0)} ms, ${r.ddim.minorFaults.toFixed(0)} faults  |  peak RSS ${r.peakRssMiB.toFixed(0)} MiB`);
    }
    rounds.push(results);
  }
  const ratio = (pick: (r: WorkerResult) => number) => median(rounds.map((r) => pick(r.lcmd) / pick(r.system)));
  const summary = {
    trainMs: ratio((r) => r.train.ms),
    ddimMs: ratio((r) => r.ddim.ms),
    trainFaults: ratio((r) => r.train.minorFaults),
    peakRss: ratio((r) => r.peakRssMiB),
  };
  console.log(`median ratio cache / libtorch's allocator: train ${summary.trainMs.toFixed(2)}, ddim ${summary.ddimMs.toFixed(2)}, train faults ${summary.trainFaults.toFixed(3)}, peak RSS ${summary.peakRss.toFixed(2)}`);
  const report = { date: new Date().toISOString(), host: { cpus: os.cpus().length, platform: os.platform() }, args, config: BENCH_CONFIG, rounds, medianRatioCacheOverSystem: summary };
  fs.mkdirSync(path.dirname(path.resolve(args.out)), { recursive: true });
  writeFileAtomic(args.out, JSON.stringify(report, null, 2) + '\n');
  console.log(`wrote ${args.out}`);
}

if (require.main === module) {
  main().catch((err) => {
    console.error(err instanceof Error ? err.message : err);
    process.exitCode = 1;
  });
}
