/**
 * NumPy .npy files: read into a Tensor, write a Tensor, or inspect the header. Little-endian, C order; the
 * integer dtypes int8..int64 and uint8..uint64, bool, float16/32/64. Reading validates the header and the file
 * size (E_DATA naming the file and the problem; E_DTYPE for an unsupported dtype). Writes are atomic.
 */
import { native } from './binding';
import { check } from './errors';
import { Tensor } from './tensor';
import { positiveInteger } from './validation';

export type NpyDType = 'bool' | 'int8' | 'int16' | 'int32' | 'int64' | 'uint8' | 'uint16' | 'uint32' | 'uint64' | 'float16' | 'float32' | 'float64';
export const NPY_DTYPES: readonly NpyDType[] = ['bool', 'int8', 'int16', 'int32', 'int64', 'uint8', 'uint16', 'uint32', 'uint64', 'float16', 'float32', 'float64'];

export interface NpyInfo {
  /** The dtype stored in the file. */
  dtype: NpyDType;
  shape: number[];
  /** The format version's major number (1, 2 or 3). */
  version: number;
  /** Bytes before the first element. */
  dataOffset: number;
}

function checkPath(path: unknown): asserts path is string {
  check(typeof path === 'string' && path.length > 0, 'E_TYPE', `expected a non-empty file path string, got ${JSON.stringify(path)}`);
}

/** The header of an .npy file (its dtype, shape and layout), validated against the file size. */
export function npyInfo(path: string): NpyInfo {
  checkPath(path);
  const raw = native().npyInfo(path);
  return { ...raw, dtype: raw.dtype as NpyDType };
}

/**
 * Reads a whole .npy file into a Tensor. Types without a Tensor dtype are widened: int8 -> int16,
 * uint16 -> int32, uint32 and uint64 -> int64 (uint64 values above 2^63 - 1 are E_RANGE). `stored` is the
 * file's own dtype.
 */
export async function readNpy(path: string): Promise<{ tensor: Tensor; stored: NpyDType; shape: number[] }> {
  checkPath(path);
  const { tensor, stored } = await native().readNpy(path);
  const t = new Tensor(tensor);
  return { tensor: t, stored: stored as NpyDType, shape: t.shape };
}

/**
 * Writes `tensor` to `path` as an .npy file, as the tensor's own dtype or as `options.dtype` (for example
 * uint16 for token ids below 65536, a quarter of the size of int64). Integer values that do not fit are
 * E_RANGE; float tensors cannot be stored as integers (E_DTYPE); bfloat16 must be stored as float32.
 */
export async function writeNpy(path: string, tensor: Tensor, options: { dtype?: NpyDType } = {}): Promise<void> {
  checkPath(path);
  check(tensor instanceof Tensor, 'E_TYPE', `expected a Tensor for tensor, got ${typeof tensor}`);
  const dtype = options.dtype ?? (tensor.dtype === 'bfloat16' ? 'float32' : undefined);
  check(dtype === undefined || NPY_DTYPES.includes(dtype), 'E_DTYPE', `unknown npy dtype '${String(dtype)}': expected one of ${NPY_DTYPES.join(', ')}`);
  await native().writeNpy(path, tensor.handle, dtype);
}

/** The smallest unsigned dtype that holds ids in [0, vocabSize): uint8, uint16 or uint32. */
export function tokenDTypeFor(vocabSize: number): NpyDType {
  positiveInteger(vocabSize, 'vocabSize');
  return vocabSize <= 256 ? 'uint8' : vocabSize <= 65536 ? 'uint16' : 'uint32';
}
