/**
 * The shape of the native addon as TypeScript sees it. Only lib/ talks to these; users get the typed wrappers.
 * Every async native call takes an optional CancelToken and an optional progress callback.
 */
export type NativeDType = 'float32' | 'float64' | 'int64' | 'int32' | 'int16' | 'uint8' | 'bool' | 'bfloat16' | 'float16';

export interface NativeTensorHandle {
  shape(): number[];
  dtype(): NativeDType;
  device(): string;
  toTypedArray(): Float32Array | Float64Array | BigInt64Array | Int32Array | Int16Array | Uint8Array;
  to(device: string): NativeTensorHandle;
  dispose(): void;
  isDisposed(): boolean;
  byteLength(): number;
}

/** fused AdaLN's outputs and gradients (test hook), float64; x and gradR only with a residual */
export interface FusedAdaptiveNormResult {
  x?: NativeTensorHandle;
  y: NativeTensorHandle;
  gradH: NativeTensorHandle;
  gradR?: NativeTensorHandle;
  gradScale: NativeTensorHandle;
  gradShift: NativeTensorHandle;
}

/** the optimizer state one fused AdamW + EMA step reads (test hook): one tensor per parameter in each list */
export interface AdamWEmaState {
  params: NativeTensorHandle[];
  grads: NativeTensorHandle[];
  expAvg: NativeTensorHandle[];
  expAvgSq: NativeTensorHandle[];
  ema: NativeTensorHandle[];
  teacher?: NativeTensorHandle[];
}

/** the step's hyperparameters (test hook); priorSteps is the count of updates already taken, for bias correction */
export interface AdamWEmaOptions {
  lr: number;
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
  priorSteps: number;
  gradScale: number;
  emaDecay: number;
  teacherDecay: number;
  fused: boolean;
}

/** the fused loss head's outputs and the gradient at its logits (test hook), float64; kl only with a target */
export interface FusedTokenLossResult {
  ce: NativeTensorHandle;
  kl?: NativeTensorHandle;
  probs: NativeTensorHandle;
  correct: NativeTensorHandle;
  gradLogits: NativeTensorHandle;
}

export interface NativeCancelToken {
  cancel(): void;
  isCancelled(): boolean;
}

export interface ProgressEvent {
  stage: string;
  [field: string]: number | string;
}
export type ProgressCallback = (event: ProgressEvent) => void;

export interface NativeRuntimeInfo {
  torchVersion: string;
  torchDir: string;
  torchFoundVia: string;
  torchLibraries: string[];
  blasLibrary: string;
  blasIsReference: boolean;
  /** "oneDNN x.y.z" where the CPU Linear layers use its sgemm (forward and input gradient), else empty */
  onednn: string;
  cudaCompiled: boolean;
  cudaAvailable: boolean;
  devices: { index: number; name: string; memoryGiB: number }[];
  threads: number;
  /** every pool's size; openblas is -1 when no OpenBLAS is loaded */
  threadPools: { intraOp: number; interOp: number; openblas: number };
  /** the cache that serves CPU tensors (native/core/base/cpu_tensor_cache.h); 'system' is libtorch's allocator */
  heap: { mode: 'lcmd' | 'system'; capacityBytes: number; cachedBytes: number; hits: number; misses: number };
}

// sampler (lib/sampler.ts, lib/oracle.ts): the sampling loop, the oracle denoiser, test hooks
export interface NativeSampleOptions {
  n: number;
  steps: number;
  sampler: 'ancestral' | 'ddim' | 'consistency' | 'commit' | 'maskgit';
  maskgitTemperature?: number;
  commitTemperature?: number;
  solverOrder?: number;
  corrector?: boolean;
  guidanceTMin?: number;
  guidanceTMax?: number;
  gridShift?: number;
  timeGrid?: 'uniform' | 'learned';
  temperature?: number;
  final: 'argmax' | 'sample';
  guidance: number;
  seed: number;
  batchSize: number;
  useEma: boolean;
  returnProbs: boolean;
  infillResample: number;
  /** The model's grid: tokens come back as [n, gridHeight, gridWidth]; known tokens may be [gridHeight, gridWidth]. */
  gridHeight: number;
  gridWidth: number;
  classes?: NativeTensorHandle;
  knownTokens?: NativeTensorHandle;
  knownMask?: NativeTensorHandle;
}
export interface NativeSampleResult {
  tokens: NativeTensorHandle;
  probs?: NativeTensorHandle;
  evaluationsPerSample: number;
  forwardCalls: number;
  forwardRows: number;
}
export interface NativeOracleOptions {
  classes?: NativeTensorHandle;
  numClasses?: number;
  weights?: NativeTensorHandle;
  classLeak?: number;
  shift?: number;
  device?: string;
}
export interface NativeOracleInfo {
  height: number;
  width: number;
  numTokens: number;
  vocabSize: number;
  embedDim: number;
  numClasses: number;
  shift: number;
  device: string;
}
export interface NativeOracleDenoiser {
  logits(z: NativeTensorHandle, t: NativeTensorHandle, classes?: NativeTensorHandle): NativeTensorHandle;
  info(): NativeOracleInfo;
  dispose(): void;
  isDisposed(): boolean;
}

