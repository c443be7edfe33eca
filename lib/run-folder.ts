/**
 * The folder of a training run: checkpoint.safetensors, log.jsonl (one JSON object a line) and config.json (what the
 * run was started with). Only rank 0 of a data-parallel run writes here. config.json and a new or cut-back log are
 * written atomically; log lines are appended (a run killed mid-line leaves a cut-off last line, which readers skip).
 * Every file-system failure is E_IO naming the file, never a bare Node error.
 */
import * as fs from 'fs';
import * as path from 'path';
import { writeFileAtomic } from './atomic-write';
import { LcmdError } from './errors';
import { ensureFolder } from './folders';
import { errorCode, ioError } from './io-errors';
import { removeStaleTempFiles } from './temp-files';

export const CHECKPOINT_FILE = 'checkpoint.safetensors';
export const LOG_FILE = 'log.jsonl';
export const CONFIG_FILE = 'config.json';

export class RunFolder {
  readonly dir: string;
  readonly checkpoint: string;
  readonly log: string;
  readonly config: string;

  constructor(dir: string) {
    this.dir = dir;
    this.checkpoint = path.join(dir, CHECKPOINT_FILE);
    this.log = path.join(dir, LOG_FILE);
    this.config = path.join(dir, CONFIG_FILE);
  }

  /**
   * Removes the temporary files (`*.tmp-<pid>`) that killed processes left in the folder, e.g. a checkpoint torn by
   * SIGKILL. Files of live processes stay. Returns the removed paths.
   */
  removeStaleTempFiles(): string[] {
    return removeStaleTempFiles(this.dir);
  }

  /**
   * Creates the folder and writes config.json. A new run starts an empty log; a run resumed at `resumedAt` keeps the
   * log lines of steps up to it, since the steps after the checkpoint are taken again.
   */
  prepare(described: unknown, resumedAt: number | undefined): void {
    ensureFolder(this.dir, '--out');
    for (const file of [this.log, this.config]) checkNotFolder(file);
    if (resumedAt === undefined) writeFileAtomic(this.log, '');
    else truncateLog(this.log, resumedAt);
    writeFileAtomic(this.config, JSON.stringify(described, null, 2) + '\n');
  }

  appendLog(entry: Record<string, unknown>): void {
    try {
      fs.appendFileSync(this.log, JSON.stringify(entry) + '\n');
    } catch (err) {
      throw ioError(`cannot append to the run log ${this.log}`, err);
    }
  }
}

/** A run file that is a folder cannot be replaced by a rename: say so before anything is written. */
function checkNotFolder(file: string): void {
  let isFolder = false;
  try {
    isFolder = fs.statSync(file).isDirectory();
  } catch (err) {
    if (errorCode(err) !== 'ENOENT') throw ioError(`cannot look at ${file}`, err);
  }
  if (isFolder) throw new LcmdError(`cannot write ${file}: it is a folder (EISDIR); remove or rename it, or choose another --out`, 'E_IO');
}

/** Keeps the log lines of steps up to `step` (and lines without a step); drops blank and unreadable lines. */
function truncateLog(file: string, step: number): void {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    if (errorCode(err) === 'ENOENT') return;
    throw ioError(`cannot read the run log ${file}`, err);
  }
  const kept = text.split('\n').filter((line) => {
    if (line.trim() === '') return false;
    try {
      const entry = JSON.parse(line) as { step?: number };
      return typeof entry.step !== 'number' || entry.step <= step;
    } catch {
      return false;
    }
  });
  writeFileAtomic(file, kept.map((l) => l + '\n').join(''));
}
