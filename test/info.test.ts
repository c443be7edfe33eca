// Runtime information: the libtorch version and origin, BLAS, devices and threads, checked against the install.
import { execFileSync, spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { defaultThreadCount, native, OPENBLAS_THREAD_TIMEOUT, withThreadCount } from '../lib/binding';
import { blasWarning, info, lcmdVersion } from '../lib/info';

/** The version CMake's find_package(Torch) saw, read from the Torch_DIR the addon was built against. */
function configuredTorchVersion(torchDir: string): string | undefined {
  const file = path.join(torchDir, 'TorchConfigVersion.cmake');
  if (!fs.existsSync(file)) return undefined;
  return /set\(PACKAGE_VERSION "([^"]+)"\)/.exec(fs.readFileSync(file, 'utf8'))?.[1];
}

/** major.minor of Debian's python3-torch, the same build as the system libtorch; undefined without it. */
function debianPythonTorchVersion(): string | undefined {
  try {
    const out = execFileSync('/usr/bin/python3', ['-c', 'import torch; print(torch.__version__)'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], timeout: 60000 });
    return out.trim();
  } catch {
    return undefined;
  }
}

const majorMinor = (v: string) => v.split('.').slice(0, 2).join('.');

test('reports the libtorch version it was built against and where it came from', async () => {
  const r = await info();
  expect(r.torchVersion).toMatch(/^\d+\.\d+\.\d+/);
  // The npm install build records how the locator found libtorch (developer builds via LCMD_ADDON may not).
  if (!process.env.LCMD_ADDON || r.torchFoundVia !== '') {
    expect(r.torchFoundVia).toMatch(/^(LIBTORCH|Torch_DIR|CMAKE_PREFIX_PATH|python torch \(.+\)|system install)$/);
  }
  expect(fs.existsSync(path.join(r.torchDir, 'TorchConfig.cmake'))).toBe(true);
  const configured = configuredTorchVersion(r.torchDir);
  expect(configured).toBeDefined();
  expect(majorMinor(r.torchVersion)).toBe(majorMinor(configured!));
});

test('the system libtorch matches Debian python3-torch', async () => {
  const r = await info();
  const python = debianPythonTorchVersion();
  if (r.torchFoundVia !== 'system install' || python === undefined) {
    console.warn(`skipped: libtorch came from ${r.torchFoundVia}, Debian python torch: ${python ?? 'absent'}`);
    return;
  }
  expect(majorMinor(r.torchVersion)).toBe(majorMinor(python));
});

test('lists the libtorch libraries really mapped into this process', async () => {
  const r = await info();
  expect(r.torchLibraries.some((lib) => /libtorch_cpu\.so|libtorch\.so/.test(lib))).toBe(true);
  for (const lib of r.torchLibraries) expect(fs.existsSync(lib)).toBe(true);
  const maps = fs.readFileSync('/proc/self/maps', 'utf8');
  for (const lib of r.torchLibraries) expect(maps).toContain(lib);
});

test('names the BLAS in use and measures a GEMM rate', async () => {
  const r = await info({ measureGemm: true });
  expect(r.blasLibrary).not.toBe('');
  expect(r.gemmGflops).toBeGreaterThan(0);
  expect(r.blasIsReference).toBe(/\/blas\/libblas/.test(r.blasLibrary));
});

test('blasWarning flags the reference BLAS and slow GEMM, and stays quiet otherwise', () => {
  expect(blasWarning({ blasIsReference: true, blasLibrary: '/usr/lib/x86_64-linux-gnu/blas/libblas.so.3' })).toMatch(/libopenblas0-pthread/);
  expect(blasWarning({ blasIsReference: false, blasLibrary: 'libopenblas.so.0', gemmGflops: 5 })).toMatch(/5\.0 GFLOP\/s/);
  expect(blasWarning({ blasIsReference: false, blasLibrary: 'libopenblas.so.0', gemmGflops: 150 })).toBeUndefined();
});

test('CUDA facts are consistent', async () => {
  const r = await info();
  if (!r.cudaAvailable) expect(r.devices).toEqual([]);
  if (!r.cudaCompiled) expect(r.devices).toEqual([]);
  for (const d of r.devices) expect(d.memoryGiB).toBeGreaterThan(0);
});

