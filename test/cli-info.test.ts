// `lcmd info` run as a user would: the compiled CLI in dist/ (built by `npm ci` through "prepare",
// or by `npx tsc -p tsconfig.json`), in a child process.
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';

const ROOT = path.resolve(__dirname, '..');
const CLI = path.join(ROOT, 'dist', 'bin', 'lcmd.js');

function runCli(args: string[]): { status: number | null; stdout: string; stderr: string } {
  if (!fs.existsSync(CLI)) throw new Error(`${CLI} is missing: build the TypeScript first (npx tsc -p tsconfig.json)`);
  const r = spawnSync(process.execPath, [CLI, ...args], { cwd: ROOT, encoding: 'utf8', timeout: 60000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

function torchConfigVersion(torchDir: string): string {
  const text = fs.readFileSync(path.join(torchDir, 'TorchConfigVersion.cmake'), 'utf8');
  return /set\(PACKAGE_VERSION "([^"]+)"\)/.exec(text)![1];
}

const majorMinor = (v: string) => v.split('.').slice(0, 2).join('.');

test('lcmd info --json parses and reports the libtorch version', () => {
  const r = runCli(['info', '--json']);
  expect(r.status).toBe(0);
  const report = JSON.parse(r.stdout) as Record<string, unknown>;
  const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { version: string };
  expect(report.lcmdVersion).toBe(pkg.version);
  expect(report.node).toBe(process.version);
  expect(typeof report.torchVersion).toBe('string');
  expect(majorMinor(report.torchVersion as string)).toBe(majorMinor(torchConfigVersion(report.torchDir as string)));
  expect(typeof report.cudaAvailable).toBe('boolean');
  expect(Array.isArray(report.devices)).toBe(true);
  expect(Number.isInteger(report.threads) && (report.threads as number) >= 1).toBe(true);
  expect(report.gemmGflops as number).toBeGreaterThan(0);
  expect(typeof report.blasLibrary).toBe('string');
});

test('lcmd info --json --no-gemm skips the measurement', () => {
  const r = runCli(['info', '--json', '--no-gemm']);
  expect(r.status).toBe(0);
  expect(JSON.parse(r.stdout)).not.toHaveProperty('gemmGflops');
});

test('lcmd info prints the versions, the libtorch origin, BLAS, CUDA and threads for people', () => {
  const r = runCli(['info']);
  expect(r.status).toBe(0);
  const json = JSON.parse(runCli(['info', '--json', '--no-gemm']).stdout) as { torchVersion: string; threads: number };
  expect(r.stdout).toMatch(/^lcmd\s+\d+\.\d+\.\d+/m);
  expect(r.stdout).toContain(`libtorch       ${json.torchVersion}`);
  expect(r.stdout).toMatch(/^BLAS\s+.+GFLOP\/s/m);
  expect(r.stdout).toMatch(/^CUDA\s+/m);
  expect(r.stdout).toMatch(new RegExp(`^threads\\s+${json.threads} intra-op`, 'm'));
  expect(r.stdout).toMatch(/^heap\s+CPU tensor cache, capacity \d+ MiB/m);
});

test('an unknown command exits non-zero with a usage message', () => {
  const r = runCli(['no-such-command']);
  expect(r.status).not.toBe(0);
  expect(r.stderr).toMatch(/unknown command/);
});
