import { describe, expect, test } from 'vitest';
import { DEFAULTS } from '../../src/options.ts';
import { classify } from '../../src/policy/classify.ts';
import { Deadline, MIN_ATTEMPT_MS } from '../../src/policy/deadline.ts';
import { RetryBudget } from '../../src/policy/retry-budget.ts';
import type { AttemptFailure } from '../../src/policy/types.ts';
import {
  afterFailure,
  afterStreamFailure,
  attemptLimit,
  creditWait,
  degradeCutOutcome,
  degrades,
  fallsBack,
  fleetPauseMs,
  refusalOutcome,
  throttlesBucket,
  type VerdictContext,
} from '../../src/policy/verdict.ts';

// Time is passed in: every test states its clock's reading.
const policy = {
  backoff: { initialMs: 1_000, maxMs: 20_000, jitter: 'none' as const },
  maxRetryAfterMs: 60_000,
};
function ctx(nowMs: number, over: Partial<VerdictContext> = {}): VerdictContext {
  return { nowMs, random: () => 0.5, deadline: new Deadline(0, undefined), maxAttempts: 3, policy, ...over };
}
const failed = (failure: AttemptFailure, attempt = 1, cutByDeadline = false) => ({
  failure,
  classification: classify(failure),
  attempt,
  cutByDeadline,
});

describe('afterFailure', () => {
  test('a retryable failure retries after the exponential wait, set by the policy', () => {
    expect(afterFailure(failed({ status: 500 }), ctx(0))).toEqual({
      retry: true,
      delayMs: 1_000,
      source: 'exponential',
    });
  });

  test("the server's hint sets the wait and, for a 429, how long the bucket holds", () => {
    const v = afterFailure(
      failed({ status: 429, code: 'rate_limit_exceeded', headers: { 'retry-after-ms': '1500' } }),
      ctx(0),
    );
    expect(v).toEqual({
      retry: true,
      delayMs: 1_500,
      source: 'retry-after-ms',
      retryAfterMs: 1_500,
      holdMs: 1_500,
    });
  });

  test("a 429 on the last attempt stops, but its bucket still holds the server's wait, capped", () => {
    const v = afterFailure(
      failed({ status: 429, code: 'rate_limit_exceeded', headers: { 'retry-after': '90' } }, 3),
      ctx(0),
    );
    expect(v).toEqual({ retry: false, outcome: 'retries_exhausted', holdMs: 60_000 });
  });

  test('the last attempt allowed stops with retries_exhausted', () => {
    expect(afterFailure(failed({ status: 500 }, 3), ctx(0))).toEqual({
      retry: false,
      outcome: 'retries_exhausted',
    });
  });

  test("a timeout the deadline cut short is the deadline's doing", () => {
    expect(afterFailure(failed({ transport: 'timeout' }, 1, true), ctx(0))).toEqual({
      retry: false,
      outcome: 'deadline_exceeded',
    });
    // Or any timeout once the deadline has passed, by the clock passed in.
    const deadline = new Deadline(1_000, 5_000);
    expect(afterFailure(failed({ transport: 'timeout' }), ctx(6_000, { deadline })).retry).toBe(false);
    expect(afterFailure(failed({ transport: 'timeout' }), ctx(5_999, { deadline }))).toMatchObject({
      retry: false,
      outcome: 'deadline_exceeded',
    });
    // With time left, a plain timeout is retried like any other.
    expect(afterFailure(failed({ transport: 'timeout' }), ctx(1_500, { deadline })).retry).toBe(true);
  });

  test('a wait longer than the deadline leaves stops now', () => {
    const deadline = new Deadline(0, 1_500);
    expect(afterFailure(failed({ status: 500 }), ctx(600, { deadline }))).toEqual({
      retry: false,
      outcome: 'deadline_exceeded',
    });
  });

  test('the retry budget vetoes a retry it cannot pay for, and spends only on a retry', () => {
    const budget = new RetryBudget({ capacity: 5, retryCost: 5 });
    expect(afterFailure(failed({ status: 500 }), ctx(0, { budget })).retry).toBe(true);
    expect(budget.remaining()).toBe(0);
    expect(afterFailure(failed({ status: 500 }), ctx(0, { budget }))).toEqual({
      retry: false,
      outcome: 'retries_exhausted',
      budgetExhausted: true,
    });
    // A failure the policy would not retry costs nothing and is no veto.
    budget.onSuccess('server_error');
    expect(afterFailure(failed({ status: 400 }), ctx(0, { budget }))).toEqual({
      retry: false,
      outcome: 'non_retryable',
    });
    expect(budget.remaining()).toBe(5);
  });

  test('quota and aborts are never retried', () => {
    expect(afterFailure(failed({ status: 429, code: 'insufficient_quota' }), ctx(0))).toMatchObject({
      retry: false,
      outcome: 'quota_exhausted',
    });
    expect(afterFailure(failed({ transport: 'aborted' }), ctx(0))).toEqual({
      retry: false,
      outcome: 'aborted',
    });
  });
});

