/**
 * Sampling throughput: images/s at 8, 50 and 200 steps, with and without classifier-free guidance, plus the network
 * evaluations each run made (steps + 1 per sample; guided evaluations are one forward of 2B rows). Writes JSON.
 *
 *   npx tsc -p tsconfig.json && node dist/bench/sampling.js --model oracle [--device cpu] [--n 32] [--batch-size 32]
 *     [--steps 8,50,200] [--guidance 3] [--sampler ancestral] [--out sampling.json]
 *
 * Models come from MODEL_FACTORIES: the paper-shaped oracle (16x16 tokens, K = 1024, d = 256) measures the sampler's
 * own cost; 'small' and 'paper-uncond' are freshly initialised presets (throughput does not depend on training).
 */
import { writeFileAtomic } from '../lib/atomic-write';
import { native } from '../lib/binding';
import { Model } from '../lib/model';
import { createOracleDenoiser } from '../lib/oracle';
import { sampleDetailed, type SampleableModel } from '../lib/sampler';
import { Tensor } from '../lib/tensor';

export type BenchModel = SampleableModel & { dispose(): void };
export type ModelFactory = (device: string) => BenchModel | Promise<BenchModel>;

/** An oracle of M random grids with classes, shaped like a real model (its cost is the sampler's, not a network's). */
function oracleFactory(height: number, width: number, vocab: number, dim: number, grids: number, classes: number): ModelFactory {
  return (device) => {
    let state = 12345;
    const next = () => (state = (Math.imul(state, 1103515245) + 12345) >>> 0);
    const tokens = Int32Array.from({ length: grids * height * width }, () => next() % vocab);
    const table = Float32Array.from({ length: vocab * dim }, () => next() / 2 ** 31 - 1);
    const g = Tensor.from(tokens, [grids, height, width]);
    const e = Tensor.from(table, [vocab, dim]);
    const oracle = createOracleDenoiser({ grids: g, embeddings: e, classes: Array.from({ length: grids }, (_, i) => i % classes), device });
    g.dispose();
    e.dispose();
    return oracle;
  };
}

export const MODEL_FACTORIES: Record<string, ModelFactory> = {
  oracle: oracleFactory(16, 16, 1024, 256, 64, 10),
  'oracle-small': oracleFactory(8, 8, 256, 64, 64, 10),
  small: (device) => Model.create('small', { device }),
  'paper-uncond': (device) => Model.create('paper-uncond', { device }),
};

export interface SamplingBenchRow {
  steps: number;
  guidance: number;
  sampler: 'ancestral' | 'ddim';
  n: number;
  batchSize: number;
  seconds: number;
  imagesPerSecond: number;
  evaluationsPerSample: number;
  forwardCalls: number;
  forwardRows: number;
  forwardRowsPerSecond: number;
}

export interface SamplingBenchOptions {
  n: number;
  batchSize: number;
  steps: number[];
  /** The guided runs' weight; guided runs are skipped for unconditional models. */
  guidance: number;
  sampler: 'ancestral' | 'ddim';
}

/** Times sample() on `model` for each step count, unguided and (for conditional models) guided. */
export async function benchmarkSampling(model: SampleableModel, options: SamplingBenchOptions): Promise<SamplingBenchRow[]> {
  const { n, batchSize, sampler } = options;
  const numClasses = model.config.numClasses;
  const classes = numClasses > 0 ? Array.from({ length: n }, (_, i) => i % numClasses) : undefined;
  const weights = numClasses > 0 && options.guidance > 0 ? [0, options.guidance] : [0];
  // warm-up: first-call allocations and kernel selection stay out of the timings
  (await sampleDetailed(model, { n: Math.min(n, batchSize), batchSize, steps: 2, classes: classes?.slice(0, Math.min(n, batchSize)) })).tokens.dispose();
  const rows: SamplingBenchRow[] = [];
  for (const steps of options.steps) {
    for (const guidance of weights) {
      const start = process.hrtime.bigint();
      const r = await sampleDetailed(model, { n, batchSize, steps, guidance, sampler, classes, seed: 1 });
      const seconds = Number(process.hrtime.bigint() - start) / 1e9;
      r.tokens.dispose();
      rows.push({
        steps, guidance, sampler, n, batchSize, seconds,
        imagesPerSecond: n / seconds,
        evaluationsPerSample: r.evaluationsPerSample,
        forwardCalls: r.forwardCalls,
        forwardRows: r.forwardRows,
        forwardRowsPerSecond: r.forwardRows / seconds,
      });
    }
  }
  return rows;
}

function parseArgs(argv: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (let i = 0; i < argv.length; i++) {
    const key = argv[i];
    if (!key.startsWith('--') || i + 1 >= argv.length) throw new Error(`unexpected argument '${key}' (flags take a value: --name value)`);
    out[key.slice(2)] = argv[++i];
  }
  return out;
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const name = args.model ?? 'oracle';
  const factory = MODEL_FACTORIES[name];
  if (!factory) throw new Error(`unknown model '${name}': expected one of ${Object.keys(MODEL_FACTORIES).join(', ')}`);
  const device = args.device ?? 'cpu';
  const n = Number(args.n ?? 32);
  const options: SamplingBenchOptions = {
    n,
    batchSize: Number(args['batch-size'] ?? n),
    steps: (args.steps ?? '8,50,200').split(',').map(Number),
    guidance: Number(args.guidance ?? 3),
    sampler: (args.sampler ?? 'ancestral') as 'ancestral' | 'ddim',
  };
  const model = await factory(device);
  const info = native().runtimeInfo();
  const { height, width, vocabSize, numClasses } = model.config;
  const rows = await benchmarkSampling(model, options);
  model.dispose();
  const report = {
    benchmark: 'sampling',
    model: name,
    device,
    grid: { height, width, vocabSize, numClasses },
    threads: native().numThreads(),
    torchVersion: info.torchVersion,
    deviceNames: info.devices.map((d) => d.name),
    date: new Date().toISOString(),
    rows,
  };
  const json = JSON.stringify(report, null, 2);
  if (args.out) writeFileAtomic(args.out, json + '\n');
  else process.stdout.write(json + '\n');
}

if (require.main === module) {
  main().catch((err) => {
    console.error(err);
    process.exitCode = 1;
  });
}
