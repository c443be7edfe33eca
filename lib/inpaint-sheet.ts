/**
 * The picture of an inpainting run: one row per input with the original, the masked input (the region's pixels
 * grey) and the k completions. `inpaintSheet` lays the tiles out in row order; write it with
 * writePngGrid(file, sheet, { cols: k + 2 }).
 */
import { check } from './errors';
import { Tensor } from './tensor';

/** The grey that marks the regenerated region in the masked input. */
export const REGION_GREY = 0.5;

/** Copies of images [n, C, H, W] with the pixels of every regenerated cell (cells: [gridHeight * gridWidth]) set to grey. */
export function greyRegion(images: Tensor, cells: Uint8Array, gridWidth: number, cellSize: number): Tensor {
  const [n, c, h, w] = images.shape;
  check(h === (cells.length / gridWidth) * cellSize && w === gridWidth * cellSize, 'E_SHAPE',
    `images of ${w}x${h} pixels do not match a ${cells.length / gridWidth} x ${gridWidth} token grid of ${cellSize} x ${cellSize} pixels`);
  const data = Float32Array.from(images.toTypedArray() as Float32Array);
  for (let i = 0; i < n * c; i++) {
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        if (cells[Math.floor(y / cellSize) * gridWidth + Math.floor(x / cellSize)]) data[i * h * w + y * w + x] = REGION_GREY;
      }
    }
  }
  return Tensor.from(data, [n, c, h, w], 'float32');
}

/** Tiles [n * (k + 2), C, H, W]: for each input, its original, its masked input and its k completions (rows j * k .. j * k + k - 1). */
export function inpaintSheet(originals: Tensor, completions: Tensor, cells: Uint8Array, gridWidth: number, cellSize: number): Tensor {
  const [n, c, h, w] = originals.shape;
  const k = completions.shape[0] / n;
  check(Number.isInteger(k) && k > 0 && completions.shape.slice(1).every((d, i) => d === [c, h, w][i]), 'E_SHAPE',
    `expected completions [n * k, ${c}, ${h}, ${w}] for ${n} originals, got [${completions.shape.join(', ')}]`);
  const masked = greyRegion(originals, cells, gridWidth, cellSize);
  const plane = c * h * w;
  const src = { original: originals.toTypedArray() as Float32Array, masked: masked.toTypedArray() as Float32Array, completions: completions.toTypedArray() as Float32Array };
  masked.dispose();
  const out = new Float32Array(n * (k + 2) * plane);
  for (let j = 0; j < n; j++) {
    const row = j * (k + 2);
    out.set(src.original.subarray(j * plane, (j + 1) * plane), row * plane);
    out.set(src.masked.subarray(j * plane, (j + 1) * plane), (row + 1) * plane);
    out.set(src.completions.subarray(j * k * plane, (j + 1) * k * plane), (row + 2) * plane);
  }
  return Tensor.from(out, [n * (k + 2), c, h, w], 'float32');
}
