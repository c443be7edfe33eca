// TrainingRun, the library object behind `lcmd train`: resuming is one call (the data position and the schedule come
// from the checkpoint), it continues bit for bit where an uninterrupted run would be, and log.jsonl is cut back to
// the checkpoint's step.
import * as fs from 'fs';
import * as path from 'path';
import { PRESETS } from '../lib/presets';
import { readSafetensors, writeSafetensors } from '../lib/safetensors';
import { Tensor } from '../lib/tensor';
import { Trainer } from '../lib/trainer';
import { TrainingRun, type TrainingRunOptions } from '../lib/training-run';
import { tinyTokenData, tmpDir } from './cli-run';

const STEPS = 6;
let dir: string;
let data: ReturnType<typeof tinyTokenData>;

function options(out: string, steps: number): TrainingRunOptions {
  return {
    out, data: data.tokens, labels: data.labels, steps, batchSize: 8, heldout: 8, logEvery: 2, checkpointEvery: 2, evalEvery: 3,
    preset: 'cm-data-small', model: { layers: 1, hidden: 32, heads: 2, embedDim: 8, vocabSize: 16 }, train: { seed: 3, lrSchedule: 'constant' },
  };
}

function logEntries(out: string): Record<string, unknown>[] {
  return fs.readFileSync(path.join(out, 'log.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
}

/** The step lines without their timings, which differ from run to run. */
function stepLines(out: string): Record<string, unknown>[] {
  return logEntries(out).filter((e) => e.type === 'step').map(({ seconds, imagesPerSecond, ...rest }) => rest);
}

async function tensorsOf(file: string): Promise<Record<string, number[]>> {
  const { tensors } = await readSafetensors(file);
  const out: Record<string, number[]> = {};
  for (const [name, t] of Object.entries(tensors)) {
    out[name] = Array.from(t.toTypedArray() as ArrayLike<number>, Number);
    t.dispose();
  }
  return out;
}

async function trainToEnd(run: TrainingRun, events: Parameters<TrainingRun['train']>[0] = {}) {
  try {
    return await run.train(events);
  } finally {
    run.dispose();
  }
}

beforeAll(() => {
  dir = tmpDir('lcmd-training-run-');
  data = tinyTokenData(dir, { n: 56, h: 4, w: 4, vocab: 16, classes: 3 });
});

afterAll(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

test('a run stopped at step 2 and resumed with one call ends where a straight run ends', async () => {
  const straight = path.join(dir, 'straight');
  const logged: unknown[] = [];
  const evaluations: { step: number; final: boolean }[] = [];
  const checkpoints: number[] = [];
  const outcome = await trainToEnd(await TrainingRun.open(options(straight, STEPS)), {
    onLog: (entry) => logged.push(entry),
    onEvaluation: ({ step, final }) => evaluations.push({ step, final }),
    onCheckpoint: ({ step }) => checkpoints.push(step),
  });
  expect(outcome).toMatchObject({ steps: STEPS, stepsThisRun: STEPS, interrupted: false });
  expect(logged).toEqual(logEntries(straight).filter((e) => e.type === 'step'));
  expect(evaluations).toEqual([{ step: 3, final: false }, { step: 6, final: false }]);
  expect(checkpoints).toEqual([2, 4, 6]);
  const config = JSON.parse(fs.readFileSync(path.join(straight, 'config.json'), 'utf8')) as { run: unknown; data: Record<string, unknown> };
  expect(config.run).toEqual({ steps: STEPS, logEvery: 2, checkpointEvery: 2, evalEvery: 3 });
  expect(config.data).toMatchObject({ tokens: path.resolve(data.tokens), size: 56, batchSize: 8, seed: 3, heldout: 8 });

  const split = path.join(dir, 'split');
  expect((await trainToEnd(await TrainingRun.open(options(split, 2)))).steps).toBe(2);
  // a line of a step after the checkpoint, as a crash between checkpoints leaves behind
  fs.appendFileSync(path.join(split, 'log.jsonl'), JSON.stringify({ type: 'step', step: 3, loss: -1 }) + '\n');
  const resumed = await TrainingRun.resume(path.join(split, 'checkpoint.safetensors'), { steps: STEPS });
  expect(resumed.startStep).toBe(2);
  expect(resumed.schedule).toEqual({ steps: STEPS, logEvery: 2, checkpointEvery: 2, evalEvery: 3 });
  expect(logEntries(split).some((e) => e.loss === -1)).toBe(false);
  const finalEvaluations: boolean[] = [];
  expect(await trainToEnd(resumed, { onEvaluation: ({ final }) => finalEvaluations.push(final) })).toMatchObject({ steps: STEPS, stepsThisRun: STEPS - 2 });
  expect(finalEvaluations).toEqual([false, false]);

  // the same data order and noise step by step, and the same weights, EMAs and optimizer state at the end
  // (a resumed run also logs its first step, 3, so the windows of steps 3 and 4 differ from the straight run's)
  const byStep = (out: string) => new Map(stepLines(out).map((e) => [e.step, e]));
  expect([...byStep(split).keys()]).toEqual([1, 2, 3, 4, 6]);
  for (const step of [1, 2, 6]) expect(byStep(split).get(step)).toEqual(byStep(straight).get(step));
  expect(await tensorsOf(path.join(split, 'checkpoint.safetensors'))).toEqual(await tensorsOf(path.join(straight, 'checkpoint.safetensors')));
});

test('a finished run takes no step and leaves its folder as it was', async () => {
  const out = path.join(dir, 'finished');
  await trainToEnd(await TrainingRun.open(options(out, 2)));
  const log = fs.readFileSync(path.join(out, 'log.jsonl'), 'utf8');
  const run = await TrainingRun.open({ out, resume: true });
  expect(run.finished).toBe(true);
  expect(await trainToEnd(run)).toMatchObject({ steps: 2, stepsThisRun: 0, interrupted: false });
  expect(fs.readFileSync(path.join(out, 'log.jsonl'), 'utf8')).toBe(log);
});

test('an aborted signal stops at a step boundary after a checkpoint', async () => {
  const out = path.join(dir, 'aborted');
  const controller = new AbortController();
  const run = await TrainingRun.open({ ...options(out, 100), checkpointEvery: 0, signal: controller.signal });
  const outcome = await trainToEnd(run, { onStep: ({ result }) => result.step === 3 && controller.abort() });
  expect(outcome).toMatchObject({ steps: 3, interrupted: true });
  expect(logEntries(out).pop()).toMatchObject({ type: 'interrupted', step: 3 });
  expect(logEntries(out).filter((e) => e.type === 'checkpoint').map((e) => e.step)).toEqual([3]);
});

test('model options are refused on resume, naming them', async () => {
  const out = path.join(dir, 'refused');
  await trainToEnd(await TrainingRun.open(options(out, 2)));
  await expect(TrainingRun.resume(path.join(out, 'checkpoint.safetensors'), { model: { layers: 2 } } as never)).rejects.toMatchObject({
    code: 'E_USAGE',
    message: expect.stringMatching(/these flags would change it: layers/),
  });
});

test('a preset measured with its embeddings frozen at the codebook says so when no --codebook is given, and freezes them there when one is', async () => {
  expect(PRESETS.small.embeddingsFromCodebook).toBe('frozen');
  const base = { ...options(path.join(dir, 'codebook-none'), 2), preset: 'small', train: { seed: 3 } };
  const warnings: string[] = [];
  await trainToEnd(await TrainingRun.open({ ...base, onWarning: (w) => warnings.push(w), blasCheck: false }));
  expect(warnings.filter((w) => w.includes('--codebook'))).toHaveLength(1);
  const untied = await Trainer.resume(path.join(dir, 'codebook-none', 'checkpoint.safetensors'));
  expect(untied.config.model.freezeEmbeddings).toBe(false);
  untied.dispose();

  // a tokenizer file's codebook ([K, d] = [16, 8]) becomes the table and stays there through training
  const book = Float32Array.from({ length: 16 * 8 }, (_, i) => Math.sin(0.7 * i + 0.1));
  const file = path.join(dir, 'tokenizer.safetensors');
  const t = Tensor.from(book, [16, 8]);
  await writeSafetensors(file, { 'codebook.embedding': t }, {});
  t.dispose();
  const out = path.join(dir, 'codebook-given');
  const quiet: string[] = [];
  await trainToEnd(await TrainingRun.open({ ...base, out, steps: 3, codebook: file, onWarning: (w) => quiet.push(w), blasCheck: false }));
  expect(quiet.filter((w) => w.includes('--codebook'))).toHaveLength(0);
  const trainer = await Trainer.resume(path.join(out, 'checkpoint.safetensors'));
  expect(trainer.config.model.freezeEmbeddings).toBe(true);
  const table = trainer.model.getParameter('embedding.table');
  expect(Array.from(table.toTypedArray() as Float32Array)).toEqual(Array.from(book));
  table.dispose();
  trainer.dispose();
});
