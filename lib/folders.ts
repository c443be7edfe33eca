/**
 * Output locations: folders created one path component at a time, and a check that a file or folder can be
 * written there before any long work starts. Errors are E_IO naming the flag or the path and what to do.
 *
 * Node's `fs.mkdirSync(dir, {recursive: true})` is not used: under /proc, mkdir fails with ENOENT although the
 * parent exists, and Node's recursive mkdir then retries the parent and the child for ever at 100% CPU (signals
 * never get through). Here each component is made once with a plain mkdir, so the loop ends after as many steps as
 * the path has parts, and a read-only file system reports EROFS, not ENOENT.
 */
import * as fs from 'fs';
import * as path from 'path';
import { LcmdError } from './errors';
import { describePath, errorCode, ioError } from './io-errors';
import { tempPathFor } from './temp-files';

/** The stat of `p`, or undefined when nothing is there (any other failure is E_IO). */
function statOf(p: string, what: string): fs.Stats | undefined {
  try {
    return fs.statSync(p);
  } catch (err) {
    if (errorCode(err) === 'ENOENT') return undefined;
    throw ioError(`cannot look at ${p} (for ${what})`, err);
  }
}

/** `p` and its ancestors, the root first. */
function ancestry(p: string): string[] {
  const chain: string[] = [];
  let current = path.resolve(p);
  for (;;) {
    chain.unshift(current);
    const up = path.dirname(current);
    if (up === current) return chain;
    current = up;
  }
}

function notAFolder(p: string, what: string): LcmdError {
  return new LcmdError(`cannot use ${what}: ${p} is a file, not a folder; choose another path`, 'E_IO');
}

/** Creates `dir` and any missing parents; `flag` names the option in messages (e.g. '--folder'). */
export function ensureFolder(dir: string, flag?: string): void {
  const what = describePath(dir, flag);
  for (const p of ancestry(dir)) {
    const stat = statOf(p, what);
    if (stat) {
      if (!stat.isDirectory()) throw notAFolder(p, what);
      continue;
    }
    try {
      fs.mkdirSync(p);
    } catch (err) {
      // another process may have made it in the meantime
      if (errorCode(err) === 'EEXIST' && statOf(p, what)?.isDirectory()) continue;
      throw ioError(`cannot create the folder ${p}${flag || p !== path.resolve(dir) ? ` (for ${what})` : ''}`, err);
    }
  }
}

/** Creates the folder of `file` (and its parents) so that the file can be written. */
export function ensureParentFolder(file: string, flag?: string): void {
  ensureFolder(path.dirname(path.resolve(file)), flag);
}

/**
 * Checks, without creating anything that stays, that `target` can be written: a file (`kind` 'file') or a folder
 * to fill ('folder'). The nearest existing folder on its path must take a new entry, which a short-lived probe file
 * tests (permissions, read-only file systems, /proc). Run it before long work, so a bad --out fails at once.
 */
export function checkWritable(target: string, kind: 'file' | 'folder', flag?: string): void {
  const what = describePath(target, flag);
  const resolved = path.resolve(target);
  const stat = statOf(resolved, what);
  if (stat && kind === 'folder' && !stat.isDirectory()) throw notAFolder(resolved, what);
  if (stat && kind === 'file' && stat.isDirectory()) throw new LcmdError(`cannot write ${what}: it is a folder; give a file path`, 'E_IO');
  // the folder the new entry goes in, or the nearest ancestor that exists (the rest is created later)
  const chain = ancestry(kind === 'folder' && stat ? resolved : path.dirname(resolved));
  let existing: string | undefined;
  for (const p of chain) {
    const s = statOf(p, what);
    if (!s) break;
    if (!s.isDirectory()) throw notAFolder(p, what);
    existing = p;
  }
  if (!existing) throw new LcmdError(`cannot write ${what}: no folder of its path exists`, 'E_IO');
  const probe = tempPathFor(path.join(existing, '.lcmd-write-check'));
  try {
    fs.closeSync(fs.openSync(probe, 'w'));
  } catch (err) {
    throw ioError(`cannot write ${what} (the folder ${existing} does not take new files)`, err);
  }
  try {
    fs.unlinkSync(probe);
  } catch {
    // removed by someone else already
  }
}
