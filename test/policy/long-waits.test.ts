/**
 * A server asking for a wait longer than `maxRetryAfterMs` means giving up,
 * however large the ask: a day and a half, two days as an HTTP date, 3 years
 * in milliseconds, a number too big for a double. None of them is garbage to
 * be replaced by an immediate retry.
 */
import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { classify } from '../../src/policy/classify.ts';
import { parseRetryAfter } from '../../src/policy/retry-after.ts';
import { decide, MAX_WAIT_MS, type RetryPolicyOptions } from '../../src/policy/retry-policy.ts';
import type { AttemptFailure } from '../../src/policy/types.ts';

const NOW = Date.UTC(2026, 0, 1);
const DAY = 86_400_000;
const options: RetryPolicyOptions = {
  maxAttempts: 4,
  backoff: { initialMs: 500, maxMs: 20_000, jitter: 'full' },
  maxRetryAfterMs: 60_000,
};
const env = { nowMs: NOW, random: () => 0.5 };
const rateLimited = (headers: Record<string, string>): AttemptFailure => ({
  status: 429,
  code: 'rate_limit_exceeded',
  headers,
});
const decideOn = (headers: Record<string, string>, opts = options) => {
  const failure = rateLimited(headers);
  return decide(failure, classify(failure), { attempt: 1, elapsedMs: 0 }, opts, env);
};

describe('waits beyond a day are hints, not garbage', () => {
  test.each<[string, Record<string, string>, number]>([
    ['retry-after: 100000 (27.8 hours)', { 'retry-after': '100000' }, 100_000_000],
    ['an HTTP date two days away', { 'retry-after': new Date(NOW + 2 * DAY).toUTCString() }, 2 * DAY],
    ['retry-after-ms: 99999999999 (3.2 years)', { 'retry-after-ms': '99999999999' }, 99_999_999_999],
  ])('%s parses as that wait', (_name, headers, ms) => {
    expect(parseRetryAfter(headers, NOW)?.delayMs).toBe(ms);
  });

  test('a number past what a double holds is the longest wait, not Infinity', () => {
    expect(parseRetryAfter({ 'retry-after': '9'.repeat(400) }, NOW)?.delayMs).toBe(Number.MAX_SAFE_INTEGER);
  });

  test.each<[string, Record<string, string>]>([
    ['retry-after: 100000', { 'retry-after': '100000' }],
    ['an HTTP date two days away', { 'retry-after': new Date(NOW + 2 * DAY).toUTCString() }],
    ['retry-after-ms: 99999999999', { 'retry-after-ms': '99999999999' }],
    ['retry-after: 10^400', { 'retry-after': '9'.repeat(400) }],
  ])("%s means giving up, with the server's wait reported", (_name, headers) => {
    const decision = decideOn(headers);
    expect(decision).toMatchObject({ retry: false, outcome: 'retries_exhausted' });
    expect(decision.retryAfterMs).toBe(parseRetryAfter(headers, NOW)!.delayMs);
  });

  test('a wait no timer can hold is refused even when maxRetryAfterMs would allow it', () => {
    const decision = decideOn(
      { 'retry-after-ms': String(MAX_WAIT_MS + 1) },
      { ...options, maxRetryAfterMs: 1e15 },
    );
    expect(decision).toMatchObject({ retry: false, outcome: 'retries_exhausted' });
    expect(
      decideOn({ 'retry-after-ms': String(MAX_WAIT_MS) }, { ...options, maxRetryAfterMs: 1e15 }),
    ).toMatchObject({
      retry: true,
      delayMs: MAX_WAIT_MS,
    });
  });

  test('property: any hint over maxRetryAfterMs gives up; any hint within it is the wait', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 120_000 }),
        fc.oneof(fc.integer({ min: 0, max: 200_000 }), fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER })),
        (maxRetryAfterMs, hintMs) => {
          const decision = decideOn({ 'retry-after-ms': String(hintMs) }, { ...options, maxRetryAfterMs });
          if (hintMs > maxRetryAfterMs) return !decision.retry && decision.outcome === 'retries_exhausted';
          return decision.retry && decision.delayMs === hintMs;
        },
      ),
    );
  });
});
