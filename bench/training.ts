/**
 * Training throughput: milliseconds per step, images per second and peak resident memory, per preset and device.
 * Usage: node dist/bench/training.js [--device cpu|cuda] [--presets small,paper-uncond] [--steps 5] [--batch 8]
 *        [--precisions fp32,bf16] [--out report.json]
 * Writes one JSON object to stdout (or --out). Timings exclude two warm-up steps. With two precisions, each row of the
 * second carries its speed-up over the first, measured side by side in this run.
 */
import { writeFileAtomic } from '../lib/atomic-write';
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
  speedupOverFirstPrecision?: number;
}

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] ? process.argv[i + 1] : fallback;
}

type Precision = 'fp32' | 'bf16';

export async function benchTraining(options: { device: string; presets: string[]; steps: number; batch: number; precisions: Precision[] }): Promise<Row[]> {
  const rows: Row[] = [];
  for (const preset of options.presets) {
    for (const precision of options.precisions) {
      const row = await benchOne(preset, { ...options, precision });
      const first = rows.find((r) => r.preset === preset && r.precision === options.precisions[0]);
      if (first && precision !== first.precision) row.speedupOverFirstPrecision = row.imagesPerSecond / first.imagesPerSecond;
      rows.push(row);
    }
  }
  return rows;
}

async function benchOne(preset: string, options: { device: string; steps: number; batch: number; precision: Precision }): Promise<Row> {
  const trainer = Trainer.create({ preset, train: { device: options.device, precision: options.precision, warmupSteps: 0 } });
  const { model } = trainer.config;
  const n = model.height * model.width;
  const tokens = new Int32Array(options.batch * n).map((_, i) => (i * 2654435761) % model.vocabSize);
  const labels = model.numClasses > 0 ? new Int32Array(options.batch).map((_, i) => i % model.numClasses) : undefined;
  const batch = { tokens: Tensor.from(tokens, [options.batch, n]), labels: labels && Tensor.from(labels, [options.batch]) };
  for (let i = 0; i < 2; i++) await trainer.step(batch);
  const start = process.hrtime.bigint();
  for (let i = 0; i < options.steps; i++) await trainer.step(batch);
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  const row: Row = {
    preset,
    device: options.device,
    precision: options.precision,
    batch: options.batch,
    parameters: trainer.model.parameterCount,
    msPerStep: (seconds / options.steps) * 1000,
    imagesPerSecond: (options.steps * options.batch) / seconds,
    peakRssMiB: process.resourceUsage().maxRSS / 1024,
  };
  batch.tokens.dispose();
  batch.labels?.dispose();
  trainer.dispose();
  return row;
}

async function main(): Promise<void> {
  const device = arg('device', 'cpu');
  const rows = await benchTraining({
    device,
    presets: arg('presets', 'small,paper-uncond').split(','),
    steps: Number(arg('steps', '5')),
    batch: Number(arg('batch', '8')),
    precisions: arg('precisions', device === 'cpu' ? 'fp32' : 'fp32,bf16').split(',') as Precision[],
  });
  const runtime = await info({ measureGemm: device === 'cpu' });
  const report = JSON.stringify({ benchmark: 'training', threads: runtime.threads, torch: runtime.torchVersion, blas: runtime.blasLibrary, gemmGflops: runtime.gemmGflops, devices: runtime.devices, rows }, null, 2);
  const out = arg('out', '');
  if (out) writeFileAtomic(out, report + '\n');
  else console.log(report);
}

if (require.main === module) main().catch((err) => { console.error(err); process.exit(1); });
