/**
 * Model and training configuration. Field meanings and defaults follow docs/method.md sections 2-7; the native core is the
 * single validator (unknown keys, types and ranges all fail with E_CONFIG naming the key).
 */
export interface ModelConfig {
  /** 'lcmd': continuous diffusion over learned embeddings; 'maskgit': the masked-token baseline on the same body */
  method: 'lcmd' | 'maskgit';
  /** K, the codebook size */
  vocabSize: number;
  /** token grid height H */
  height: number;
  /** token grid width W; N = H * W */
  width: number;
  /** C; 0 = unconditional. Class id C is the null class used by guidance. */
  numClasses: number;
  /** d, the embedding width */
  embedDim: number;
  /** sigma_e of the N(0, sigma_e^2) table init */
  embedInitStd: number;
  /** ablation: L2-normalised embedding rows (norm sqrt(d)) */
  l2NormalizeEmbeddings: boolean;
  /** CSDM-dagger: embeddings from a codebook, frozen */
  freezeEmbeddings: boolean;
  layers: number;
  heads: number;
  hidden: number;
  mlpRatio: number;
  /** width of the conditioning vector (noise level + class) */
  condDim: number;
  attnDropout: number;
  /** what the noise-level embedding sees: the log-SNR or t */
  timeInput: 'logsnr' | 't';
  /** add the Gaussian log-likelihood of z_t under each token to the logits */
  exactLikelihoodLogits: boolean;
  /** the input also holds each position's token posterior under the exact Gaussian likelihood, through a learned table */
  posteriorInput: boolean;
  /** the input also holds the previous prediction e_hat (self-conditioning) */
  selfCondition: boolean;
  /** s of the shifted cosine schedule; 1 = plain cosine */
  shift: number;
  /** clip of the unshifted log-SNR */
  maxLogsnr: number;
}

export interface TrainConfig {
  lambdaCm: number;
  lambdaDiff: number;
  /** weight of the cross-entropy -log p(x | z_t) at the sampled t (CDCD's loss; 0 in the paper's configuration) */
  lambdaCe: number;
  /** weight of L_recon at t = 0; 0 skips the t = 0 forward */
  lambdaRecon: number;
  /** self-conditioning models: share of training examples that see a first prediction */
  selfCondRate: number;
  /** MaskGIT: label smoothing of the masked-token cross-entropy */
  labelSmoothing: number;
  /** linear ramps of the loss weights from lambdaCm / lambdaDiff at step 0 to these values at weightRampSteps (a value below 0 = no ramp) */
  lambdaCmFinal: number;
  lambdaDiffFinal: number;
  weightRampSteps: number;
  /** 'lcmd' (docs/method.md section 6) or 'vlb' (CSDM: minimise the variational bound) */
  objective: 'lcmd' | 'vlb';
  /** how t is drawn: 'uniform', or 'learned' (CDCD's time warping: density proportional to the slope of the online CE curve, native/core/train/time_warp.h) */
  timeWarp: 'uniform' | 'learned';
  /** the uniforms behind t (and MaskGIT's mask ratio): 'iid', or 'low-discrepancy' (frac(u + i phi) over the global example index i, one u per step: even coverage of [0, 1) in every batch, the same expectation) */
  timeSampling: 'iid' | 'low-discrepancy';
  dropStrategy: 'bernoulli' | 'count' | 'random-ratio' | 'linear-t';
  dropRate: number;
  dropPlacement: 'before-noise' | 'after-noise';
  classDropout: number;
  /** 'teacher': DDIM step with the EMA teacher (paper); 'data': same eps, data target */
  cmTarget: 'teacher' | 'data';
  klDirection: 'teacher-student' | 'student-teacher';
  /** 'ema': own EMA at teacherDecay; 'sampling': share the sampling EMA; 'online': stop-gradient student */
  teacher: 'ema' | 'sampling' | 'online';
  teacherDecay: number;
  teacherWarmup: boolean;
  teacherDropout: boolean;
  emaDecay: number;
  lr: number;
  beta1: number;
  beta2: number;
  adamEps: number;
  weightDecay: number;
  warmupSteps: number;
  lrSchedule: 'constant' | 'cosine';
  totalSteps: number;
  minLrRatio: number;
  gradClip: number;
  device: string;
  precision: 'fp32' | 'bf16';
  seed: number;
}

export interface RunConfig {
  model: ModelConfig;
  train: TrainConfig;
}

export interface PartialRunConfig {
  /** a named preset (see PRESETS) applied first */
  preset?: string;
  model?: Partial<ModelConfig>;
  train?: Partial<TrainConfig>;
}
