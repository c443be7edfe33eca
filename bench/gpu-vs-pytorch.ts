/**
 * lcmd against the same model and objective in PyTorch on one GPU, eager and with torch.compile, in one invocation,
 * all three from one lcmd checkpoint (so the weights are identical): training images/s, MFU, peak memory, and
 * ancestral sampling samples/s at several step counts. Each side runs in a process of its own.
 *
 *   node dist/bench/gpu-vs-pytorch.js [--device cuda] [--preset paper-uncond] [--batch 128] [--precision bf16]
 *        [--steps 10] [--warmup 3] [--n 256] [--sample-steps 8,50,200] [--compile yes] [--python python3]
 *        [--peak-tflops 989] [--work DIR] [--out gpu-vs-pytorch.json]
 *
 * The PyTorch side is bench/pytorch/time_model.py (the model of bench/pytorch/lcmd_model.py, which
 * bench/cpu-vs-pytorch.ts checks against lcmd numerically). On a machine without CUDA, `--device cpu` runs the same
 * comparison with small settings, which is how the harness itself is tested.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { writeFileAtomic } from '../lib/atomic-write';
import { native } from '../lib/binding';
import type { ModelConfig, PartialRunConfig, TrainConfig } from '../lib/config';
import { Model } from '../lib/model';
import { readNpy } from '../lib/npy';
import { readSafetensorsMetadata } from '../lib/safetensors';
import { sampleDetailed } from '../lib/sampler';
import { Trainer } from '../lib/trainer';
import { parseBenchArgs } from './args';
import { positiveInt, prepareCheckpoint, pythonScript, readJson, run, writeBatch } from './cpu-vs-pytorch';

const DEFAULTS = {
  device: 'cuda', preset: 'paper-uncond', batch: '128', precision: 'bf16', steps: '10', warmup: '3', n: '256',
  'sample-steps': '8,50,200', compile: 'yes', python: 'python3', 'peak-tflops': '989', work: '', out: 'gpu-vs-pytorch.json',
  // internal: the lcmd worker
  worker: '', spec: '',
};

/** What each side is asked to time; time_model.py reads the same object. */
interface Spec {
  checkpoint: string;
  tokens: string;
  labels: string | null;
  steps: number;
  warmup: number;
  n: number;
  sampleSteps: number[];
  threads: number;
  device: string;
  precision: 'fp32' | 'bf16';
  compile: boolean;
  out: string;
  // unused by this bench's workers, required by time_model.py's other mode
  ddimSteps: number;
  guidance: number;
  ancestralSteps: number;
}

interface SideResult {
  train: { ms: number; imagesPerSecond: number; peakMemoryBytes: number | null };
  sampling: { steps: number; n: number; samplesPerSecond: number; peakMemoryBytes: number | null }[];
  [key: string]: unknown;
}

/** The CUDA device index of a device string ('cuda' is device 0), or null for the CPU. */
function cudaIndex(device: string): number | null {
  if (device === 'cpu') return null;
  const m = /^cuda(?::(\d+))?$/.exec(device);
  if (!m) throw new Error(`--device must be cpu, cuda or cuda:N, got '${device}'`);
  return m[1] === undefined ? 0 : Number(m[1]);
}

function peakMemory(device: string, reset: boolean): number | null {
  const index = cudaIndex(device);
  return index === null ? null : native().cudaMemory(index, reset).peakAllocatedBytes;
}

async function seconds(run: () => Promise<void>): Promise<number> {
  const start = process.hrtime.bigint();
  await run();
  return Number(process.hrtime.bigint() - start) / 1e9;
}

