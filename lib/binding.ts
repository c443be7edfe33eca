/** Loads the native addon once, with one clear error when it is missing or cannot be loaded. */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { LcmdError } from './errors';
import type { NativeAddon, NativeTestHooks } from './native';

const ROOT = path.resolve(__dirname, '..', fs.existsSync(path.resolve(__dirname, '..', 'package.json')) ? '' : '..');
const CANDIDATES = ['build/Release/lcmd.node', 'build/Debug/lcmd.node'];

let addon: NativeAddon | undefined;

/** OpenBLAS's thread timeout that lcmd sets when the user has not: idle BLAS workers yield for 2^10 cycles, then sleep. */
export const OPENBLAS_THREAD_TIMEOUT = 10;

/** Threads for this process: LCMD_NUM_THREADS, else the cores split between the ranks on this node. */
export function defaultThreadCount(): number {
  const fromEnv = Number(process.env.LCMD_NUM_THREADS);
  if (Number.isInteger(fromEnv) && fromEnv > 0) return fromEnv;
  const ranks = Number(process.env.LOCAL_WORLD_SIZE) || 1;
  return Math.max(1, Math.floor(os.availableParallelism() / ranks));
}

/** LCMD_HEAP and LCMD_HEAP_CACHE_MIB, which the addon reads when it loads (native/core/base/cpu_tensor_cache.h). */
function checkHeapEnvironment(): void {
  const heap = process.env.LCMD_HEAP;
  if (heap !== undefined && heap !== 'lcmd' && heap !== 'system') {
    throw new LcmdError(`LCMD_HEAP must be 'lcmd' (the default: freed CPU tensor memory is cached for reuse) or 'system' (libtorch's allocator), got '${heap}'`, 'E_CONFIG');
  }
  const mib = process.env.LCMD_HEAP_CACHE_MIB;
  if (mib !== undefined && !/^\d{1,9}$/.test(mib)) {
    throw new LcmdError(`LCMD_HEAP_CACHE_MIB must be a whole number of MiB (0 turns caching off), got '${mib}'`, 'E_CONFIG');
  }
}

export function native(): NativeAddon {
  if (addon) return addon;
  const override = process.env.LCMD_ADDON;
  const tried = override ? [path.resolve(override)] : CANDIDATES.map((c) => path.join(ROOT, c));
  const file = tried.find((p) => fs.existsSync(p));
  if (!file) {
    throw new LcmdError(
      `the lcmd native addon is not built (looked for ${tried.join(', ')}). ` +
        'Run `npm rebuild lcmd` (or `npm install` in the lcmd folder); it needs libtorch: sudo apt-get install -y libtorch-dev libopenblas0-pthread',
      'E_NATIVE_LOAD',
    );
  }
  checkHeapEnvironment();
  // libgomp reads this once when it loads; idle OpenMP workers then sleep instead of spinning on shared cores.
  if (!process.env.OMP_WAIT_POLICY && (Number(process.env.LOCAL_WORLD_SIZE) || 1) > 1) process.env.OMP_WAIT_POLICY = 'PASSIVE';
  // OpenBLAS reads this once when it loads. By default its idle workers keep calling sched_yield for 2^28 cycles after
  // every GEMM, on the cores libtorch's OpenMP workers need next: a 2-thread training run spent 28% of its CPU time in
  // the kernel that way. After 2^10 cycles they sleep: 9%, at the same step time (docs/benchmarks-cpu.md).
  if (!process.env.OPENBLAS_THREAD_TIMEOUT && !process.env.GOTO_THREAD_TIMEOUT) process.env.OPENBLAS_THREAD_TIMEOUT = String(OPENBLAS_THREAD_TIMEOUT);
  let loaded: NativeAddon;
  try {
    loaded = require(file) as NativeAddon;
  } catch (err) {
    throw new LcmdError(
      `the lcmd native addon at ${file} failed to load: ${(err as Error).message}. ` +
        'If libtorch was moved or upgraded since the build, run `npm rebuild lcmd`.',
      'E_NATIVE_LOAD',
    );
  }
  loaded.setErrorClass(LcmdError);
  loaded.setNumThreads(defaultThreadCount());
  addon = loaded;
  return loaded;
}

/**
 * Runs `work` with n threads in every pool (intra-op, OpenBLAS), then restores the count it had, also when `work`
 * fails. The count is the process's: nothing else may run native work meanwhile.
 */
export async function withThreadCount<T>(n: number, work: () => Promise<T>): Promise<T> {
  const addon = native();
  const before = addon.numThreads();
  addon.setNumThreads(n);
  try {
    return await work();
  } finally {
    addon.setNumThreads(before);
  }
}

/** The addon's test-only hooks (see NativeTestHooks); not part of the API. */
export function testHooks(): NativeTestHooks {
  return native() as unknown as NativeTestHooks;
}
