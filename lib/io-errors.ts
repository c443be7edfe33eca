/**
 * Node's file-system errors as E_IO LcmdErrors: what failed (naming the flag or the file), why in words, and what to
 * do. "read-only file system (EROFS)" reads better than Node's "EROFS: read-only file system, open '...'", and the
 * code stays in the message for searching.
 */
import { LcmdError } from './errors';

const REASONS: Record<string, { why: string; todo: string }> = {
  EROFS: { why: 'read-only file system', todo: 'choose a path on a writable file system' },
  EACCES: { why: 'permission denied', todo: 'check the permissions, or choose another path' },
  EPERM: { why: 'operation not permitted', todo: 'check the permissions, or choose another path' },
  ENOENT: { why: 'no such file or folder, or the file system does not allow creating it', todo: 'choose a path in a normal, writable folder' },
  ENOTDIR: { why: 'a part of the path is a file, not a folder', todo: 'choose another path' },
  EISDIR: { why: 'it is a folder', todo: 'give a file path' },
  ENOSPC: { why: 'no space left on the device', todo: 'free some space, or choose another disk' },
  EDQUOT: { why: 'disk quota exceeded', todo: 'free some space, or choose another disk' },
  ENAMETOOLONG: { why: 'the name is too long', todo: 'choose a shorter path' },
  ELOOP: { why: 'too many symbolic links', todo: 'choose another path' },
  EEXIST: { why: 'it already exists', todo: 'choose another path' },
  EBUSY: { why: 'the file or folder is busy', todo: 'try again, or choose another path' },
  EMFILE: { why: 'too many open files', todo: 'close other programs, or raise the limit (ulimit -n)' },
};

/** The error code of a Node fs error ('EROFS', ...), or undefined. */
export function errorCode(err: unknown): string | undefined {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  return typeof code === 'string' ? code : undefined;
}

/** "read-only file system (EROFS); choose a path on a writable file system", or Node's own message. */
export function fsReason(err: unknown): string {
  const code = errorCode(err);
  const reason = code ? REASONS[code] : undefined;
  if (reason) return `${reason.why} (${code}); ${reason.todo}`;
  return err instanceof Error ? err.message : String(err);
}

/** `what` names the file and flag, e.g. "--out run/x.npy": "--out run/x.npy" or just the path. */
export function describePath(file: string, flag?: string): string {
  return flag ? `${flag} ${file}` : file;
}

/** E_IO: "cannot write --out x.npy: read-only file system (EROFS); choose ...". An LcmdError passes through. */
export function ioError(action: string, err: unknown): LcmdError {
  if (err instanceof LcmdError) return err;
  return new LcmdError(`${action}: ${fsReason(err)}`, 'E_IO');
}
