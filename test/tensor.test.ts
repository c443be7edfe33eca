// Tensor: round trips for every dtype and odd shapes, validation in TypeScript and in native code, dispose.
import { execFileSync, spawnSync } from 'child_process';
import * as path from 'path';
import { native } from '../lib/binding';
import { LcmdError } from '../lib/errors';
import { Tensor, DTYPES } from '../lib/tensor';

/** Deterministic pseudo-random floats (mulberry32), so failures reproduce. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** float32 -> bfloat16 -> float32, round to nearest even on the bit pattern (NaN kept as NaN). */
function roundToBFloat16(x: number): number {
  const f = new Float32Array([x]);
  const u = new Uint32Array(f.buffer);
  if (Number.isNaN(f[0])) return NaN;
  const bits = u[0];
  const rounded = (bits + 0x7fff + ((bits >>> 16) & 1)) >>> 0;
  u[0] = (rounded & 0xffff0000) >>> 0;
  return f[0];
}

/** float32 -> IEEE half -> float32, round to nearest even, with subnormals and overflow to infinity. */
function roundToFloat16(x: number): number {
  const v = Math.fround(x);
  if (!Number.isFinite(v) || v === 0) return v;
  const a = Math.abs(v);
  // Spacing of half values around a: 2^(e-10) for normals (e >= -14), 2^-24 for subnormals.
  const e = Math.max(-14, exponentOf(a));
  const ulp = 2 ** (e - 10);
  const q = a / ulp; // exact: ulp is a power of two
  const floor = Math.floor(q);
  const frac = q - floor;
  const n = frac > 0.5 || (frac === 0.5 && floor % 2 === 1) ? floor + 1 : floor;
  const r = n * ulp;
  return Math.sign(v) * (r > 65504 ? Infinity : r);
}

/** floor(log2(a)) for a positive finite double, read from its bits (exact, unlike Math.log2). */
function exponentOf(a: number): number {
  const view = new DataView(new ArrayBuffer(8));
  view.setFloat64(0, a);
  const biased = (view.getUint16(0) >>> 4) & 0x7ff;
  if (biased === 0) return Math.floor(Math.log2(a)); // double subnormal; far below half's range anyway
  return biased - 1023;
}

/** The TypedArray's class name; instanceof fails for arrays made by the addon, which live in Node's main realm. */
function kind(value: unknown): string {
  return Object.prototype.toString.call(value).slice(8, -1);
}

function expectCode(fn: () => unknown, code: string, pattern?: RegExp): void {
  let caught: unknown;
  try {
    fn();
  } catch (err) {
    caught = err;
  }
  expect(caught).toBeInstanceOf(LcmdError);
  expect((caught as LcmdError).code).toBe(code);
  if (pattern) expect((caught as LcmdError).message).toMatch(pattern);
}

/** Same bits, so NaN, -0 and infinities compare exactly. */
function expectSameFloats(actual: ArrayLike<number>, expected: ArrayLike<number>): void {
  expect(actual.length).toBe(expected.length);
  for (let i = 0; i < expected.length; i++) {
    if (!Object.is(actual[i], expected[i])) throw new Error(`element ${i}: expected ${expected[i]}, got ${actual[i]}`);
  }
}

describe('the reference roundings used below', () => {
  test('bfloat16 rounding matches hand-worked cases', () => {
    expect(roundToBFloat16(1)).toBe(1);
    expect(roundToBFloat16(1 + 2 ** -8)).toBe(1); // a tie: rounds to the even mantissa
    expect(roundToBFloat16(1 + 3 * 2 ** -8)).toBe(1 + 2 ** -6); // a tie: rounds up to even
    expect(roundToBFloat16(1 + 2 ** -8 + 2 ** -20)).toBe(1 + 2 ** -7); // just above the tie
  });

  test('float16 rounding matches hand-worked cases', () => {
    expect(roundToFloat16(1 + 2 ** -11)).toBe(1); // tie to even
    expect(roundToFloat16(1 + 3 * 2 ** -11)).toBe(1 + 2 ** -9);
    expect(roundToFloat16(65504)).toBe(65504);
    expect(roundToFloat16(65520)).toBe(Infinity); // halfway to 2^16 rounds to infinity
    expect(roundToFloat16(2 ** -24)).toBe(2 ** -24); // smallest subnormal
    expect(roundToFloat16(2 ** -26)).toBe(0);
    expect(roundToFloat16(-3 * 2 ** -25)).toBe(-(2 ** -23)); // tie between subnormals, to even
  });
});