// model and trainer (lib/model.ts, lib/trainer.ts)
export interface NativeModelHandle {
  config(): string;
  parameterCount(): number;
  parameterNames(): string[];
  getParameter(name: string, useEma?: boolean): NativeTensorHandle;
  setParameter(name: string, value: NativeTensorHandle): void;
  forward(z: NativeTensorHandle, t: NativeTensorHandle, classes: NativeTensorHandle | null, useEma: boolean, token?: NativeCancelToken): Promise<NativeTensorHandle>;
  device(): string;
  timeWarpStatistics(): NativeTensorHandle | null;
  dispose(): void;
}

export interface NativeStepResult {
  step: number;
  skipped: boolean;
  loss: number;
  recon: number;
  ce: number;
  diff: number;
  cm: number;
  prior: number;
  accuracyT: number;
  gradNorm: number;
  lr: number;
  lambdaCm: number;
  lambdaDiff: number;
}

export interface NativeEmbeddingStats {
  meanNorm: number;
  meanPairwiseDistance: number;
  minPairwiseDistance: number;
  distanceToNorm: number;
}

export interface NativeEvaluation {
  vlb: { reconBits: number; priorBits: number; diffusionBits: number; diffusionStderrBits: number; totalBits: number; tokens: number };
  table: { tLow: number; tHigh: number; logsnr: number; accuracy: number; crossEntropy: number }[];
  embeddings: NativeEmbeddingStats;
}

export interface NativeTrainerHandle {
  step(tokens: NativeTensorHandle, classes: NativeTensorHandle | null, exampleOffset: number, token?: NativeCancelToken): Promise<NativeStepResult>;
  save(path: string, metadata: Record<string, string>, token?: NativeCancelToken): Promise<void>;
  model(): NativeModelHandle;
  evaluate(
    tokens: NativeTensorHandle,
    classes: NativeTensorHandle | null,
    options: { importanceSamples?: number; seed?: number; batchSize?: number; bins?: number; useEma?: boolean },
    token?: NativeCancelToken,
  ): Promise<NativeEvaluation>;
  embeddingStats(useEma?: boolean): NativeEmbeddingStats;
  loadCodebook(codebook: NativeTensorHandle): void;
  steps(): { steps: number; skippedSteps: number };
  config(): { model: string; train: string };
  dispose(): void;
}

// data (lib/data.ts): the native token dataset
export interface NativeDatasetOptions {
  batchSize: number;
  seed?: number;
  heldout?: number;
  rank?: number;
  worldSize?: number;
  vocabSize?: number;
  numClasses?: number;
  prefetch?: number;
}
export interface NativeTokenBatch {
  tokens: NativeTensorHandle;
  labels?: NativeTensorHandle;
  epoch: number;
  step: number;
}
export interface NativeTokenDataset {
  next(): Promise<NativeTokenBatch>;
  position(): { epoch: number; step: number };
  seek(epoch: number, step: number): void;
  info(): {
    size: number;
    trainSize: number;
    heldoutSize: number;
    stepsPerEpoch: number;
    localBatchSize: number;
    sequenceLength: number;
    gridShape: number[];
    maxToken: number;
    hasLabels: boolean;
    maxLabel?: number;
  };
  heldoutBatchCount(batchSize: number): number;
  heldoutBatch(index: number, batchSize: number): NativeTokenBatch;
  dispose(): void;
}

// tokenizer (lib/tokenizer.ts): the native VQ-VAE
export interface NativeScorer {
  train(
    images: NativeTensorHandle,
    labels: NativeTensorHandle,
    options: { steps: number; batchSize: number; lr: number; seed: number },
    token?: NativeCancelToken,
    onProgress?: ProgressCallback,
  ): Promise<{ steps: number; loss: number; seconds: number }>;
  embed(images: NativeTensorHandle, batchSize: number, token?: NativeCancelToken): Promise<{ features: NativeTensorHandle; classes: NativeTensorHandle }>;
  save(path: string): Promise<void>;
  config(): string;
  dispose(): void;
}

