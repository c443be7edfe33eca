/**
 * A typed tensor at the boundary between JavaScript and libtorch. Data is copied in and out; this is not a
 * tensor library. Native memory is reported to V8, freed by dispose() (also `using`), or by GC as a safety net.
 */
import { check, LcmdError } from './errors';
import { native } from './binding';
import type { NativeDType, NativeTensorHandle } from './native';
import { describe } from './validation';

export type DType = NativeDType;
export const DTYPES: readonly DType[] = ['float32', 'float64', 'int64', 'int32', 'int16', 'uint8', 'bool', 'bfloat16', 'float16'];

export type TypedArrayFor<D extends DType> = D extends 'float32' | 'bfloat16' | 'float16'
  ? Float32Array
  : D extends 'float64'
    ? Float64Array
    : D extends 'int64'
      ? BigInt64Array
      : D extends 'int32'
        ? Int32Array
        : D extends 'int16'
          ? Int16Array
          : Uint8Array;

export type AnyTypedArray = Float32Array | Float64Array | BigInt64Array | Int32Array | Int16Array | Uint8Array;

const ARRAY_FOR: Record<DType, { name: string; make: (n: number) => AnyTypedArray }> = {
  float32: { name: 'Float32Array', make: (n) => new Float32Array(n) },
  float64: { name: 'Float64Array', make: (n) => new Float64Array(n) },
  int64: { name: 'BigInt64Array', make: (n) => new BigInt64Array(n) },
  int32: { name: 'Int32Array', make: (n) => new Int32Array(n) },
  int16: { name: 'Int16Array', make: (n) => new Int16Array(n) },
  uint8: { name: 'Uint8Array', make: (n) => new Uint8Array(n) },
  bool: { name: 'Uint8Array', make: (n) => new Uint8Array(n) },
  bfloat16: { name: 'Float32Array', make: (n) => new Float32Array(n) },
  float16: { name: 'Float32Array', make: (n) => new Float32Array(n) },
};

function defaultDType(data: AnyTypedArray): DType {
  if (data instanceof Float32Array) return 'float32';
  if (data instanceof Float64Array) return 'float64';
  if (data instanceof BigInt64Array) return 'int64';
  if (data instanceof Int32Array) return 'int32';
  if (data instanceof Int16Array) return 'int16';
  if (data instanceof Uint8Array) return 'uint8';
  throw new LcmdError(`unsupported data type ${describe(data)}`, 'E_DTYPE');
}

export function validateShape(shape: readonly number[], what = 'shape'): void {
  check(Array.isArray(shape), 'E_SHAPE', `expected an array of non-negative integers for ${what}, got ${describe(shape)}`);
  for (const dim of shape) {
    check(Number.isSafeInteger(dim) && dim >= 0, 'E_SHAPE', `expected non-negative integers for ${what}, got [${shape.join(', ')}]`);
  }
}

