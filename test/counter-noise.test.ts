// The counter-based uniforms: strictly inside (0, 1) and equally spaced at every value, including the top of the range
// where a float32 k + 0.5 with 24-bit k would round (and k = 2^24 - 1 would give exactly 1).
import { testHooks } from '../lib/binding';

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