export interface NativeSampleMetrics {
  frechetDistance: number;
  sqrtResidual: number;
  precision: number;
  recall: number;
  density: number;
  coverage: number;
}

export interface NativeTokenizer {
  train(
    images: NativeTensorHandle,
    options: { steps: number; batchSize: number; lr: number; seed: number; reportEvery: number },
    token?: NativeCancelToken,
    onProgress?: ProgressCallback,
  ): Promise<{ steps: number; loss: number; reconstruction: number; commitment: number; perplexity: number; usage: number; restarted: number; seconds: number }>;
  encode(images: NativeTensorHandle, batchSize: number, token?: NativeCancelToken): Promise<NativeTensorHandle>;
  decode(tokens: NativeTensorHandle, batchSize: number, grid: [number, number] | undefined, token?: NativeCancelToken): Promise<NativeTensorHandle>;
  evaluate(images: NativeTensorHandle, batchSize: number, token?: NativeCancelToken): Promise<{ count: number; mse: number; psnr: number; usage: number; perplexity: number }>;
  save(path: string): Promise<void>;
  config(): string;
  stepsTrained(): number;
  dispose(): void;
}

// distributed (lib/distributed.ts): process groups on c10d (TCPStore rendezvous, Gloo / NCCL) and trainer attachment
export interface NativeProcessGroupOptions {
  rank: number;
  worldSize: number;
  masterAddr: string;
  masterPort: number;
  backend: 'gloo' | 'nccl';
  device: string;
  timeoutSeconds: number;
}
export interface NativeProcessGroupHandle {
  rank(): number;
  worldSize(): number;
  backend(): string;
  device(): string;
  timeoutSeconds(): number;
  barrier(token?: NativeCancelToken): Promise<void>;
  broadcast(tensor: NativeTensorHandle, root: number, token?: NativeCancelToken): Promise<void>;
  allreduce(tensor: NativeTensorHandle, op: 'sum' | 'mean' | 'max' | 'min', token?: NativeCancelToken): Promise<void>;
  dispose(): void;
  isDisposed(): boolean;
}

/** The noise of one training step, given explicitly to the objective test hook ([B] per example, [B, N, d] noise). */
export interface NativeObjectiveNoise {
  t: NativeTensorHandle;
  s: NativeTensorHandle;
  tWeight?: NativeTensorHandle;
  epsT: NativeTensorHandle;
  eps0: NativeTensorHandle;
  dropUniforms: NativeTensorHandle;
  ratioUniforms: NativeTensorHandle;
  classUniforms: NativeTensorHandle;
  selfCondUniforms?: NativeTensorHandle;
}

export interface NativeAddon {
  TensorHandle: {
    new (data: ArrayBufferView, shape: number[], dtype: NativeDType): NativeTensorHandle;
  };
  CancelToken: { new (): NativeCancelToken };
  setErrorClass(cls: unknown): void;
  runtimeInfo(): NativeRuntimeInfo;
  /** the CUDA caching allocator's counters of one device (E_CONFIG without CUDA); resetPeak restarts the peak after the read */
  cudaMemory(device: number, resetPeak: boolean): { allocatedBytes: number; peakAllocatedBytes: number; reservedBytes: number };
  setNumThreads(n: number): void;
  numThreads(): number;
  measureGemm(size: number, seconds: number, token?: NativeCancelToken): Promise<number>;

  // data (lib/safetensors.ts, lib/npy.ts, lib/data.ts): file formats and token datasets
  saveSafetensors(path: string, names: string[], tensors: NativeTensorHandle[], metadata: Record<string, string>): Promise<void>;
  loadSafetensors(path: string): Promise<{ tensors: Record<string, NativeTensorHandle>; metadata: Record<string, string> }>;
  readSafetensorsMetadata(path: string): Record<string, string>;
  npyInfo(path: string): { dtype: string; shape: number[]; version: number; dataOffset: number };
  readNpy(path: string): Promise<{ tensor: NativeTensorHandle; stored: string }>;
  writeNpy(path: string, tensor: NativeTensorHandle, as?: string): Promise<void>;
  openTokenDataset(tokens: string, labels: string | undefined, options: NativeDatasetOptions): Promise<NativeTokenDataset>;
  tokenDatasetFromTensors(tokens: NativeTensorHandle, labels: NativeTensorHandle | undefined, options: NativeDatasetOptions): Promise<NativeTokenDataset>;

  // tokenizer (lib/tokenizer.ts): the VQ-VAE
  createTokenizer(configJson: string, seed: number): NativeTokenizer;

