// The counter-based uniforms: strictly inside (0, 1) and equally spaced at every value, including the top of the range
// where a float32 k + 0.5 with 24-bit k would round (and k = 2^24 - 1 would give exactly 1). The normals: against a
// float64 Box-Muller of the same uniforms, and the same bits from every CPU build.
import * as fs from 'fs';
import * as os from 'os';
import { testHooks } from '../lib/binding';
import { Tensor } from '../lib/tensor';

/** A random word whose high bits hold k as the uniform's index, with random low bits below it. */
const word = (k: bigint, bits: bigint, low = 0x123456789n) => (k << (64n - bits)) | (low & ((1n << (64n - bits)) - 1n));

test('the extreme words map strictly inside (0, 1)', () => {
  const u = testHooks().uniformFromBits(BigUint64Array.from([0n, 0xffffffffffffffffn]));
  expect(u[0]).toBeGreaterThan(0);
  expect(u[1]).toBeLessThan(1);
  // the closed form: (k + 1/2) / 2^23 at both ends
  expect(u[0]).toBe(0.5 / 2 ** 23);
  expect(u[1]).toBe((2 ** 23 - 0.5) / 2 ** 23);
});

test('consecutive top indices give distinct, equally spaced values (no rounding to even multiples)', () => {
  const ks = Array.from({ length: 64 }, (_, i) => BigInt(2 ** 23 - 64 + i));
  const u = testHooks().uniformFromBits(BigUint64Array.from(ks.map((k) => word(k, 23n))));
  for (let i = 0; i < ks.length; i++) expect(u[i]).toBe((Number(ks[i]) + 0.5) / 2 ** 23);
  expect(new Set(u).size).toBe(ks.length);
});

test('the low bits do not matter and the mean over a stride of indices is 1/2', () => {
  const ks = Array.from({ length: 4096 }, (_, i) => BigInt(i * 2048));
  const a = testHooks().uniformFromBits(BigUint64Array.from(ks.map((k) => word(k, 23n, 0n))));
  const b = testHooks().uniformFromBits(BigUint64Array.from(ks.map((k) => word(k, 23n, 0xfffffffffffn))));
  expect(Array.from(b)).toEqual(Array.from(a));
  const mean = a.reduce((s, v) => s + v, 0) / a.length;
  expect(Math.abs(mean - 0.5)).toBeLessThan(1e-3);
});

describe('counter normals (Box-Muller with lcmd\'s own log and cosine)', () => {
  const rows = 64, m = 8192; // 524k normals
  const builds = (normal: boolean, columns: number) => {
    const out = testHooks().counterNoiseBuilds(2024, rows, columns, normal);
    const value = new Tensor(out.value), baseline = new Tensor(out.baseline);
    const result = { cpuPath: out.cpuPath, value: value.toTypedArray() as Float32Array, baseline: baseline.toTypedArray() as Float32Array };
    value.dispose();
    baseline.dispose();
    return result;
  };

  test('each normal is sqrt(-2 ln u1) cos(2 pi u2) of its stream\'s uniforms 2j, 2j + 1, within 5 ulp (float64 reference)', () => {
    const normals = builds(true, m).value, uniforms = builds(false, 2 * m).value;
    let worst = 0;
    for (let r = 0; r < rows; r++) for (let j = 0; j < m; j++) {
      const u1 = uniforms[r * 2 * m + 2 * j], u2 = uniforms[r * 2 * m + 2 * j + 1];
      const ref = Math.sqrt(-2 * Math.log(u1)) * Math.cos(2 * Math.PI * u2);
      worst = Math.max(worst, Math.abs(normals[r * m + j] - ref) / Math.abs(ref));
    }
    // relative, also where the cosine is near zero: float32 cosf(6.2831855f * u) is off by the rounding of its
    // argument there (relative errors of 1e-3 and more in a sample this size)
    expect(worst).toBeLessThan(6e-7);
  });

  test('the build this CPU runs gives the same bits as the baseline build, for normals and uniforms', () => {
    for (const normal of [true, false]) {
      const out = builds(normal, 1001); // a row length that is no multiple of a vector width
      expect(Buffer.from(out.value.buffer).equals(Buffer.from(out.baseline.buffer))).toBe(true);
    }
  });

  const x86 = os.arch() === 'x64' && fs.existsSync('/proc/cpuinfo');
  (x86 ? test : test.skip)('the build is chosen from the features /proc/cpuinfo lists', () => {
    const flags = new Set((/^flags\s*:(.*)$/m.exec(fs.readFileSync('/proc/cpuinfo', 'utf8'))?.[1] ?? '').trim().split(/\s+/));
    const avx2 = flags.has('avx2') && flags.has('fma');
    const avx512 = avx2 && ['avx512f', 'avx512dq', 'avx512vl'].every((f) => flags.has(f));
    expect(builds(true, 1).cpuPath).toBe(avx512 ? 'avx512' : avx2 ? 'avx2+fma' : 'baseline');
  });
});
