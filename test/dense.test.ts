// The Linear layers' products (native/core/model/dense.h): oneDNN's sgemm for the forward and the input gradient on
// float32 CPU tensors, libtorch for the weight gradient, against at::linear in float64 with autograd.
import * as fs from 'fs';
import { testHooks } from '../lib/binding';
import { info } from '../lib/info';
import { Tensor } from '../lib/tensor';
import { worst } from './float-compare';
import { rng } from './sampler-stats';

function values(handle: unknown): number[] {
  const t = new Tensor(handle as ConstructorParameters<typeof Tensor>[0]);
  const out = Array.from(t.toTypedArray() as Float64Array);
  t.dispose();
  return out;
}

function run(xShape: number[], outFeatures: number, withBias: boolean, dtype: 'float32' | 'float64' = 'float32') {
  const r = rng(xShape.reduce((a, b) => a * b, outFeatures));
  const make = (shape: number[]) => {
    const data = Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => r.normal());
    return Tensor.from(dtype === 'float32' ? Float32Array.from(data) : Float64Array.from(data), shape);
  };
  const inFeatures = xShape[xShape.length - 1];
  const x = make(xShape), w = make([outFeatures, inFeatures]), b = withBias ? make([outFeatures]) : null, g = make([...xShape.slice(0, -1), outFeatures]);
  const out = testHooks().dense(x.handle, w.handle, b?.handle ?? null, g.handle);
  for (const t of [x, w, b, g]) t?.dispose();
  return {
    ...out,
    value: values(out.value), noGradValue: values(out.noGradValue), gradX: values(out.gradX), gradWeight: values(out.gradWeight),
    gradBias: out.gradBias ? values(out.gradBias) : undefined, frozenGradX: values(out.frozenGradX),
    reference: values(out.reference), referenceGradX: values(out.referenceGradX), referenceGradWeight: values(out.referenceGradWeight),
    referenceGradBias: out.referenceGradBias ? values(out.referenceGradBias) : undefined,
  };
}

describe('Linear layers: oneDNN forward and input gradient, libtorch weight gradient', () => {
  // Debian's libtorch with libdnnl-dev installed (the README's setup) builds the oneDNN path, and `lcmd info` names it
  (fs.existsSync('/usr/include/oneapi/dnnl/dnnl.h') ? test : test.skip)('beside Debian\'s libtorch and oneDNN\'s headers the build includes oneDNN', async () => {
    const r = await info();
    if (r.torchFoundVia !== 'system install') return;
    const out = run([1024, 3], 4, true);
    expect(out.onednnBuilt).toBe(true);
    expect(out.onednn).toBe(true);
    expect(r.onednn).toMatch(/^oneDNN \d+\.\d+\.\d+$/);
  });

  test.each([
    [[24, 49, 128], 384, true], // a qkv projection of 1176 rows
    [[21, 50, 64], 256, true], // rows and widths off every blocking size
    [[1100, 33], 17, false], // two dimensions, no bias
    [[2, 5, 110, 24], 40, true], // four dimensions
    [[7, 33], 17, true], // under 1024 rows: libtorch's product
    [[1, 1], 1, true],
  ])('x %j, %i outputs, bias %s: value, no-grad value and every gradient match float64 at::linear', (xShape, outFeatures, withBias) => {
    const out = run(xShape as number[], outFeatures as number, withBias as boolean);
    const shape = xShape as number[];
    const rows = shape.slice(0, -1).reduce((a, b) => a * b, 1);
    expect(out.onednn).toBe(out.onednnBuilt && rows >= 1024);
    // float32 sums of n unit-normal products: partial sums of about sqrt(n), each of the n additions rounding at 6e-8
    // of them, so the worst error against 1 + |value| grows about as n (n: the input width for the value, the output
    // width for the input gradient, the rows for the weight's and the bias's)
    const tolerance = (terms: number) => 1e-7 * terms + 2e-6;
    expect(worst(out.value, out.reference)).toBeLessThan(tolerance(shape[shape.length - 1]));
    expect(out.noGradValue).toEqual(out.value);
    expect(worst(out.gradX, out.referenceGradX)).toBeLessThan(tolerance(outFeatures as number));
    expect(worst(out.gradWeight, out.referenceGradWeight)).toBeLessThan(tolerance(rows));
    if (withBias) expect(worst(out.gradBias!, out.referenceGradBias!)).toBeLessThan(tolerance(rows));
    else expect(out.gradBias).toBeUndefined();
    // frozen weights: the input still gets its gradient, the weight none
    expect(worst(out.frozenGradX, out.referenceGradX)).toBeLessThan(tolerance(outFeatures as number));
    expect(out.frozenWeightHasGrad).toBe(false);
  });

  test('float64 stays with libtorch and equals the reference', () => {
    const out = run([3, 7], 5, true, 'float64');
    expect(out.onednn).toBe(false);
    expect(worst(out.value, out.reference)).toBeLessThan(1e-12);
    expect(worst(out.gradWeight, out.referenceGradWeight)).toBeLessThan(1e-12);
  });
});
