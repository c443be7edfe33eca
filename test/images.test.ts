import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { PNG } from 'pngjs';
import { LcmdError } from '../lib/errors';
import { loadImages, loadMnist, readImageNpy, readPng, readPngFolder, writePng, writePngFolder, writePngGrid } from '../lib/images';
import { writeNpy } from '../lib/npy';
import { Tensor } from '../lib/tensor';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lcmd-images-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

/** Images whose pixels are exact multiples of 1/255, so a PNG round trip is lossless. */
function images(n: number, c: number, h: number, w: number, seed = 1): { tensor: Tensor; data: Float32Array } {
  const data = new Float32Array(n * c * h * w);
  let s = seed;
  for (let i = 0; i < data.length; i++) {
    s = (s * 1103515245 + 12345) % 2147483648;
    data[i] = (s % 256) / 255;
  }
  return { tensor: Tensor.from(data, [n, c, h, w]), data };
}

function expectLcmdError(fn: () => unknown, code: string): void {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(LcmdError);
    expect((err as LcmdError).code).toBe(code);
    return;
  }
  throw new Error(`expected ${code}`);
}

describe('PNG files', () => {
  test.each([1, 3])('writePng then readPng gives the same pixels (%i channels)', (c) => {
    const { tensor, data } = images(1, c, 5, 7, c);
    const file = path.join(dir, `one-${c}.png`);
    writePng(file, tensor);
    const back = readPng(file);
    expect(back.shape).toEqual([1, c, 5, 7]);
    expect(Array.from(back.toTypedArray() as Float32Array)).toEqual(Array.from(data));
    // an independent decoder agrees on the first pixel
    const raw = PNG.sync.read(fs.readFileSync(file));
    expect(raw.data[0]).toBe(Math.round(data[0] * 255));
  });

  test('values outside [0, 1] are clamped and NaN is black', () => {
    const file = path.join(dir, 'clamp.png');
    writePng(file, Tensor.from(new Float32Array([-1, 0.5, 2, NaN]), [1, 2, 2]));
    expect(Array.from(readPng(file).toTypedArray() as Float32Array)).toEqual([0, Math.fround(128 / 255), 1, 0]);
  });

  test('a grid has rows x cols tiles with a border, and each tile holds its image', () => {
    const { tensor, data } = images(10, 1, 6, 4);
    const file = path.join(dir, 'grid.png');
    const layout = writePngGrid(file, tensor, { border: 2, borderValue: 1 });
    expect(layout).toEqual({ rows: 3, cols: 4, width: 4 * 4 + 5 * 2, height: 3 * 6 + 4 * 2 });
    const png = PNG.sync.read(fs.readFileSync(file));
    expect([png.width, png.height]).toEqual([26, 26]);
    const at = (x: number, y: number) => png.data[4 * (y * png.width + x)];
    expect(at(0, 0)).toBe(255);
    expect(at(1, 13)).toBe(255);
    for (let i = 0; i < 10; i++) {
      const top = 2 + Math.floor(i / 4) * 8;
      const left = 2 + (i % 4) * 6;
      for (let y = 0; y < 6; y++) for (let x = 0; x < 4; x++) expect(at(left + x, top + y)).toBe(Math.round(data[i * 24 + y * 4 + x] * 255));
    }
    const custom = writePngGrid(path.join(dir, 'grid2.png'), tensor, { cols: 10, border: 1 });
    expect(custom).toEqual({ rows: 1, cols: 10, width: 10 * 4 + 11, height: 6 + 2 });
  });

  test('a folder written by writePngFolder reads back in order and equal', () => {
    const { tensor, data } = images(5, 3, 4, 4, 9);
    const folder = path.join(dir, 'folder-rgb');
    const files = writePngFolder(folder, tensor, { prefix: 'img' });
    expect(files.map((f) => path.basename(f))).toEqual(['img000000.png', 'img000001.png', 'img000002.png', 'img000003.png', 'img000004.png']);
    const back = readPngFolder(folder);
    expect(back.images.shape).toEqual([5, 3, 4, 4]);
    expect(Array.from(back.images.toTypedArray() as Float32Array)).toEqual(Array.from(data));
    expect(readPngFolder(folder, { limit: 2 }).images.shape).toEqual([2, 3, 4, 4]);
    // colour to gray uses ITU-R 601 luma
    const gray = readPngFolder(folder, { channels: 1 }).images.toTypedArray() as Float32Array;
    const [r, g, b] = [data[0], data[16], data[32]].map((v) => Math.round(v * 255));
    expect(gray[0]).toBeCloseTo((0.299 * r + 0.587 * g + 0.114 * b) / 255, 6);
  });

  test('mixed sizes, broken files and empty folders are E_DATA; a missing folder is E_IO', () => {
    const mixed = path.join(dir, 'mixed');
    writePngFolder(mixed, images(2, 1, 4, 4).tensor);
    writePng(path.join(mixed, 'z.png'), images(1, 1, 5, 4).tensor);
    expectLcmdError(() => readPngFolder(mixed), 'E_DATA');
    const broken = path.join(dir, 'broken');
    fs.mkdirSync(broken);
    fs.writeFileSync(path.join(broken, 'a.png'), 'not a png');
    expectLcmdError(() => readPngFolder(broken), 'E_DATA');
    const empty = path.join(dir, 'empty');
    fs.mkdirSync(empty);
    expectLcmdError(() => readPngFolder(empty), 'E_DATA');
    expectLcmdError(() => readPngFolder(path.join(dir, 'nope')), 'E_IO');
    expectLcmdError(() => writePng(path.join(dir, 'x.png'), images(2, 1, 4, 4).tensor), 'E_SHAPE');
    expectLcmdError(() => writePng(path.join(dir, 'x.png'), Tensor.from(new Int32Array(16), [1, 4, 4])), 'E_DTYPE');
  });
});

