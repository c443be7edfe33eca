import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { TokenDataset, type TokenBatch } from '../lib/data';
import { LcmdError } from '../lib/errors';
import { writeNpy } from '../lib/npy';
import { Tensor } from '../lib/tensor';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lcmd-data-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

const MASK = (1n << 64n) - 1n;

/** The documented shuffle, written out independently: SplitMix64 seeded from (seed, epoch), then Fisher-Yates. */
function referencePermutation(seed: number, epoch: number, n: number): number[] {
  let state = BigInt(seed);
  const next = (): bigint => {
    state = (state + 0x9e3779b97f4a7c15n) & MASK;
    let z = state;
    z = ((z ^ (z >> 30n)) * 0xbf58476d1ce4e5b9n) & MASK;
    z = ((z ^ (z >> 27n)) * 0x94d049bb133111ebn) & MASK;
    return z ^ (z >> 31n);
  };
  state = next() ^ ((BigInt(epoch) * 0xd1b54a32d192ed03n) & MASK);
  const perm = Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const bound = BigInt(i + 1);
    const threshold = ((1n << 64n) - bound) % bound;
    let x = next();
    while (x < threshold) x = next();
    const j = Number(x % bound);
    [perm[i], perm[j]] = [perm[j], perm[i]];
  }
  return perm;
}

/** n examples whose tokens are [i, i + 1, ..., i + N - 1] (mod K), labels i % 10: every row names its index. */
function indexedTokens(n: number, N = 6, K = 1000): { tokens: Tensor; labels: Tensor } {
  const t = new Int32Array(n * N);
  for (let i = 0; i < n; i++) for (let j = 0; j < N; j++) t[i * N + j] = (i + j) % K;
  const l = new BigInt64Array(n);
  for (let i = 0; i < n; i++) l[i] = BigInt(i % 10);
  return { tokens: Tensor.from(t, [n, N]), labels: Tensor.from(l, [n]) };
}

/** The example index of each row of a batch (the row's first token). */
function rowsOf(batch: TokenBatch): number[] {
  const data = batch.tokens.toTypedArray() as BigInt64Array;
  const N = batch.tokens.shape[1];
  return Array.from({ length: batch.tokens.shape[0] }, (_, r) => Number(data[r * N]));
}

async function take(ds: TokenDataset, count: number): Promise<number[][]> {
  const out: number[][] = [];
  for (let i = 0; i < count; i++) out.push(rowsOf(await ds.next()));
  return out;
}

async function failure(fn: () => unknown): Promise<LcmdError> {
  try {
    await fn();
  } catch (err) {
    expect(err).toBeInstanceOf(LcmdError);
    return err as LcmdError;
  }
  throw new Error('expected an LcmdError');
}

