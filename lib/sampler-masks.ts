/**
 * Masks over token grids for infilling and inpainting: bool Tensors [H, W], true where the token is KNOWN (kept).
 * Pass them as `known: { tokens, mask }` to `sample()`; an [H, W] mask applies to every sample.
 */
import { check, LcmdError } from './errors';
import { Tensor } from './tensor';

function checkGrid(gridHeight: number, gridWidth: number): void {
  check(Number.isSafeInteger(gridHeight) && gridHeight > 0 && Number.isSafeInteger(gridWidth) && gridWidth > 0, 'E_RANGE',
    `expected a grid of positive integer height and width, got ${gridHeight} x ${gridWidth}`);
}

function maskFrom(gridHeight: number, gridWidth: number, known: (row: number, col: number) => boolean): Tensor {
  const data = new Uint8Array(gridHeight * gridWidth);
  for (let r = 0; r < gridHeight; r++) for (let c = 0; c < gridWidth; c++) data[r * gridWidth + c] = known(r, c) ? 1 : 0;
  return Tensor.from(data, [gridHeight, gridWidth], 'bool');
}

/** Known inside the box of `height` x `width` tokens whose top-left token is (top, left); the box must fit the grid. */
export function boxMask(gridHeight: number, gridWidth: number, top: number, left: number, height: number, width: number): Tensor {
  checkGrid(gridHeight, gridWidth);
  for (const [name, v] of [['top', top], ['left', left], ['height', height], ['width', width]] as const) {
    check(Number.isSafeInteger(v) && v >= 0, 'E_RANGE', `expected box ${name} to be a non-negative integer, got ${v}`);
  }
  check(top + height <= gridHeight && left + width <= gridWidth, 'E_RANGE',
    `the box rows [${top}, ${top + height}) x columns [${left}, ${left + width}) does not fit a ${gridHeight} x ${gridWidth} grid`);
  return maskFrom(gridHeight, gridWidth, (r, c) => r >= top && r < top + height && c >= left && c < left + width);
}

export type HalfSide = 'left' | 'right' | 'top' | 'bottom';

/**
 * Known on one half of the grid. With an odd size the split is at floor(size / 2), so 'left' and 'right' (or 'top'
 * and 'bottom') are exact complements: 'left' holds the first floor(W / 2) columns.
 */
export function halfMask(gridHeight: number, gridWidth: number, side: HalfSide): Tensor {
  checkGrid(gridHeight, gridWidth);
  const midRow = Math.floor(gridHeight / 2);
  const midCol = Math.floor(gridWidth / 2);
  switch (side) {
    case 'left': return maskFrom(gridHeight, gridWidth, (_r, c) => c < midCol);
    case 'right': return maskFrom(gridHeight, gridWidth, (_r, c) => c >= midCol);
    case 'top': return maskFrom(gridHeight, gridWidth, (r) => r < midRow);
    case 'bottom': return maskFrom(gridHeight, gridWidth, (r) => r >= midRow);
    default: throw new LcmdError(`expected side 'left', 'right', 'top' or 'bottom', got ${JSON.stringify(side)}`, 'E_CONFIG');
  }
}
