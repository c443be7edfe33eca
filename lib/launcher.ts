/**
 * The `--nproc-per-node` launcher: starts one worker process per device on this node with torchrun's variables
 * (RANK, WORLD_SIZE, LOCAL_RANK, LOCAL_WORLD_SIZE, MASTER_ADDR, MASTER_PORT), forwards their output line by line
 * prefixed with `[rank R]`, and stops every worker when one fails, so no rank is left waiting for a dead peer.
 *
 *   const code = await launchWorkers({ nprocPerNode: 2, argv: [process.execPath, cli, 'train', ...args] });
 */
import { spawn, type ChildProcess } from 'child_process';
import * as os from 'os';
import * as readline from 'readline';
import { findFreePort } from './distributed';
import { check } from './errors';
import { integerInRange, positiveInteger } from './validation';

export interface LaunchOptions {
  /** Worker processes on this node (one per GPU, or a few on a CPU machine). */
  nprocPerNode: number;
  /** Nodes in the run (default 1). */
  nnodes?: number;
  /** This node's index in [0, nnodes) (default 0). */
  nodeRank?: number;
  /** Host name or address of node 0 (default 127.0.0.1 on one node; required for several). */
  masterAddr?: string;
  /** Port of rank 0's rendezvous store (default: a free port on one node, 29500 on several, as torchrun). */
  masterPort?: number;
  /** The worker command line: executable first, e.g. [process.execPath, 'dist/bin/lcmd.js', 'train', ...]. */
  argv: string[];
  /** Extra environment for every worker (on top of this process's). */
  env?: NodeJS.ProcessEnv;
  /** Seconds between SIGTERM and SIGKILL when stopping workers (default 10). */
  graceSeconds?: number;
  /** Where forwarded lines go (default process.stdout / process.stderr). */
  stdout?: NodeJS.WritableStream;
  stderr?: NodeJS.WritableStream;
}

/** The launcher's flags, with the number of values each takes; the workers' command line must not contain them. */
export const LAUNCHER_FLAGS = ['--nproc-per-node', '--nnodes', '--node-rank', '--master-addr', '--master-port'] as const;

/** `args` without the launcher flags (`--flag value` and `--flag=value` forms), i.e. the workers' arguments. */
export function stripLauncherFlags(args: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    const flag = LAUNCHER_FLAGS.find((f) => arg === f || arg.startsWith(`${f}=`));
    if (!flag) out.push(arg);
    else if (arg === flag) i++; // skip its value
  }
  return out;
}

/** Environment of one worker: torchrun's variables, and threads split between this node's workers. */
export function workerEnv(base: NodeJS.ProcessEnv, place: { rank: number; worldSize: number; localRank: number; localWorldSize: number; nodeRank: number; masterAddr: string; masterPort: number }): NodeJS.ProcessEnv {
  const threads = String(Math.max(1, Math.floor(os.availableParallelism() / place.localWorldSize)));
  return {
    ...base,
    RANK: String(place.rank),
    WORLD_SIZE: String(place.worldSize),
    LOCAL_RANK: String(place.localRank),
    LOCAL_WORLD_SIZE: String(place.localWorldSize),
    GROUP_RANK: String(place.nodeRank),
    MASTER_ADDR: place.masterAddr,
    MASTER_PORT: String(place.masterPort),
    // Busy OpenMP threads that outnumber the cores slow every operation several times (DESIGN.md, CPU threads).
    LCMD_NUM_THREADS: base.LCMD_NUM_THREADS || threads,
    OMP_NUM_THREADS: base.OMP_NUM_THREADS || threads,
    OMP_WAIT_POLICY: base.OMP_WAIT_POLICY || 'PASSIVE',
  };
}

interface Worker {
  rank: number;
  child: ChildProcess;
  exited: boolean;
}

/**
 * Runs the workers of this node and resolves to the launcher's exit code once all have exited: 0 when every worker
 * succeeded; otherwise non-zero, after stopping the rest (SIGTERM, then SIGKILL after the grace period) and naming
 * the rank that failed first. SIGINT / SIGTERM sent to the launcher are forwarded to the workers (so they can
 * checkpoint and exit); a second one kills them.
 */
