/** In-band failures: a Responses result that says it failed or stopped short, read as the policy sees it. */
import { describe, expect, test } from 'vitest';
import { classify } from '../../src/policy/classify.ts';
import { Deadline } from '../../src/policy/deadline.ts';
import { classifyInBand, inBandErrorType, inBandFailureOf, inBandOutcome } from '../../src/policy/in-band.ts';
import { RetryBudget } from '../../src/policy/retry-budget.ts';
import { FAILURE_OUTCOMES, type InBandFailure, OUTCOMES } from '../../src/policy/types.ts';
import { afterFailure, afterStreamFailure, type VerdictContext } from '../../src/policy/verdict.ts';

const policy = {
  backoff: { initialMs: 1_000, maxMs: 20_000, jitter: 'none' as const },
  maxRetryAfterMs: 60_000,
};
const ctx = (over: Partial<VerdictContext> = {}): VerdictContext => ({
  nowMs: 0,
  random: () => 0.5,
  deadline: new Deadline(0, undefined),
  maxAttempts: 3,
  policy,
  ...over,
});
const failedAttempt = (inBand: InBandFailure, attempt = 1) => {
  const failure = { inBand };
  return { failure, classification: classify(failure), attempt, cutByDeadline: false };
};

const failedResponse = (code: string | null) => ({
  object: 'response',
  id: 'resp_1',
  status: 'failed',
  error: code === null ? null : { code, message: 'boom' },
  incomplete_details: null,
});
const incompleteResponse = (reason: string) => ({
  object: 'response',
  id: 'resp_2',
  status: 'incomplete',
  error: null,
  incomplete_details: { reason },
});

describe('inBandFailureOf: which results are failures', () => {
  test('a failed response, with its error code', () => {
    expect(inBandFailureOf(failedResponse('server_error'))).toEqual({
      status: 'failed',
      code: 'server_error',
    });
    expect(inBandFailureOf(failedResponse(null))).toEqual({ status: 'failed' });
  });

  test('an incomplete response, with its reason', () => {
    expect(inBandFailureOf(incompleteResponse('content_filter'))).toEqual({
      status: 'incomplete',
      reason: 'content_filter',
    });
  });

  test('the terminal stream events carry them; other events and completed results do not', () => {
    const response = failedResponse('rate_limit_exceeded');
    expect(inBandFailureOf({ type: 'response.failed', response })).toEqual({
      status: 'failed',
      code: 'rate_limit_exceeded',
    });
    expect(
      inBandFailureOf({ type: 'response.incomplete', response: incompleteResponse('max_output_tokens') }),
    ).toEqual({ status: 'incomplete', reason: 'max_output_tokens' });
    // Only the terminal events: a `response.created` echoing an in-progress object is no failure.
    expect(inBandFailureOf({ type: 'response.created', response })).toBeUndefined();
    expect(inBandFailureOf({ object: 'response', status: 'completed' })).toBeUndefined();
    expect(inBandFailureOf({ object: 'response', status: 'queued' })).toBeUndefined();
    // A chat completion has no status to fail in.
    expect(inBandFailureOf({ object: 'chat.completion', status: 'failed' })).toBeUndefined();
    expect(inBandFailureOf('failed')).toBeUndefined();
  });

  test('a stored result (a retrieve poll) says so', () => {
    expect(inBandFailureOf(failedResponse('server_error'), true)).toEqual({
      status: 'failed',
      code: 'server_error',
      stored: true,
    });
  });
});

describe('classification: like the HTTP error it stands for', () => {
  test.each([
    ['server_error', 'server_error', true],
    ['rate_limit_exceeded', 'rate_limited', true],
    ['vector_store_timeout', 'timeout', true],
    ['invalid_prompt', 'bad_request', false],
    ['image_too_large', 'bad_request', false],
  ])('failed with %s: %s, retryable %s', (code, category, retryable) => {
    expect(classifyInBand({ status: 'failed', code })).toEqual({
      category,
      retryable,
      quotaExhausted: false,
      code,
    });
    // classify() reads the in-band fact first, whatever else the failure says.
    expect(classify({ inBand: { status: 'failed', code }, status: 200 }).category).toBe(category);
  });

  test('a failed response without a code is unknown, not retried', () => {
    expect(classifyInBand({ status: 'failed' })).toEqual({
      category: 'unknown',
      retryable: false,
      quotaExhausted: false,
    });
  });

  test('incomplete is never retried: the same request would stop at the same place', () => {
    for (const reason of ['max_output_tokens', 'content_filter'])
      expect(classifyInBand({ status: 'incomplete', reason })).toEqual({
        category: 'incomplete',
        retryable: false,
        quotaExhausted: false,
        code: reason,
      });
  });

  test('a stored result read back is the same on every read: not retried', () => {
    expect(classifyInBand({ status: 'failed', code: 'server_error', stored: true }).retryable).toBe(false);
  });
});