describe('afterStreamFailure', () => {
  test('never retried; the outcome says why it stopped', () => {
    const plain = afterStreamFailure({ transport: 'connection' }, false);
    expect(plain.classification.retryable).toBe(false);
    expect(plain.outcome).toBe('non_retryable');
    expect(afterStreamFailure({ transport: 'timeout' }, true).outcome).toBe('deadline_exceeded');
    expect(afterStreamFailure({ status: 429, code: 'insufficient_quota' }, false).outcome).toBe(
      'quota_exhausted',
    );
  });
});

describe('attemptLimit', () => {
  test("the SDK's maxRetries means retries + 1 attempts; a streamed body gets one", () => {
    expect(attemptLimit({ replayable: true, maxRetries: undefined, maxAttempts: 3 })).toBe(3);
    expect(attemptLimit({ replayable: true, maxRetries: 0, maxAttempts: 3 })).toBe(1);
    expect(attemptLimit({ replayable: true, maxRetries: 5, maxAttempts: 3 })).toBe(6);
    expect(attemptLimit({ replayable: false, maxRetries: 5, maxAttempts: 3 })).toBe(1);
  });
});

describe('fallsBack', () => {
  test('on a listed outcome with time left; never after an abort', () => {
    expect(fallsBack('retries_exhausted', ['retries_exhausted'], 10)).toBe(true);
    expect(fallsBack('retries_exhausted', ['retries_exhausted'], 0)).toBe(false);
    expect(fallsBack('non_retryable', ['retries_exhausted'], Infinity)).toBe(false);
    expect(fallsBack('aborted', ['aborted'], Infinity)).toBe(false);
  });
  test('a spent budget moves on only when asked: spending past a budget is a choice', () => {
    expect(fallsBack('budget_exceeded', ['budget_exceeded'], 10)).toBe(true);
    expect(fallsBack('budget_exceeded', DEFAULTS.fallbackOn, 10)).toBe(false);
    expect(degrades('budget_exceeded', ['budget_exceeded'])).toBe(true);
    expect(degrades('budget_exceeded', DEFAULTS.fallbackOn)).toBe(false);
  });
});

describe('degrades', () => {
  test('answers for a listed outcome, with no time needed (it is the last resort); never after an abort', () => {
    expect(degrades('retries_exhausted', ['retries_exhausted'])).toBe(true);
    expect(degrades('non_retryable', ['retries_exhausted'])).toBe(false);
    expect(degrades('aborted', ['aborted'])).toBe(false);
    // A failed response is returned as the SDK returns it, even with response_failed in fallbackOn.
    expect(degrades('response_failed', ['response_failed'])).toBe(true);
    expect(degrades('response_failed', ['response_failed'], true)).toBe(false);
  });
  test("a degrade that did not answer: the deadline or the abort names the end, else the API's failure does", () => {
    expect(degradeCutOutcome('deadline', 'retries_exhausted')).toBe('deadline_exceeded');
    expect(degradeCutOutcome('aborted', 'retries_exhausted')).toBe('aborted');
    expect(degradeCutOutcome('failed', 'quota_exhausted')).toBe('quota_exhausted');
  });
});