test('reports the thread count that was set (one per jest worker, from test/setup-env.js)', async () => {
  const r = await info();
  expect(process.env.LCMD_NUM_THREADS).toBe('1');
  expect(r.threads).toBe(1);
  expect(native().numThreads()).toBe(1);
});

test('setNumThreads validates its argument natively', () => {
  expect(() => native().setNumThreads(0)).toThrow(expect.objectContaining({ code: 'E_RANGE' }));
  native().setNumThreads(2);
  expect(native().numThreads()).toBe(2);
  native().setNumThreads(1);
});

test('default threads: LCMD_NUM_THREADS, else the cores split between the local ranks', () => {
  const saved = { n: process.env.LCMD_NUM_THREADS, w: process.env.LOCAL_WORLD_SIZE };
  try {
    process.env.LCMD_NUM_THREADS = '3';
    expect(defaultThreadCount()).toBe(3);
    delete process.env.LCMD_NUM_THREADS;
    delete process.env.LOCAL_WORLD_SIZE;
    expect(defaultThreadCount()).toBe(os.availableParallelism());
    process.env.LOCAL_WORLD_SIZE = '2';
    expect(defaultThreadCount()).toBe(Math.max(1, Math.floor(os.availableParallelism() / 2)));
    process.env.LOCAL_WORLD_SIZE = String(os.availableParallelism() * 4);
    expect(defaultThreadCount()).toBe(1);
  } finally {
    for (const [key, value] of [['LCMD_NUM_THREADS', saved.n], ['LOCAL_WORLD_SIZE', saved.w]] as const) {
      if (value === undefined) delete process.env[key];
      else process.env[key] = value;
    }
  }
});

test('the lcmd version is the package version', () => {
  const pkg = JSON.parse(fs.readFileSync(path.join(__dirname, '..', 'package.json'), 'utf8')) as { version: string };
  expect(lcmdVersion()).toBe(pkg.version);
});

test('LCMD_NUM_THREADS bounds every pool, OpenBLAS included', async () => {
  // a child process, so the setting is the first one its libtorch sees
  const script = `const { info } = require(${JSON.stringify(path.resolve(__dirname, '..', 'dist', 'lib', 'info.js'))});
    info().then((r) => console.log(JSON.stringify(r.threadPools)));`;
  const run = (threads: string) => {
    const env: NodeJS.ProcessEnv = { ...process.env, LCMD_NUM_THREADS: threads };
    delete env.OMP_NUM_THREADS;
    delete env.OPENBLAS_NUM_THREADS;
    return JSON.parse(execFileSync(process.execPath, ['-e', script], { encoding: 'utf8', env, timeout: 60000 })) as { intraOp: number; interOp: number; openblas: number };
  };
  for (const threads of ['1', '2']) {
    const pools = run(threads);
    expect(pools.intraOp).toBe(Number(threads));
    expect(pools.interOp).toBe(Number(threads));
    // Debian's libtorch multiplies through libblas.so.3; with OpenBLAS selected its pool follows the setting too
    if (pools.openblas !== -1) expect(pools.openblas).toBe(Number(threads));
  }
});

test('OpenBLAS\'s idle workers sleep soon after a GEMM: lcmd sets OPENBLAS_THREAD_TIMEOUT before loading, unless the user did', () => {
  // a child process, so the variable is set before its OpenBLAS loads
  const script = `const { info } = require(${JSON.stringify(path.resolve(__dirname, '..', 'dist', 'lib', 'info.js'))});
    info().then((r) => console.log(JSON.stringify(r.openblasThreadTimeout)));`;
  const run = (extra: NodeJS.ProcessEnv) => {
    const env: NodeJS.ProcessEnv = { ...process.env, ...extra };
    for (const key of ['OPENBLAS_THREAD_TIMEOUT', 'GOTO_THREAD_TIMEOUT']) if (!(key in extra)) delete env[key];
    return JSON.parse(execFileSync(process.execPath, ['-e', script], { encoding: 'utf8', env, timeout: 60000 })) as string | null;
  };
  expect(run({})).toBe(String(OPENBLAS_THREAD_TIMEOUT));
  expect(run({ OPENBLAS_THREAD_TIMEOUT: '20' })).toBe('20');
  expect(run({ GOTO_THREAD_TIMEOUT: '6' })).toBe('6');
});