describe('verdicts', () => {
  test('a retryable failed response is retried under the same policy: exponential wait', () => {
    expect(afterFailure(failedAttempt({ status: 'failed', code: 'server_error' }), ctx())).toEqual({
      retry: true,
      delayMs: 1_000,
      source: 'exponential',
    });
  });

  test('out of attempts, the call ends as response_failed, not retries_exhausted', () => {
    const v = afterFailure(failedAttempt({ status: 'failed', code: 'server_error' }, 3), ctx());
    expect(v).toEqual({ retry: false, outcome: 'response_failed' });
  });

  test('a non-retryable one ends at once, and an incomplete one as response_incomplete', () => {
    expect(afterFailure(failedAttempt({ status: 'failed', code: 'invalid_prompt' }), ctx())).toEqual({
      retry: false,
      outcome: 'response_failed',
    });
    expect(afterFailure(failedAttempt({ status: 'incomplete', reason: 'max_output_tokens' }), ctx())).toEqual(
      { retry: false, outcome: 'response_incomplete' },
    );
  });

  test('the retry budget vetoes it like any retry, and the outcome still says what the answer was', () => {
    const budget = new RetryBudget({ capacity: 0 });
    const v = afterFailure(failedAttempt({ status: 'failed', code: 'server_error' }), ctx({ budget }));
    expect(v).toMatchObject({ retry: false, outcome: 'response_failed', budgetExhausted: true });
  });

  test('a rate-limited failed response holds nothing without a hint, and is retried', () => {
    const v = afterFailure(failedAttempt({ status: 'failed', code: 'rate_limit_exceeded' }), ctx());
    expect(v.retry).toBe(true);
  });

  test('after output reached the caller: never retried, outcome from the status', () => {
    expect(
      afterStreamFailure(
        { inBand: { status: 'failed', code: 'server_error' }, afterFirstChunk: true },
        false,
      ),
    ).toEqual({
      classification: {
        category: 'server_error',
        retryable: false,
        quotaExhausted: false,
        code: 'server_error',
      },
      outcome: 'response_failed',
    });
    expect(
      afterStreamFailure(
        { inBand: { status: 'incomplete', reason: 'content_filter' }, afterFirstChunk: true },
        false,
      ).outcome,
    ).toBe('response_incomplete');
  });
});

describe('vocabulary', () => {
  test('both outcomes are failure outcomes (counted as failures, accepted by fallbackOn)', () => {
    expect(FAILURE_OUTCOMES).toContain('response_failed');
    expect(FAILURE_OUTCOMES).toContain('response_incomplete');
    expect(OUTCOMES).toContain('response_failed');
    expect(inBandOutcome({ status: 'failed' })).toBe('response_failed');
    expect(inBandOutcome({ status: 'incomplete' })).toBe('response_incomplete');
  });

  test('error.type is the code or the reason, from a closed set', () => {
    expect(inBandErrorType({ status: 'failed', code: 'server_error' })).toBe('server_error');
    expect(inBandErrorType({ status: 'failed', code: 'rate_limit_exceeded' })).toBe('rate_limit_exceeded');
    expect(inBandErrorType({ status: 'incomplete', reason: 'content_filter' })).toBe('content_filter');
    expect(inBandErrorType({ status: 'failed', code: 'sk-secret-looking-thing' })).toBe('_OTHER');
    expect(inBandErrorType({ status: 'incomplete', reason: 'who knows' })).toBe('_OTHER');
    expect(inBandErrorType({ status: 'failed' })).toBe('response_failed');
  });
});
