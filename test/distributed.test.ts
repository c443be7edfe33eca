/**
 * Data-parallel training on c10d with Gloo over loopback: several worker processes (test/fixtures/dist-worker.js)
 * train a small model; the results are compared with single-process training on the combined batch.
 */
import { spawn } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { PassThrough } from 'stream';
import { native, testHooks } from '../lib/binding';
import { findFreePort, initProcessGroup, rankDevice, readDistributedEnv } from '../lib/distributed';
import { LcmdError } from '../lib/errors';
import { launchWorkers } from '../lib/launcher';
import type { NativeTensorHandle } from '../lib/native';
import { Trainer } from '../lib/trainer';
import { int64Tensor, randomTokens, TINY_MODEL } from './lcmd-fixtures';

const WORKER = path.join(__dirname, 'fixtures', 'dist-worker.js');
const STEPS = 4;
const GLOBAL_BATCH = 4;

interface WorkerRun {
  rank: number;
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  exitedAfterMs: number;
}

let tmp: string;
beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'lcmd-dist-'));
});
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

function torchrunEnv(rank: number, worldSize: number, port: number): NodeJS.ProcessEnv {
  return {
    ...process.env,
    RANK: String(rank),
    WORLD_SIZE: String(worldSize),
    LOCAL_RANK: String(rank),
    LOCAL_WORLD_SIZE: String(worldSize),
    MASTER_ADDR: '127.0.0.1',
    MASTER_PORT: String(port),
    LCMD_NUM_THREADS: '1',
    OMP_WAIT_POLICY: 'PASSIVE',
  };
}

/** Starts one worker per rank (env set by hand, as torchrun or SLURM would) and collects their results. */
async function runRanks(worldSize: number, options: Record<string, unknown>, onSpawn?: (rank: number, pid: number) => void): Promise<WorkerRun[]> {
  const port = await findFreePort();
  const start = Date.now();
  return Promise.all(
    Array.from({ length: worldSize }, (_, rank) => {
      const env = options.group === false ? { ...process.env, LCMD_NUM_THREADS: '1' } : torchrunEnv(rank, worldSize, port);
      const child = spawn(process.execPath, [WORKER, JSON.stringify(options)], { env, stdio: ['ignore', 'pipe', 'pipe'] });
      onSpawn?.(rank, child.pid ?? -1);
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (d) => (stdout += d));
      child.stderr.on('data', (d) => (stderr += d));
      return new Promise<WorkerRun>((resolve) =>
        child.on('close', (code, signal) => resolve({ rank, code, signal, stdout, stderr, exitedAfterMs: Date.now() - start })),
      );
    }),
  );
}

async function loadState(file: string): Promise<Record<string, Float32Array>> {
  const { tensors } = await native().loadSafetensors(file);
  const out: Record<string, Float32Array> = {};
  for (const [name, handle] of Object.entries(tensors) as [string, NativeTensorHandle][]) {
    if (handle.dtype() === 'float32') out[name] = handle.toTypedArray() as Float32Array;
    handle.dispose();
  }
  return out;
}

function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

/** The largest difference per group of tensors (model., ema., teacher., optim.) between two states. */
// The key bias of attention gets no gradient in exact arithmetic (softmax ignores a shift shared by all keys), so
// its gradient is rounding noise that Adam scales up to lr-sized steps: it differs between world sizes by design.
function withoutKeyBias(name: string, values: Float32Array): Float32Array {
  if (!name.endsWith('attn.qkv.bias') || name.startsWith('optim.')) return values;
  const d = values.length / 3;
  const copy = Float32Array.from(values);
  copy.fill(0, d, 2 * d);
  return copy;
}

function compare(a: Record<string, Float32Array>, b: Record<string, Float32Array>, prefixes: string[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const prefix of prefixes) {
    const names = Object.keys(a).filter((n) => n.startsWith(prefix));
    expect(names.length).toBeGreaterThan(0);
    out[prefix] = Math.max(...names.map((n) => maxAbsDiff(withoutKeyBias(n, a[n]), withoutKeyBias(n, b[n]))));
  }
  return out;
}