describe('image arrays', () => {
  test('uint8 [n, H, W, C] .npy becomes float32 [n, C, H, W] / 255; float32 [n, C, H, W] is kept', async () => {
    const n = 2, h = 3, w = 4, c = 3;
    const bytes = new Uint8Array(n * h * w * c).map((_, i) => (i * 7) % 256);
    await writeNpy(path.join(dir, 'hwc.npy'), Tensor.from(bytes, [n, h, w, c]));
    const t = await readImageNpy(path.join(dir, 'hwc.npy'));
    expect(t.shape).toEqual([n, c, h, w]);
    const out = t.toTypedArray() as Float32Array;
    for (let i = 0; i < n; i++)
      for (let y = 0; y < h; y++)
        for (let x = 0; x < w; x++) for (let ch = 0; ch < c; ch++) expect(out[((i * c + ch) * h + y) * w + x]).toBe(Math.fround(bytes[((i * h + y) * w + x) * c + ch] / 255));
    const { tensor, data } = images(3, 1, 4, 4);
    await writeNpy(path.join(dir, 'nchw.npy'), tensor);
    const loaded = await loadImages(path.join(dir, 'nchw.npy'), { limit: 2 });
    expect(loaded.images.shape).toEqual([2, 1, 4, 4]);
    expect(Array.from(loaded.images.toTypedArray() as Float32Array)).toEqual(Array.from(data.subarray(0, 32)));
  });

  test('float images outside [0, 1] are E_RANGE; other dtypes E_DTYPE; a missing source E_IO', async () => {
    await writeNpy(path.join(dir, 'far.npy'), Tensor.from(new Float32Array([0, 0.5, 1.5, 0]), [1, 1, 2, 2]));
    await expect(readImageNpy(path.join(dir, 'far.npy'))).rejects.toMatchObject({ code: 'E_RANGE' });
    await writeNpy(path.join(dir, 'int.npy'), Tensor.from(new Int32Array(4), [1, 1, 2, 2]));
    await expect(readImageNpy(path.join(dir, 'int.npy'))).rejects.toMatchObject({ code: 'E_DTYPE' });
    await expect(loadImages(path.join(dir, 'missing'))).rejects.toMatchObject({ code: 'E_IO' });
  });
});

describe('MNIST', () => {
  test('the first training digits have the published labels, pixels in [0, 1], and padding to 32 keeps them centred', () => {
    const { images: x, labels } = loadMnist({ limit: 10 });
    expect(x.shape).toEqual([10, 1, 28, 28]);
    expect(Array.from(labels.toTypedArray() as BigInt64Array).map(Number)).toEqual([5, 0, 4, 1, 9, 2, 1, 3, 1, 4]);
    const pixels = x.toTypedArray() as Float32Array;
    expect(Math.min(...pixels)).toBe(0);
    expect(Math.max(...pixels)).toBe(1);
    const padded = loadMnist({ limit: 2, size: 32 }).images;
    expect(padded.shape).toEqual([2, 1, 32, 32]);
    const p = padded.toTypedArray() as Float32Array;
    for (let y = 0; y < 28; y++) for (let xx = 0; xx < 28; xx++) expect(p[(y + 2) * 32 + xx + 2]).toBe(pixels[y * 28 + xx]);
    expect(p.subarray(0, 64).every((v) => v === 0)).toBe(true);
    const test = loadMnist({ split: 'test', limit: 3 });
    expect(Array.from(test.labels.toTypedArray() as BigInt64Array).map(Number)).toEqual([7, 2, 1]);
  });
});
