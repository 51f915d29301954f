import { MAX_TIMER_MS } from './consume.ts';

/** What `bounded` rejects with when it gives up on the work. */
export const DEADLINE = Symbol('deadline');
export const ABORTED = Symbol('aborted');

/**
 * Runs `work` (the caller's own code) but gives up on it after `leftMs` (rejecting with
 * `DEADLINE`) or at the signal's abort (`ABORTED`).
 */
export function bounded<T>(work: () => T | Promise<T>, leftMs: number, signal?: AbortSignal): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer =
      leftMs <= MAX_TIMER_MS ? setTimeout(() => reject(DEADLINE), Math.max(0, leftMs)) : undefined;
    const onAbort = () => reject(ABORTED);
    if (signal?.aborted) onAbort();
    signal?.addEventListener('abort', onAbort, { once: true });
    Promise.resolve()
      .then(work)
      .then(resolve, reject)
      .finally(() => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
      });
  });
}