function expectSucceeded(runs: WorkerRun[]): void {
  for (const run of runs) {
    if (run.code !== 0) throw new Error(`rank ${run.rank} exited with ${run.code ?? run.signal}:\n${run.stderr}\n${run.stdout}`);
  }
}

describe('torchrun environment', () => {
  test('reads the variables and derives the rank device', () => {
    const env = readDistributedEnv({ RANK: '3', WORLD_SIZE: '4', LOCAL_RANK: '1', LOCAL_WORLD_SIZE: '2', MASTER_ADDR: 'node0', MASTER_PORT: '29400' });
    expect(env).toEqual({ rank: 3, worldSize: 4, localRank: 1, localWorldSize: 2, masterAddr: 'node0', masterPort: 29400 });
    expect(rankDevice('cuda', env)).toBe('cuda:1');
    expect(rankDevice('cpu', env)).toBe('cpu');
    expect(() => rankDevice('cuda:0', env)).toThrow(/cuda:LOCAL_RANK/);
    expect(readDistributedEnv({})).toBeUndefined();
  });

  test('LOCAL_RANK and LOCAL_WORLD_SIZE default to a single node', () => {
    expect(readDistributedEnv({ RANK: '1', WORLD_SIZE: '2', MASTER_ADDR: 'a', MASTER_PORT: '1' })).toMatchObject({ localRank: 1, localWorldSize: 2 });
  });

  test.each([
    [{ RANK: '0' }, 'E_DISTRIBUTED', /WORLD_SIZE is not/],
    [{ WORLD_SIZE: '2' }, 'E_DISTRIBUTED', /RANK is not/],
    [{ RANK: '2', WORLD_SIZE: '2', MASTER_ADDR: 'a', MASTER_PORT: '1' }, 'E_DISTRIBUTED', /RANK must be below WORLD_SIZE \(2\), got 2/],
    [{ RANK: 'x', WORLD_SIZE: '2' }, 'E_CONFIG', /RANK must be an integer .* got 'x'/],
    [{ RANK: '0', WORLD_SIZE: '2', MASTER_PORT: '1' }, 'E_DISTRIBUTED', /MASTER_ADDR is not set/],
    [{ RANK: '0', WORLD_SIZE: '2', MASTER_ADDR: 'a' }, 'E_DISTRIBUTED', /MASTER_PORT is not set/],
    [{ RANK: '0', WORLD_SIZE: '2', MASTER_ADDR: 'a', MASTER_PORT: '70000' }, 'E_CONFIG', /MASTER_PORT must be an integer in \[1, 65535\]/],
    [{ RANK: '0', WORLD_SIZE: '4', LOCAL_WORLD_SIZE: '3', MASTER_ADDR: 'a', MASTER_PORT: '1' }, 'E_DISTRIBUTED', /multiple of LOCAL_WORLD_SIZE/],
  ])('rejects %j', (env, code, message) => {
    let error: unknown;
    try {
      readDistributedEnv(env as NodeJS.ProcessEnv);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(LcmdError);
    expect((error as LcmdError).code).toBe(code);
    expect((error as LcmdError).message).toMatch(message);
  });
});

describe('process group of one (in process)', () => {
  test('collectives, shard arithmetic and dispose', async () => {
    const group = await initProcessGroup({ env: {}, timeoutSeconds: 10 });
    try {
      expect([group.rank, group.worldSize, group.backend, group.device]).toEqual([0, 1, 'gloo', 'cpu']);
      await group.barrier();
      expect(await group.allreduceNumbers([1.5, -2], 'sum')).toEqual([1.5, -2]);
      expect(await group.anyRank(true)).toBe(true);
      expect(await group.anyRank(false)).toBe(false);
      expect(group.shard(8)).toEqual({ localBatch: 8, exampleOffset: 0 });
    } finally {
      group.dispose();
    }
    group.dispose(); // idempotent
    await expect(group.barrier()).rejects.toMatchObject({ code: 'E_DISPOSED' });
  });

  test('an attached trainer\'s gradients are views into persistent flat buckets, and plain tensors again once detached', async () => {
    const group = await initProcessGroup({ env: {}, timeoutSeconds: 10 });
    const trainer = Trainer.create({ model: { ...TINY_MODEL, attnDropout: 0 }, train: { seed: 1, lr: 0.01, warmupSteps: 0 } });
    const step = async (seed: number) => {
      const tokens = int64Tensor(randomTokens(seed, 4, 4, 16).flat(), [4, 4]);
      const labels = int64Tensor([0, 1, 2, 0], [4]);
      await trainer.step({ tokens, labels });
      tokens.dispose();
      labels.dispose();
    };
    const gradients = () => testHooks().trainerGradients(trainer.handle);
    try {
      await step(0);
      expect(gradients().every((g) => !g.defined)).toBe(true);  // without a group: freed after each step
      // 1 KiB buckets: several buffers, each holding its parameters back to back
      await group.attach(trainer, { bucketBytes: 1024 });
      await step(1);
      const first = gradients();
      expect(first.every((g) => g.defined)).toBe(true);
      const storages = [...new Set(first.map((g) => g.storage))];
      expect(storages.length).toBeGreaterThan(1);
      expect(storages.length).toBeLessThan(first.length);
      let offset = 0;
      first.forEach((g, i) => {
        offset = i > 0 && g.storage === first[i - 1].storage ? offset + first[i - 1].numel : 0;
        expect(g.offset).toBe(offset);
      });
      await step(2);
      expect(gradients()).toEqual(first);  // the same buffers every step: nothing allocated
      await group.detach(trainer);
      await step(3);
      expect(gradients().every((g) => !g.defined)).toBe(true);
    } finally {
      trainer.dispose();
      group.dispose();
    }
  });
});

describe('data-parallel training (2 ranks, Gloo on loopback)', () => {
  let single: Record<string, Float32Array>;
  // with the learned time warp, whose statistics are averaged with the gradients, so t is also world-size independent
  const WARP = { train: { timeWarp: 'learned' } };

  beforeAll(async () => {
    const out = path.join(tmp, 'single');
    fs.mkdirSync(out);
    expectSucceeded(await runRanks(1, { group: false, out, steps: STEPS, globalBatch: GLOBAL_BATCH, ...WARP }));
    single = await loadState(path.join(out, 'rank-0.safetensors'));
  });

  test('2 ranks at batch B/2 match 1 process at batch B (model, EMA, teacher, optimizer)', async () => {
    const out = path.join(tmp, 'two');
    fs.mkdirSync(out);
    const runs = await runRanks(2, { out, steps: STEPS, globalBatch: GLOBAL_BATCH, timeout: 30, ...WARP });
    expectSucceeded(runs);
    const rank0 = await loadState(path.join(out, 'rank-0.safetensors'));
    const rank1 = await loadState(path.join(out, 'rank-1.safetensors'));
    const prefixes = ['model.', 'ema.', 'teacher.', 'optim.exp_avg.', 'optim.exp_avg_sq.', 'time_warp.'];
    expect(Math.max(...single['time_warp.stats'])).toBeGreaterThan(0);

    // training moved the weights, so agreement below is not agreement of untouched initial values
    const fresh = new (native().TrainerHandle)(
      JSON.stringify({ vocabSize: 16, height: 4, width: 4, numClasses: 3, embedDim: 8, layers: 1, heads: 2, hidden: 16, condDim: 8, attnDropout: 0 }),
      JSON.stringify({ device: 'cpu', seed: 7, teacher: 'ema' }),
    );
    const initial = fresh.model().getParameter('embedding.table', false);
    const moved = maxAbsDiff(initial.toTypedArray() as Float32Array, single['model.embedding.table']);
    initial.dispose();
    fresh.dispose();
    expect(moved).toBeGreaterThan(1e-3);

    const vsSingle = compare(single, rank0, prefixes);
    for (const prefix of prefixes) expect(vsSingle[prefix]).toBeLessThan(1e-5);
    // every rank applies the same averaged update, so the replicas agree exactly
    const vsRank1 = compare(rank0, rank1, prefixes);
    for (const prefix of prefixes) expect(vsRank1[prefix]).toBe(0);
  });

  test('a 2-rank checkpoint written by rank 0 resumes on 1 rank and continues as single-process training', async () => {
    const checkpoint = path.join(tmp, 'two-ranks.safetensors');
    const lines = new PassThrough();
    let output = '';
    lines.on('data', (d) => (output += d));
    const code = await launchWorkers({
      nprocPerNode: 2,
      argv: [process.execPath, WORKER, JSON.stringify({ steps: STEPS / 2, globalBatch: GLOBAL_BATCH, checkpoint, timeout: 30, ...WARP })],
      env: { LCMD_NUM_THREADS: '1' },
      stdout: lines,
      stderr: lines,
    });
    expect({ code, output }).toMatchObject({ code: 0 });
    expect(output).toMatch(/^\[rank 1\] \{"rank":1,"step":2,/m);
    expect(fs.existsSync(checkpoint)).toBe(true);

    const out = path.join(tmp, 'resumed');
    fs.mkdirSync(out);
    // a world of one (WORLD_SIZE=1) resuming the 2-rank run to the same total step count
    expectSucceeded(await runRanks(1, { out, steps: STEPS, globalBatch: GLOBAL_BATCH, resume: checkpoint, timeout: 30 }));
    const resumed = await loadState(path.join(out, 'rank-0.safetensors'));
    const diff = compare(single, resumed, ['model.', 'ema.', 'teacher.', 'time_warp.']);
    for (const value of Object.values(diff)) expect(value).toBeLessThan(1e-5);
  });
});

describe('failures end every rank within the timeout, naming the rank', () => {
  test('ranks started with different configs all refuse to train, naming the rank that differs', async () => {
    const runs = await runRanks(2, { steps: 2, globalBatch: 4, timeout: 10, rankTrain: { 1: { lr: 0.02 } } });
    for (const run of runs) {
      expect(run.code).not.toBe(0);
      expect(run.stderr).toMatch(/\[E_DISTRIBUTED\] the ranks cannot train together; rank 1 differs from rank 0 in its train config/);
    }
  });

  test('a killed rank: the survivor exits non-zero and names it', async () => {
    const runs = await runRanks(2, { steps: 6, globalBatch: 4, timeout: 5, dieAt: 2, dieRank: 1, log: false });
    const [rank0, rank1] = runs;
    expect(rank1.signal).toBe('SIGKILL');
    expect(rank0.code).not.toBe(0);
    expect(rank0.stderr).toMatch(/E_DISTRIBUTED/);
    expect(rank0.stderr).toMatch(/rank 1 stopped responding/);
    expect(rank0.exitedAfterMs - rank1.exitedAfterMs).toBeLessThan(15000);
  });

  test('rank 0 (the store host) killed: the other rank names it', async () => {
    const [rank0, rank1] = await runRanks(2, { steps: 6, globalBatch: 4, timeout: 5, dieAt: 2, dieRank: 0, log: false });
    expect(rank0.signal).toBe('SIGKILL');
    expect(rank1.code).not.toBe(0);
    expect(rank1.stderr).toMatch(/rank 0 is unreachable/);
    expect(rank1.exitedAfterMs - rank0.exitedAfterMs).toBeLessThan(15000);
  });

  test('a hung rank (alive, never reaching the collective): the other times out and names it', async () => {
    const pids: number[] = [];
    const started = Date.now();
    const runsPromise = runRanks(2, { steps: 6, globalBatch: 4, timeout: 3, hangAt: 2, hangRank: 1, log: false }, (rank, pid) => (pids[rank] = pid));
    // rank 1 would wait for ten minutes: stop it once rank 0 has given up
    const watchdog = setInterval(() => {
      try {
        process.kill(pids[0], 0);
      } catch {
        clearInterval(watchdog);
        process.kill(pids[1], 'SIGKILL');
      }
    }, 200);
    const [rank0] = await runsPromise;
    clearInterval(watchdog);
    expect(rank0.code).not.toBe(0);
    expect(rank0.stderr).toMatch(/rank 1 is alive but has not reached this collective/);
    expect(rank0.stderr).toMatch(/timed out|Timed out/);
    // start-up, two steps, the 3 s timeout and the diagnosis
    expect(Date.now() - started).toBeLessThan(30000);
  });
});