describe('round trip of every dtype', () => {
  const r = rng(1234);
  const specials = [0, -0, 1, -1, 0.5, 1e-3, -2.5e5, 3.4e38, 1e-40, Infinity, -Infinity, NaN];

  test('float32 keeps every bit, NaN and -0 included', () => {
    const values = Float32Array.from([...specials, ...Array.from({ length: 500 }, () => (r() - 0.5) * 1e3)]);
    using t = Tensor.from(values, [values.length]);
    expect(t.dtype).toBe('float32');
    expect(t.device).toBe('cpu');
    expectSameFloats(t.toTypedArray() as Float32Array, values);
  });

  test('float64 keeps every bit', () => {
    const values = Float64Array.from([...specials, 1e-310, 1.7976931348623157e308, Math.PI, ...Array.from({ length: 500 }, () => r())]);
    using t = Tensor.from(values, [values.length]);
    expect(t.dtype).toBe('float64');
    expectSameFloats(t.toTypedArray() as Float64Array, values);
  });

  test('int64 keeps the extremes', () => {
    const values = BigInt64Array.from([0n, 1n, -1n, 2n ** 63n - 1n, -(2n ** 63n), 2n ** 53n + 1n, 123456789012345678n]);
    using t = Tensor.from(values, [7]);
    expect(t.dtype).toBe('int64');
    expect(Array.from(t.toTypedArray() as BigInt64Array)).toEqual(Array.from(values));
  });

  test.each([
    ['int32', Int32Array.from([0, 1, -1, 2147483647, -2147483648, 123456])],
    ['int16', Int16Array.from([0, 1, -1, 32767, -32768, 1234])],
    ['uint8', Uint8Array.from([0, 1, 127, 128, 255, 42])],
  ] as const)('%s keeps the extremes', (dtype, values) => {
    using t = Tensor.from(values, [2, 3]);
    expect(t.dtype).toBe(dtype);
    expect(t.shape).toEqual([2, 3]);
    const back = t.toTypedArray();
    expect(kind(back)).toBe(kind(values));
    expect(Array.from(back as Int32Array)).toEqual(Array.from(values));
  });

  test('bool stores 0 as false and anything else as true, read back as 0/1 bytes', () => {
    using t = Tensor.from(Uint8Array.from([0, 1, 2, 255, 0]), [5], 'bool');
    expect(t.dtype).toBe('bool');
    const back = t.toTypedArray();
    expect(kind(back)).toBe('Uint8Array');
    expect(Array.from(back as Uint8Array)).toEqual([0, 1, 1, 1, 0]);
  });

  test.each([
    ['bfloat16', roundToBFloat16],
    ['float16', roundToFloat16],
  ] as const)('%s stores rounded values and reads back float32', (dtype, round) => {
    const values = Float32Array.from([
      0, -0, 1, -1, 0.1, 1 / 3, 1 + 2 ** -8, 1 + 3 * 2 ** -8, 1 + 2 ** -11, 1 + 3 * 2 ** -11, 1e-5, 6e-8, 1e-8, -3 * 2 ** -25,
      65504, 65519, 65520, 1e5, 3e38, Infinity, -Infinity, NaN,
      ...Array.from({ length: 1000 }, () => (r() - 0.5) * 2 ** Math.floor(r() * 40 - 20)),
    ]);
    using t = Tensor.from(values, [values.length], dtype);
    expect(t.dtype).toBe(dtype);
    const back = t.toTypedArray();
    expect(kind(back)).toBe('Float32Array');
    const expected = Float32Array.from(values, (v) => round(v));
    expectSameFloats(back as Float32Array, expected);
  });
});

