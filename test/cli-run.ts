// Helpers for the CLI tests: run the compiled CLI (dist/bin/lcmd.js) in child processes, and write tiny .npy files
// with an independent writer (not lib/npy.ts), so the files the CLI reads are made without the code under test.
import { spawn, spawnSync, type ChildProcess } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';

export const ROOT = path.resolve(__dirname, '..');
export const CLI = path.join(ROOT, 'dist', 'bin', 'lcmd.js');

export interface CliResult {
  status: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

function checkBuilt(): void {
  if (!fs.existsSync(CLI)) throw new Error(`${CLI} is missing: build the TypeScript first (npx tsc -p tsconfig.json)`);
}

/** The child's environment: one libtorch thread (as test/setup-env.js), LCMD_ADDON passed on only when set here. */
export function childEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, LCMD_NUM_THREADS: '1', OMP_WAIT_POLICY: 'PASSIVE', ...extra };
  for (const key of ['RANK', 'WORLD_SIZE', 'LOCAL_RANK', 'LOCAL_WORLD_SIZE', 'MASTER_ADDR', 'MASTER_PORT']) delete env[key];
  return env;
}

export function runCliSync(args: string[], options: { cwd?: string; timeout?: number } = {}): CliResult {
  checkBuilt();
  const r = spawnSync(process.execPath, [CLI, ...args], { cwd: options.cwd ?? ROOT, env: childEnv(), encoding: 'utf8', timeout: options.timeout ?? 120000 });
  return { status: r.status, signal: r.signal, stdout: r.stdout, stderr: r.stderr };
}

export function runCli(args: string[], options: { cwd?: string } = {}): Promise<CliResult> {
  checkBuilt();
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], { cwd: options.cwd ?? ROOT, env: childEnv() });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (status, signal) => resolve({ status, signal, stdout, stderr }));
  });
}

/** Starts the CLI and hands back the child, for tests that signal it. */
export function startCli(args: string[]): { child: ChildProcess; done: Promise<CliResult> } {
  checkBuilt();
  const child = spawn(process.execPath, [CLI, ...args], { cwd: ROOT, env: childEnv() });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const done = new Promise<CliResult>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (status, signal) => resolve({ status, signal, stdout, stderr }));
  });
  return { child, done };
}

/** Runs `tasks` with at most `limit` in flight. */
export async function pool<T>(tasks: (() => Promise<T>)[], limit: number): Promise<T[]> {
  const results: T[] = new Array(tasks.length);
  let next = 0;
  const worker = async () => {
    while (next < tasks.length) {
      const i = next++;
      results[i] = await tasks[i]();
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, tasks.length) }, worker));
  return results;
}

type NpyType = '<i4' | '<i8' | '|u1';

/** A version 1.0 .npy file: magic, header length, a Python dict literal padded to 64 bytes, then the data. */
export function writeNpyFile(file: string, values: ArrayLike<number>, shape: number[], descr: NpyType): void {
  const dims = shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(', ')})`;
  let header = `{'descr': '${descr}', 'fortran_order': False, 'shape': ${dims}, }`;
  const unpadded = 10 + header.length + 1;
  header += ' '.repeat((64 - (unpadded % 64)) % 64) + '\n';
  const prefix = Buffer.alloc(10);
  Buffer.from([0x93]).copy(prefix, 0);
  prefix.write('NUMPY', 1, 'latin1');
  prefix[6] = 1;
  prefix[7] = 0;
  prefix.writeUInt16LE(header.length, 8);
  const width = descr === '<i8' ? 8 : descr === '<i4' ? 4 : 1;
  const body = Buffer.alloc(values.length * width);
  for (let i = 0; i < values.length; i++) {
    if (width === 8) body.writeBigInt64LE(BigInt(values[i]), i * 8);
    else if (width === 4) body.writeInt32LE(values[i], i * 4);
    else body.writeUInt8(values[i], i);
  }
  fs.writeFileSync(file, Buffer.concat([prefix, Buffer.from(header, 'latin1'), body]));
}

/** Reads an integer .npy file written by anyone (little-endian, C order): its shape and values. */
export function readNpyFile(file: string): { shape: number[]; values: number[]; descr: string } {
  const buf = fs.readFileSync(file);
  const major = buf[6];
  const headerLength = major === 1 ? buf.readUInt16LE(8) : buf.readUInt32LE(8);
  const start = major === 1 ? 10 : 12;
  const header = buf.subarray(start, start + headerLength).toString('latin1');
  const descr = /'descr':\s*'([^']+)'/.exec(header)![1];
  const shape = /'shape':\s*\(([^)]*)\)/.exec(header)![1].split(',').map((s) => s.trim()).filter((s) => s !== '').map(Number);
  const data = buf.subarray(start + headerLength);
  const count = shape.reduce((a, b) => a * b, 1);
  const values: number[] = [];
  const readers: Record<string, [number, (o: number) => number]> = {
    '|u1': [1, (o) => data.readUInt8(o)],
    '<u2': [2, (o) => data.readUInt16LE(o)],
    '<i2': [2, (o) => data.readInt16LE(o)],
    '<i4': [4, (o) => data.readInt32LE(o)],
    '<i8': [8, (o) => Number(data.readBigInt64LE(o))],
  };
  const reader = readers[descr];
  if (!reader) throw new Error(`readNpyFile: unsupported dtype ${descr} in ${file}`);
  for (let i = 0; i < count; i++) values.push(reader[1](i * reader[0]));
  return { shape, values, descr };
}

/** A small deterministic generator (LCG), so test data does not depend on Math.random. */
export function lcg(seed: number): () => number {
  let state = seed >>> 0;
  return () => (state = (Math.imul(state, 1664525) + 1013904223) >>> 0) / 2 ** 32;
}

/**
 * Tiny class-structured token data: n grids of h x w ids below `vocab`, class c = i % classes. Each class has its own
 * base pattern and about a quarter of the positions are resampled, so the classes differ and ids vary.
 */
export function tinyTokenData(dir: string, options: { n: number; h: number; w: number; vocab: number; classes: number; seed?: number; maxId?: number }): { tokens: string; labels: string; ids: number[]; classes: number[] } {
  const next = lcg(options.seed ?? 7);
  const { n, h, w, vocab, classes } = options;
  const top = options.maxId ?? vocab - 1;
  const patterns = Array.from({ length: classes }, () => Array.from({ length: h * w }, () => Math.floor(next() * (top + 1))));
  const ids: number[] = [];
  const labels: number[] = [];
  for (let i = 0; i < n; i++) {
    const c = i % classes;
    labels.push(c);
    for (let p = 0; p < h * w; p++) ids.push(next() < 0.25 ? Math.floor(next() * (top + 1)) : patterns[c][p]);
  }
  const tokens = path.join(dir, 'tokens.npy');
  const labelsFile = path.join(dir, 'labels.npy');
  writeNpyFile(tokens, ids, [n, h, w], '<i4');
  writeNpyFile(labelsFile, labels, [n], '<i8');
  return { tokens, labels: labelsFile, ids, classes: labels };
}

/** The flags of a tiny model that trains in milliseconds per step. */
export const TINY_MODEL = ['--preset', 'cm-data-small', '--layers', '1', '--hidden', '32', '--heads', '2', '--embed-dim', '8', '--vocab-size', '16', '--lr-schedule', 'constant', '--no-blas-check'];

export function tmpDir(prefix: string): string {
  return fs.mkdtempSync(path.join(require('os').tmpdir(), prefix));
}