  // sample-quality scorer (lib/score.ts)
  createScorer(configJson: string, seed: number): NativeScorer;
  loadScorer(path: string): Promise<NativeScorer>;
  sampleMetrics(real: NativeTensorHandle, generated: NativeTensorHandle, kPr: number, kDc: number): Promise<NativeSampleMetrics>;
  duplicateFraction(rows: NativeTensorHandle): number;
  loadTokenizer(path: string): Promise<NativeTokenizer>;

  // sampler (lib/sampler.ts, lib/oracle.ts): the sampling loop and the oracle denoiser
  sample(model: object, options: NativeSampleOptions, token?: NativeCancelToken, onProgress?: ProgressCallback): Promise<NativeSampleResult>;
  OracleDenoiser: { new (grids: NativeTensorHandle, embeddings: NativeTensorHandle, options?: NativeOracleOptions): NativeOracleDenoiser };

  // model and trainer (lib/model.ts, lib/trainer.ts)
  ModelHandle: { new (configJson: string, device?: string, seed?: number): NativeModelHandle };
  loadModel(path: string, useEma: boolean, device: string, token?: NativeCancelToken): Promise<{ model: NativeModelHandle; metadata: Record<string, string> }>;
  TrainerHandle: { new (modelConfigJson: string, trainConfigJson: string): NativeTrainerHandle };
  loadTrainer(path: string, overridesJson: string, token?: NativeCancelToken): Promise<{ trainer: NativeTrainerHandle; metadata: Record<string, string> }>;

  // distributed (lib/distributed.ts)
  createProcessGroup(options: NativeProcessGroupOptions, token?: NativeCancelToken): Promise<NativeProcessGroupHandle>;
  attachProcessGroup(trainer: NativeTrainerHandle, group: NativeProcessGroupHandle | null, options?: { bucketBytes?: number }, token?: NativeCancelToken): Promise<void>;
  distributedBackends(): { gloo: boolean; nccl: boolean };
}

/**
 * Test-only entry points of the addon (native/addon/test_hooks/ and a few pieces of the sampler and runtime bindings),
 * typed apart from the product surface: the loss terms on given noise, a float64 finite-difference gradient check,
 * the schedule functions, single sampler steps and noise streams, and a cancellable busy task, for tests against
 * independent computations. Reach them through testHooks() in lib/binding.ts.
 */
