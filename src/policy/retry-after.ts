import type { BackoffSource } from './types.ts';

export interface RetryAfterHint {
  delayMs: number;
  source: Exclude<BackoffSource, 'exponential' | 'none'>;
}

// Waits are whole-number-safe however far the server asks: 10^400 seconds is "never", not Infinity.
const MAX_HINT_MS = Number.MAX_SAFE_INTEGER;

/**
 * Reads the server's requested wait from `retry-after-ms` (OpenAI's precise
 * header, preferred) or `retry-after` (seconds or an HTTP date).
 *
 * Pure and total: a missing, negative or unparseable value yields `undefined`
 * so the caller falls back to exponential backoff; it never throws. A huge
 * value is still a hint, the server saying "not any time soon": the policy
 * gives up on it rather than retry at once (see `decide`).
 */
export function parseRetryAfter(
  headers: Readonly<Record<string, string>> | undefined,
  nowMs: number,
): RetryAfterHint | undefined {
  if (!headers) return undefined;
  const ms = parseNonNegativeNumber(headers['retry-after-ms']);
  if (ms !== undefined) return { delayMs: ms, source: 'retry-after-ms' };

  const raw = headers['retry-after']?.trim();
  if (!raw) return undefined;
  const seconds = parseNonNegativeNumber(raw);
  if (seconds !== undefined) return { delayMs: Math.min(seconds * 1000, MAX_HINT_MS), source: 'retry-after' };
  // HTTP-date form. Date.parse accepts looser input than RFC 9110, so insist on a weekday-comma prefix.
  if (!/^[A-Za-z]{3}, /.test(raw)) return undefined;
  const at = Date.parse(raw);
  if (Number.isNaN(at)) return undefined;
  return { delayMs: Math.min(Math.max(0, at - nowMs), MAX_HINT_MS), source: 'retry-after' };
}

function parseNonNegativeNumber(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const text = value.trim();
  if (!/^\d+(\.\d+)?$/.test(text)) return undefined;
  return Math.min(Number(text), MAX_HINT_MS);
}
