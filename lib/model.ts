/** A VQ-LCMD network: create from a config or preset, load from a checkpoint, inspect, run. */
import { withCancel } from './async';
import { native } from './binding';
import type { ModelConfig, PartialRunConfig } from './config';
import { check } from './errors';
import type { NativeModelHandle } from './native';
import { resolveConfig } from './presets';
import { Tensor } from './tensor';
import { nonNegativeInteger } from './validation';

export interface ModelLoadOptions {
  /** load the sampling EMA (default) or the online weights */
  useEma?: boolean;
  device?: string;
  signal?: AbortSignal;
}

export class Model {
  /** @internal the native handle, accepted by sample() and evaluation */
  readonly handle: NativeModelHandle;
  /** checkpoint metadata when loaded from a file */
  readonly metadata: Record<string, string>;
  private cachedConfig?: ModelConfig;

  /** @internal */
  constructor(handle: NativeModelHandle, metadata: Record<string, string> = {}) {
    this.handle = handle;
    this.metadata = metadata;
  }

  /** A freshly initialised model from a preset name or a config (preset + overrides). */
  static create(config: string | PartialRunConfig, options: { device?: string; seed?: number } = {}): Model {
    const resolved = resolveConfig(typeof config === 'string' ? { preset: config } : config);
    if (options.seed !== undefined) nonNegativeInteger(options.seed, 'seed');
    return new Model(new (native().ModelHandle)(JSON.stringify(resolved.model), options.device ?? 'cpu', options.seed));
  }

  /** Loads weights from an lcmd checkpoint (.safetensors). */
  static async load(path: string, options: ModelLoadOptions = {}): Promise<Model> {
    check(typeof path === 'string' && path.length > 0, 'E_TYPE', 'expected a checkpoint path');
    const { model, metadata } = await withCancel(options.signal, (token) => native().loadModel(path, options.useEma ?? true, options.device ?? 'cpu', token));
    return new Model(model, metadata);
  }

  get config(): ModelConfig {
    this.cachedConfig ??= JSON.parse(this.handle.config()) as ModelConfig;
    return this.cachedConfig;
  }

  get parameterCount(): number {
    return this.handle.parameterCount();
  }

  get device(): string {
    return this.handle.device();
  }

  /**
   * A copy of the learned time warp's statistics, float32 [2, 64] (row 0 the decayed per-bin cross-entropy sums, row
   * 1 the decayed per-bin counts of t, over 64 equal bins of [0, 1]) when the model was trained with
   * `train.timeWarp: 'learned'`, else undefined. Sampling with `timeGrid: 'learned'` needs them.
   */
  timeWarpStatistics(): Tensor | undefined {
    const handle = this.handle.timeWarpStatistics();
    return handle ? new Tensor(handle) : undefined;
  }

  parameterNames(): string[] {
    return this.handle.parameterNames();
  }

  /** A copy of one parameter (online weights, or the sampling EMA when the model has one and useEma is set). */
  getParameter(name: string, useEma = false): Tensor {
    return new Tensor(this.handle.getParameter(name, useEma));
  }

  setParameter(name: string, value: Tensor): void {
    this.handle.setParameter(name, value.handle);
  }

  /** Logits [B, N, K] of p(x | z_t) for z [B, N, d], t [B] in [0, 1], classes [B] (numClasses = null class). */
  async forward(z: Tensor, t: Tensor, classes?: Tensor, options: { useEma?: boolean; signal?: AbortSignal } = {}): Promise<Tensor> {
    const handle = await withCancel(options.signal, (token) => this.handle.forward(z.handle, t.handle, classes?.handle ?? null, options.useEma ?? false, token));
    return new Tensor(handle);
  }

  dispose(): void {
    this.handle.dispose();
  }

  [Symbol.dispose](): void {
    this.dispose();
  }
}