test('withThreadCount runs its work with that many threads in every pool, and restores the count after, also on failure', async () => {
  const addon = native();
  const before = addon.numThreads();
  const other = before === 1 ? 2 : 1;
  const seen = await withThreadCount(other, async () => ({ intraOp: addon.numThreads(), pools: addon.runtimeInfo().threadPools }));
  expect(seen.intraOp).toBe(other);
  if (seen.pools.openblas !== -1) expect(seen.pools.openblas).toBe(other);
  expect(addon.numThreads()).toBe(before);
  await expect(withThreadCount(other, async () => { throw new Error('boom'); })).rejects.toThrow('boom');
  expect(addon.numThreads()).toBe(before);
});

describe('the CPU tensor cache (native/core/base/cpu_tensor_cache.h)', () => {
  const script = path.join(__dirname, 'fixtures', 'heap-cycles.js');
  const HEAP_VARIABLES = ['LCMD_HEAP', 'LCMD_HEAP_CACHE_MIB'];
  const spawn = (extra: NodeJS.ProcessEnv, cycles: number) => {
    const env: NodeJS.ProcessEnv = { ...process.env };
    for (const key of HEAP_VARIABLES) delete env[key];
    return spawnSync(process.execPath, [script, String(cycles)], { encoding: 'utf8', env: { ...env, ...extra }, timeout: 120000 });
  };
  const run = (extra: NodeJS.ProcessEnv) => {
    const r = spawn(extra, 20);
    expect(r.status).toBe(0);
    return JSON.parse(r.stdout.trim().split('\n').pop()!) as { heap: ReturnType<ReturnType<typeof native>['runtimeInfo']>['heap']; faultsPerCycle: number };
  };

  test("freed tensor memory is reused instead of faulted in again; LCMD_HEAP=system keeps libtorch's allocator", () => {
    const cached = run({});
    const system = run({ LCMD_HEAP: 'system' });
    expect(cached.heap.mode).toBe('lcmd');
    expect(system.heap.mode).toBe('system');
    // 40 MiB is 10240 pages: libtorch's allocator maps them afresh on every cycle
    expect(system.faultsPerCycle).toBeGreaterThan(5000);
    expect(cached.faultsPerCycle).toBeLessThan(system.faultsPerCycle / 10);
    // the 20 timed cycles and 2 of the 3 warm-up ones found the block in the cache
    expect(cached.heap.hits).toBeGreaterThanOrEqual(22);
    expect(cached.heap.capacityBytes).toBeLessThanOrEqual(4 * 2 ** 30);
    expect(cached.heap.capacityBytes).toBeLessThanOrEqual(os.totalmem() / 4 + 1);
  });

  test('LCMD_HEAP_CACHE_MIB bounds what the cache holds; 0 turns it off', () => {
    const off = run({ LCMD_HEAP_CACHE_MIB: '0' });
    expect(off.heap.capacityBytes).toBe(0);
    expect(off.heap.cachedBytes).toBe(0);
    expect(off.heap.hits).toBe(0);
    expect(off.faultsPerCycle).toBeGreaterThan(5000);
    // 30 MiB cannot hold the 40 MiB block, 64 MiB can
    expect(run({ LCMD_HEAP_CACHE_MIB: '30' }).heap.hits).toBe(0);
    const fits = run({ LCMD_HEAP_CACHE_MIB: '64' });
    expect(fits.heap.capacityBytes).toBe(64 * 2 ** 20);
    expect(fits.heap.hits).toBeGreaterThanOrEqual(22);
  });

  test.each([
    [{ LCMD_HEAP: 'jemalloc' }, 'LCMD_HEAP'],
    [{ LCMD_HEAP_CACHE_MIB: '-1' }, 'LCMD_HEAP_CACHE_MIB'],
    [{ LCMD_HEAP_CACHE_MIB: '1.5' }, 'LCMD_HEAP_CACHE_MIB'],
  ])('%j is an error naming the variable', (extra, name) => {
    const r = spawn(extra, 1);
    expect(r.status).not.toBe(0);
    expect(r.stderr).toMatch(/E_CONFIG/);
    expect(r.stderr).toContain(name);
  });
});