describe('what a failure tells the pacing', () => {
  test('only a rate limit reaches the bucket: not a flex capacity miss, quota or a 5xx', () => {
    const of = (status: number, code?: string) =>
      throttlesBucket(classify({ status, ...(code ? { code } : {}), headers: {} } as AttemptFailure));
    expect(of(429, 'rate_limit_exceeded')).toBe(true);
    expect(of(429, 'insufficient_quota')).toBe(false);
    expect(of(503)).toBe(false);
  });
  test('a storm or slow_down pauses the fleet until the hint; an isolated 429, or no hint, does not', () => {
    expect(fleetPauseMs('storm', 2000)).toBe(2000);
    expect(fleetPauseMs('slow_down', 500)).toBe(500);
    expect(fleetPauseMs('isolated', 2000)).toBeUndefined();
    expect(fleetPauseMs('storm', undefined)).toBeUndefined();
    expect(fleetPauseMs(undefined, 2000)).toBeUndefined();
  });
});

describe('refusalOutcome', () => {
  test('names why the client did not send', () => {
    expect(refusalOutcome('queue_full')).toBe('queue_full');
    expect(refusalOutcome('deadline')).toBe('deadline_exceeded');
    expect(refusalOutcome('quota')).toBe('quota_exhausted');
  });
});

describe('creditWait', () => {
  const wait = {
    failedAtMs: 1_000,
    delayMs: 500,
    source: 'retry-after-ms' as const,
    reason: 'rate_limited' as const,
  };
  test('records what passed between the failure and the send, not what was asked', () => {
    expect(creditWait(wait, 1_800, 0)).toEqual({ ms: 800, source: 'retry-after-ms' });
  });
  test('credits the limiter when it held the retry longer than the policy asked', () => {
    expect(creditWait(wait, 2_000, 501)).toEqual({ ms: 1_000, source: 'limiter' });
    expect(creditWait(wait, 2_000, 500)).toEqual({ ms: 1_000, source: 'retry-after-ms' });
    expect(creditWait(wait, 2_000, undefined).source).toBe('retry-after-ms');
  });
});

describe('Deadline', () => {
  test('without one, every budget is infinite and attempts keep their own timeout', () => {
    const d = new Deadline(100, undefined);
    expect(d.leftMs(1e12)).toBe(Infinity);
    expect(d.atMs).toBeUndefined();
    expect(d.lastSlotAtMs).toBeUndefined();
    expect(d.maxQueueMs(5)).toBe(Infinity);
    expect(d.attemptTimeoutMs(5, 600_000)).toBeUndefined();
  });
  test('with one, slots and queues leave an attempt room to run', () => {
    const d = new Deadline(100, 1_000);
    expect(d.atMs).toBe(1_100);
    expect(d.leftMs(600)).toBe(500);
    expect(d.lastSlotAtMs).toBe(1_100 - MIN_ATTEMPT_MS);
    expect(d.maxQueueMs(600)).toBe(500 - MIN_ATTEMPT_MS);
    expect(d.maxQueueMs(1_090)).toBe(0);
    expect(d.attemptTimeoutMs(600, 600_000)).toBe(500);
    expect(d.attemptTimeoutMs(600, 200)).toBe(200);
    // Past the deadline the SDK still gets its 1 ms floor, never 0 (which means no timeout).
    expect(d.attemptTimeoutMs(5_000, 600_000)).toBe(1);
    // A clock with fractions (performance.now): whole milliseconds, as the SDK requires.
    expect(d.attemptTimeoutMs(600.25, 600_000)).toBe(499);
    expect(d.attemptTimeoutMs(1_099.5, 600_000)).toBe(1);
  });
});
