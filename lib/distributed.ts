/**
 * Data-parallel training on PyTorch's c10d: one process per device, rendezvous through rank 0's TCPStore, Gloo
 * (CPU) or NCCL (CUDA) collectives. The environment follows torchrun (RANK, WORLD_SIZE, LOCAL_RANK,
 * LOCAL_WORLD_SIZE, MASTER_ADDR, MASTER_PORT), so lcmd runs under torchrun-style launchers and SLURM scripts, and
 * under its own `lcmd train --nproc-per-node` launcher (lib/launcher.ts).
 *
 *   const group = await initProcessGroup({ device: 'cuda' });   // after every rank has joined
 *   await group.attach(trainer);                               // rank 0's state everywhere, gradients averaged
 *   const { localBatch, exampleOffset } = group.shard(globalBatch);
 */
import * as net from 'net';
import { withCancel } from './async';
import { native } from './binding';
import { check, LcmdError } from './errors';
import type { NativeProcessGroupHandle, NativeTrainerHandle } from './native';
import { Tensor } from './tensor';
import { expectedMessage, integerInRange, positiveInteger } from './validation';

export type DistributedBackend = 'gloo' | 'nccl';
export type Reduction = 'sum' | 'mean' | 'max' | 'min';

/** This process's place in the run, as torchrun describes it. */
export interface DistributedEnv {
  rank: number;
  worldSize: number;
  localRank: number;
  localWorldSize: number;
  masterAddr: string;
  masterPort: number;
}

/** How long any wait may last when neither the option nor LCMD_DIST_TIMEOUT says otherwise. */
export const DEFAULT_TIMEOUT_SECONDS = 300;

function integerVariable(env: NodeJS.ProcessEnv, name: string, min: number, max = Number.MAX_SAFE_INTEGER): number | undefined {
  const raw = env[name];
  if (raw === undefined || raw === '') return undefined;
  const value = Number(raw);
  check(/^\s*\d+\s*$/.test(raw) && value >= min && value <= max, 'E_CONFIG', () =>
    `${name} must be an integer in [${min}, ${max === Number.MAX_SAFE_INTEGER ? 'inf' : max}], got '${raw}'`,
  );
  return value;
}

/**
 * Reads torchrun's variables. Returns undefined when neither RANK nor WORLD_SIZE is set (a single-process run).
 * LOCAL_RANK defaults to RANK modulo LOCAL_WORLD_SIZE, and LOCAL_WORLD_SIZE to WORLD_SIZE (one node).
 */
export function readDistributedEnv(env: NodeJS.ProcessEnv = process.env): DistributedEnv | undefined {
  const worldSize = integerVariable(env, 'WORLD_SIZE', 1);
  const rank = integerVariable(env, 'RANK', 0);
  if (worldSize === undefined && rank === undefined) return undefined;
  const hint = 'set RANK, WORLD_SIZE, MASTER_ADDR and MASTER_PORT together (torchrun and `lcmd train --nproc-per-node` do)';
  check(worldSize !== undefined, 'E_DISTRIBUTED', `RANK is set (${rank}) but WORLD_SIZE is not: ${hint}`);
  check(rank !== undefined, 'E_DISTRIBUTED', `WORLD_SIZE is set (${worldSize}) but RANK is not: ${hint}`);
  check(rank < worldSize, 'E_DISTRIBUTED', `RANK must be below WORLD_SIZE (${worldSize}), got ${rank}`);
  const localWorldSize = integerVariable(env, 'LOCAL_WORLD_SIZE', 1, worldSize) ?? worldSize;
  check(worldSize % localWorldSize === 0, 'E_DISTRIBUTED', `WORLD_SIZE (${worldSize}) must be a multiple of LOCAL_WORLD_SIZE (${localWorldSize})`);
  const localRank = integerVariable(env, 'LOCAL_RANK', 0) ?? rank % localWorldSize;
  check(localRank < localWorldSize, 'E_DISTRIBUTED', `LOCAL_RANK must be below LOCAL_WORLD_SIZE (${localWorldSize}), got ${localRank}`);
  let masterAddr = env.MASTER_ADDR?.trim() ?? '';
  let masterPort = integerVariable(env, 'MASTER_PORT', 1, 65535);
  if (worldSize > 1) {
    check(masterAddr !== '', 'E_DISTRIBUTED', `MASTER_ADDR is not set: it must name rank 0's host for a world of ${worldSize}; ${hint}`);
    check(masterPort !== undefined, 'E_DISTRIBUTED', `MASTER_PORT is not set: every rank needs the port of rank 0's rendezvous store; ${hint}`);
  }
  masterAddr ||= '127.0.0.1';
  masterPort ??= 0; // world size 1: a free port is picked at init
  return { rank, worldSize, localRank, localWorldSize, masterAddr, masterPort };
}