export function numel(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

/** Nested number/boolean arrays to a flat list and a shape; ragged nesting is rejected. */
function flattenNested(value: unknown): { flat: (number | boolean | bigint)[]; shape: number[] } {
  const shape: number[] = [];
  let probe: unknown = value;
  while (Array.isArray(probe)) {
    shape.push(probe.length);
    probe = probe[0];
  }
  const flat: (number | boolean | bigint)[] = [];
  const walk = (node: unknown, depth: number) => {
    if (depth === shape.length) {
      check(typeof node === 'number' || typeof node === 'boolean' || typeof node === 'bigint', 'E_TYPE', `expected numbers, booleans or bigints for the tensor entries, got ${describe(node)}`);
      flat.push(node as number);
      return;
    }
    check(Array.isArray(node) && node.length === shape[depth], 'E_SHAPE', `nested arrays are ragged at depth ${depth}: expected length ${shape[depth]}, got ${describe(node)}`);
    for (const child of node as unknown[]) walk(child, depth + 1);
  };
  walk(value, 0);
  return { flat, shape };
}

export class Tensor {
  /** @internal */
  readonly handle: NativeTensorHandle;

  /** @internal Wraps a native handle; users create tensors with Tensor.from / fromArray. */
  constructor(handle: NativeTensorHandle) {
    this.handle = handle;
  }

  /** A tensor from a TypedArray and a shape. The dtype defaults from the array type (Uint8Array: uint8). */
  static from(data: AnyTypedArray, shape: readonly number[], dtype?: DType): Tensor {
    check(ArrayBuffer.isView(data) && !(data instanceof DataView), 'E_TYPE', () => `expected a TypedArray for data, got ${describe(data)}`);
    validateShape(shape);
    const type = dtype ?? defaultDType(data);
    check(DTYPES.includes(type), 'E_DTYPE', `unknown dtype '${type}': expected one of ${DTYPES.join(', ')}`);
    const expected = ARRAY_FOR[type].name;
    check(data.constructor.name === expected, 'E_DTYPE', () => `expected a ${expected} for dtype ${type}, got ${describe(data)}`);
    const count = numel(shape);
    check(data.length === count, 'E_SHAPE', () => `expected a ${expected} of length ${count} for shape [${shape.join(', ')}], got ${describe(data)}`);
    return new Tensor(new (native().TensorHandle)(data, [...shape], type));
  }

  /** A tensor from nested arrays, e.g. [[1, 2], [3, 4]]; the default dtype is float32 (bool for booleans). */
  static fromArray(values: unknown, dtype?: DType): Tensor {
    const { flat, shape } = flattenNested(values);
    const type: DType = dtype ?? (typeof flat[0] === 'boolean' ? 'bool' : typeof flat[0] === 'bigint' ? 'int64' : 'float32');
    check(DTYPES.includes(type), 'E_DTYPE', `unknown dtype '${type}': expected one of ${DTYPES.join(', ')}`);
    const array = ARRAY_FOR[type].make(flat.length);
    if (array instanceof BigInt64Array) flat.forEach((v, i) => (array[i] = BigInt(v as number)));
    else flat.forEach((v, i) => ((array as Float64Array)[i] = Number(v)));
    return Tensor.from(array, shape, type);
  }

  /** A tensor of zeros (a convenience for tests and callers building inputs). */
  static zeros(shape: readonly number[], dtype: DType = 'float32'): Tensor {
    validateShape(shape);
    check(DTYPES.includes(dtype), 'E_DTYPE', `unknown dtype '${dtype}': expected one of ${DTYPES.join(', ')}`);
    const count = numel(shape);
    check(Number.isSafeInteger(count), 'E_RANGE', () => `shape [${shape.join(', ')}] has ${count} elements, more than a tensor can hold (${Number.MAX_SAFE_INTEGER})`);
    let data: AnyTypedArray;
    try {
      data = ARRAY_FOR[dtype].make(count);
    } catch (err) {
      // V8 refuses typed arrays beyond its length limit, or memory runs out
      throw new LcmdError(`cannot allocate a ${dtype} tensor of shape [${shape.join(', ')}] (${count} elements): ${(err as Error).message}; use a smaller shape`, 'E_MEMORY');
    }
    return Tensor.from(data, shape, dtype);
  }

  get shape(): number[] {
    return this.handle.shape();
  }

  get dtype(): DType {
    return this.handle.dtype();
  }

  get device(): string {
    return this.handle.device();
  }

  get size(): number {
    return numel(this.shape);
  }

  get disposed(): boolean {
    return this.handle.isDisposed();
  }

  /** A copy of the data on the host. bfloat16 and float16 read back as float32, bool as 0/1 bytes. */
  toTypedArray(): AnyTypedArray {
    return this.handle.toTypedArray();
  }

  /** A copy on another device ('cpu', 'cuda', 'cuda:1'). */
  to(device: string): Tensor {
    check(typeof device === 'string' && /^(cpu|cuda(:\d+)?)$/.test(device), 'E_DEVICE', `expected a device such as 'cpu', 'cuda' or 'cuda:0', got ${JSON.stringify(device)}`);
    return new Tensor(this.handle.to(device));
  }

  /** Frees the native memory now. Idempotent; any later use throws E_DISPOSED. */
  dispose(): void {
    this.handle.dispose();
  }

  [Symbol.dispose](): void {
    this.dispose();
  }

  toString(): string {
    return this.disposed ? 'Tensor(disposed)' : `Tensor(shape=[${this.shape.join(', ')}], dtype=${this.dtype}, device=${this.device})`;
  }
}
