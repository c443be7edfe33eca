/**
 * `lcmd bench`: runs the benchmark scripts of bench/ (training, sampling, distributed), each in a fresh process one
 * after the other so they do not share cores, and collects their JSON reports into one file.
 */
import { spawn } from 'child_process';
import { Command } from 'commander';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { device, listOf, oneOf, outputFile, usage } from '../cli-options';
import { interruptible } from '../interrupt';
import { LcmdError } from '../../lib/errors';
import { writeFileAtomic } from '../../lib/atomic-write';
import { ensureParentFolder } from '../../lib/folders';
import { checkOutputFile } from '../../lib/output-targets';
import { lcmdVersion } from '../../lib/info';

export const BENCHMARKS = ['training', 'sampling', 'distributed'] as const;
export type BenchmarkName = (typeof BENCHMARKS)[number];

/** The compiled benchmark script: dist/bench/NAME.js next to dist/bin/. */
export function benchmarkScript(name: BenchmarkName): string {
  return path.resolve(__dirname, '..', '..', 'bench', `${name}.js`);
}

interface BenchResult {
  name: BenchmarkName;
  ok: boolean;
  seconds: number;
  report?: unknown;
  error?: string;
}

/** Runs one script with `--device D --out tmp.json`; its output streams to stderr as it comes. */
function runScript(name: BenchmarkName, dev: string, signal: AbortSignal): Promise<BenchResult> {
  const script = benchmarkScript(name);
  const tmp = path.join(os.tmpdir(), `lcmd-bench-${name}-${process.pid}.json`);
  const started = Date.now();
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [script, '--device', dev, '--out', tmp], { stdio: ['ignore', 'pipe', 'pipe'] });
    const onAbort = () => child.kill('SIGINT');
    signal.addEventListener('abort', onAbort, { once: true });
    let stderrTail = '';
    child.stdout.on('data', () => undefined); // the report is read from the file
    child.stderr.on('data', (chunk: Buffer) => {
      process.stderr.write(chunk);
      stderrTail = (stderrTail + chunk.toString()).slice(-2000);
    });
    child.on('close', (code, sig) => {
      signal.removeEventListener('abort', onAbort);
      const seconds = (Date.now() - started) / 1000;
      let report: unknown;
      try {
        if (fs.existsSync(tmp)) report = JSON.parse(fs.readFileSync(tmp, 'utf8'));
      } catch {
        report = undefined;
      } finally {
        fs.rmSync(tmp, { force: true });
      }
      if (code === 0 && report !== undefined) resolve({ name, ok: true, seconds, report });
      else resolve({ name, ok: false, seconds, error: `${sig ? `killed by ${sig}` : `exited with code ${code}`}${report === undefined ? ', no JSON report' : ''}: ${stderrTail.trim().split('\n').slice(-3).join(' | ')}` });
    });
  });
}

export function registerBench(program: Command): void {
  program
    .command('bench')
    .description('run the benchmarks of bench/ (training images/s, sampling images/s, data-parallel scaling) and write one JSON report')
    .option('--which <list>', `comma-separated: ${BENCHMARKS.join(', ')} (default all)`, listOf(oneOf(BENCHMARKS)))
    .option('--out <file.json>', 'write the report here (default: print it)', outputFile)
    .option('--device <name>', 'cpu, cuda or cuda:N (default cpu)', device)
    .option('--force', 'replace --out even if it holds another kind of file')
    .action(async (opts: { which?: BenchmarkName[]; out?: string; device?: string; force?: boolean }) => {
      // the report is written after minutes of work: check where it goes first
      if (opts.out) checkOutputFile(opts.out, { flag: '--out', kind: 'json', force: opts.force });
      const which = [...new Set(opts.which ?? BENCHMARKS)];
      const missing = which.filter((name) => !fs.existsSync(benchmarkScript(name)));
      usage(missing.length === 0, `no compiled benchmark script for ${missing.join(', ')} (looked for ${missing.map(benchmarkScript).join(', ')}); build with npx tsc -p tsconfig.json, or pick --which from the others`);
      const dev = opts.device ?? 'cpu';
      const results: BenchResult[] = [];
      // an interrupt stops the script that runs; the report keeps what finished
      const { interrupted } = await interruptible(async (signal) => {
        for (const name of which) {
          if (signal.aborted) break;
          process.stderr.write(`lcmd bench: ${name} ...\n`);
          const r = await runScript(name, dev, signal);
          process.stderr.write(`lcmd bench: ${name} ${r.ok ? 'done' : 'FAILED'} in ${r.seconds.toFixed(1)} s\n`);
          results.push(r);
        }
      });
      const report = {
        lcmdVersion: lcmdVersion(),
        date: new Date().toISOString(),
        device: dev,
        cores: os.availableParallelism(),
        benchmarks: Object.fromEntries(results.filter((r) => r.ok).map((r) => [r.name, { seconds: r.seconds, ...(r.report as object) }])),
        failures: results.filter((r) => !r.ok).map((r) => ({ name: r.name, error: r.error })),
      };
      const json = JSON.stringify(report, null, 2) + '\n';
      if (opts.out) {
        ensureParentFolder(opts.out, '--out');
        writeFileAtomic(opts.out, json, '--out');
        console.log(`wrote ${path.resolve(opts.out)}`);
      } else {
        process.stdout.write(json);
      }
      if (!interrupted && report.failures.length > 0) throw new LcmdError(`${report.failures.length} benchmark(s) failed: ${report.failures.map((f) => `${f.name} (${f.error})`).join('; ')}`, 'E_NATIVE');
    });
}
