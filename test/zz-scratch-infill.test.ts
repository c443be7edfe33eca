import { createOracleDenoiser } from '../lib/oracle';
import { sample } from '../lib/sampler';
import { halfMask } from '../lib/sampler-masks';
import { Tensor } from '../lib/tensor';
import { rng } from './sampler-stats';
const GRIDS = [[0, 1, 2, 3],[4, 5, 6, 7],[0, 5, 2, 7],[3, 3, 1, 1]];
test('scratch', async () => {
  const r = rng(3);
  const emb = Float32Array.from({ length: 64 }, () => r.normal());
  const o = createOracleDenoiser({ grids: Tensor.from(Int32Array.from(GRIDS.flat()), [4, 2, 2]), embeddings: Tensor.from(emb, [8, 8]), weights: [0.1,0.2,0.3,0.4] });
  for (const sampler of ['ancestral', 'ddim'] as const) for (const [steps, R] of [[50,1],[50,2],[50,4],[50,10],[100,5],[20,10], [200,1]]) {
    const known = { tokens: Tensor.from(Int32Array.from(GRIDS[0]), [2, 2]), mask: halfMask(2, 2, 'left') };
    const t = await sample(o, { n: 1000, steps, seed: 4, known, sampler, batchSize: 1000, infillResample: R });
    const d = t.toTypedArray() as Int32Array;
    const counts: Record<string, number> = {};
    for (let i = 0; i < 1000; i++) { const k = Array.from(d.subarray(i*4, i*4+4)).join(''); counts[k] = (counts[k] ?? 0) + 1; }
    console.log(sampler, steps, R, JSON.stringify(counts));
  }
});
