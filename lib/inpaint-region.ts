/**
 * The region an inpainting run regenerates, in token cells. Three ways to give it:
 * - `box:r0,c0,r1,c1`: token rows r0 .. r1 - 1 and columns c0 .. c1 - 1 (the end is exclusive, as in a slice);
 * - `half:top|bottom|left|right`: that half of the grid. With an odd size the split is at floor(size / 2), as in
 *   halfMask: `half:bottom` of a 7-row grid regenerates rows 3 .. 6 and keeps rows 0 .. 2;
 * - `mask:file.png`: a PNG at image resolution (the token grid times the tokenizer's factor f). A pixel is set when
 *   its grey level (the mean of its colour channels) is at least 0.5; a token cell is regenerated when at least half
 *   of its f x f pixels are set.
 * A region that is empty, does not fit the grid, or (unless allowed) covers the whole grid is refused (E_RANGE), as is
 * a mask PNG of another size (E_SHAPE); messages name the option (`--region` on the command line).
 */
import * as fs from 'fs';
import { check, LcmdError } from './errors';
import { readPng } from './images';
import { halfMask, type HalfSide } from './sampler-masks';

export type InpaintRegion =
  | { kind: 'box'; r0: number; c0: number; r1: number; c1: number }
  | { kind: 'half'; side: HalfSide }
  | { kind: 'mask'; file: string };

export interface RegionGrid {
  /** the token grid */
  gridHeight: number;
  gridWidth: number;
  /** pixels per token cell along each side (the tokenizer's downsampling factor); a mask PNG is gridHeight * cellSize tall */
  cellSize: number;
  /** the option's name in messages (default 'region') */
  name?: string;
  /** allow a region that covers every cell (default false: nothing would be kept) */
  allowFull?: boolean;
}

const SIDES: readonly HalfSide[] = ['top', 'bottom', 'left', 'right'];

/** Parses `box:r0,c0,r1,c1`, `half:SIDE` or `mask:FILE` (E_USAGE when it is none of these). */
export function parseRegion(text: string, name = 'region'): InpaintRegion {
  const colon = typeof text === 'string' ? text.indexOf(':') : -1;
  const kind = colon < 0 ? '' : text.slice(0, colon);
  const value = colon < 0 ? '' : text.slice(colon + 1);
  const form = 'box:r0,c0,r1,c1, half:top|bottom|left|right or mask:file.png';
  if (kind === 'box') {
    const parts = value.split(',').map((p) => p.trim());
    check(parts.length === 4 && parts.every((p) => /^[+-]?\d+$/.test(p)), 'E_USAGE', `${name}: expected box:r0,c0,r1,c1 with four integers, got ${JSON.stringify(text)}`);
    const [r0, c0, r1, c1] = parts.map(Number);
    return { kind: 'box', r0, c0, r1, c1 };
  }
  if (kind === 'half') {
    check((SIDES as readonly string[]).includes(value), 'E_USAGE', `${name}: expected half:top, half:bottom, half:left or half:right, got ${JSON.stringify(text)}`);
    return { kind: 'half', side: value as HalfSide };
  }
  if (kind === 'mask') {
    check(value.length > 0, 'E_USAGE', `${name}: expected mask:file.png, got ${JSON.stringify(text)}`);
    return { kind: 'mask', file: value };
  }
  throw new LcmdError(`${name}: expected ${form}, got ${JSON.stringify(text)}`, 'E_USAGE');
}

/** How `region` reads in a message. */
export function describeRegion(region: InpaintRegion): string {
  if (region.kind === 'box') return `box:${region.r0},${region.c0},${region.r1},${region.c1}`;
  if (region.kind === 'half') return `half:${region.side}`;
  return `mask:${region.file}`;
}

/**
 * Token cells from a pixel mask: `pixels` holds `channels` planes of height x width values in [0, 1]; a pixel is set
 * when the mean over its channels is >= 0.5, a cell when at least half of its cellSize x cellSize pixels are set.
 */
export function cellsFromPixels(pixels: Float32Array, channels: number, height: number, width: number, cellSize: number): Uint8Array {
  const gh = height / cellSize;
  const gw = width / cellSize;
  const plane = height * width;
  const counts = new Int32Array(gh * gw);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      let sum = 0;
      for (let ch = 0; ch < channels; ch++) sum += pixels[ch * plane + y * width + x];
      if (sum / channels >= 0.5) counts[Math.floor(y / cellSize) * gw + Math.floor(x / cellSize)]++;
    }
  }
  return Uint8Array.from(counts, (n) => (2 * n >= cellSize * cellSize ? 1 : 0));
}

/** The cells of `region` on the grid: [gridHeight * gridWidth], 1 where the token is regenerated, 0 where it is kept. */
export function regionCells(region: InpaintRegion, grid: RegionGrid): Uint8Array {
  const { gridHeight: h, gridWidth: w, cellSize: f } = grid;
  const name = grid.name ?? 'region';
  const label = `${name} ${describeRegion(region)}`;
  let cells: Uint8Array;
  if (region.kind === 'box') {
    const { r0, c0, r1, c1 } = region;
    check([r0, c0, r1, c1].every((v) => Number.isSafeInteger(v)), 'E_RANGE', `${label}: the box corners must be integers`);
    check(r0 < r1 && c0 < c1, 'E_RANGE', `${label} is empty: it needs r0 < r1 and c0 < c1 (rows r0 .. r1 - 1, columns c0 .. c1 - 1)`);
    check(r0 >= 0 && c0 >= 0 && r1 <= h && c1 <= w, 'E_RANGE',
      `${label}: rows [${r0}, ${r1}) x columns [${c0}, ${c1}) do not fit the ${h} x ${w} token grid`);
    cells = new Uint8Array(h * w);
    for (let r = r0; r < r1; r++) cells.fill(1, r * w + c0, r * w + c1);
  } else if (region.kind === 'half') {
    // halfMask(side) marks that half; here those are the cells to regenerate
    const mask = halfMask(h, w, region.side);
    cells = Uint8Array.from(mask.toTypedArray() as Uint8Array);
    mask.dispose();
  } else {
    check(fs.existsSync(region.file) && fs.statSync(region.file).isFile(), 'E_IO', `${label}: ${region.file} is not a file (expected a mask PNG)`);
    const png = readPng(region.file);
    const [, channels, ph, pw] = png.shape;
    const pixels = png.toTypedArray() as Float32Array;
    png.dispose();
    check(ph === h * f && pw === w * f, 'E_SHAPE',
      `${label} is ${pw}x${ph} pixels, but the images are ${w * f}x${h * f} (a ${h} x ${w} token grid of ${f} x ${f} pixels): the mask must have the images' size`);
    cells = cellsFromPixels(pixels, channels, ph, pw, f);
  }
  const count = cells.reduce((a, b) => a + b, 0);
  check(count > 0, 'E_RANGE', `${label} is empty: it covers no token cell of the ${h} x ${w} grid`);
  check(count < h * w || grid.allowFull, 'E_RANGE',
    `${label} covers the whole ${h} x ${w} token grid, so nothing is kept: that is plain sampling (allow it with allowFull, --allow-full on the command line)`);
  return cells;
}