describe('odd shapes', () => {
  test('a 0-d tensor holds one value', () => {
    using t = Tensor.from(Float32Array.of(2.5), []);
    expect(t.shape).toEqual([]);
    expect(t.size).toBe(1);
    expect(Array.from(t.toTypedArray() as Float32Array)).toEqual([2.5]);
  });

  test('an empty dimension holds no values', () => {
    using t = Tensor.from(new Int32Array(0), [3, 0, 2]);
    expect(t.shape).toEqual([3, 0, 2]);
    expect(t.size).toBe(0);
    expect(t.toTypedArray().length).toBe(0);
    expect(t.handle.byteLength()).toBe(0);
  });

  test('a 16M-element tensor survives the round trip', () => {
    const n = 1 << 24;
    const values = new Float32Array(n);
    for (let i = 0; i < n; i++) values[i] = (i % 9973) - 0.25 * (i % 7);
    using t = Tensor.from(values, [256, 256, 256]);
    expect(t.handle.byteLength()).toBe(4 * n);
    const back = t.toTypedArray() as Float32Array;
    expect(back.length).toBe(n);
    let mismatches = 0;
    for (let i = 0; i < n; i++) if (back[i] !== values[i]) mismatches++;
    expect(mismatches).toBe(0);
  });

  test('a view into a larger buffer copies only the view', () => {
    const whole = Float64Array.from({ length: 10 }, (_, i) => i * 1.5);
    using t = Tensor.from(whole.subarray(3, 9), [2, 3]);
    expect(Array.from(t.toTypedArray() as Float64Array)).toEqual(Array.from(whole.subarray(3, 9)));
  });

  test('the data is copied in: later writes to the source do not change the tensor', () => {
    const source = Int16Array.from([1, 2, 3]);
    using t = Tensor.from(source, [3]);
    source[0] = 99;
    expect(Array.from(t.toTypedArray() as Int16Array)).toEqual([1, 2, 3]);
  });

  test('zeros() makes a zero tensor of any dtype', () => {
    for (const dtype of DTYPES) {
      using t = Tensor.zeros([2, 2], dtype);
      expect(t.dtype).toBe(dtype);
      expect(Array.from(t.toTypedArray() as Float32Array, Number)).toEqual([0, 0, 0, 0]);
    }
  });

  test('to("cpu") makes an independent copy', () => {
    using a = Tensor.from(Float32Array.of(1, 2, 3), [3]);
    const b = a.to('cpu');
    a.dispose();
    expect(Array.from(b.toTypedArray() as Float32Array)).toEqual([1, 2, 3]);
    b.dispose();
  });
});

describe('fromArray', () => {
  test('nested arrays give the shape and default to float32', () => {
    using t = Tensor.fromArray([
      [1, 2, 3],
      [4, 5, 6],
    ]);
    expect(t.shape).toEqual([2, 3]);
    expect(t.dtype).toBe('float32');
    expect(Array.from(t.toTypedArray() as Float32Array)).toEqual([1, 2, 3, 4, 5, 6]);
  });

  test('booleans give bool, bigints give int64, and an explicit dtype wins', () => {
    using b = Tensor.fromArray([[true, false], [false, true]]);
    expect(b.dtype).toBe('bool');
    expect(Array.from(b.toTypedArray() as Uint8Array)).toEqual([1, 0, 0, 1]);
    using l = Tensor.fromArray([5n, -7n]);
    expect(l.dtype).toBe('int64');
    expect(Array.from(l.toTypedArray() as BigInt64Array)).toEqual([5n, -7n]);
    using i = Tensor.fromArray([[[1]], [[2]]], 'int32');
    expect(i.shape).toEqual([2, 1, 1]);
    expect(Array.from(i.toTypedArray() as Int32Array)).toEqual([1, 2]);
  });

  test('ragged nesting is rejected with E_SHAPE', () => {
    expectCode(() => Tensor.fromArray([[1, 2], [3]]), 'E_SHAPE', /ragged/);
    expectCode(() => Tensor.fromArray([[1, 2], 3]), 'E_SHAPE', /ragged/);
    expectCode(() => Tensor.fromArray([1, [2]]), 'E_TYPE');
  });

  test('non-numeric entries are rejected with E_TYPE', () => {
    expectCode(() => Tensor.fromArray([[1, 'a']]), 'E_TYPE', /for the tensor entries, got "a"/);
    expectCode(() => Tensor.fromArray([null]), 'E_TYPE');
  });
});

