// Comparing a result with its float64 reference, element by element.

/** The largest |a - b| / (1 + |b|) over the elements. */
export function worst(a: number[], b: number[]): number {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]) / (1 + Math.abs(b[i])));
  return m;
}
