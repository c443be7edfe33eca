/**
 * What a training run keeps in its checkpoint's metadata besides the trainer's own state, so that resuming needs
 * nothing but the checkpoint: the data and where it stood (`lcmd.data`), and the schedule (`lcmd.run`).
 */
import type { TrainConfig } from './config';
import { LcmdError } from './errors';
import { readSafetensorsMetadata } from './safetensors';

/** Checkpoint metadata key holding where the data stood, so a resumed run reads the same batches next. */
export const DATA_METADATA_KEY = 'lcmd.data';
/** Checkpoint metadata key holding the run's schedule (the step target, logging intervals). */
export const RUN_METADATA_KEY = 'lcmd.run';
/** Checkpoint metadata key of the train config (written by the native trainer). */
const TRAIN_METADATA_KEY = 'lcmd.train';

/** The data a run trains on; a different batch size, seed, held-out count or size breaks the data order. */
export interface DataRecord {
  tokens: string;
  labels?: string;
  size: number;
  batchSize: number;
  seed: number;
  heldout: number;
  position?: { epoch: number; step: number };
}

/** The run's schedule: train to `steps` in total, log, checkpoint and evaluate at these intervals (0: never). */
export interface RunRecord {
  steps: number;
  logEvery: number;
  checkpointEvery: number;
  evalEvery: number;
}

export function metadataJson<T>(metadata: Record<string, string>, key: string): T | undefined {
  const raw = metadata[key];
  if (raw === undefined) return undefined;
  try {
    return JSON.parse(raw) as T;
  } catch {
    throw new LcmdError(`the checkpoint's metadata entry '${key}' is not valid JSON`, 'E_CHECKPOINT');
  }
}

/** The train config stored in a checkpoint (read from the header alone, before the trainer is loaded). */
export function storedTrainConfig(file: string): Partial<TrainConfig> {
  return metadataJson<Partial<TrainConfig>>(readSafetensorsMetadata(file), TRAIN_METADATA_KEY) ?? {};
}

export function runMetadata(data: DataRecord, run: RunRecord): Record<string, string> {
  return { [DATA_METADATA_KEY]: JSON.stringify(data), [RUN_METADATA_KEY]: JSON.stringify(run) };
}
