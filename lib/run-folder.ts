/**
 * The folder of a training run: checkpoint.safetensors, log.jsonl (one JSON object a line) and config.json (what the
 * run was started with). Only rank 0 of a data-parallel run writes here.
 */
import * as fs from 'fs';
import * as path from 'path';
import { ensureFolder } from './folders';

export const CHECKPOINT_FILE = 'checkpoint.safetensors';
export const LOG_FILE = 'log.jsonl';
export const CONFIG_FILE = 'config.json';

export class RunFolder {
  readonly dir: string;
  readonly checkpoint: string;
  readonly log: string;

  constructor(dir: string) {
    this.dir = dir;
    this.checkpoint = path.join(dir, CHECKPOINT_FILE);
    this.log = path.join(dir, LOG_FILE);
  }

  /**
   * Creates the folder and writes config.json. A new run starts an empty log; a run resumed at `resumedAt` keeps the
   * log lines of steps up to it, since the steps after the checkpoint are taken again.
   */
  prepare(described: unknown, resumedAt: number | undefined): void {
    ensureFolder(this.dir);
    if (resumedAt === undefined) fs.writeFileSync(this.log, '');
    else truncateLog(this.log, resumedAt);
    fs.writeFileSync(path.join(this.dir, CONFIG_FILE), JSON.stringify(described, null, 2) + '\n');
  }

  appendLog(entry: Record<string, unknown>): void {
    fs.appendFileSync(this.log, JSON.stringify(entry) + '\n');
  }
}

/** Keeps the log lines of steps up to `step` (and lines without a step); drops blank and unreadable lines. */
function truncateLog(file: string, step: number): void {
  if (!fs.existsSync(file)) return;
  const kept = fs
    .readFileSync(file, 'utf8')
    .split('\n')
    .filter((line) => {
      if (line.trim() === '') return false;
      try {
        const entry = JSON.parse(line) as { step?: number };
        return typeof entry.step !== 'number' || entry.step <= step;
      } catch {
        return false;
      }
    });
  fs.writeFileSync(file, kept.map((l) => l + '\n').join(''));
}
