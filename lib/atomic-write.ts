/**
 * Every file lcmd writes from TypeScript goes through writeFileAtomic: the bytes go to `<file>.tmp-<pid>`, are
 * flushed to disk, and the temporary file is renamed over `file`. A reader, or a process killed mid-write, sees the
 * old file or the new one, never half of one. The native writers (checkpoints, tokenizers, .npy) do the same in
 * native/core/formats/file_io.cc; lib/temp-files.ts removes what killed processes leave behind.
 */
import * as fs from 'fs';
import * as path from 'path';
import { describePath, ioError } from './io-errors';
import { tempPathFor } from './temp-files';

/** Writes `data` to `file` atomically. The folder must exist (lib/folders.ts). E_IO naming `flag` or the file. */
export function writeFileAtomic(file: string, data: Buffer | Uint8Array | string, flag?: string): void {
  const tmp = tempPathFor(file);
  let fd: number | undefined;
  try {
    fd = fs.openSync(tmp, 'w', 0o644);
    fs.writeFileSync(fd, data);
    fs.fsyncSync(fd);
    fs.closeSync(fd);
    fd = undefined;
    fs.renameSync(tmp, file);
  } catch (err) {
    if (fd !== undefined) {
      try {
        fs.closeSync(fd);
      } catch {
        // already failing; the write error is the one to report
      }
    }
    try {
      fs.rmSync(tmp, { force: true });
    } catch {
      // there may be no temporary file (the folder refused it)
    }
    throw ioError(`cannot write ${describePath(file, flag)}`, err);
  }
  syncFolder(path.dirname(path.resolve(file)));
}

/** The rename is durable once the folder's entry is on disk; a folder that cannot be opened is skipped. */
function syncFolder(dir: string): void {
  try {
    const fd = fs.openSync(dir, 'r');
    try {
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
  } catch {
    // best effort, as in the native writer
  }
}
