// Shared inputs for the model, objective and trainer tests: tiny configs, seeded weights and explicit training noise.
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import type { ModelConfig, TrainConfig } from '../lib/config';
import { LcmdError } from '../lib/errors';
import { Model } from '../lib/model';
import type { NativeObjectiveNoise } from '../lib/native';
import { Tensor } from '../lib/tensor';
import { rng } from './sampler-stats';

/** A conditional model small enough for float64 gradient checks and a Python reference: 2x2 grid, K = 16, d = 8. */
export const TINY_MODEL: Partial<ModelConfig> = {
  vocabSize: 16,
  height: 2,
  width: 2,
  numClasses: 3,
  embedDim: 8,
  layers: 2,
  heads: 2,
  hidden: 16,
  mlpRatio: 4,
  condDim: 16,
  attnDropout: 0.1,
  shift: 0.3,
};

export function tempDir(prefix: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), `lcmd-${prefix}-`));
}

/**
 * Replaces every parameter with seeded random values of a sensible scale. At initialisation the AdaLN modulation is
 * zero, so the noise level and class would not reach the output; random weights make every path matter.
 */
export function randomizeParameters(model: Model, seed: number): void {
  const r = rng(seed);
  for (const name of model.parameterNames()) {
    const current = model.getParameter(name);
    const shape = current.shape;
    current.dispose();
    const n = shape.reduce((a, b) => a * b, 1);
    let scale: number;
    let offset = 0;
    if (name.startsWith('embedding.') || name.startsWith('class_embed.')) scale = 1;
    else if (shape.length === 2) scale = 1 / Math.sqrt(shape[1]);
    else if (name.endsWith('.weight')) {
      scale = 0.2; // LayerNorm gains around 1
      offset = 1;
    } else scale = 0.2; // biases
    const values = Float32Array.from({ length: n }, () => offset + scale * r.normal());
    const tensor = Tensor.from(values, shape);
    model.setParameter(name, tensor);
    tensor.dispose();
  }
}

/** Plain arrays of one step's noise, so the same values go to the native hook and to the Python reference. */
export interface NoiseArrays {
  t: number[];
  s: number[];
  tWeight: number[];
  epsT: number[][][];
  eps0: number[][][];
  dropUniforms: number[][];
  ratioUniforms: number[];
  classUniforms: number[];
  selfCondUniforms: number[];
}

/** Seeded noise for a batch; values are float32-representable so both sides see exactly the same numbers. */
export function makeNoise(seed: number, batch: number, tokens: number, dim: number, overrides: Partial<NoiseArrays> = {}): NoiseArrays {
  const r = rng(seed);
  const f32 = (x: number) => Math.fround(x);
  const uniform = () => f32(0.02 + 0.96 * r.uniform());
  const normals = () => Array.from({ length: batch }, () => Array.from({ length: tokens }, () => Array.from({ length: dim }, () => f32(r.normal()))));
  const t = Array.from({ length: batch }, uniform);
  const noise: NoiseArrays = {
    t,
    s: t.map((x) => f32(x * r.uniform())),
    tWeight: Array.from({ length: batch }, () => f32(0.5 + r.uniform())),
    epsT: normals(),
    eps0: normals(),
    dropUniforms: Array.from({ length: batch }, () => Array.from({ length: tokens }, uniform)),
    ratioUniforms: Array.from({ length: batch }, uniform),
    classUniforms: Array.from({ length: batch }, uniform),
    selfCondUniforms: Array.from({ length: batch }, uniform),
  };
  return { ...noise, ...overrides };
}

/** Native tensors for the objective hooks; call the returned dispose() after use. */
export function noiseTensors(noise: NoiseArrays): { handles: NativeObjectiveNoise; dispose: () => void } {
  const b = noise.t.length;
  const n = noise.dropUniforms[0].length;
  const d = noise.epsT[0][0].length;
  const made: Tensor[] = [];
  const make = (values: number[], shape: number[], dtype: 'float32' | 'float64' = 'float32') => {
    const tensor = Tensor.from(dtype === 'float32' ? Float32Array.from(values) : Float64Array.from(values), shape);
    made.push(tensor);
    return tensor.handle;
  };
  const handles: NativeObjectiveNoise = {
    t: make(noise.t, [b]),
    s: make(noise.s, [b]),
    tWeight: make(noise.tWeight, [b], 'float64'),
    epsT: make(noise.epsT.flat(2), [b, n, d]),
    eps0: make(noise.eps0.flat(2), [b, n, d]),
    dropUniforms: make(noise.dropUniforms.flat(), [b, n]),
    ratioUniforms: make(noise.ratioUniforms, [b]),
    classUniforms: make(noise.classUniforms, [b]),
    selfCondUniforms: make(noise.selfCondUniforms, [b]),
  };
  return { handles, dispose: () => made.forEach((t) => t.dispose()) };
}

export function int64Tensor(values: number[], shape: number[]): Tensor {
  return Tensor.from(BigInt64Array.from(values.map((v) => BigInt(v))), shape);
}

/** Seeded token grids [B, N] as nested arrays. */
export function randomTokens(seed: number, batch: number, tokens: number, vocab: number): number[][] {
  const r = rng(seed);
  return Array.from({ length: batch }, () => Array.from({ length: tokens }, () => Math.floor(r.uniform() * vocab)));
}

/** The full train config with the native defaults, then overrides (what the objective hook and Python both read). */
export function fullTrainConfig(defaults: TrainConfig, overrides: Partial<TrainConfig>): TrainConfig {
  return { ...defaults, ...overrides };
}

export async function errorCode(action: Promise<unknown> | (() => unknown)): Promise<string> {
  try {
    await (typeof action === 'function' ? action() : action);
  } catch (err) {
    if (err instanceof LcmdError) return err.code;
    return `not an LcmdError: ${String(err)}`;
  }
  return 'no error';
}

/** Runs the Python reference (Debian's python3 with torch) on cases written to JSON; returns its results by name. */
export function runPythonReference(dir: string, cases: unknown[]): Map<string, Record<string, number>> {
  const input = path.join(dir, 'cases.json');
  const output = path.join(dir, 'reference.json');
  fs.writeFileSync(input, JSON.stringify({ cases }));
  const script = path.join(__dirname, 'reference', 'lcmd_reference.py');
  const run = spawnSync('/usr/bin/python3', [script, input, output], { encoding: 'utf8', env: { ...process.env, OMP_NUM_THREADS: '1' } });
  if (run.status !== 0) throw new Error(`the Python reference failed (${run.status}): ${run.stderr}`);
  const parsed = JSON.parse(fs.readFileSync(output, 'utf8')) as { results: (Record<string, number> & { name: string })[] };
  return new Map(parsed.results.map((r) => [r.name, r]));
}

/** True when Debian's python3 with torch is available for the reference computation. */
export function pythonTorchAvailable(): boolean {
  const probe = spawnSync('/usr/bin/python3', ['-c', 'import torch, numpy'], { encoding: 'utf8' });
  return probe.status === 0;
}