/** The lcmd side, in a process of its own: resumes the checkpoint, times training, then sampling at each step count. */
async function runLcmd(spec: Spec): Promise<void> {
  const trainer = await Trainer.resume(spec.checkpoint, { device: spec.device, precision: spec.precision });
  const tokens = (await readNpy(spec.tokens)).tensor;
  const labels = spec.labels ? (await readNpy(spec.labels)).tensor : undefined;
  const batch = { tokens, labels };
  for (let i = 0; i < spec.warmup; i++) await trainer.step(batch);
  peakMemory(spec.device, true);
  // each step returns its loss terms, read from the device: the step is complete when it resolves
  const trainSeconds = await seconds(async () => {
    for (let i = 0; i < spec.steps; i++) await trainer.step(batch);
  });
  const trainPeak = peakMemory(spec.device, true);
  trainer.dispose();

  const model = await Model.load(spec.checkpoint, { device: spec.device });
  const numClasses = model.config.numClasses;
  const classes = numClasses > 0 ? Array.from({ length: spec.n }, (_, i) => i % numClasses) : undefined;
  const options = { n: spec.n, batchSize: spec.n, sampler: 'ancestral' as const, classes, seed: 1 };
  (await sampleDetailed(model, { ...options, steps: 2 })).tokens.dispose(); // warm-up
  const sampling = [];
  for (const steps of spec.sampleSteps) {
    peakMemory(spec.device, true);
    const s = await seconds(async () => (await sampleDetailed(model, { ...options, steps })).tokens.dispose());
    sampling.push({ steps, n: spec.n, ms: s * 1000, samplesPerSecond: spec.n / s, peakMemoryBytes: peakMemory(spec.device, false) });
  }
  model.dispose();
  const info = native().runtimeInfo();
  const result = {
    torchVersion: info.torchVersion,
    deviceName: info.devices[cudaIndex(spec.device) ?? -1]?.name ?? 'cpu',
    precision: spec.precision,
    train: { ms: (trainSeconds / spec.steps) * 1000, imagesPerSecond: (tokens.shape[0] * spec.steps) / trainSeconds, peakMemoryBytes: trainPeak },
    sampling,
  };
  writeFileAtomic(spec.out, JSON.stringify(result) + '\n');
}

/**
 * Training FLOPs of one image: forward-equivalents of the objective times one forward, 2 N P_mm + 4 L N^2 h (N tokens,
 * P_mm the matmul weights, L layers, width h: the attention scores and their product with V). The student's forward at
 * t (and at 0 with the reconstruction term) costs 3 forwards with its backward; the self-conditioning pass one forward
 * on its share of examples; the CM teacher one forward with the data target, two with the teacher's DDIM step.
 */
export function trainFlopsPerImage(model: ModelConfig, train: TrainConfig, matmulWeights: number): { flops: number; forwardEquivalents: number; formula: string } {
  const n = model.height * model.width;
  const forward = 2 * n * matmulWeights + 4 * model.layers * n * n * model.hidden;
  const diffusion = model.method !== 'maskgit';
  const recon = diffusion && train.lambdaRecon > 0 ? 1 : 0;
  const selfCond = diffusion && model.selfCondition ? train.selfCondRate : 0;
  const teacher = diffusion && train.lambdaCm > 0 ? (train.cmTarget === 'data' ? 1 : 2) : 0;
  const forwardEquivalents = 3 * (1 + recon) + selfCond + teacher;
  return { flops: forwardEquivalents * forward, forwardEquivalents, formula: `images/s x ${forwardEquivalents} x (2 N P_mm + 4 L N^2 h) / peak` };
}

/**
 * P_mm, the weights multiplied once per token: the 2-D parameters other than the lookup tables (token and class
 * embeddings) and the weights applied once per example (the time MLP and the AdaLN modulations, about 8M of
 * paper-uncond's 56M, whose cost per image is negligible). The products with the embedding table (the exact-likelihood
 * term, the predicted embedding) are left out too: under 1% of a forward at the paper's sizes.
 */
export function isPerTokenWeight(name: string): boolean {
  return !name.startsWith('embedding.') && !name.startsWith('class_embed.') && !name.startsWith('time_mlp.') && !name.includes('.modulation.');
}

function matmulWeights(model: Model): number {
  let count = 0;
  for (const name of model.parameterNames()) {
    if (!isPerTokenWeight(name)) continue;
    const p = model.getParameter(name);
    if (p.shape.length === 2) count += p.shape[0] * p.shape[1];
    p.dispose();
  }
  return count;
}

