import type { BackoffOptions } from './types.ts';

/**
 * The wait before retry number `retry` (1 = the first retry), exponential in
 * `initialMs` and capped at `maxMs`.
 *
 * Full jitter is the default because it spreads a crowd of callers that failed
 * together across the whole window, which is what breaks up a 429 stampede
 * (AWS Architecture Blog, "Exponential Backoff and Jitter").
 *
 * `random` returns [0, 1); `previousMs` is the last wait, used only by
 * decorrelated jitter.
 */
export function backoffDelay(
  retry: number,
  options: BackoffOptions,
  random: () => number,
  previousMs = options.initialMs,
): number {
  const { initialMs, maxMs } = options;
  // 2 ** 52 is already past any sane cap; clamping the exponent keeps the math finite.
  const ceiling = Math.min(maxMs, initialMs * 2 ** Math.min(Math.max(retry - 1, 0), 52));
  switch (options.jitter) {
    case 'none':
      return ceiling;
    case 'equal':
      return ceiling / 2 + random() * (ceiling / 2);
    case 'decorrelated': {
      const upper = Math.max(initialMs, previousMs * 3);
      return Math.min(maxMs, initialMs + random() * (upper - initialMs));
    }
    default:
      return random() * ceiling;
  }
}
