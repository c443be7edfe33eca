/**
 * Temporary files of atomic writes: `<file>.tmp-<pid>`, the name the native writer (native/core/formats/file_io.cc)
 * uses too. A process killed mid-write leaves one behind; removeStaleTempFiles() clears those of dead processes,
 * and never the file of a writer that is still alive.
 */
import * as fs from 'fs';
import * as path from 'path';

/** `<file>.tmp-<pid>`: the temporary file this process writes `file` through. */
export function tempPathFor(file: string): string {
  return `${file}.tmp-${process.pid}`;
}

const TEMP_NAME = /\.tmp-(\d+)$/;

/** Whether process `pid` exists: kill(pid, 0) sends nothing, ESRCH means no such process (EPERM: alive, not ours). */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code !== 'ESRCH';
  }
}

/**
 * Removes the `*.tmp-<pid>` files in `dir` (not its subfolders) whose process has exited; returns their paths.
 * Files of live processes, this one included, stay. A folder that cannot be listed has nothing to remove.
 */
export function removeStaleTempFiles(dir: string): string[] {
  let names: string[];
  try {
    names = fs.readdirSync(dir);
  } catch {
    return [];
  }
  const removed: string[] = [];
  for (const name of names) {
    const match = TEMP_NAME.exec(name);
    if (!match) continue;
    const pid = Number(match[1]);
    if (!Number.isSafeInteger(pid) || pid <= 0 || pid === process.pid || processAlive(pid)) continue;
    const file = path.join(dir, name);
    try {
      if (!fs.lstatSync(file).isFile()) continue;
      fs.unlinkSync(file);
      removed.push(file);
    } catch {
      // gone already, or not ours to remove: leave it
    }
  }
  return removed;
}
