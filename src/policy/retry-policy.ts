import { backoffDelay } from './backoff.ts';
import { parseRetryAfter } from './retry-after.ts';
import type { AttemptFailure, BackoffOptions, BackoffSource, Classification, Outcome } from './types.ts';

export interface RetryPolicyOptions {
  maxAttempts: number;
  backoff: BackoffOptions;
  maxRetryAfterMs: number;
  /** Budget for the whole call, attempts and waits; `undefined` = none. */
  deadlineMs?: number;
}

export interface RetryState {
  /** Attempts made so far, the failed one included (1-based). */
  attempt: number;
  /** Time since the call started. */
  elapsedMs: number;
  /** The previous wait, for decorrelated jitter. */
  previousDelayMs?: number;
}

/** Timers cannot wait longer (about 24.8 days); a longer wait is one nobody will sit through. */
export const MAX_WAIT_MS = 2 ** 31 - 1;

export type Decision =
  | { retry: true; delayMs: number; source: BackoffSource; retryAfterMs?: number }
  | { retry: false; outcome: Exclude<Outcome, 'success'>; retryAfterMs?: number };

/**
 * Decides, after a failed attempt, whether to try again and how long to wait
 * first. Pure: time and randomness come in as arguments.
 */
export function decide(
  failure: AttemptFailure,
  classification: Classification,
  state: RetryState,
  options: RetryPolicyOptions,
  env: { nowMs: number; random: () => number },
): Decision {
  if (classification.category === 'aborted') return { retry: false, outcome: 'aborted' };
  if (classification.quotaExhausted) return { retry: false, outcome: 'quota_exhausted' };
  if (!classification.retryable) return { retry: false, outcome: 'non_retryable' };
  if (state.attempt >= options.maxAttempts) return { retry: false, outcome: 'retries_exhausted' };

  const hint = parseRetryAfter(failure.headers, env.nowMs);
  const remaining = options.deadlineMs === undefined ? Infinity : options.deadlineMs - state.elapsedMs;
  if (hint) {
    const retryAfterMs = hint.delayMs;
    // A server asking for more than we are willing to wait means: give up now with its error,
    // however large the ask (a day, a year, 10^20 ms): never treat it as garbage and retry at once.
    if (hint.delayMs > Math.min(options.maxRetryAfterMs, MAX_WAIT_MS))
      return { retry: false, outcome: 'retries_exhausted', retryAfterMs };
    if (hint.delayMs >= remaining) return { retry: false, outcome: 'deadline_exceeded', retryAfterMs };
    return { retry: true, delayMs: hint.delayMs, source: hint.source, retryAfterMs };
  }

  const delayMs = backoffDelay(state.attempt, options.backoff, env.random, state.previousDelayMs);
  if (delayMs >= remaining) return { retry: false, outcome: 'deadline_exceeded' };
  return { retry: true, delayMs, source: 'exponential' };
}
