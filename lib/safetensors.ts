/**
 * Reading and writing .safetensors files (the format of Python's `safetensors` package). Writes are atomic
 * (temporary file, fsync, rename); reads validate the whole header and fail with E_CHECKPOINT, never crash.
 */
import { native } from './binding';
import { check } from './errors';
import { Tensor } from './tensor';

export interface SafetensorsContents {
  tensors: Record<string, Tensor>;
  metadata: Record<string, string>;
}

/** Writes `tensors` (name -> Tensor) and string `metadata` to `path`; names are stored sorted. */
export async function writeSafetensors(path: string, tensors: Record<string, Tensor>, metadata: Record<string, string> = {}): Promise<void> {
  check(typeof path === 'string' && path.length > 0, 'E_TYPE', 'expected a non-empty file path string for path');
  check(tensors !== null && typeof tensors === 'object', 'E_TYPE', 'expected an object mapping names to Tensors for tensors');
  const names = Object.keys(tensors);
  for (const name of names) check(tensors[name] instanceof Tensor, 'E_TYPE', `expected a Tensor for '${name}', got ${typeof tensors[name]}`);
  for (const [key, value] of Object.entries(metadata)) check(typeof value === 'string', 'E_TYPE', `metadata '${key}' must be a string, got ${typeof value}`);
  await native().saveSafetensors(path, names, names.map((n) => tensors[n].handle), metadata);
}

/** Reads every tensor and the metadata of a .safetensors file. */
export async function readSafetensors(path: string): Promise<SafetensorsContents> {
  check(typeof path === 'string' && path.length > 0, 'E_TYPE', 'expected a non-empty file path string for path');
  const raw = await native().loadSafetensors(path);
  const tensors: Record<string, Tensor> = {};
  for (const [name, handle] of Object.entries(raw.tensors)) tensors[name] = new Tensor(handle);
  return { tensors, metadata: raw.metadata };
}

/** Reads only the header's "__metadata__" map (cheap, for inspecting configs). */
export function readSafetensorsMetadata(path: string): Record<string, string> {
  check(typeof path === 'string' && path.length > 0, 'E_TYPE', 'expected a non-empty file path string for path');
  return native().readSafetensorsMetadata(path);
}
