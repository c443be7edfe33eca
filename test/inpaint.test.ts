// Inpainting (lib/inpaint.ts, lib/inpaint-region.ts, bin/commands/inpaint.ts) with a tiny untrained model and a tiny
// tokenizer trained a few steps: known tokens kept bit for bit, mask PNGs mapped to the documented cells, results
// independent of the batch size, bad regions refused naming the flag, and the image path agreeing with a plain
// tokenizer round trip outside the region.
import * as fs from 'fs';
import * as path from 'path';
import { PNG } from 'pngjs';
import { LcmdError } from '../lib/errors';
import { readPngFolder, writePngFolder } from '../lib/images';
import { inpaint } from '../lib/inpaint';
import { sampleDetailed } from '../lib/sampler';
import { parseRegion, regionCells } from '../lib/inpaint-region';
import { Model } from '../lib/model';
import { Tensor } from '../lib/tensor';
import { Tokenizer, type TokenizerConfig } from '../lib/tokenizer';
import { Trainer } from '../lib/trainer';
import { lcg, readNpyFile, runCli, tmpDir, writeNpyFile } from './cli-run';

const dir = tmpDir('lcmd-inpaint-');
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

// 40x40 images, downsampling 4: 10 x 10 token grids over K = 16 codes.
const SIDE = 40;
const F = 4;
const G = SIDE / F;
const K = 16;
const TOKENIZER: Partial<TokenizerConfig> = { hiddenChannels: 16, resBlocks: 1, resChannels: 8, downsample: F, codebookSize: K, codeDim: 8, deadCodeSteps: 5 };
const MODEL = { vocabSize: K, height: G, width: G, numClasses: 2, embedDim: 8, layers: 1, heads: 2, hidden: 16, condDim: 16 };

/** n images of bright rectangles on black, from a seeded generator. */
function rectangles(n: number, seed: number): Tensor {
  const next = lcg(seed);
  const data = new Float32Array(n * SIDE * SIDE);
  for (let i = 0; i < n; i++) {
    const x0 = Math.floor(next() * 28), y0 = Math.floor(next() * 28), w = 4 + Math.floor(next() * 12), h = 4 + Math.floor(next() * 12), v = 0.5 + next() / 2;
    for (let y = y0; y < Math.min(SIDE, y0 + h); y++) for (let x = x0; x < Math.min(SIDE, x0 + w); x++) data[i * SIDE * SIDE + y * SIDE + x] = v;
  }
  return Tensor.from(data, [n, 1, SIDE, SIDE]);
}

function randomTokens(n: number, seed: number): Tensor {
  const next = lcg(seed);
  return Tensor.from(Int32Array.from({ length: n * G * G }, () => Math.floor(next() * K)), [n, G, G]);
}

const ints = (t: Tensor) => Array.from(t.toTypedArray() as Int32Array);

/** Writes a grey or RGB PNG with pngjs directly (not lib/images.ts); `pixel(x, y)` gives 0..255 per channel. */
function writeMaskPng(file: string, width: number, height: number, pixel: (x: number, y: number) => [number, number, number]): void {
  const png = new PNG({ width, height });
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const [r, g, b] = pixel(x, y);
      png.data.set([r, g, b, 255], 4 * (y * width + x));
    }
  }
  fs.writeFileSync(file, PNG.sync.write(png, { colorType: 2 }));
}

async function failure(p: Promise<unknown> | (() => unknown)): Promise<LcmdError> {
  try {
    await (typeof p === 'function' ? p() : p);
  } catch (err) {
    expect(err).toBeInstanceOf(LcmdError);
    return err as LcmdError;
  }
  throw new Error('expected an LcmdError');
}

let trainer: Trainer;
let tokenizer: Tokenizer;
const files = { checkpoint: path.join(dir, 'model.safetensors'), tokenizer: path.join(dir, 'tokenizer.safetensors'), images: path.join(dir, 'images'), labels: path.join(dir, 'labels.npy') };

beforeAll(async () => {
  trainer = Trainer.create({ model: MODEL, train: { seed: 1 } });
  await trainer.save(files.checkpoint);
  tokenizer = Tokenizer.create(TOKENIZER, { seed: 2 });
  const train = rectangles(32, 5);
  await tokenizer.train(train, { steps: 15, batchSize: 8, seed: 3 });
  train.dispose();
  await tokenizer.save(files.tokenizer);
  const images = rectangles(3, 11);
  writePngFolder(files.images, images);
  images.dispose();
  writeNpyFile(files.labels, [0, 1, 1], [3], '<i8');
}, 60_000);
afterAll(() => {
  trainer.dispose();
  tokenizer.dispose();
});

