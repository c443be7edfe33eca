/**
 * Token statistics for `lcmd eval`: how much of the codebook a set of token grids uses, and how far the token
 * frequencies of samples are from those of the data (unigram KL divergences and total variation).
 */
import { check } from '../lib/errors';

/** Occurrences of each id in [0, vocabSize); an id outside is E_RANGE naming its flat index. */
export function tokenCounts(ids: ArrayLike<number | bigint>, vocabSize: number, what = 'tokens'): Float64Array {
  check(Number.isSafeInteger(vocabSize) && vocabSize > 0, 'E_RANGE', `expected a positive vocabulary size, got ${vocabSize}`);
  const counts = new Float64Array(vocabSize);
  for (let i = 0; i < ids.length; i++) {
    const id = Number(ids[i]);
    check(Number.isInteger(id) && id >= 0 && id < vocabSize, 'E_RANGE', () => `${what}: id ${id} at flat index ${i} is outside [0, ${vocabSize})`);
    counts[id]++;
  }
  return counts;
}

/** Fraction of the vocabulary that occurs at least once. */
export function codebookUsage(counts: Float64Array): number {
  let used = 0;
  for (const c of counts) if (c > 0) used++;
  return used / counts.length;
}

function total(counts: Float64Array): number {
  let sum = 0;
  for (const c of counts) sum += c;
  return sum;
}

/** Entropy in bits of the empirical distribution. */
export function entropyBits(counts: Float64Array): number {
  const n = total(counts);
  let h = 0;
  for (const c of counts) if (c > 0) h -= (c / n) * Math.log2(c / n);
  return h;
}

/**
 * KL(p || q) in bits between two count vectors, each smoothed by adding `pseudoCount` to every id (default 0.5, the
 * Jeffreys prior), so that an id absent from q does not make the divergence infinite.
 */
export function klDivergenceBits(p: Float64Array, q: Float64Array, pseudoCount = 0.5): number {
  check(p.length === q.length, 'E_SHAPE', `expected count vectors of equal length, got ${p.length} and ${q.length}`);
  check(pseudoCount > 0, 'E_RANGE', `expected a positive pseudo-count, got ${pseudoCount}`);
  const np = total(p) + pseudoCount * p.length;
  const nq = total(q) + pseudoCount * q.length;
  let kl = 0;
  for (let k = 0; k < p.length; k++) {
    const pk = (p[k] + pseudoCount) / np;
    const qk = (q[k] + pseudoCount) / nq;
    kl += pk * Math.log2(pk / qk);
  }
  return kl;
}

/** Total variation distance (half the L1 distance) between the empirical distributions, in [0, 1]. */
export function totalVariation(p: Float64Array, q: Float64Array): number {
  check(p.length === q.length, 'E_SHAPE', `expected count vectors of equal length, got ${p.length} and ${q.length}`);
  const np = total(p);
  const nq = total(q);
  let tv = 0;
  for (let k = 0; k < p.length; k++) tv += Math.abs(p[k] / np - q[k] / nq);
  return tv / 2;
}

export interface TokenComparison {
  /** KL(samples || data), bits per token, Jeffreys-smoothed */
  klSamplesDataBits: number;
  /** KL(data || samples), bits per token, Jeffreys-smoothed */
  klDataSamplesBits: number;
  totalVariation: number;
}

export function compareTokenFrequencies(samples: Float64Array, data: Float64Array): TokenComparison {
  return {
    klSamplesDataBits: klDivergenceBits(samples, data),
    klDataSamplesBits: klDivergenceBits(data, samples),
    totalVariation: totalVariation(samples, data),
  };
}