describe('validation in TypeScript', () => {
  test('a length that does not match the shape is E_SHAPE, naming both', () => {
    expectCode(() => Tensor.from(new Float32Array(5), [2, 3]), 'E_SHAPE', /length 6 .*\[2, 3\].*length 5/);
  });

  test('bad shapes are E_SHAPE', () => {
    expectCode(() => Tensor.from(new Float32Array(1), [-1]), 'E_SHAPE');
    expectCode(() => Tensor.from(new Float32Array(1), [1.5]), 'E_SHAPE');
    expectCode(() => Tensor.from(new Float32Array(1), 'x' as unknown as number[]), 'E_SHAPE');
  });

  test('an array type that does not match the dtype is E_DTYPE, naming both', () => {
    expectCode(() => Tensor.from(new Int32Array(6), [2, 3], 'float32'), 'E_DTYPE', /Float32Array.*Int32Array/);
    expectCode(() => Tensor.from(new Float32Array(2), [2], 'int64'), 'E_DTYPE', /BigInt64Array/);
    expectCode(() => Tensor.from(new Float32Array(2), [2], 'complex64' as never), 'E_DTYPE', /unknown dtype/);
    expectCode(() => Tensor.from(new Uint16Array(2) as never, [2]), 'E_DTYPE');
  });

  test('data that is not a TypedArray is E_TYPE', () => {
    expectCode(() => Tensor.from([1, 2] as never, [2]), 'E_TYPE', /TypedArray/);
    expectCode(() => Tensor.from(new DataView(new ArrayBuffer(8)) as never, [2]), 'E_TYPE');
  });

  test('a device that is not cpu/cuda is E_DEVICE', () => {
    using t = Tensor.from(Float32Array.of(1), [1]);
    expectCode(() => t.to('gpu'), 'E_DEVICE');
  });
});

describe('validation in native code (the handle constructor called directly)', () => {
  const Handle = () => native().TensorHandle as unknown as new (...args: unknown[]) => unknown;

  test('length mismatch is E_SHAPE', () => {
    expectCode(() => new (Handle())(new Float32Array(5), [2, 3], 'float32'), 'E_SHAPE', /expected 6 elements/);
  });

  test('bad shape entries are E_SHAPE', () => {
    expectCode(() => new (Handle())(new Float32Array(1), [-1], 'float32'), 'E_SHAPE');
    expectCode(() => new (Handle())(new Float32Array(1), [0.5], 'float32'), 'E_SHAPE');
    expectCode(() => new (Handle())(new Float32Array(1), ['1'], 'float32'), 'E_SHAPE');
  });

  test('wrong array type or unknown dtype is E_DTYPE', () => {
    expectCode(() => new (Handle())(new Int32Array(2), [2], 'float32'), 'E_DTYPE', /Float32Array.*Int32Array/);
    expectCode(() => new (Handle())(new Float32Array(2), [2], 'complex64'), 'E_DTYPE', /unknown dtype/);
  });

  test('wrong argument kinds are E_TYPE', () => {
    expectCode(() => new (Handle())([1, 2], [2], 'float32'), 'E_TYPE');
    expectCode(() => new (Handle())(new Float32Array(2), 2, 'float32'), 'E_TYPE');
    expectCode(() => new (Handle())(new Float32Array(2), [2]), 'E_TYPE');
  });

  test('an empty handle reports E_DISPOSED instead of crashing', () => {
    const empty = new (Handle())() as { shape(): number[] };
    expectCode(() => empty.shape(), 'E_DISPOSED');
  });
});

