// The harness of the fuzz suites: every case runs in a child process under a timeout (a hang becomes a failure,
// never a stuck test run), has its own folder, and is checked for what it left behind: the folder's listing and
// the bytes of every file in it must be the same after a refused input as before.
import { spawn, spawnSync } from 'child_process';
import { createHash } from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import { childEnv, CLI } from './cli-run';

/** Every entry under `dir` (relative path, and a hash of each file's bytes), sorted. */
export function snapshot(dir: string): string[] {
  const out: string[] = [];
  const walk = (rel: string) => {
    const abs = path.join(dir, rel);
    for (const name of fs.readdirSync(abs).sort()) {
      const r = path.join(rel, name);
      const st = fs.lstatSync(path.join(dir, r));
      if (st.isDirectory()) {
        out.push(`${r}/`);
        walk(r);
      } else {
        out.push(`${r} ${createHash('sha1').update(fs.readFileSync(path.join(dir, r))).digest('hex')}`);
      }
    }
  };
  walk('');
  return out;
}

export interface TimedResult {
  status: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  timedOut: boolean;
}

/** Runs the compiled CLI in `cwd`; SIGKILL after `timeoutMs` (a hang that ignores SIGTERM still ends). */
export function runCliTimed(args: string[], options: { cwd: string; timeoutMs?: number; prefix?: string[] }): Promise<TimedResult> {
  const timeoutMs = options.timeoutMs ?? 30000;
  const [command, ...pre] = options.prefix ?? [process.execPath];
  const argv = options.prefix ? [...pre, process.execPath, CLI, ...args] : [CLI, ...args];
  return new Promise((resolve, reject) => {
    const child = spawn(command, argv, { cwd: options.cwd, env: childEnv() });
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, timeoutMs);
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (status, signal) => {
      clearTimeout(timer);
      resolve({ status, signal, stdout, stderr, timedOut });
    });
  });
}

/** What a failed CLI case should show: an LcmdError's code (exit 2), or the flag parser's refusal (exit 1). */
export type CliExpectation = { code: string } | { parser: RegExp };

/** Checks the exit code, the `[E_CODE]` line, and that no JavaScript stack trace was printed. */
export function cliOutcome(r: TimedResult, expected: CliExpectation): string | undefined {
  if (r.timedOut) return 'timed out (a hang)';
  if (/\n\s+at .*\(.*:\d+:\d+\)/.test(r.stderr)) return `printed a stack trace:\n${r.stderr}`;
  if ('code' in expected) {
    if (r.status !== 2) return `exit ${r.status} (signal ${r.signal}), expected 2 with [${expected.code}]; stderr:\n${r.stderr}`;
    const m = /lcmd: error \[(E_[A-Z_]+)\]/.exec(r.stderr);
    if (!m || m[1] !== expected.code) return `expected [${expected.code}], got ${m ? `[${m[1]}]` : 'no error code'}; stderr:\n${r.stderr}`;
    return undefined;
  }
  if (r.status !== 1) return `exit ${r.status}, expected 1 (a parser error); stderr:\n${r.stderr}`;
  if (!expected.parser.test(r.stderr)) return `stderr does not match ${expected.parser}:\n${r.stderr}`;
  return undefined;
}

export interface ApiCase {
  id: string;
  /** the case's folder (its inputs are there); `dir` in the code */
  dir: string;
  /** body of an async function of (lib, dir, path, fs); lib is dist/lib/index.js */
  code: string;
}

export interface ApiResult {
  id: string;
  ok?: boolean;
  name?: string;
  code?: string;
  message?: string;
  /** the child timed out or died before this case finished */
  lost?: string;
}

/**
 * Runs the cases one after the other in one child process (one addon load for all), under `timeoutMs` in total.
 * Cases the child did not finish (a hang, a crash) come back with `lost` saying which case it was on.
 */
export function runApiCases(cases: ApiCase[], workDir: string, timeoutMs: number): Map<string, ApiResult> {
  const input = path.join(workDir, `api-cases-${process.pid}.json`);
  fs.writeFileSync(input, JSON.stringify(cases));
  const r = spawnSync(process.execPath, [path.join(__dirname, 'fuzz-child.js'), input], { env: childEnv(), encoding: 'utf8', timeout: timeoutMs, killSignal: 'SIGKILL', maxBuffer: 64 * 1024 * 1024 });
  fs.rmSync(input, { force: true });
  const results = new Map<string, ApiResult>();
  for (const line of (r.stdout ?? '').split('\n')) {
    if (line.trim() === '') continue;
    const parsed = JSON.parse(line) as ApiResult;
    results.set(parsed.id, parsed);
  }
  const started = [...(r.stderr ?? '').matchAll(/^start (.*)$/gm)].map((m) => m[1]);
  const last = started[started.length - 1];
  const why = r.error ? `the child timed out (${r.error.message}) during case ${last}` : `the child exited (${r.status}, ${r.signal}) during case ${last}: ${(r.stderr ?? '').slice(-2000)}`;
  for (const c of cases) if (!results.has(c.id)) results.set(c.id, { id: c.id, lost: why });
  return results;
}

/** undefined when the API case failed with `code`; otherwise what happened instead. */
export function apiOutcome(r: ApiResult | undefined, code: string): string | undefined {
  if (!r) return 'no result';
  if (r.lost) return r.lost;
  if (r.ok) return `succeeded, expected ${code}`;
  if (r.name !== 'LcmdError' && r.name !== 'AbortError') return `threw a ${r.name} (${r.message}), expected an LcmdError ${code}`;
  if (r.code !== code) return `got ${r.code} (${r.message}), expected ${code}`;
  return undefined;
}
