// SIGINT / SIGTERM during `lcmd train` write a valid checkpoint and exit with 130 / 143, and `--resume` continues
// exactly: the step counter goes on, and the final weights equal those of a run that was never interrupted.
import * as fs from 'fs';
import * as path from 'path';
import { readSafetensors } from '../lib/safetensors';
import { runCli, startCli, tinyTokenData, TINY_MODEL, tmpDir } from './cli-run';

let dir: string;
let data: ReturnType<typeof tinyTokenData>;

beforeAll(() => {
  dir = tmpDir('lcmd-signal-');
  data = tinyTokenData(dir, { n: 40, h: 3, w: 3, vocab: 16, classes: 2 });
});

afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

const trainArgs = (out: string, steps: number) => [
  'train', ...TINY_MODEL, '--data', data.tokens, '--labels', data.labels, '--out', out, '--steps', String(steps), '--batch-size', '8',
  '--log-every', '1', '--checkpoint-every', '0', '--seed', '11',
];

function logEntries(out: string): { type: string; step: number; loss?: number }[] {
  const file = path.join(out, 'log.jsonl');
  if (!fs.existsSync(file)) return [];
  return fs.readFileSync(file, 'utf8').split('\n').filter((l) => l.trim() !== '').map((l) => JSON.parse(l) as { type: string; step: number; loss?: number });
}

/** Resolves once the run's log shows at least `steps` steps. */
async function waitForSteps(out: string, steps: number, timeoutMs = 60000): Promise<void> {
  const started = Date.now();
  while (Date.now() - started < timeoutMs) {
    if (logEntries(out).some((e) => e.type === 'step' && e.step >= steps)) return;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`the run in ${out} did not reach step ${steps} within ${timeoutMs} ms`);
}

async function stepsInCheckpoint(file: string): Promise<number> {
  const { metadata, tensors } = await readSafetensors(file);
  for (const t of Object.values(tensors)) t.dispose();
  return (JSON.parse(metadata['lcmd.state']) as { steps: number }).steps;
}

test('SIGINT writes a valid checkpoint, exits 130, and --resume ends where an uninterrupted run ends', async () => {
  const interrupted = path.join(dir, 'interrupted');
  const { child, done } = startCli(trainArgs(interrupted, 100000));
  await waitForSteps(interrupted, 3);
  child.kill('SIGINT');
  const r = await done;
  expect(r.stderr).toMatch(/SIGINT received: finishing the current step and writing a checkpoint/);
  expect(r.status).toBe(130);
  const checkpoint = path.join(interrupted, 'checkpoint.safetensors');
  const stoppedAt = await stepsInCheckpoint(checkpoint);
  expect(stoppedAt).toBeGreaterThanOrEqual(3);
  const log = logEntries(interrupted);
  expect(log[log.length - 1]).toEqual(expect.objectContaining({ type: 'interrupted', step: stoppedAt }));
  expect(log.filter((e) => e.type === 'step').map((e) => e.step)).toEqual(Array.from({ length: stoppedAt }, (_, i) => i + 1));
  expect(r.stdout).toMatch(new RegExp(`interrupted at step ${stoppedAt}`));

  // resume to 4 steps beyond the interruption; the reference run trains the same number of steps in one go
  const target = stoppedAt + 4;
  const resumed = await runCli(['train', '--resume', checkpoint, '--steps', String(target), '--no-blas-check']);
  expect(resumed.stderr).not.toMatch(/error/i);
  expect(resumed.status).toBe(0);
  expect(resumed.stdout).toMatch(new RegExp(`resuming .* at step ${stoppedAt}`));
  expect(await stepsInCheckpoint(checkpoint)).toBe(target);
  const afterLog = logEntries(interrupted).filter((e) => e.type === 'step').map((e) => e.step);
  expect(afterLog).toEqual(Array.from({ length: target }, (_, i) => i + 1));

  const reference = path.join(dir, 'reference');
  const ref = await runCli(trainArgs(reference, target));
  expect(ref.status).toBe(0);
  // the same losses step by step (same data order, same noise) ...
  const losses = (out: string) => logEntries(out).filter((e) => e.type === 'step').map((e) => e.loss);
  expect(losses(interrupted)).toEqual(losses(reference));
  // ... and the same weights, optimizer state and EMAs at the end
  const a = await readSafetensors(checkpoint);
  const b = await readSafetensors(path.join(reference, 'checkpoint.safetensors'));
  expect(Object.keys(a.tensors).sort()).toEqual(Object.keys(b.tensors).sort());
  for (const name of Object.keys(a.tensors)) {
    expect([name, Array.from(a.tensors[name].toTypedArray() as Float32Array)]).toEqual([name, Array.from(b.tensors[name].toTypedArray() as Float32Array)]);
  }
  for (const t of [...Object.values(a.tensors), ...Object.values(b.tensors)]) t.dispose();
});

test('SIGTERM also checkpoints and exits 143', async () => {
  const out = path.join(dir, 'sigterm');
  const { child, done } = startCli(trainArgs(out, 100000));
  await waitForSteps(out, 2);
  child.kill('SIGTERM');
  const r = await done;
  expect(r.status).toBe(143);
  const stoppedAt = await stepsInCheckpoint(path.join(out, 'checkpoint.safetensors'));
  expect(stoppedAt).toBeGreaterThanOrEqual(2);
  expect(logEntries(out).pop()).toEqual(expect.objectContaining({ type: 'interrupted', step: stoppedAt }));
});

test('resuming a finished run says so and trains no further', async () => {
  const out = path.join(dir, 'finished');
  expect((await runCli(trainArgs(out, 2))).status).toBe(0);
  const r = await runCli(['train', '--resume', '--out', out, '--no-blas-check']);
  expect(r.status).toBe(0);
  expect(r.stdout).toMatch(/already taken 2 steps \(target 2\)/);
  expect(await stepsInCheckpoint(path.join(out, 'checkpoint.safetensors'))).toBe(2);
});