async function main(): Promise<void> {
  const args = parseBenchArgs(process.argv.slice(2), DEFAULTS);
  if (args.worker === 'lcmd') return runLcmd(readJson<Spec>(args.spec));
  if (args.precision !== 'fp32' && args.precision !== 'bf16') throw new Error(`--precision must be fp32 or bf16, got '${args.precision}'`);
  if (args.compile !== 'yes' && args.compile !== 'no') throw new Error(`--compile must be yes or no, got '${args.compile}'`);
  cudaIndex(args.device);
  const sampleSteps = args['sample-steps'].split(',').map((s) => positiveInt(s, 'sample-steps'));
  const peakTflops = Number(args['peak-tflops']);
  if (!(peakTflops > 0)) throw new Error(`--peak-tflops must be a positive number, got '${args['peak-tflops']}'`);
  const work = args.work || fs.mkdtempSync(path.join(os.tmpdir(), 'lcmd-gpu-vs-pytorch-'));
  fs.mkdirSync(work, { recursive: true });
  const out = path.resolve(args.out);

  // one checkpoint for all sides: weights off their initial values, two steps of optimizer and EMA history
  const config: PartialRunConfig = { preset: args.preset, train: { device: args.device, precision: args.precision as 'fp32' | 'bf16' } };
  const cpuModel = Model.create({ preset: args.preset });
  const modelConfig = cpuModel.config;
  const weights = matmulWeights(cpuModel);
  cpuModel.dispose();
  const data = await writeBatch(work, 'bench', modelConfig, positiveInt(args.batch, 'batch'));
  const checkpoint = path.join(work, 'bench.safetensors');
  console.log(`gpu-vs-pytorch: preparing ${args.preset} (${(weights / 1e6).toFixed(1)}M matmul weights) on ${args.device}`);
  await prepareCheckpoint(config, checkpoint, data.batch);
  const trainConfig = JSON.parse(readSafetensorsMetadata(checkpoint)['lcmd.train']) as TrainConfig;
  const flops = trainFlopsPerImage(modelConfig, trainConfig, weights);

  const spec = (side: string, compile: boolean): Spec => ({
    checkpoint, tokens: data.tokens, labels: data.labels, steps: positiveInt(args.steps, 'steps'), warmup: positiveInt(args.warmup, 'warmup'),
    n: positiveInt(args.n, 'n'), sampleSteps, threads: os.availableParallelism(), device: args.device,
    precision: args.precision as 'fp32' | 'bf16', compile, out: path.join(work, `${side}.json`), ddimSteps: 0, guidance: 0, ancestralSteps: 0,
  });
  const sides: Record<string, SideResult> = {};
  const runSide = (side: string, compile: boolean, command: string, argv: (specFile: string) => string[]) => {
    const s = spec(side, compile);
    const specFile = path.join(work, `${side}-spec.json`);
    fs.writeFileSync(specFile, JSON.stringify(s));
    console.log(`gpu-vs-pytorch: timing ${side}`);
    run(side, command, argv(specFile), process.env);
    sides[side] = readJson<SideResult>(s.out);
  };
  runSide('lcmd', false, process.execPath, (f) => [__filename, '--worker', 'lcmd', '--spec', f]);
  runSide('pytorchEager', false, args.python, (f) => [pythonScript('time_model.py'), f]);
  if (args.compile === 'yes') runSide('pytorchCompile', true, args.python, (f) => [pythonScript('time_model.py'), f]);

  const peak = peakTflops * 1e12;
  const mfu = (r: SideResult) => (r.train.imagesPerSecond * flops.flops) / peak;
  const ratio = (a: number | null, b: number | null) => (a !== null && b !== null && b > 0 ? a / b : null);
  const report = {
    benchmark: 'gpu-vs-pytorch',
    date: new Date().toISOString(),
    device: args.device,
    deviceName: sides.lcmd.deviceName,
    preset: args.preset,
    batch: Number(args.batch),
    precision: args.precision,
    flopsPerImage: flops.flops,
    mfuFormula: flops.formula,
    peakTflops,
    sides: Object.fromEntries(Object.entries(sides).map(([k, r]) => [k, { ...r, mfu: mfu(r) }])),
    ratios: Object.fromEntries(
      Object.keys(sides)
        .filter((k) => k !== 'lcmd')
        .map((k) => [
          `lcmdOver_${k}`,
          {
            trainImagesPerSecond: ratio(sides.lcmd.train.imagesPerSecond, sides[k].train.imagesPerSecond),
            trainPeakMemory: ratio(sides.lcmd.train.peakMemoryBytes, sides[k].train.peakMemoryBytes),
            samplesPerSecond: sampleSteps.map((steps, i) => ({ steps, ratio: ratio(sides.lcmd.sampling[i].samplesPerSecond, sides[k].sampling[i].samplesPerSecond) })),
          },
        ]),
    ),
  };
  writeFileAtomic(out, JSON.stringify(report, null, 2) + '\n');
  for (const [k, r] of Object.entries(sides)) {
    const samples = r.sampling.map((s) => `${s.steps} steps ${s.samplesPerSecond.toFixed(2)}/s`).join(', ');
    console.log(`${k.padEnd(15)} train ${r.train.imagesPerSecond.toFixed(1)} images/s, MFU ${(100 * mfu(r)).toFixed(1)}%, peak ${((r.train.peakMemoryBytes ?? NaN) / 2 ** 30).toFixed(2)} GiB; sampling ${samples}`);
  }
  console.log(`wrote ${out}`);
  if (!args.work) fs.rmSync(work, { recursive: true, force: true });
}

if (require.main === module) {
  main().catch((err) => {
    console.error(err instanceof Error ? err.message : err);
    process.exitCode = 1;
  });
}
