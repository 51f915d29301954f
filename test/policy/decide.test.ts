import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { backoffDelay } from '../../src/policy/backoff.ts';
import { classify } from '../../src/policy/classify.ts';
import { decide, type RetryPolicyOptions } from '../../src/policy/retry-policy.ts';
import type { AttemptFailure, Jitter } from '../../src/policy/types.ts';

const base: RetryPolicyOptions = {
  maxAttempts: 4,
  backoff: { initialMs: 500, maxMs: 20_000, jitter: 'full' },
  maxRetryAfterMs: 60_000,
};
const env = { nowMs: 0, random: () => 0.5 };

describe('classify', () => {
  test.each<[AttemptFailure, string, boolean]>([
    [{ status: 429, code: 'rate_limit_exceeded' }, 'rate_limited', true],
    [{ status: 429, code: 'insufficient_quota' }, 'quota_exhausted', false],
    [{ status: 429, type: 'insufficient_quota' }, 'quota_exhausted', false],
    [
      { status: 429, code: 'insufficient_quota', headers: { 'x-should-retry': 'true' } },
      'quota_exhausted',
      false,
    ],
    [{ status: 429, message: 'Request too large for gpt-4o' }, 'request_too_large', false],
    [{ status: 500 }, 'server_error', true],
    [{ status: 599 }, 'server_error', true],
    [{ status: 408 }, 'timeout', true],
    [{ status: 409 }, 'conflict', true],
    [{ status: 400 }, 'bad_request', false],
    [{ status: 401 }, 'authentication', false],
    [{ status: 403 }, 'permission_denied', false],
    [{ status: 404 }, 'not_found', false],
    [{ status: 422 }, 'unprocessable', false],
    [{ status: 400, headers: { 'x-should-retry': 'true' } }, 'bad_request', true],
    [{ status: 503, headers: { 'x-should-retry': 'false' } }, 'server_error', false],
    [{ transport: 'connection' }, 'connection_error', true],
    [{ transport: 'timeout' }, 'timeout', true],
    [{ transport: 'aborted' }, 'aborted', false],
    [{ malformed: true }, 'malformed_response', true],
    [{ code: 'server_error' }, 'server_error', true],
    [{ status: 500, afterFirstChunk: true }, 'stream_error', false],
    [{ code: 'insufficient_quota', afterFirstChunk: true }, 'quota_exhausted', false],
  ])('%j → %s (retryable %s)', (failure, category, retryable) => {
    const c = classify(failure);
    expect(c.category).toBe(category);
    expect(c.retryable).toBe(retryable);
    expect(c.quotaExhausted).toBe(category === 'quota_exhausted');
  });
});

describe('backoff', () => {
  test.each<[Jitter, number[]]>([
    ['none', [500, 1000, 2000, 4000, 8000, 16_000, 20_000]],
    ['full', [250, 500, 1000, 2000, 4000, 8000, 10_000]],
    ['equal', [375, 750, 1500, 3000, 6000, 12_000, 15_000]],
  ])('%s jitter at random()=0.5', (jitter, expected) => {
    const got = expected.map((_, i) =>
      backoffDelay(i + 1, { initialMs: 500, maxMs: 20_000, jitter }, () => 0.5),
    );
    expect(got).toEqual(expected);
  });
  test('decorrelated grows from the previous wait and respects the cap', () => {
    expect(backoffDelay(1, { initialMs: 100, maxMs: 1000, jitter: 'decorrelated' }, () => 1, 100)).toBe(300);
    expect(backoffDelay(5, { initialMs: 100, maxMs: 1000, jitter: 'decorrelated' }, () => 1, 900)).toBe(1000);
  });
});

describe('decide: properties', () => {
  const failures = fc.oneof(
    fc.record({ status: fc.constantFrom(408, 409, 429, 500, 502, 503) }),
    fc.record({
      status: fc.constant(429),
      code: fc.constant('rate_limit_exceeded'),
      headers: fc.record({ 'retry-after-ms': fc.integer({ min: 0, max: 200_000 }).map(String) }),
    }),
    fc.record({ transport: fc.constantFrom<'connection' | 'timeout'>('connection', 'timeout') }),
    fc.record({ status: fc.constant(429), code: fc.constant('insufficient_quota') }),
  );
  const options = fc.record({
    maxAttempts: fc.integer({ min: 1, max: 10 }),
    backoff: fc
      .record({
        initialMs: fc.integer({ min: 0, max: 5000 }),
        extra: fc.integer({ min: 0, max: 60_000 }),
        jitter: fc.constantFrom<Jitter>('full', 'equal', 'decorrelated', 'none'),
      })
      .map(({ initialMs, extra, jitter }) => ({ initialMs, maxMs: initialMs + extra, jitter })),
    maxRetryAfterMs: fc.integer({ min: 0, max: 120_000 }),
    deadlineMs: fc.option(fc.integer({ min: 1, max: 300_000 }), { nil: undefined }),
  });

  test('waits never exceed their caps or the deadline; attempts never exceed maxAttempts; quota is one attempt', () => {
    fc.assert(
      fc.property(
        failures,
        options,
        fc.integer({ min: 1, max: 12 }),
        fc.integer({ min: 0, max: 300_000 }),
        fc.double({ min: 0, max: 0.999_999, noNaN: true }),
        (failure, opts, attempt, elapsedMs, r) => {
          const policy: RetryPolicyOptions = {
            ...opts,
            ...(opts.deadlineMs ? {} : { deadlineMs: undefined }),
          };
          const d = decide(failure, classify(failure), { attempt, elapsedMs }, policy, {
            nowMs: 0,
            random: () => r,
          });
          if ((failure as AttemptFailure).code === 'insufficient_quota')
            return !d.retry && d.outcome === 'quota_exhausted';
          if (!d.retry) return true;
          if (attempt >= opts.maxAttempts) return false;
          if (policy.deadlineMs !== undefined && elapsedMs + d.delayMs >= policy.deadlineMs) return false;
          if (d.source === 'exponential') return d.delayMs >= 0 && d.delayMs <= opts.backoff.maxMs;
          return d.delayMs <= opts.maxRetryAfterMs;
        },
      ),
      { numRuns: 2000 },
    );
  });

  test('quota exhaustion stops at the first attempt whatever the headers say', () => {
    const d = decide(
      { status: 429, code: 'insufficient_quota', headers: { 'retry-after-ms': '1' } },
      classify({ status: 429, code: 'insufficient_quota' }),
      { attempt: 1, elapsedMs: 0 },
      base,
      env,
    );
    expect(d).toEqual({ retry: false, outcome: 'quota_exhausted' });
  });
});