describe('dispose', () => {
  test('use after dispose throws E_DISPOSED, and dispose is idempotent', () => {
    const t = Tensor.from(Float32Array.of(1, 2), [2]);
    t.dispose();
    t.dispose();
    expect(t.disposed).toBe(true);
    expect(String(t)).toBe('Tensor(disposed)');
    expectCode(() => t.shape, 'E_DISPOSED');
    expectCode(() => t.dtype, 'E_DISPOSED');
    expectCode(() => t.device, 'E_DISPOSED');
    expectCode(() => t.toTypedArray(), 'E_DISPOSED');
    expectCode(() => t.to('cpu'), 'E_DISPOSED');
    expectCode(() => t.handle.byteLength(), 'E_DISPOSED');
  });

  test('`using` disposes at the end of the block', () => {
    let escaped: Tensor | undefined;
    {
      using t = Tensor.from(Float32Array.of(1), [1]);
      escaped = t;
      expect(t.disposed).toBe(false);
    }
    expect(escaped.disposed).toBe(true);
  });

  test('10,000 create/dispose cycles of a 1 MB tensor leave RSS flat (measured in a fresh process)', () => {
    const script = path.join(__dirname, 'fixtures', 'rss-cycles.js');
    // Under the CPU tensor cache users get (native/core/base/cpu_tensor_cache.h): freed blocks are kept for reuse, so
    // a leak, or a cache that failed to hand its blocks out again, would show as growth.
    const env: NodeJS.ProcessEnv = { ...process.env };
    for (const key of ['LCMD_HEAP', 'LCMD_HEAP_CACHE_MIB']) delete env[key];
    const out = execFileSync(process.execPath, [script, '10000'], { encoding: 'utf8', timeout: 280_000, env });
    const { growthBytes } = JSON.parse(out.trim().split('\n').pop()!) as { growthBytes: number };
    // 10 GB went through; a leak of even 1% would show as ~100 MB
    expect(growthBytes).toBeLessThan(100 * 2 ** 20);
  }, 300_000);

  test('the GC finalizer frees tensors that were never disposed', () => {
    // A child process, because jest does not expose gc(). It uses the native handle directly.
    const addon = process.env.LCMD_ADDON ? path.resolve(process.env.LCMD_ADDON) : path.resolve(__dirname, '..', 'build', 'Release', 'lcmd.node');
    // napi finalizers run from the event loop after a collection, so the loop yields between batches.
    const script = `
      const addon = require(${JSON.stringify(addon)});
      const data = new Float32Array(262144);
      const make = () => { new addon.TensorHandle(data, [262144], 'float32'); };
      const settle = async () => { gc(); await new Promise((r) => setImmediate(r)); await new Promise((r) => setImmediate(r)); };
      (async () => {
        for (let i = 0; i < 100; i++) make();
        await settle();
        const before = process.memoryUsage().rss;
        for (let i = 0; i < 3000; i++) { make(); if (i % 100 === 99) await settle(); }
        await settle();
        process.stdout.write(JSON.stringify({ growth: process.memoryUsage().rss - before }));
      })();
    `;
    const child = spawnSync(process.execPath, ['--expose-gc', '-e', script], { encoding: 'utf8', env: { ...process.env, LCMD_NUM_THREADS: '1' } });
    expect(child.stderr).toBe('');
    const { growth } = JSON.parse(child.stdout) as { growth: number };
    // 3 GB were allocated and dropped; without the finalizer RSS would grow by about that much
    expect(growth).toBeLessThan(300 * 2 ** 20);
  });
});

describe('blocks reused by the CPU tensor cache', () => {
  test('live tensors of one size class never share memory, and a reused block holds only its new contents', () => {
    expect(native().runtimeInfo().heap.mode).toBe('lcmd');
    // 100,000 and 100,003 int32 values fall in one size class (8 per power of two), so the cache hands blocks across them
    const sizes = [100_000, 100_003, 99_000];
    const make = (i: number) => {
      const n = sizes[i % sizes.length];
      return { i, n, t: Tensor.from(new Int32Array(n).map((_, k) => i * 1e6 + k), [n]) };
    };
    const live = Array.from({ length: 24 }, (_, i) => make(i));
    const hitsBefore = native().runtimeInfo().heap.hits;
    for (const entry of live.splice(0, 12)) entry.t.dispose();
    live.push(...Array.from({ length: 12 }, (_, i) => make(100 + i)));
    expect(native().runtimeInfo().heap.hits - hitsBefore).toBeGreaterThanOrEqual(12);
    for (const { i, n, t } of live) {
      const data = t.toTypedArray() as Int32Array;
      expect(data.length).toBe(n);
      expect(data[0]).toBe(i * 1e6);
      expect(data[n - 1]).toBe(i * 1e6 + n - 1);
      let mismatches = 0;
      for (let k = 0; k < n; k++) if (data[k] !== i * 1e6 + k) mismatches++;
      expect(mismatches).toBe(0);
      t.dispose();
    }
  });
});