export async function launchWorkers(options: LaunchOptions): Promise<number> {
  const nproc = options.nprocPerNode;
  positiveInteger(nproc, '--nproc-per-node', 'E_USAGE');
  const nnodes = options.nnodes ?? 1;
  positiveInteger(nnodes, '--nnodes', 'E_USAGE');
  const nodeRank = options.nodeRank ?? 0;
  integerInRange(nodeRank, '--node-rank', 0, nnodes - 1, 'E_USAGE');
  check(Array.isArray(options.argv) && options.argv.length > 0 && options.argv.every((a) => typeof a === 'string'), 'E_USAGE', 'expected the worker command line as a non-empty array of strings');
  check(nnodes === 1 || (options.masterAddr ?? '') !== '', 'E_USAGE', `--master-addr is required with --nnodes ${nnodes}: give every node the host name or address of node 0`);
  const masterAddr = options.masterAddr || '127.0.0.1';
  const masterPort = options.masterPort ?? (nnodes === 1 ? await findFreePort(masterAddr) : 29500);
  integerInRange(masterPort, '--master-port', 1, 65535, 'E_USAGE');
  const graceMs = (options.graceSeconds ?? 10) * 1000;
  const stdout = options.stdout ?? process.stdout;
  const stderr = options.stderr ?? process.stderr;
  const worldSize = nnodes * nproc;
  const base = { ...process.env, ...options.env };

  const workers: Worker[] = [];
  let failure: string | undefined;
  let failureCode = 0;
  let interrupted: NodeJS.Signals | undefined;
  let killTimer: NodeJS.Timeout | undefined;

  const alive = () => workers.filter((w) => !w.exited);
  const stopAll = (signal: NodeJS.Signals) => {
    for (const w of alive()) w.child.kill(signal);
    if (!killTimer && signal !== 'SIGKILL') {
      killTimer = setTimeout(() => alive().forEach((w) => w.child.kill('SIGKILL')), graceMs);
      killTimer.unref();
    }
  };
  const onSignal = (signal: NodeJS.Signals) => {
    if (interrupted) {
      stderr.write(`lcmd launcher: second ${signal}, killing the workers\n`);
      stopAll('SIGKILL');
      return;
    }
    interrupted = signal;
    stderr.write(`lcmd launcher: ${signal} received, forwarding it to ${alive().length} workers\n`);
    for (const w of alive()) w.child.kill(signal);
  };
  // Workers run in their own process groups (a terminal's Ctrl-C reaches only the launcher, which forwards it once),
  // so the launcher must take them down if it exits first.
  const onExit = () => alive().forEach((w) => w.child.kill('SIGKILL'));
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  process.on('exit', onExit);

  try {
    await new Promise<void>((resolve) => {
      let running = nproc;
      for (let localRank = 0; localRank < nproc; localRank++) {
        const rank = nodeRank * nproc + localRank;
        const env = workerEnv(base, { rank, worldSize, localRank, localWorldSize: nproc, nodeRank, masterAddr, masterPort });
        const child = spawn(options.argv[0], options.argv.slice(1), { env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
        const worker: Worker = { rank, child, exited: false };
        workers.push(worker);
        const forward = (from: NodeJS.ReadableStream | null, to: NodeJS.WritableStream) => {
          if (!from) return;
          readline.createInterface({ input: from, crlfDelay: Infinity }).on('line', (line) => to.write(`[rank ${rank}] ${line}\n`));
        };
        forward(child.stdout, stdout);
        forward(child.stderr, stderr);
        child.on('error', (err) => {
          // spawn failed (no such executable): there is no 'exit' event to wait for
          if (worker.exited) return;
          worker.exited = true;
          if (!failure) {
            failure = `rank ${rank} could not be started: ${err.message}`;
            failureCode = 1;
            stopAll('SIGTERM');
          }
          if (--running === 0) resolve();
        });
        // 'close' (not 'exit'): every line of the worker's output has been forwarded by then
        child.on('close', (code, signal) => {
          if (worker.exited) return;
          worker.exited = true;
          if ((code !== 0 || signal) && !failure && !interrupted) {
            failure = signal ? `rank ${rank} (pid ${child.pid}) was killed by ${signal}` : `rank ${rank} (pid ${child.pid}) exited with code ${code}`;
            failureCode = signal ? 128 + (os.constants.signals[signal] ?? 0) : (code ?? 1);
            if (alive().length > 0) {
              stderr.write(`lcmd launcher: ${failure}; stopping the other ${alive().length} workers\n`);
              stopAll('SIGTERM');
            }
          } else if ((code !== 0 || signal) && interrupted && !failureCode) {
            failureCode = signal ? 128 + (os.constants.signals[signal] ?? 0) : (code ?? 1);
          }
          if (--running === 0) resolve();
        });
      }
    });
  } finally {
    if (killTimer) clearTimeout(killTimer);
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    process.off('exit', onExit);
  }

  if (failure) {
    stderr.write(`lcmd launcher: failed: ${failure}\n`);
    return failureCode || 1;
  }
  if (interrupted) return failureCode || 128 + (os.constants.signals[interrupted] ?? 0);
  return 0;
}

export interface LaunchPlan {
  /** workers in the whole run: --nproc-per-node times --nnodes */
  worldSize: number;
  /** the global batch */
  batchSize: number;
  /** the training device before the per-rank choice ('cpu', 'cuda') */
  device: string;
  backend?: 'gloo' | 'nccl';
}

/**
 * What the launcher can check once, before any worker starts; otherwise every rank would find it and report it
 * after the rendezvous. E_USAGE naming the flags.
 */
export function checkLaunchPlan(plan: LaunchPlan): void {
  check(plan.batchSize % plan.worldSize === 0, 'E_USAGE', `--batch-size ${plan.batchSize} does not split evenly across ${plan.worldSize} workers (--nproc-per-node times --nnodes): use a multiple of ${plan.worldSize}`);
  check(plan.backend !== 'nccl' || plan.device.startsWith('cuda'), 'E_USAGE', `--backend nccl needs CUDA devices, but the run trains on ${plan.device}: add --device cuda, or use --backend gloo on the CPU`);
}