describe('inpaint (library)', () => {
  test('known tokens are kept bit for bit, for every region kind and a MaskGIT model', async () => {
    const tokens = randomTokens(3, 1);
    const original = ints(tokens);
    const model = trainer.model;
    for (const spec of ['box:2,3,6,8', 'half:bottom', 'half:left']) {
      const result = await inpaint(model, { tokens }, { region: parseRegion(spec), completions: 3, classes: [0, 1, 0], guidance: 2, steps: 4, seed: 7 });
      expect(result.tokens.shape).toEqual([9, G, G]);
      expect(result.keptFraction).toBe(1);
      const out = ints(result.tokens);
      let changed = 0;
      for (let row = 0; row < 9; row++) {
        const j = Math.floor(row / 3);
        for (let p = 0; p < G * G; p++) {
          if (result.cells[p]) changed += out[row * G * G + p] !== original[j * G * G + p] ? 1 : 0;
          else expect(out[row * G * G + p]).toBe(original[j * G * G + p]);
        }
      }
      expect(changed).toBeGreaterThan(0); // the region was sampled, not copied
      expect(Array.from(result.classes!)).toEqual([0, 0, 0, 1, 1, 1, 0, 0, 0]);
      result.dispose();
    }
    // half:bottom of a 10-row grid regenerates rows 5 .. 9 (the split at floor(10 / 2))
    const bottom = regionCells(parseRegion('half:bottom'), { gridHeight: G, gridWidth: G, cellSize: F });
    expect(Array.from(bottom)).toEqual(Array.from({ length: G * G }, (_, p) => (Math.floor(p / G) >= 5 ? 1 : 0)));

    const maskgit = Trainer.create({ model: { ...MODEL, method: 'maskgit' }, train: { seed: 1 } });
    const m = await inpaint(maskgit.model, { tokens }, { region: parseRegion('box:0,0,5,10'), completions: 2, classes: 1, steps: 4 });
    const out = ints(m.tokens);
    for (let row = 0; row < 6; row++) for (let p = 50; p < G * G; p++) expect(out[row * G * G + p]).toBe(original[Math.floor(row / 2) * G * G + p]);
    expect(m.keptFraction).toBe(1);
    m.dispose();
    maskgit.dispose();
    tokens.dispose();
  });

  test('a mask PNG maps to the cells with at least half of their pixels at grey level >= 0.5', async () => {
    // Each listed cell gets `count` set pixels (the first ones in raster order within the cell) of a given colour.
    const plan: { r: number; c: number; count: number; rgb: [number, number, number] }[] = [
      { r: 0, c: 0, count: 8, rgb: [255, 255, 255] }, // exactly half: regenerated
      { r: 0, c: 1, count: 7, rgb: [255, 255, 255] }, // under half: kept
      { r: 1, c: 1, count: 16, rgb: [255, 255, 255] },
      { r: 2, c: 3, count: 16, rgb: [128, 128, 128] }, // 128 / 255 >= 0.5
      { r: 3, c: 3, count: 16, rgb: [127, 127, 127] }, // 127 / 255 < 0.5
      { r: 4, c: 5, count: 16, rgb: [255, 0, 128] }, // mean 383 / 765 >= 0.5
      { r: 5, c: 5, count: 16, rgb: [255, 0, 0] }, // mean 1/3
      { r: 9, c: 9, count: 12, rgb: [200, 200, 200] },
    ];
    const pixelOf = (x: number, y: number): [number, number, number] => {
      const cell = plan.find((q) => q.r === Math.floor(y / F) && q.c === Math.floor(x / F));
      const within = (y % F) * F + (x % F);
      return cell && within < cell.count ? cell.rgb : [0, 0, 0];
    };
    const file = path.join(dir, 'mask.png');
    writeMaskPng(file, SIDE, SIDE, pixelOf);
    // expected cells, counted here from the plan
    const expected = new Array<number>(G * G).fill(0);
    for (const q of plan) {
      const grey = (q.rgb[0] + q.rgb[1] + q.rgb[2]) / 3 / 255;
      expected[q.r * G + q.c] = grey >= 0.5 && 2 * q.count >= F * F ? 1 : 0;
    }
    expect(expected.reduce((a, b) => a + b, 0)).toBe(5);
    const cells = regionCells(parseRegion(`mask:${file}`), { gridHeight: G, gridWidth: G, cellSize: F });
    expect(Array.from(cells)).toEqual(expected);

    const images = rectangles(2, 3);
    const result = await inpaint(trainer.model, { images, tokenizer }, { region: parseRegion(`mask:${file}`), completions: 2, classes: 0, steps: 3 });
    expect(Array.from(result.cells)).toEqual(expected);
    expect(result.keptFraction).toBe(1);
    result.dispose();
    images.dispose();
  });

  test('with a fixed seed the completions do not depend on the batch size, nor on later inputs', async () => {
    const tokens = randomTokens(3, 2);
    const region = parseRegion('box:3,3,8,9');
    const run = async (input: Tensor, batchSize: number) => {
      const r = await inpaint(trainer.model, { tokens: input }, { region, completions: 3, classes: [1, 0, 1].slice(0, input.shape[0]), guidance: 1, steps: 4, seed: 42, batchSize });
      const out = ints(r.tokens);
      r.dispose();
      return out;
    };
    const whole = await run(tokens, 64);
    expect(await run(tokens, 1)).toEqual(whole);
    expect(await run(tokens, 4)).toEqual(whole);
    const firstTwo = Tensor.from(Int32Array.from((tokens.toTypedArray() as Int32Array).subarray(0, 2 * G * G)), [2, G, G]);
    expect(await run(firstTwo, 5)).toEqual(whole.slice(0, 2 * 3 * G * G));
    const otherSeed = await inpaint(trainer.model, { tokens }, { region, completions: 3, classes: [1, 0, 1], guidance: 1, steps: 4, seed: 43 });
    expect(ints(otherSeed.tokens)).not.toEqual(whole);
    otherSeed.dispose();
    firstTwo.dispose();
    tokens.dispose();
  });

  test('the sampler settings reach the sampler: the same tokens as sampleDetailed with the known tokens built by hand', async () => {
    // a few steps at a high rate, so that the class changes the prediction and the guidance interval matters
    const conditioned = Trainer.create({ model: MODEL, train: { seed: 4, lr: 0.02, warmupSteps: 1 } });
    for (let k = 0; k < 4; k++) {
      const batch = randomTokens(4, 20 + k);
      const labels = Tensor.from(BigInt64Array.from([0n, 1n, 0n, 1n]), [4], 'int64');
      await conditioned.step({ tokens: batch, labels });
      batch.dispose();
      labels.dispose();
    }
    const model = conditioned.model;
    const tokens = randomTokens(2, 3);
    const region = parseRegion('half:top');
    const settings = { sampler: 'commit' as const, gridShift: 0.5, guidanceInterval: [0.2, 0.7] as [number, number], temperature: 0.8 };
    const result = await inpaint(model, { tokens }, { region, completions: 2, classes: [1, 0], guidance: 2, steps: 4, seed: 9, ...settings });
    // the reference: each input twice, known where the region is not (rows 5 .. 9), the classes repeated likewise
    const source = ints(tokens);
    const rows = [0, 0, 1, 1];
    const known = {
      tokens: Tensor.from(Int32Array.from(rows.flatMap((j) => source.slice(j * G * G, (j + 1) * G * G))), [4, G, G], 'int32'),
      mask: Tensor.from(Uint8Array.from({ length: 4 * G * G }, (_, i) => (Math.floor((i % (G * G)) / G) >= 5 ? 1 : 0)), [4, G, G], 'bool'),
    };
    const reference = await sampleDetailed(model, { n: 4, classes: [1, 1, 0, 0], guidance: 2, steps: 4, seed: 9, known, ...settings });
    expect(ints(result.tokens)).toEqual(ints(reference.tokens));
    // and each setting changes the completions (it is not dropped on the way)
    for (const without of [{ gridShift: 1 }, { guidanceInterval: [0, 1] as [number, number] }, { temperature: 1 }]) {
      const other = await inpaint(model, { tokens }, { region, completions: 2, classes: [1, 0], guidance: 2, steps: 4, seed: 9, ...settings, ...without });
      expect(ints(other.tokens)).not.toEqual(ints(result.tokens));
      other.dispose();
    }
    [result, reference.tokens, known.tokens, known.mask, tokens, conditioned].forEach((t) => t.dispose());
  });

  test('bad regions are refused with E_RANGE or E_SHAPE naming the option', async () => {
    const grid = { gridHeight: G, gridWidth: G, cellSize: F, name: '--region' };
    const refused = async (spec: string, code: string, pattern: RegExp, extra: object = {}) => {
      const err = await failure(() => regionCells(parseRegion(spec, '--region'), { ...grid, ...extra }));
      expect(err.code).toBe(code);
      expect(err.message).toContain('--region');
      expect(err.message).toMatch(pattern);
    };
    await refused('box:2,2,2,5', 'E_RANGE', /is empty/);
    await refused('box:4,1,3,5', 'E_RANGE', /is empty/);
    await refused('box:0,0,11,3', 'E_RANGE', /do not fit the 10 x 10 token grid/);
    await refused('box:-1,0,2,2', 'E_RANGE', /do not fit/);
    await refused('box:0,0,10,10', 'E_RANGE', /covers the whole 10 x 10 token grid/);
    expect(regionCells(parseRegion('box:0,0,10,10'), { ...grid, allowFull: true }).every((v) => v === 1)).toBe(true);
    const small = path.join(dir, 'small-mask.png');
    writeMaskPng(small, 20, 20, () => [255, 255, 255]);
    await refused(`mask:${small}`, 'E_SHAPE', /20x20 pixels, but the images are 40x40/);
    const white = path.join(dir, 'white.png');
    writeMaskPng(white, SIDE, SIDE, () => [255, 255, 255]);
    await refused(`mask:${white}`, 'E_RANGE', /covers the whole/);
    const black = path.join(dir, 'black.png');
    writeMaskPng(black, SIDE, SIDE, () => [0, 0, 0]);
    await refused(`mask:${black}`, 'E_RANGE', /is empty/);
    expect((await failure(() => regionCells(parseRegion(`mask:${path.join(dir, 'missing.png')}`, '--region'), grid))).message).toMatch(/--region mask:.*missing.png is not a file/);
    // a 1-row grid has no top half
    expect((await failure(() => regionCells(parseRegion('half:top'), { gridHeight: 1, gridWidth: 4, cellSize: 1 }))).code).toBe('E_RANGE');
    for (const bad of ['box:1,2,3', 'box:a,b,c,d', 'half:middle', 'circle:3', 'mask:']) expect((await failure(() => parseRegion(bad))).code).toBe('E_USAGE');
    // the library refuses before it encodes or samples
    const tokens = randomTokens(1, 3);
    expect((await failure(inpaint(trainer.model, { tokens }, { region: parseRegion('box:0,0,12,2'), classes: 0 }))).code).toBe('E_RANGE');
    tokens.dispose();
  });

  test('image -> tokens -> image agrees with a plain tokenizer round trip outside the region', async () => {
    const images = rectangles(3, 21);
    const encoded = await tokenizer.encode(images);
    const roundTrip = await tokenizer.decode(encoded);
    const region = parseRegion('box:7,7,10,10');
    const k = 2;
    const result = await inpaint(trainer.model, { images, tokenizer }, { region, completions: k, classes: [0, 1, 0], guidance: 1, steps: 4, seed: 5 });
    // tokens: the original grids are the encoding, and every completion keeps them outside the region, exactly
    const truth = ints(encoded);
    expect(ints(result.originalTokens)).toEqual(truth);
    const out = ints(result.tokens);
    for (let row = 0; row < 3 * k; row++) {
      for (let p = 0; p < G * G; p++) if (!result.cells[p]) expect(out[row * G * G + p]).toBe(truth[Math.floor(row / k) * G * G + p]);
    }
    expect(Array.from(result.reconstructions!.toTypedArray() as Float32Array)).toEqual(Array.from(roundTrip.toTypedArray() as Float32Array));
    // pixels: the decoder's receptive field reaches about 1 + resBlocks + 1.5 cells (a 3x3 conv, the residual blocks' 3x3
    // convs, two stride-2 transposed convs), so cells more than 1 + resBlocks + 2 = 4 cells from the region decode as
    // the round trip does
    const reach = 1 + (TOKENIZER.resBlocks ?? 1) + 2;
    const far = (r: number, c: number) => Math.max(7 - r, 7 - c) > reach; // the region is rows and columns 7 .. 9
    const decoded = result.images!.toTypedArray() as Float32Array;
    const reference = roundTrip.toTypedArray() as Float32Array;
    let compared = 0;
    for (let row = 0; row < 3 * k; row++) {
      const j = Math.floor(row / k);
      for (let y = 0; y < SIDE; y++) {
        for (let x = 0; x < SIDE; x++) {
          if (!far(Math.floor(y / F), Math.floor(x / F))) continue;
          expect(Math.abs(decoded[row * SIDE * SIDE + y * SIDE + x] - reference[j * SIDE * SIDE + y * SIDE + x])).toBeLessThanOrEqual(1e-6);
          compared++;
        }
      }
    }
    expect(compared).toBe(3 * k * 51 * F * F); // the cells in rows 0 .. 2 or columns 0 .. 2: 100 - 7 x 7
    // and the comparison means something: inside the region the completions do decode differently
    let differ = 0;
    for (let row = 0; row < 3 * k; row++) {
      const j = Math.floor(row / k);
      for (let y = 7 * F; y < SIDE; y++) for (let x = 7 * F; x < SIDE; x++) differ += decoded[row * SIDE * SIDE + y * SIDE + x] !== reference[j * SIDE * SIDE + y * SIDE + x] ? 1 : 0;
    }
    expect(differ).toBeGreaterThan(0);
    result.dispose();
    roundTrip.dispose();
    encoded.dispose();
    images.dispose();
  });
});

