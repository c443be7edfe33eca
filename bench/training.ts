/**
 * Training throughput: milliseconds per step, images per second and peak resident memory, per preset and device.
 * Usage: node dist/bench/training.js [--device cpu|cuda] [--presets small,paper-uncond] [--steps 5] [--batch 8]
 * Writes one JSON object to stdout. Timings exclude two warm-up steps.
 */
import { info } from '../lib/info';
import { Tensor } from '../lib/tensor';
import { Trainer } from '../lib/trainer';

interface Row {
  preset: string;
  device: string;
  precision: string;
  batch: number;
  parameters: number;
  msPerStep: number;
  imagesPerSecond: number;
  peakRssMiB: number;
}

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] ? process.argv[i + 1] : fallback;
}

export async function benchTraining(options: { device: string; presets: string[]; steps: number; batch: number; precision: 'fp32' | 'bf16' }): Promise<Row[]> {
  const rows: Row[] = [];
  for (const preset of options.presets) {
    const trainer = Trainer.create({ preset, train: { device: options.device, precision: options.precision, warmupSteps: 0 } });
    const { model } = trainer.config;
    const n = model.height * model.width;
    const tokens = new Int32Array(options.batch * n).map((_, i) => (i * 2654435761) % model.vocabSize);
    const labels = model.numClasses > 0 ? new Int32Array(options.batch).map((_, i) => i % model.numClasses) : undefined;
    const batch = () => ({ tokens: Tensor.from(tokens, [options.batch, n]), labels: labels && Tensor.from(labels, [options.batch]) });
    for (let i = 0; i < 2; i++) await trainer.step(batch());
    const start = process.hrtime.bigint();
    for (let i = 0; i < options.steps; i++) await trainer.step(batch());
    const seconds = Number(process.hrtime.bigint() - start) / 1e9;
    rows.push({
      preset,
      device: options.device,
      precision: options.precision,
      batch: options.batch,
      parameters: trainer.model.parameterCount,
      msPerStep: (seconds / options.steps) * 1000,
      imagesPerSecond: (options.steps * options.batch) / seconds,
      peakRssMiB: process.resourceUsage().maxRSS / 1024,
    });
    trainer.dispose();
  }
  return rows;
}

async function main(): Promise<void> {
  const device = arg('device', 'cpu');
  const rows = await benchTraining({
    device,
    presets: arg('presets', 'small,paper-uncond').split(','),
    steps: Number(arg('steps', '5')),
    batch: Number(arg('batch', '8')),
    precision: arg('precision', 'fp32') as 'fp32' | 'bf16',
  });
  const runtime = await info({ measureGemm: device === 'cpu' });
  console.log(JSON.stringify({ benchmark: 'training', threads: runtime.threads, torch: runtime.torchVersion, blas: runtime.blasLibrary, gemmGflops: runtime.gemmGflops, devices: runtime.devices, rows }, null, 2));
}

if (require.main === module) main().catch((err) => { console.error(err); process.exit(1); });
