/**
 * SIGINT (Ctrl-C) and SIGTERM for every command. The first signal aborts an AbortSignal, so the work in flight can
 * stop cleanly (finish the step and write a checkpoint, or write nothing); a second one exits at once. A command
 * that a signal stopped exits with the shell's code for it: 128 + the signal number (SIGINT 130, SIGTERM 143).
 */
import { LcmdError } from '../lib/errors';

/** The shell's convention for a process stopped by a signal: 128 + its number (SIGINT 130, SIGTERM 143). */
export function exitCodeFor(name: NodeJS.Signals): number {
  return name === 'SIGINT' ? 130 : name === 'SIGTERM' ? 143 : 1;
}

export interface InterruptHooks {
  /** called when the first signal arrives (e.g. to say what happens next) */
  onSignal?: (name: NodeJS.Signals) => void;
  /** called when the work rejected with E_ABORTED because of the signal (e.g. to say nothing was written) */
  onAborted?: (name: NodeJS.Signals) => void;
}

/**
 * Runs a command's work with an AbortSignal that SIGINT / SIGTERM abort, and removes the handlers afterwards. When a
 * signal came, whether the work then rejected with E_ABORTED or returned early, the exit code becomes 130 / 143 and
 * `interrupted` names the signal; `value` is what the work returned (undefined when it was aborted). Other errors
 * propagate.
 */
export async function interruptible<T>(work: (signal: AbortSignal) => Promise<T>, hooks: InterruptHooks = {}): Promise<{ value?: T; interrupted?: NodeJS.Signals }> {
  const controller = new AbortController();
  let received: NodeJS.Signals | undefined;
  const handler = (name: NodeJS.Signals) => {
    if (received) {
      process.stderr.write(`\nlcmd: second ${name}, exiting now\n`);
      process.exit(exitCodeFor(name));
    }
    received = name;
    hooks.onSignal?.(name);
    controller.abort(new Error(`interrupted by ${name}`));
  };
  process.on('SIGINT', handler);
  process.on('SIGTERM', handler);
  try {
    const value = await work(controller.signal);
    if (received) process.exitCode = exitCodeFor(received);
    return { value, interrupted: received };
  } catch (err) {
    if (!received || !(err instanceof LcmdError) || err.code !== 'E_ABORTED') throw err;
    hooks.onAborted?.(received);
    process.exitCode = exitCodeFor(received);
    return { interrupted: received };
  } finally {
    process.off('SIGINT', handler);
    process.off('SIGTERM', handler);
  }
}