export interface NativeTestHooks {
  busyWork(ms: number, token?: NativeCancelToken, onProgress?: ProgressCallback): Promise<number>;
  samplerAncestralStep(z: NativeTensorHandle, eHat: NativeTensorHandle, noise: NativeTensorHandle, s: number, t: number, shift: number): NativeTensorHandle;
  samplerDdimStep(z: NativeTensorHandle, eHat: NativeTensorHandle, s: number, t: number, shift: number): NativeTensorHandle;
  samplerCorrectorWeights(order: 1 | 2, tPrev: number, t: number, s: number, shift: number): [number, number, number];
  samplerMultistepStep(z: NativeTensorHandle, eHat: NativeTensorHandle, eHatPrev: NativeTensorHandle, tPrev: number, s: number, t: number, shift: number): NativeTensorHandle;
  sampleNoise(seed: number, firstSample: number, count: number, kind: 0 | 1 | 2 | 3, gridIndex: number, shape: number[], uniform: boolean, device?: string): NativeTensorHandle;
  objectiveTerms(
    student: NativeModelHandle,
    teacher: NativeModelHandle,
    trainConfigJson: string,
    tokens: NativeTensorHandle,
    classes: NativeTensorHandle | null,
    noise: NativeObjectiveNoise,
    lambdaCm: number,
    lambdaDiff: number,
    trainMode?: boolean,
  ): { total: number; recon: number; ce: number; diff: number; cm: number; prior: number; accuracyT: number };
  objectiveGradientCheck(
    student: NativeModelHandle,
    teacher: NativeModelHandle,
    trainConfigJson: string,
    tokens: NativeTensorHandle,
    classes: NativeTensorHandle | null,
    noise: NativeObjectiveNoise,
    lambdaCm: number,
    lambdaDiff: number,
    parameterName: string,
    flatIndices: number[],
    epsilon: number,
  ): { analytic: number[]; numeric: number[] };
  uniformFromBits(words: BigUint64Array): Float32Array;
  timeGrid(steps: number, shift: number, gridShift: number, warpStatistics?: NativeTensorHandle): Float64Array;
  scheduleValues(t: Float64Array, shift: number, maxLogsnr: number): { logsnr: Float64Array; alpha: Float64Array; sigma: Float64Array; dlogsnr: Float64Array };
  posteriorCoefficients(alphaS: Float64Array, sigmaS: Float64Array, alphaT: Float64Array, sigmaT: Float64Array): { coefZ: Float64Array; coefX: Float64Array; variance: Float64Array };
  ddimStep(zT: NativeTensorHandle, eHat: NativeTensorHandle, alphaS: NativeTensorHandle, sigmaS: NativeTensorHandle, alphaT: NativeTensorHandle, sigmaT: NativeTensorHandle): NativeTensorHandle;
  /** a whole sample() call under a sync probe: the host-device syncs it made (native/core/base/sync_probe.h) */
  sampleSyncs(model: object, options: NativeSampleOptions): string[];
  /** one training step under a sync probe: the host-device syncs it makes, by operator (native/core/base/sync_probe.h) */
  trainerStepSyncs(trainer: NativeTrainerHandle, tokens: NativeTensorHandle, classes: NativeTensorHandle | null, control?: boolean): { syncs: string[]; skipped: boolean; loss: number; gradNorm: number };
  trainerGradients(trainer: NativeTrainerHandle): { defined: boolean; storage: number; offset: number; numel: number }[];
  noiseLevelUniforms(seed: number, step: number, exampleOffset: number, batch: number, sampling: 'iid' | 'low-discrepancy'): Float64Array;
  timeWarp(statistics: Float64Array | null, u: Float64Array, t: Float64Array, ce: Float64Array): { bins: number; probabilities: Float64Array; times: Float64Array; batchStatistics: Float64Array };
  fusedGelu(x: NativeTensorHandle, grad: NativeTensorHandle): { fused: boolean; cpuPath: 'avx2+fma' | 'baseline'; value: NativeTensorHandle; gradient: NativeTensorHandle; referenceValue: NativeTensorHandle; referenceGradient: NativeTensorHandle };
  fusedBlock(batch: number, positions: number, hidden: number, heads: number, seed: number): { attentionFused: boolean; mlpBlocked: boolean; value: NativeTensorHandle; withGrad: NativeTensorHandle; reference: NativeTensorHandle };
  fusedAttention(qkv: NativeTensorHandle, heads: number, dropout: number, seed: number, grad: NativeTensorHandle | null): { fused: boolean; value?: NativeTensorHandle; gradient?: NativeTensorHandle; libtorchValue: NativeTensorHandle; libtorchGradient?: NativeTensorHandle; reference: NativeTensorHandle; referenceGradient?: NativeTensorHandle };
  fusedAdaptiveNorm(h: NativeTensorHandle, r: NativeTensorHandle | null, scale: NativeTensorHandle, shift: NativeTensorHandle, gradY: NativeTensorHandle, gradX: NativeTensorHandle | null): { fused: boolean; value: FusedAdaptiveNormResult; reference: FusedAdaptiveNormResult };
  adamwEmaStep(state: AdamWEmaState, decays: boolean[], options: AdamWEmaOptions): { fused: boolean; params: NativeTensorHandle[]; expAvg: NativeTensorHandle[]; expAvgSq: NativeTensorHandle[]; ema: NativeTensorHandle[]; teacher?: NativeTensorHandle[] };
  fusedNoisyUpdate(z: NativeTensorHandle, eHat: NativeTensorHandle | null, streams: { seed: number; a: number; first: number; purpose: number }, coefficients: { coefZ: number; coefX: number; noiseStd: number }): { fused: boolean; value: NativeTensorHandle; reference: NativeTensorHandle };
  fusedTokenLoss(logits: NativeTensorHandle, targets: NativeTensorHandle, logQ: NativeTensorHandle | null, direction: 'teacher-student' | 'student-teacher', gradCe: NativeTensorHandle, gradKl: NativeTensorHandle | null, gradProbs: NativeTensorHandle | null): { fused: boolean; value: FusedTokenLossResult; reference: FusedTokenLossResult };
  dense(x: NativeTensorHandle, weight: NativeTensorHandle, bias: NativeTensorHandle | null, grad: NativeTensorHandle): { onednnBuilt: boolean; onednn: boolean; value: NativeTensorHandle; noGradValue: NativeTensorHandle; gradX: NativeTensorHandle; gradWeight: NativeTensorHandle; gradBias?: NativeTensorHandle; frozenGradX: NativeTensorHandle; frozenWeightHasGrad: boolean; reference: NativeTensorHandle; referenceGradX: NativeTensorHandle; referenceGradWeight: NativeTensorHandle; referenceGradBias?: NativeTensorHandle };
  counterNoiseBuilds(seed: number, rows: number, m: number, normal: boolean): { cpuPath: 'avx512' | 'avx2+fma' | 'baseline'; value: NativeTensorHandle; baseline: NativeTensorHandle };
}
