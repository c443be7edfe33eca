/** Bridges AbortSignal and progress callbacks to native async calls. */
import { LcmdError } from './errors';
import { native } from './binding';
import type { NativeCancelToken, ProgressCallback } from './native';

export interface AsyncOptions {
  signal?: AbortSignal;
  onProgress?: ProgressCallback;
}

/**
 * Runs a native async call with a CancelToken wired to `signal`. The native work checks the token between
 * steps, stops, frees what it held, and the promise rejects with an E_ABORTED LcmdError named AbortError.
 */
export async function withCancel<T>(signal: AbortSignal | undefined, call: (token: NativeCancelToken) => Promise<T>): Promise<T> {
  const token = new (native().CancelToken)();
  if (signal?.aborted) throw abortError(signal);
  const onAbort = () => token.cancel();
  signal?.addEventListener('abort', onAbort, { once: true });
  try {
    return await call(token);
  } catch (err) {
    if (signal?.aborted || (err instanceof LcmdError && err.code === 'E_ABORTED')) throw abortError(signal);
    throw err;
  } finally {
    signal?.removeEventListener('abort', onAbort);
  }
}

function abortError(signal: AbortSignal | undefined): LcmdError {
  const reason = signal?.reason instanceof Error ? `: ${signal.reason.message}` : '';
  const err = new LcmdError(`the operation was aborted${reason}`, 'E_ABORTED');
  err.name = 'AbortError';
  return err;
}