describe('TokenDataset shuffling and batching', () => {
  test('each epoch is the documented (seed, epoch) permutation, batched in order, rows and labels intact', async () => {
    const { tokens, labels } = indexedTokens(50);
    const ds = await TokenDataset.fromTensor(tokens, labels, { batchSize: 8, seed: 1234 });
    expect(ds.stepsPerEpoch).toBe(6);
    for (let epoch = 0; epoch < 3; epoch++) {
      const perm = referencePermutation(1234, epoch, 50);
      for (let step = 0; step < 6; step++) {
        const batch = await ds.next();
        expect(batch.position).toEqual({ epoch, step });
        expect(batch.tokens.dtype).toBe('int64');
        expect(batch.tokens.shape).toEqual([8, 6]);
        const rows = rowsOf(batch);
        expect(rows).toEqual(perm.slice(step * 8, step * 8 + 8));
        const t = batch.tokens.toTypedArray() as BigInt64Array;
        rows.forEach((i, r) => expect(Array.from(t.subarray(r * 6, r * 6 + 6)).map(Number)).toEqual([0, 1, 2, 3, 4, 5].map((j) => i + j)));
        expect(Array.from(batch.labels!.toTypedArray() as BigInt64Array).map(Number)).toEqual(rows.map((i) => i % 10));
      }
    }
    expect(referencePermutation(1234, 0, 50)).not.toEqual(referencePermutation(1234, 1, 50));
    ds.dispose();
  });

  test('the same seed gives the same sequence; another seed another one', async () => {
    const { tokens } = indexedTokens(40);
    const a = await TokenDataset.fromTensor(tokens, undefined, { batchSize: 5, seed: 7 });
    const b = await TokenDataset.fromTensor(tokens, undefined, { batchSize: 5, seed: 7 });
    const c = await TokenDataset.fromTensor(tokens, undefined, { batchSize: 5, seed: 8 });
    const seqA = await take(a, 20);
    expect(await take(b, 20)).toEqual(seqA);
    expect(await take(c, 20)).not.toEqual(seqA);
    // each epoch (8 batches of 5) covers every example exactly once
    expect(seqA.slice(0, 8).flat().sort((x, y) => x - y)).toEqual(Array.from({ length: 40 }, (_, i) => i));
    expect(seqA.slice(8, 16).flat().sort((x, y) => x - y)).toEqual(Array.from({ length: 40 }, (_, i) => i));
    for (const ds of [a, b, c]) ds.dispose();
  });

  test('rank shards are disjoint and together form the one-process global batch', async () => {
    const { tokens } = indexedTokens(70);
    const single = await TokenDataset.fromTensor(tokens, undefined, { batchSize: 12, seed: 3 });
    const global = await take(single, 15); // spans 2+ epochs (5 steps each)
    for (const world of [2, 3, 4]) {
      const shards: number[][][] = [];
      for (let rank = 0; rank < world; rank++) {
        const ds = await TokenDataset.fromTensor(tokens, undefined, { batchSize: 12, seed: 3, rank, worldSize: world });
        expect(ds.localBatchSize).toBe(12 / world);
        shards.push(await take(ds, 15));
        ds.dispose();
      }
      for (let step = 0; step < 15; step++) {
        const union = shards.map((s) => s[step]).flat();
        expect(new Set(union).size).toBe(12);
        expect(union).toEqual(global[step]);
      }
    }
    single.dispose();
  });

  test('position and seek resume the same sequence, across epoch boundaries', async () => {
    const { tokens } = indexedTokens(30);
    const first = await TokenDataset.fromTensor(tokens, undefined, { batchSize: 4, seed: 11 });
    expect(first.stepsPerEpoch).toBe(7);
    await take(first, 9);
    const saved = first.position;
    expect(saved).toEqual({ epoch: 1, step: 2 });
    const rest = await take(first, 10);
    const resumed = await TokenDataset.fromTensor(tokens, undefined, { batchSize: 4, seed: 11, prefetch: 3 });
    await take(resumed, 3); // consumed and prefetched batches are discarded by seek
    resumed.seek(saved);
    expect(resumed.position).toEqual(saved);
    expect(await take(resumed, 10)).toEqual(rest);
    expect(() => resumed.seek({ epoch: 0, step: 7 })).toThrow(expect.objectContaining({ code: 'E_RANGE' }));
    first.dispose();
    resumed.dispose();
  });

  test('held-out examples never reach training and come back in order (count or fraction, per rank)', async () => {
    const { tokens, labels } = indexedTokens(50);
    for (const heldout of [10, 0.2]) {
      const ds = await TokenDataset.fromTensor(tokens, labels, { batchSize: 8, seed: 5, heldout });
      expect([ds.trainSize, ds.heldoutSize, ds.stepsPerEpoch]).toEqual([40, 10, 5]);
      const seen = (await take(ds, 20)).flat();
      expect(Math.max(...seen)).toBeLessThan(40);
      expect(new Set(seen).size).toBe(40);
      const held = [...ds.heldoutBatches(4)];
      expect(held.map(rowsOf)).toEqual([[40, 41, 42, 43], [44, 45, 46, 47], [48, 49]]);
      expect(Array.from(held[2].labels!.toTypedArray() as BigInt64Array).map(Number)).toEqual([8, 9]);
      ds.dispose();
    }
    const ranks = await Promise.all([0, 1].map((rank) => TokenDataset.fromTensor(tokens, undefined, { batchSize: 8, heldout: 10, rank, worldSize: 2 })));
    const shares = ranks.map((ds) => [...ds.heldoutBatches()].map(rowsOf));
    expect(shares[0]).toEqual([[40, 41, 42, 43], [48]]);
    expect(shares[1]).toEqual([[44, 45, 46, 47], [49]]);
    ranks.forEach((ds) => ds.dispose());
  });
});