/**
 * The device a rank trains on: 'cuda' becomes `cuda:${LOCAL_RANK}` (one process per GPU); 'cpu' stays.
 * An explicit 'cuda:N' is kept for one rank per node and refused for several (they would share a GPU).
 */
export function rankDevice(requested: string, env: DistributedEnv | undefined): string {
  check(typeof requested === 'string' && requested.length > 0, 'E_TYPE', 'expected a device name such as cpu or cuda');
  if (!env || !requested.startsWith('cuda')) return requested;
  if (requested === 'cuda') return `cuda:${env.localRank}`;
  check(env.localWorldSize === 1, 'E_CONFIG', `with ${env.localWorldSize} ranks per node each rank uses cuda:LOCAL_RANK; ask for device 'cuda', not '${requested}'`);
  return requested;
}

/** A TCP port that was free a moment ago (for a single-node run's rendezvous store). */
export function findFreePort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, host, () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

export interface InitProcessGroupOptions {
  /** 'nccl' for CUDA training, 'gloo' for CPU (default: from the device). */
  backend?: DistributedBackend;
  /** The training device before the per-rank choice: 'cpu' or 'cuda' (default 'cpu'). */
  device?: string;
  /** Longest wait for the rendezvous or any collective (default LCMD_DIST_TIMEOUT, else 300 s). */
  timeoutSeconds?: number;
  /** Where to read torchrun's variables (default process.env). */
  env?: NodeJS.ProcessEnv;
  signal?: AbortSignal;
}

/** The trainer the group attaches to: lib/trainer.ts's Trainer, or its native handle. */
export type AttachableTrainer = { readonly handle: NativeTrainerHandle } | NativeTrainerHandle;

/**
 * Joins the run described by the environment; resolves once every rank has joined. Without RANK / WORLD_SIZE it
 * makes a group of one (the gradient path still runs, which is how the benchmark measures what it costs).
 */
export async function initProcessGroup(options: InitProcessGroupOptions = {}): Promise<ProcessGroup> {
  const env = options.env ?? process.env;
  const read = readDistributedEnv(env);
  const place: DistributedEnv = read ?? { rank: 0, worldSize: 1, localRank: 0, localWorldSize: 1, masterAddr: '127.0.0.1', masterPort: 0 };
  if (place.masterPort === 0) place.masterPort = await findFreePort(place.masterAddr);
  const device = options.device ?? 'cpu';
  const backend = options.backend ?? (device.startsWith('cuda') ? 'nccl' : 'gloo');
  check(backend === 'gloo' || backend === 'nccl', 'E_CONFIG', `the backend must be 'gloo' or 'nccl', got '${String(backend)}'`);
  const timeoutSeconds = options.timeoutSeconds ?? (env.LCMD_DIST_TIMEOUT ? Number(env.LCMD_DIST_TIMEOUT) : DEFAULT_TIMEOUT_SECONDS);
  check(Number.isFinite(timeoutSeconds) && timeoutSeconds > 0, 'E_CONFIG', `the distributed timeout must be a positive number of seconds, got ${options.timeoutSeconds ?? env.LCMD_DIST_TIMEOUT}`);
  const trainingDevice = rankDevice(device, read);
  check(backend !== 'nccl' || trainingDevice.startsWith('cuda'), 'E_CONFIG', `the 'nccl' backend needs a CUDA device, got '${trainingDevice}'; use 'gloo' on the CPU`);
  const handle = await withCancel(options.signal, (token) =>
    native().createProcessGroup(
      {
        rank: place.rank,
        worldSize: place.worldSize,
        masterAddr: place.masterAddr,
        masterPort: place.masterPort,
        backend,
        device: backend === 'nccl' ? trainingDevice : 'cpu',
        timeoutSeconds,
      },
      token,
    ),
  );
  return new ProcessGroup(handle, place, trainingDevice);
}

export class ProcessGroup {
  /** @internal */
  readonly handle: NativeProcessGroupHandle;
  readonly rank: number;
  readonly worldSize: number;
  readonly localRank: number;
  readonly localWorldSize: number;
  readonly backend: DistributedBackend;
  /** The device this rank trains on ('cpu' or `cuda:${localRank}`). */
  readonly device: string;
  readonly timeoutSeconds: number;

  /** @internal */
  constructor(handle: NativeProcessGroupHandle, place: DistributedEnv, device: string) {
    this.handle = handle;
    this.rank = place.rank;
    this.worldSize = place.worldSize;
    this.localRank = place.localRank;
    this.localWorldSize = place.localWorldSize;
    this.backend = handle.backend() as DistributedBackend;
    this.device = device;
    this.timeoutSeconds = handle.timeoutSeconds();
  }

