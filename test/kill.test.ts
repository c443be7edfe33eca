// Kill tests: `lcmd train` is SIGKILLed at seeded random moments, some of them while it writes a checkpoint (it
// checkpoints every step), then resumed, several times over. Every resume must succeed, the torn temporary files of
// killed processes must be gone once the next run has started, and the final checkpoint must hold exactly the
// tensors of a run that was never interrupted.
import type { ChildProcess } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { readSafetensors } from '../lib/safetensors';
import { lcg, startCli, tmpDir, writeNpyFile, type CliResult } from './cli-run';

const STEPS = 40;
// a model large enough that a checkpoint takes a few milliseconds to write (a window to be killed in)
const MODEL = ['--preset', 'cm-data-small', '--layers', '2', '--hidden', '64', '--embed-dim', '16', '--heads', '2', '--vocab-size', '16', '--lr-schedule', 'constant', '--no-blas-check'];

let dir: string;
let tokens: string;

beforeAll(() => {
  dir = tmpDir('lcmd-kill-');
  tokens = path.join(dir, 'tokens.npy');
  const next = lcg(5);
  writeNpyFile(tokens, Array.from({ length: 48 * 16 }, () => Math.floor(next() * 16)), [48, 4, 4], '<i4');
});

afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

const newRun = (out: string) => ['train', ...MODEL, '--data', tokens, '--out', out, '--steps', String(STEPS), '--batch-size', '8', '--checkpoint-every', '1', '--log-every', '1', '--seed', '3'];
const resumeRun = (out: string) => ['train', '--resume', path.join(out, 'checkpoint.safetensors'), '--no-blas-check'];

const tempFiles = (out: string) => (fs.existsSync(out) ? fs.readdirSync(out).filter((n) => /\.tmp-\d+$/.test(n)) : []);

/** Every tensor's bytes, and the metadata (step counter, optimizer and random state, data position). */
async function contents(file: string): Promise<{ tensors: Record<string, Buffer>; metadata: Record<string, string> }> {
  const { tensors, metadata } = await readSafetensors(file);
  const out: Record<string, Buffer> = {};
  for (const [name, t] of Object.entries(tensors)) {
    const a = t.toTypedArray();
    out[name] = Buffer.from(a.buffer, a.byteOffset, a.byteLength);
    t.dispose();
  }
  return { tensors: out, metadata };
}

/** Resolves when the run has printed its first line (it is past start-up and the folder's clean-up), or has exited. */
function started(child: ChildProcess, exited: () => boolean): Promise<void> {
  return new Promise((resolve) => {
    let text = '';
    const timer = setInterval(() => exited() && done(), 50);
    const done = () => {
      clearInterval(timer);
      child.stdout!.off('data', onData);
      resolve();
    };
    const onData = (d: Buffer) => {
      text += d.toString();
      if (/^(training|resuming)/m.test(text)) done();
    };
    child.stdout!.on('data', onData);
  });
}

/** SIGKILLs `child` as soon as it has a checkpoint temporary file open (polled), or when it exits first. */
function killDuringCheckpointWrite(out: string, pid: number, kill: () => void, exited: () => boolean): Promise<boolean> {
  const torn = `checkpoint.safetensors.tmp-${pid}`;
  return new Promise((resolve) => {
    const poll = () => {
      if (exited()) return resolve(false);
      if (fs.existsSync(out) && fs.readdirSync(out).includes(torn)) {
        kill();
        return resolve(true);
      }
      setImmediate(poll);
    };
    poll();
  });
}

test('SIGKILL at random moments and during checkpoint writes: every resume succeeds, no torn file stays, the result is bit-identical', async () => {
  const reference = path.join(dir, 'reference');
  const straight = await startCli(newRun(reference)).done;
  expect(straight.stderr).not.toMatch(/error/);
  expect(straight.status).toBe(0);

  const out = path.join(dir, 'killed');
  const next = lcg(20240611);
  const deadTemps: string[] = [];
  let caughtWrites = 0;
  let kills = 0;
  for (let round = 0; round < 6; round++) {
    const args = fs.existsSync(path.join(out, 'checkpoint.safetensors')) ? resumeRun(out) : newRun(out);
    const { child, done } = startCli(args);
    let exited = false;
    const finished = done.then((r) => ((exited = true), r));
    // odd rounds wait for a checkpoint write; even ones kill at a random moment after start-up (which can take
    // seconds on a busy machine, so the delay counts from the run's first line)
    if (round % 2 === 1) {
      if (await killDuringCheckpointWrite(out, child.pid!, () => child.kill('SIGKILL'), () => exited)) caughtWrites++;
    } else {
      await started(child, () => exited);
      await new Promise((r) => setTimeout(r, Math.floor(next() * 400)));
      if (!exited) child.kill('SIGKILL');
    }
    const r: CliResult = await finished;
    // a run either ended by itself (exit 0) or was killed by the test; it never failed
    if (r.signal !== 'SIGKILL') {
      expect(r.stderr).not.toMatch(/error/);
      expect(r.status).toBe(0);
    } else {
      kills++;
    }
    // once this run had started (printed its header), the torn files of the killed runs before it were gone
    if (/^(training|resuming)/m.test(r.stdout)) for (const name of deadTemps) expect(fs.existsSync(path.join(out, name))).toBe(false);
    if (r.signal === 'SIGKILL') deadTemps.push(...tempFiles(out).filter((n) => n.endsWith(`.tmp-${child.pid}`)));
  }

  // the last resume runs to the end
  const last = await startCli(fs.existsSync(path.join(out, 'checkpoint.safetensors')) ? resumeRun(out) : newRun(out)).done;
  expect(last.stderr).not.toMatch(/error/);
  expect(last.status).toBe(0);
  expect(tempFiles(out)).toEqual([]);
  expect(kills).toBeGreaterThanOrEqual(3);
  // at least one kill tore a checkpoint, and its file was removed by the next start
  expect(caughtWrites).toBeGreaterThanOrEqual(1);
  expect(deadTemps.some((n) => n.startsWith('checkpoint.safetensors.tmp-'))).toBe(true);

  const expected = await contents(path.join(reference, 'checkpoint.safetensors'));
  const actual = await contents(path.join(out, 'checkpoint.safetensors'));
  expect(Object.keys(actual.tensors).sort()).toEqual(Object.keys(expected.tensors).sort());
  const differing = Object.keys(expected.tensors).filter((name) => !expected.tensors[name].equals(actual.tensors[name]));
  expect(differing).toEqual([]);
  expect(actual.metadata).toEqual(expected.metadata);
}, 120000);