describe('TokenDataset files and validation', () => {
  test('opens memory-mapped .npy tokens [n, H, W] (uint16) and labels, batches as int64 [b, H*W]', async () => {
    const n = 20;
    const grid = new Int32Array(n * 9);
    for (let i = 0; i < grid.length; i++) grid[i] = (i * 37) % 1024;
    await writeNpy(path.join(dir, 'tokens.npy'), Tensor.from(grid, [n, 3, 3]), { dtype: 'uint16' });
    await writeNpy(path.join(dir, 'labels.npy'), Tensor.from(new Int32Array(n).map((_, i) => i % 3), [n]), { dtype: 'uint8' });
    const ds = await TokenDataset.open({ tokens: path.join(dir, 'tokens.npy'), labels: path.join(dir, 'labels.npy'), batchSize: 4, seed: 2, vocabSize: 1024, numClasses: 3, heldout: 4 });
    expect([ds.size, ds.sequenceLength, ds.gridShape, ds.maxToken, ds.maxLabel, ds.hasLabels]).toEqual([20, 9, [3, 3], Math.max(...grid), 2, true]);
    const perm = referencePermutation(2, 0, 16);
    const batch = await ds.next();
    expect(batch.tokens.shape).toEqual([4, 9]);
    const got = Array.from(batch.tokens.toTypedArray() as BigInt64Array).map(Number);
    expect(got).toEqual(perm.slice(0, 4).flatMap((i) => Array.from(grid.subarray(i * 9, i * 9 + 9))));
    expect(Array.from(batch.labels!.toTypedArray() as BigInt64Array).map(Number)).toEqual(perm.slice(0, 4).map((i) => i % 3));
    ds.dispose();
  });

  test('out-of-range token ids and labels are E_RANGE naming the example, position and value', async () => {
    const t = new Int32Array(10 * 4).fill(3);
    t[2 * 4 + 1] = 300;
    const tokens = Tensor.from(t, [10, 4]);
    let err = await failure(() => TokenDataset.fromTensor(tokens, undefined, { batchSize: 2, vocabSize: 256 }));
    expect(err.code).toBe('E_RANGE');
    expect(err.message).toMatch(/300 at index 9 \(example 2, position 1\)/);
    expect(err.message).toMatch(/vocabulary size 256/);
    t[2 * 4 + 1] = -4;
    err = await failure(() => TokenDataset.fromTensor(Tensor.from(t, [10, 4]), undefined, { batchSize: 2 }));
    expect(err.code).toBe('E_RANGE');
    expect(err.message).toMatch(/-4 at index 9/);
    await writeNpy(path.join(dir, 'big.npy'), Tensor.from(new Int32Array(40).fill(1000), [10, 4]), { dtype: 'uint16' });
    err = await failure(() => TokenDataset.open({ tokens: path.join(dir, 'big.npy'), batchSize: 2, vocabSize: 1000 }));
    expect(err.code).toBe('E_RANGE');
    expect(err.message).toContain('big.npy');
    const labels = Tensor.from(new BigInt64Array([0n, 1n, 2n, 3n, 4n, 5n, 6n, 7n, 8n, 10n]), [10]);
    err = await failure(() => TokenDataset.fromTensor(Tensor.from(new Int32Array(40), [10, 4]), labels, { batchSize: 2, numClasses: 10 }));
    expect(err.code).toBe('E_RANGE');
    expect(err.message).toMatch(/labels holds 10 at index 9/);
  });

  test('bad shapes, dtypes and options are rejected with the right code', async () => {
    const tokens = Tensor.from(new Int32Array(40), [10, 4]);
    const cases: [() => Promise<unknown>, string][] = [
      [() => TokenDataset.fromTensor(tokens, undefined, { batchSize: 11 }), 'E_DATA'],
      [() => TokenDataset.fromTensor(tokens, undefined, { batchSize: 8, heldout: 4 }), 'E_DATA'],
      [() => TokenDataset.fromTensor(tokens, undefined, { batchSize: 6, worldSize: 4 }), 'E_CONFIG'],
      [() => TokenDataset.fromTensor(tokens, undefined, { batchSize: 4, rank: 2, worldSize: 2 }), 'E_RANGE'],
      [() => TokenDataset.fromTensor(tokens, undefined, { batchSize: 0 }), 'E_RANGE'],
      [() => TokenDataset.fromTensor(tokens, undefined, { batchSize: 2, heldout: 1.5 }), 'E_RANGE'],
      [() => TokenDataset.fromTensor(tokens, Tensor.from(new Int32Array(9), [9]), { batchSize: 2 }), 'E_SHAPE'],
      [() => TokenDataset.fromTensor(Tensor.from(new Float32Array(40), [10, 4]), undefined, { batchSize: 2 }), 'E_DTYPE'],
      [() => TokenDataset.fromTensor(Tensor.from(new Int32Array(10), [10]), undefined, { batchSize: 2 }), 'E_SHAPE'],
      [() => TokenDataset.open({ tokens: path.join(dir, 'none.npy'), batchSize: 2 }), 'E_IO'],
    ];
    for (const [fn, code] of cases) expect((await failure(fn)).code).toBe(code);
  });

  test('dispose is idempotent, wakes nothing up wrongly, and later use is E_DISPOSED', async () => {
    const { tokens } = indexedTokens(64);
    const ds = await TokenDataset.fromTensor(tokens, undefined, { batchSize: 4 });
    const pending = ds.next();
    ds.dispose();
    ds.dispose();
    await pending.then(
      (batch) => expect(batch.tokens.shape).toEqual([4, 6]),
      (err: LcmdError) => expect(err.code).toBe('E_DISPOSED'),
    );
    expect(() => ds.next()).toThrow(expect.objectContaining({ code: 'E_DISPOSED' }));
    expect(() => ds.position).toThrow(expect.objectContaining({ code: 'E_DISPOSED' }));
  });
});