  get isMain(): boolean {
    return this.rank === 0;
  }

  /** Resolves when every rank has called barrier(). */
  async barrier(signal?: AbortSignal): Promise<void> {
    await withCancel(signal, (token) => this.handle.barrier(token));
  }

  /** Overwrites `tensor` (same shape and dtype on every rank) with rank `root`'s values. */
  async broadcast(tensor: Tensor, root = 0): Promise<void> {
    check(tensor instanceof Tensor, 'E_TYPE', 'expected a Tensor to broadcast');
    integerInRange(root, 'root', 0, this.worldSize - 1);
    await this.handle.broadcast(tensor.handle, root);
  }

  /** Reduces `tensor` across ranks in place. */
  async allreduce(tensor: Tensor, op: Reduction = 'sum'): Promise<void> {
    check(tensor instanceof Tensor, 'E_TYPE', 'expected a Tensor to all-reduce');
    check(['sum', 'mean', 'max', 'min'].includes(op), 'E_RANGE', `expected the reduction 'sum', 'mean', 'max' or 'min', got '${op}'`);
    await this.handle.allreduce(tensor.handle, op);
  }

  /** Reduces a few numbers across ranks (float64), e.g. losses for logging. */
  async allreduceNumbers(values: readonly number[], op: Reduction = 'mean'): Promise<number[]> {
    check(Array.isArray(values) && values.length > 0 && values.every((v) => typeof v === 'number'), 'E_TYPE', 'expected a non-empty array of numbers');
    const tensor = Tensor.from(Float64Array.from(values), [values.length], 'float64');
    try {
      await this.allreduce(tensor, op);
      return Array.from(tensor.toTypedArray() as Float64Array);
    } finally {
      tensor.dispose();
    }
  }

  /** True on every rank when any rank passed true: ranks agree to stop (or checkpoint) at the same step. */
  async anyRank(flag: boolean): Promise<boolean> {
    const [max] = await this.allreduceNumbers([flag ? 1 : 0], 'max');
    return max > 0;
  }

  /**
   * Makes `trainer` a replica of this run (collective: every rank calls it). Checks that all ranks have the same
   * configs and step counters, copies rank 0's weights, EMAs, teacher and optimizer state to every rank, and from
   * then on averages each step's gradients across ranks in flat buckets (default 25 MiB).
   */
  async attach(trainer: AttachableTrainer, options: { bucketBytes?: number; signal?: AbortSignal } = {}): Promise<void> {
    const bucketBytes = options.bucketBytes ?? 25 * 1024 * 1024;
    check(Number.isSafeInteger(bucketBytes) && bucketBytes >= 1024, 'E_RANGE', () => expectedMessage('an integer >= 1024', 'bucketBytes', bucketBytes));
    await withCancel(options.signal, (token) => native().attachProcessGroup(trainerHandle(trainer), this.handle, { bucketBytes }, token));
  }

  /** Back to local gradients. */
  async detach(trainer: AttachableTrainer): Promise<void> {
    await native().attachProcessGroup(trainerHandle(trainer), null);
  }

  /**
   * This rank's part of a global batch: ranks take consecutive slices, so example i of the global batch is the
   * same example whatever the world size, and so is its training noise (keyed by the global example index).
   */
  shard(globalBatch: number): { localBatch: number; exampleOffset: number } {
    positiveInteger(globalBatch, 'the global batch size');
    check(globalBatch % this.worldSize === 0, 'E_CONFIG', `the global batch size ${globalBatch} does not split evenly across ${this.worldSize} ranks; use a multiple of ${this.worldSize}`);
    const localBatch = globalBatch / this.worldSize;
    return { localBatch, exampleOffset: this.rank * localBatch };
  }

  get disposed(): boolean {
    return this.handle.isDisposed();
  }

  /** Leaves the group (idempotent). Rank 0 hosts the rendezvous store, so it should leave last. */
  dispose(): void {
    this.handle.dispose();
  }

  [Symbol.dispose](): void {
    this.dispose();
  }
}

function trainerHandle(trainer: AttachableTrainer): NativeTrainerHandle {
  check(trainer !== null && typeof trainer === 'object', 'E_TYPE', 'expected a Trainer');
  const handle = 'handle' in trainer ? trainer.handle : trainer;
  if (!handle || typeof handle !== 'object') throw new LcmdError('expected a Trainer', 'E_TYPE');
  return handle;
}

/** Which backends this build of lcmd can create. */
export function distributedBackends(): { gloo: boolean; nccl: boolean } {
  return native().distributedBackends();
}
