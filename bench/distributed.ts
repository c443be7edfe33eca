/**
 * Data-parallel training throughput: images/s of one process without gradient synchronisation, of one rank with
 * the synchronisation path on (a world of one: the bucketed all-reduce runs, so the difference is what the path
 * costs), and of 2 ranks (Gloo over loopback on CPU; NCCL on 2 GPUs when there are). Writes JSON.
 *
 *   npx tsc -p tsconfig.json && node dist/bench/distributed.js [--preset small] [--batch 32] [--steps 10]
 *     [--warmup 2] [--device cpu|cuda] [--ranks 2] [--out distributed.json]
 *
 * Every variant runs in fresh processes, one after the other, with the same global batch; on the CPU the cores are
 * split between the ranks (LCMD_NUM_THREADS = cores / ranks, OMP_WAIT_POLICY=PASSIVE), as the launcher does.
 */
import { spawn } from 'child_process';
import { writeFileAtomic } from '../lib/atomic-write';
import * as os from 'os';
import { PassThrough } from 'stream';
import { native } from '../lib/binding';
import { initProcessGroup } from '../lib/distributed';
import { launchWorkers } from '../lib/launcher';
import { resolveConfig } from '../lib/presets';

interface WorkerOptions {
  preset: string;
  globalBatch: number;
  steps: number;
  warmup: number;
  device: string;
  sync: boolean;
}

interface WorkerResult {
  rank: number;
  world: number;
  threads: number;
  seconds: number;
  steps: number;
  imagesPerSecond: number;
}

/** One rank: trains `warmup` untimed steps, then `steps` timed ones, and prints its result as JSON. */
async function worker(options: WorkerOptions): Promise<void> {
  const addon = native();
  const config = resolveConfig({ preset: options.preset });
  const group = options.sync ? await initProcessGroup({ device: options.device, timeoutSeconds: 120 }) : undefined;
  const world = group?.worldSize ?? 1;
  const rank = group?.rank ?? 0;
  const device = group?.device ?? options.device;
  const trainer = new addon.TrainerHandle(JSON.stringify(config.model), JSON.stringify({ ...config.train, device, warmupSteps: 0 }));
  if (group) await group.attach(trainer);
  const model = { height: 16, width: 16, vocabSize: 1024, numClasses: 0, ...config.model };
  const local = options.globalBatch / world;
  const n = model.height * model.width;
  let state = 1234 + rank;
  const next = () => (state = (Math.imul(state, 1103515245) + 12345) >>> 0);
  const tokens = new addon.TensorHandle(Int32Array.from({ length: local * n }, () => next() % model.vocabSize), [local, n], 'int32');
  const labels = model.numClasses > 0 ? new addon.TensorHandle(Int32Array.from({ length: local }, () => next() % model.numClasses), [local], 'int32') : null;
  for (let i = 0; i < options.warmup; i++) await trainer.step(tokens, labels, rank * local);
  if (group) await group.barrier();
  const start = process.hrtime.bigint();
  for (let i = 0; i < options.steps; i++) await trainer.step(tokens, labels, rank * local);
  if (group) await group.barrier();
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  const result: WorkerResult = { rank, world, threads: addon.numThreads(), seconds, steps: options.steps, imagesPerSecond: (options.steps * options.globalBatch) / seconds };
  console.log(`RESULT ${JSON.stringify(result)}`);
  trainer.dispose();
  group?.dispose();
}

function parseResult(output: string): WorkerResult {
  const line = output.split('\n').find((l) => l.includes('RESULT {'));
  if (!line) throw new Error(`the benchmark worker printed no result:\n${output}`);
  return JSON.parse(line.slice(line.indexOf('{'))) as WorkerResult;
}

