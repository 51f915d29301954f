import type { BackoffSource } from './types.ts';

export interface RetryAfterHint {
  delayMs: number;
  source: Exclude<BackoffSource, 'exponential' | 'none'>;
}

// A hint beyond a day is garbage, not advice; it falls back to backoff.
const MAX_HINT_MS = 86_400_000;

/**
 * Reads the server's requested wait from `retry-after-ms` (OpenAI's precise
 * header, preferred) or `retry-after` (seconds or an HTTP date).
 *
 * Pure and total: a missing, negative or unparseable value yields `undefined`
 * so the caller falls back to exponential backoff; it never throws.
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
  if (seconds !== undefined) {
    const delayMs = seconds * 1000;
    return delayMs <= MAX_HINT_MS ? { delayMs, source: 'retry-after' } : undefined;
  }
  // HTTP-date form. Date.parse accepts looser input than RFC 9110, so insist on a weekday-comma prefix.
  if (!/^[A-Za-z]{3}, /.test(raw)) return undefined;
  const at = Date.parse(raw);
  if (Number.isNaN(at)) return undefined;
  const delayMs = Math.max(0, at - nowMs);
  return delayMs <= MAX_HINT_MS ? { delayMs, source: 'retry-after' } : undefined;
}

function parseNonNegativeNumber(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const text = value.trim();
  if (!/^\d+(\.\d+)?$/.test(text)) return undefined;
  const n = Number(text);
  return Number.isFinite(n) && n <= MAX_HINT_MS ? n : undefined;
}
