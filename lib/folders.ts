/** Output folders: created with their parents, an E_IO LcmdError naming the folder when that fails. */
import * as fs from 'fs';
import * as path from 'path';
import { LcmdError } from './errors';

export function ensureFolder(dir: string): void {
  try {
    fs.mkdirSync(dir, { recursive: true });
  } catch (err) {
    throw new LcmdError(`cannot create the folder ${dir}: ${(err as Error).message}`, 'E_IO');
  }
}

/** Creates the folder of `file` (and parents) so the file can be written. */
export function ensureParentFolder(file: string): void {
  ensureFolder(path.dirname(path.resolve(file)));
}