/** One process, no launcher: no torchrun variables, all cores. */
function runSingle(options: WorkerOptions): Promise<WorkerResult> {
  const env: NodeJS.ProcessEnv = { ...process.env, LCMD_NUM_THREADS: String(os.availableParallelism()) };
  for (const key of ['RANK', 'WORLD_SIZE', 'LOCAL_RANK', 'LOCAL_WORLD_SIZE', 'MASTER_ADDR', 'MASTER_PORT']) delete env[key];
  const child = spawn(process.execPath, [__filename, '--worker', JSON.stringify(options)], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (d) => (output += d));
  child.stderr.on('data', (d) => (output += d));
  return new Promise((resolve, reject) =>
    child.on('close', (code) => {
      if (code !== 0) reject(new Error(`benchmark worker failed (${code}):\n${output}`));
      else resolve(parseResult(output));
    }),
  );
}

/** `ranks` processes through the launcher (which splits the cores between them). */
async function runRanks(options: WorkerOptions, ranks: number): Promise<WorkerResult> {
  const sink = new PassThrough();
  let output = '';
  sink.on('data', (d) => (output += d));
  const env: NodeJS.ProcessEnv = { LCMD_NUM_THREADS: '', OMP_NUM_THREADS: '' }; // let the launcher split the cores
  const code = await launchWorkers({ nprocPerNode: ranks, argv: [process.execPath, __filename, '--worker', JSON.stringify(options)], env, stdout: sink, stderr: sink });
  if (code !== 0) throw new Error(`the ${ranks}-rank benchmark failed (${code}):\n${output}`);
  return parseResult(output.split('\n').filter((l) => l.startsWith('[rank 0]')).join('\n'));
}

function parseArgs(argv: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (let i = 0; i < argv.length; i++) {
    const key = argv[i];
    if (!key.startsWith('--') || i + 1 >= argv.length) throw new Error(`unexpected argument '${key}' (flags take a value: --name value)`);
    out[key.slice(2)] = argv[++i];
  }
  return out;
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const device = args.device ?? 'cpu';
  const ranks = Number(args.ranks ?? 2);
  const base: WorkerOptions = {
    preset: args.preset ?? 'small',
    globalBatch: Number(args.batch ?? 32),
    steps: Number(args.steps ?? 10),
    warmup: Number(args.warmup ?? 2),
    device,
    sync: false,
  };
  const info = native().runtimeInfo();
  const gpus = info.devices.length;
  const rows: (WorkerResult & { variant: string })[] = [];
  rows.push({ variant: '1 process, no gradient synchronisation', ...(await runSingle(base)) });
  rows.push({ variant: `1 rank, synchronisation on (world size 1, ${device.startsWith('cuda') ? 'nccl' : 'gloo'})`, ...(await runSingle({ ...base, sync: true })) });
  if (!device.startsWith('cuda') || gpus >= ranks) {
    rows.push({ variant: `${ranks} ranks (${device.startsWith('cuda') ? 'nccl' : 'gloo on loopback'})`, ...(await runRanks({ ...base, sync: true }, ranks)) });
  }
  const report = {
    benchmark: 'distributed',
    preset: base.preset,
    device,
    globalBatch: base.globalBatch,
    timedSteps: base.steps,
    warmupSteps: base.warmup,
    cores: os.availableParallelism(),
    loadAverage: os.loadavg(),
    torchVersion: info.torchVersion,
    deviceNames: info.devices.map((d) => d.name),
    date: new Date().toISOString(),
    rows,
    syncCostPercent: 100 * (rows[0].imagesPerSecond / rows[1].imagesPerSecond - 1),
    ...(rows[2] ? { scaling: rows[2].imagesPerSecond / rows[0].imagesPerSecond } : {}),
  };
  const json = JSON.stringify(report, null, 2);
  if (args.out) writeFileAtomic(args.out, json + '\n');
  process.stdout.write(json + '\n');
}

if (require.main === module) {
  const run = process.argv[2] === '--worker' ? worker(JSON.parse(process.argv[3]) as WorkerOptions) : main();
  run.catch((err) => {
    console.error(err);
    process.exit(1);
  });
}
