// A synthetic token distribution with structure, for the learning and collapse tests: every grid is one of a few
// fixed random patterns, so its entropy is log2(patterns) bits per grid, far below N log2 K.
import { Tensor } from '../lib/tensor';
import { rng } from './sampler-stats';

export interface PatternSource {
  patterns: number[][];
  /** the next `batch` grids [batch, N] as int64 */
  batch(size: number): Tensor;
  /** bits per token of the distribution itself */
  entropyBitsPerToken: number;
}

export function patternSource(options: { patterns: number; tokens: number; vocab: number; seed: number }): PatternSource {
  const r = rng(options.seed);
  const patterns = Array.from({ length: options.patterns }, () => Array.from({ length: options.tokens }, () => Math.floor(r.uniform() * options.vocab)));
  const draw = rng(options.seed + 1);
  return {
    patterns,
    batch(size: number): Tensor {
      const values = new BigInt64Array(size * options.tokens);
      for (let b = 0; b < size; b++) {
        const p = patterns[Math.floor(draw.uniform() * patterns.length)];
        for (let i = 0; i < options.tokens; i++) values[b * options.tokens + i] = BigInt(p[i]);
      }
      return Tensor.from(values, [size, options.tokens]);
    },
    entropyBitsPerToken: Math.log2(options.patterns) / options.tokens,
  };
}
