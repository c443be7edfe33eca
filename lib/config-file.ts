/** A run's configuration file (`lcmd train --config`): a JSON object {preset?, ablation?, model?, train?}. */
import * as fs from 'fs';
import type { ModelConfig, TrainConfig } from './config';
import { check, LcmdError } from './errors';

export interface ConfigFile {
  preset?: string;
  ablation?: string;
  model?: Partial<ModelConfig>;
  train?: Partial<TrainConfig>;
}

function readJsonFile(file: string, what: string): unknown {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    throw new LcmdError(`cannot read ${what} ${file}: ${(err as Error).message}`, 'E_IO');
  }
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new LcmdError(`${what} ${file} is not valid JSON: ${(err as Error).message}`, 'E_CONFIG');
  }
}

/** Reads and checks the file's shape; the config keys themselves are checked when the trainer is made. */
export function readConfigFile(file: string): ConfigFile {
  const json = readJsonFile(file, '--config');
  check(json !== null && typeof json === 'object' && !Array.isArray(json), 'E_CONFIG', `--config ${file} must hold a JSON object {preset?, ablation?, model?, train?}`);
  const allowed = ['preset', 'ablation', 'model', 'train'];
  for (const key of Object.keys(json)) check(allowed.includes(key), 'E_CONFIG', `--config ${file}: unknown key '${key}': expected ${allowed.join(', ')}`);
  const c = json as Record<string, unknown>;
  check(c.preset === undefined || typeof c.preset === 'string', 'E_CONFIG', `--config ${file}: preset must be a string`);
  check(c.ablation === undefined || typeof c.ablation === 'string', 'E_CONFIG', `--config ${file}: ablation must be a string`);
  for (const key of ['model', 'train']) {
    check(c[key] === undefined || (typeof c[key] === 'object' && c[key] !== null && !Array.isArray(c[key])), 'E_CONFIG', `--config ${file}: ${key} must be an object`);
  }
  return c as ConfigFile;
}