describe('lcmd inpaint', () => {
  test('writes the completed tokens, the sheet and one PNG per completion', async () => {
    const out = path.join(dir, 'cli');
    const r = await runCli(['inpaint', '--checkpoint', files.checkpoint, '--tokenizer', files.tokenizer, '--images', files.images, '--labels', files.labels,
      '--region', 'half:bottom', '--completions', '2', '--guidance', '2', '--steps', '3', '--seed', '4',
      '--out', path.join(out, 'tokens.npy'), '--sheet', path.join(out, 'sheet.png'), '--folder', path.join(out, 'each')]);
    expect(r.stderr).not.toMatch(/error/);
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/inpainted 3 inputs x 2 completions: half:bottom, 50 of 100 token cells regenerated/);
    expect(r.stdout).toContain("toward each input's label");
    expect(r.stdout).toContain('known tokens kept: 100.00%');
    const saved = readNpyFile(path.join(out, 'tokens.npy'));
    expect(saved.shape).toEqual([6, G, G]);
    // the kept half equals the encoding of the input images
    const set = readPngFolder(files.images);
    const encoded = ints(await tokenizer.encode(set.images));
    for (let row = 0; row < 6; row++) for (let p = 0; p < 50; p++) expect(saved.values[row * 100 + p]).toBe(encoded[Math.floor(row / 2) * 100 + p]);
    set.images.dispose();
    const sheet = PNG.sync.read(fs.readFileSync(path.join(out, 'sheet.png')));
    expect([sheet.width, sheet.height]).toEqual([4 * SIDE + 5 * 2, 3 * SIDE + 4 * 2]);
    // the masked input (second tile of a row) is grey over the regenerated half
    const greyAt = (x: number, y: number) => sheet.data[4 * (y * sheet.width + x)];
    expect(greyAt(2 + SIDE + 2 + 10, 2 + 30)).toBe(128);
    expect(fs.readdirSync(path.join(out, 'each')).sort()).toEqual(['000000-000000.png', '000000-000001.png', '000001-000000.png', '000001-000001.png', '000002-000000.png', '000002-000001.png']);

    // token grids in, a mask PNG at image resolution, a class for all
    const mask = path.join(dir, 'cli-mask.png');
    writeMaskPng(mask, SIDE, SIDE, (x, y) => (x < 8 && y < 12 ? [255, 255, 255] : [0, 0, 0]));
    const t = await runCli(['inpaint', '--checkpoint', files.checkpoint, '--tokenizer', files.tokenizer, '--tokens', path.join(out, 'tokens.npy'), '--limit', '2',
      '--region', `mask:${mask}`, '--class', '1', '--completions', '1', '--steps', '2', '--sheet', path.join(out, 'sheet2.png')]);
    expect(t.status).toBe(0);
    expect(t.stdout).toMatch(/inpainted 2 inputs x 1 completions: mask:.*, 6 of 100 token cells regenerated/);
    expect(t.stdout).toContain('toward class 1');
  });

  test('bad regions and flags are refused naming the flag', async () => {
    const base = ['inpaint', '--checkpoint', files.checkpoint, '--tokenizer', files.tokenizer, '--images', files.images, '--labels', files.labels, '--steps', '1', '--out', path.join(dir, 'never.npy')];
    const refused = async (extra: string[], code: string, pattern: RegExp) => {
      const r = await runCli([...base, ...extra]);
      expect(r.status).toBe(2);
      expect(r.stderr).toContain(`lcmd: error [${code}]: `);
      expect(r.stderr).toMatch(pattern);
    };
    await refused(['--region', 'box:3,3,3,6'], 'E_RANGE', /--region box:3,3,3,6 is empty/);
    await refused(['--region', 'box:0,0,4,12'], 'E_RANGE', /--region box:0,0,4,12: .* do not fit the 10 x 10 token grid/);
    const small = path.join(dir, 'cli-small.png');
    writeMaskPng(small, 12, 40, () => [255, 255, 255]);
    await refused(['--region', `mask:${small}`], 'E_SHAPE', /--region mask:.* is 12x40 pixels/);
    await refused(['--region', 'box:0,0,10,10'], 'E_RANGE', /covers the whole .* --allow-full/);
    const noLabels = base.filter((a) => a !== '--labels' && a !== files.labels);
    const wrongClass = await runCli([...noLabels, '--region', 'half:top', '--class', '5']);
    expect(wrongClass.status).toBe(2);
    expect(wrongClass.stderr).toContain('lcmd: error [E_RANGE]: --class 5 is not a class of this model');
    expect(fs.existsSync(path.join(dir, 'never.npy'))).toBe(false);
    const syntax = await runCli([...base, '--region', 'circle:3']);
    expect(syntax.status).toBe(1);
    expect(syntax.stderr).toMatch(/option '--region <spec>' argument 'circle:3' is invalid/);
    // outputs are checked before any work: the checkpoint is not overwritten, nor --out by --sheet
    const before = fs.readFileSync(files.checkpoint);
    const clobber = await runCli([...base.slice(0, -2), '--region', 'half:top', '--out', files.checkpoint]);
    expect(clobber.status).toBe(2);
    expect(clobber.stderr).toMatch(/E_USAGE.*--out .* is the same file as --checkpoint/);
    expect(fs.readFileSync(files.checkpoint).equals(before)).toBe(true);
    const twice = await runCli([...base, '--region', 'half:top', '--sheet', path.join(dir, 'never.npy')]);
    expect(twice.stderr).toMatch(/--out and --sheet name the same file/);
    const full = await runCli([...base, '--region', 'box:0,0,10,10', '--allow-full']);
    expect(full.status).toBe(0);
    // the sampler-shaping flags are checked as lcmd sample checks them
    await refused(['--region', 'half:top', '--time-grid', 'learned', '--grid-shift', '0.5'], 'E_USAGE', /--time-grid learned places every step itself: drop --grid-shift/);
    await refused(['--region', 'half:top', '--guidance-interval', '0.7,0.2'], 'E_USAGE', /--guidance-interval takes two times lo,hi with lo < hi/);
    await refused(['--region', 'half:top', '--sampler', 'ddim', '--corrector', '--infill-resample', '3'], 'E_USAGE', /--corrector and --infill-resample > 1 do not combine/);
    await refused(['--region', 'half:top', '--time-grid', 'learned'], 'E_CONFIG', /--time-grid learned: .*model\.safetensors was trained without the learned time warp/);
  });

  test('the sampler-shaping flags give the completions of the library call with the same settings', async () => {
    const tokensFile = path.join(dir, 'shape-tokens.npy');
    const tokens = randomTokens(2, 8);
    writeNpyFile(tokensFile, ints(tokens), [2, G, G], '<i4');
    const out = path.join(dir, 'shape-out.npy');
    const r = await runCli(['inpaint', '--checkpoint', files.checkpoint, '--tokens', tokensFile, '--region', 'box:2,2,8,8', '--class', '1', '--completions', '2',
      '--sampler', 'commit', '--steps', '4', '--guidance', '2', '--guidance-interval', '0.2,0.7', '--grid-shift', '0.5', '--temperature', '0.8', '--solver-order', '2', '--corrector', '--seed', '3', '--out', out]);
    expect(r.stderr).not.toMatch(/error/);
    expect(r.status).toBe(0);
    const model = await Model.load(files.checkpoint);
    const expected = await inpaint(model, { tokens }, { region: parseRegion('box:2,2,8,8'), completions: 2, classes: 1, sampler: 'commit', steps: 4, guidance: 2,
      guidanceInterval: [0.2, 0.7], gridShift: 0.5, temperature: 0.8, solverOrder: 2, corrector: true, seed: 3 });
    expect(readNpyFile(out).values).toEqual(ints(expected.tokens));
    expected.dispose();
    model.dispose();
    tokens.dispose();
  });
});
