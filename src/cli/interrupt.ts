import {InterruptedError, type StopSignal} from '../lib/migrate/guard.js';

const SIGNALS: StopSignal[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];

/**
 * Runs a migration with SIGINT, SIGTERM and SIGHUP turned into an abort: the library then
 * cancels the engines' transfers, puts the devices back and removes any partial file, and the
 * command exits 128 + the signal's number. A second signal is ignored (recovery must finish;
 * SIGKILL still works, and then the engines undo on their own).
 */
export async function interruptible<T>(fn: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const controller = new AbortController();
  const handler = (sig: NodeJS.Signals) => {
    if (!controller.signal.aborted) controller.abort(new InterruptedError(sig as StopSignal));
  };
  for (const s of SIGNALS) process.on(s, handler);
  try {
    const result = await fn(controller.signal);
    // A signal after the last transfer changes nothing: the work is done.
    return result;
  } catch (error) {
    // Before any device moved the library rethrows the plain failure: report the signal.
    if (controller.signal.aborted && !(error instanceof Error && 'recoveries' in error)) throw controller.signal.reason;
    throw error;
  } finally {
    for (const s of SIGNALS) process.off(s, handler);
  }
}
