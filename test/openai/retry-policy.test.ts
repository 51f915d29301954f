/**
 * Every rule of the retry policy, over real HTTP to a scripted OpenAI-shaped
 * server on loopback. Each test also checks that the server saw exactly as
 * many requests as there are attempt spans: no SDK retry is hidden.
 */
import OpenAI from 'openai';
import { afterAll, beforeAll, beforeEach, describe, expect, test } from 'vitest';
import {
  getAttemptHistory,
  instrument,
  QuotaExhaustedError,
  type RetryscopeOptions,
} from '../../src/index.ts';
import { fakeClock, stuckClock } from '../helpers/fake-clock.ts';
import { createTestTelemetry } from '../helpers/otel.ts';
import {
  apiError,
  chatCompletion,
  quotaExhausted,
  type Reply,
  rateLimited,
  ScriptedServer,
} from '../helpers/scripted-server.ts';

let server: ScriptedServer;
const t = createTestTelemetry();
beforeAll(async () => {
  server = await new ScriptedServer().start();
});
afterAll(() => server.close());
beforeEach(() => t.reset());

const messages = [{ role: 'user' as const, content: 'hi' }];
const ok: Reply = { json: chatCompletion() };

function client(options: RetryscopeOptions = {}, sdk: ConstructorParameters<typeof OpenAI>[0] = {}) {
  const fake = fakeClock();
  const openai = instrument(new OpenAI({ baseURL: server.url, apiKey: 'sk-test-key', ...sdk }), {
    tracerProvider: t.tracerProvider,
    meterProvider: t.meterProvider,
    clock: fake.clock,
    random: () => 0.5,
    // The policy's own waits, alone: pacing has its own tests.
    limiter: false,
    ...options,
  });
  return { openai, sleeps: fake.sleeps, fake };
}

async function attemptSpans() {
  const spans = await t.spans();
  return spans
    .filter((s) => s.attributes['retryscope.attempt'] !== undefined)
    .sort((a, b) => Number(a.attributes['retryscope.attempt']) - Number(b.attributes['retryscope.attempt']));
}

async function operationSpan() {
  const ops = (await t.spans()).filter((s) => s.attributes['retryscope.outcome'] !== undefined);
  expect(ops).toHaveLength(1);
  return ops[0]!;
}

async function callExpectingFailure(openai: OpenAI, signal?: AbortSignal) {
  try {
    await openai.chat.completions.create({ model: 'gpt-4o-mini', messages }, signal ? { signal } : {});
  } catch (error) {
    return error;
  }
  throw new Error('expected the call to fail');
}

async function expectAttemptsMatchRequests(n: number) {
  expect(server.received).toHaveLength(n);
  expect(await attemptSpans()).toHaveLength(n);
}

describe('retried', () => {
  test.each([
    [408, 'APIError'],
    [409, 'ConflictError'],
    [500, 'InternalServerError'],
    [502, 'InternalServerError'],
    [503, 'InternalServerError'],
    [504, 'InternalServerError'],
  ])('status %i is retried and the attempt records %s', async (status, errorType) => {
    server.reply(apiError(status, null, 'server_error', 'boom'), ok);
    const { openai } = client();
    await openai.chat.completions.create({ model: 'gpt-4o-mini', messages });
    await expectAttemptsMatchRequests(2);
    const [first, second] = await attemptSpans();
    expect(first!.attributes['http.response.status_code']).toBe(status);
    expect(first!.attributes['error.type']).toBe(errorType);
    expect(first!.attributes['retryscope.retryable']).toBe(true);
    expect(first!.status.code).toBe(2);
    expect(second!.attributes['error.type']).toBeUndefined();
    expect(second!.attributes['http.request.resend_count']).toBe(1);
    expect((await operationSpan()).attributes['retryscope.outcome']).toBe('success');
  });

  test('a 429 rate_limit_exceeded is retried, waiting what retry-after-ms says', async () => {
    server.reply(rateLimited(1234), ok);
    const { openai, sleeps } = client();
    await openai.chat.completions.create({ model: 'gpt-4o-mini', messages });
    expect(sleeps).toEqual([1234]);
    const [, second] = await attemptSpans();
    expect(second!.attributes['retryscope.backoff_ms']).toBe(1234);
    expect(second!.attributes['retryscope.backoff_source']).toBe('retry-after-ms');
  });

  test('retry-after in seconds is honoured and recorded as such', async () => {
    server.reply(apiError(429, 'rate_limit_exceeded', 'tokens', 'slow down', { 'retry-after': '3' }), ok);
    const { openai, sleeps } = client();
    await openai.chat.completions.create({ model: 'gpt-4o-mini', messages });
    expect(sleeps).toEqual([3000]);
    expect((await attemptSpans())[1]!.attributes['retryscope.backoff_source']).toBe('retry-after');
  });

  test('retry-after as an HTTP date is honoured', async () => {
    const { openai, sleeps, fake } = client();
    const at = new Date(fake.clock.now() + 7000).toUTCString();
    server.reply(apiError(429, 'rate_limit_exceeded', 'requests', 'slow down', { 'retry-after': at }), ok);
    await openai.chat.completions.create({ model: 'gpt-4o-mini', messages });
    expect(sleeps).toHaveLength(1);
    expect(sleeps[0]).toBeGreaterThan(6000);
    expect(sleeps[0]).toBeLessThanOrEqual(7000);
  });

  test('without a hint the wait is exponential with full jitter', async () => {
    server.reply(apiError(500, null, 'server_error', 'a'), apiError(500, null, 'server_error', 'b'), ok);
    const { openai, sleeps } = client({ backoff: { initialMs: 100, maxMs: 10_000, jitter: 'full' } });
    await openai.chat.completions.create({ model: 'gpt-4o-mini', messages });
    // random() = 0.5: half of 100, then half of 200.
    expect(sleeps).toEqual([50, 100]);
    const spans = await attemptSpans();
    expect(spans.map((s) => s.attributes['retryscope.backoff_source'])).toEqual([
      'none',
      'exponential',
      'exponential',
    ]);
    expect((await operationSpan()).attributes['retryscope.backoff_total_ms']).toBe(150);
  });

  test('connection resets are retried as APIConnectionError', async () => {
    server.reply({ reset: true }, ok);
    const { openai } = client();
    await openai.chat.completions.create({ model: 'gpt-4o-mini', messages });
    await expectAttemptsMatchRequests(2);
    expect((await attemptSpans())[0]!.attributes['error.type']).toBe('APIConnectionError');
  });

  test('a per-attempt timeout is retried as APIConnectionTimeoutError', async () => {
    server.reply({ hang: true }, ok);
    const { openai } = client({}, { timeout: 200 });
    await openai.chat.completions.create({ model: 'gpt-4o-mini', messages });
    await expectAttemptsMatchRequests(2);
    const [first] = await attemptSpans();
    expect(first!.attributes['error.type']).toBe('APIConnectionTimeoutError');
    expect(first!.attributes['retryscope.retry_reason']).toBe('timeout');
  });

  test('x-should-retry: true makes a 400 retryable', async () => {
    server.reply(apiError(400, null, 'invalid_request_error', 'x', { 'x-should-retry': 'true' }), ok);
    const { openai } = client();
    await openai.chat.completions.create({ model: 'gpt-4o-mini', messages });
    await expectAttemptsMatchRequests(2);
  });

  test('x-should-retry: false stops a 500', async () => {
    server.reply(apiError(500, null, 'server_error', 'x', { 'x-should-retry': 'false' }), ok);
    const { openai } = client();
    const error = await callExpectingFailure(openai);
    expect(error).toBeInstanceOf(OpenAI.InternalServerError);
    await expectAttemptsMatchRequests(1);
    expect((await operationSpan()).attributes['retryscope.outcome']).toBe('non_retryable');
  });

  test('attempts stop at maxAttempts with retries_exhausted, and the error carries the history', async () => {
    server.reply(rateLimited(10));
    const { openai } = client({ maxAttempts: 3 });
    const error = await callExpectingFailure(openai);
    expect(error).toBeInstanceOf(OpenAI.RateLimitError);
    expect(error).not.toBeInstanceOf(QuotaExhaustedError);
    await expectAttemptsMatchRequests(3);
    const history = getAttemptHistory(error)!;
    expect(history.outcome).toBe('retries_exhausted');
    expect(history.attempts).toBe(3);
    expect(history.totalBackoffMs).toBe(20);
    expect(history.history.map((h) => [h.attempt, h.status, h.errorType, h.requestId])).toEqual([
      [1, 429, 'RateLimitError', 'req_1'],
      [2, 429, 'RateLimitError', 'req_2'],
      [3, 429, 'RateLimitError', 'req_3'],
    ]);
    const op = await operationSpan();
    expect(op.attributes['retryscope.outcome']).toBe('retries_exhausted');
    expect(op.attributes['error.type']).toBe('RateLimitError');
    expect(op.status.code).toBe(2);
    expect((await attemptSpans()).at(-1)!.attributes['retryscope.attempt.outcome']).toBe('failed');
  });

  test("a per-call maxRetries (the SDK's own option) sets the attempts of that call", async () => {
    server.reply(rateLimited(1));
    const { openai } = client({ maxAttempts: 5 });
    await expect(
      openai.chat.completions.create({ model: 'gpt-4o-mini', messages }, { maxRetries: 1 }),
    ).rejects.toBeInstanceOf(OpenAI.RateLimitError);
    await expectAttemptsMatchRequests(2);
  });
});

describe('never retried', () => {
  test.each([
    [400, OpenAI.BadRequestError],
    [401, OpenAI.AuthenticationError],
    [403, OpenAI.PermissionDeniedError],
    [404, OpenAI.NotFoundError],
    [422, OpenAI.UnprocessableEntityError],
  ])('status %i: one attempt, the SDK error class', async (status, ErrorClass) => {
    server.reply(apiError(status, null, 'invalid_request_error', 'nope'));
    const { openai } = client();
    const error = await callExpectingFailure(openai);
    expect(error).toBeInstanceOf(ErrorClass);
    await expectAttemptsMatchRequests(1);
    expect((await attemptSpans())[0]!.attributes['retryscope.retryable']).toBe(false);
    expect((await operationSpan()).attributes['retryscope.outcome']).toBe('non_retryable');
  });

  test('insufficient_quota is exactly one attempt and a QuotaExhaustedError that is still a RateLimitError', async () => {
    server.reply(quotaExhausted(), ok);
    const { openai } = client();
    const error = await callExpectingFailure(openai);
    expect(error).toBeInstanceOf(QuotaExhaustedError);
    expect(error).toBeInstanceOf(OpenAI.RateLimitError);
    expect((error as InstanceType<typeof OpenAI.APIError>).status).toBe(429);
    expect((error as InstanceType<typeof OpenAI.APIError>).code).toBe('insufficient_quota');
    expect((error as Error).message).toContain('You exceeded your current quota');
    await expectAttemptsMatchRequests(1);
    const [attempt] = await attemptSpans();
    expect(attempt!.attributes['retryscope.quota_exhausted']).toBe(true);
    expect(attempt!.attributes['retryscope.error.code']).toBe('insufficient_quota');
    expect(attempt!.attributes['error.type']).toBe('RateLimitError');
    expect((await operationSpan()).attributes['retryscope.outcome']).toBe('quota_exhausted');
  });

  test('a quota error recognised by its type alone is also one attempt', async () => {
    server.reply(apiError(429, null, 'insufficient_quota', 'You exceeded your current quota'), ok);
    const { openai } = client();
    expect(await callExpectingFailure(openai)).toBeInstanceOf(QuotaExhaustedError);
    await expectAttemptsMatchRequests(1);
  });

  test('a 429 "Request too large" is one attempt', async () => {
    server.reply(
      apiError(
        429,
        'rate_limit_exceeded',
        'tokens',
        'Request too large for gpt-4o-mini on tokens per min (TPM): Limit 1000, Requested 5000.',
      ),
      ok,
    );
    const { openai } = client();
    expect(await callExpectingFailure(openai)).toBeInstanceOf(OpenAI.RateLimitError);
    await expectAttemptsMatchRequests(1);
    expect((await attemptSpans())[0]!.attributes['retryscope.retry_reason']).toBe('request_too_large');
  });

  test('a Retry-After beyond maxRetryAfterMs means giving up now, not sleeping', async () => {
    server.reply(apiError(429, 'rate_limit_exceeded', 'requests', 'later', { 'retry-after': '3600' }), ok);
    const { openai, sleeps } = client({ maxRetryAfterMs: 60_000 });
    const error = await callExpectingFailure(openai);
    expect(error).toBeInstanceOf(OpenAI.RateLimitError);
    expect(sleeps).toEqual([]);
    await expectAttemptsMatchRequests(1);
    expect((await attemptSpans())[0]!.attributes['retryscope.retry_after_ms']).toBe(3_600_000);
  });

  test('a wait that would end past the deadline is not taken', async () => {
    server.reply(rateLimited(5_000), ok);
    const { openai, sleeps } = client({ deadlineMs: 2_000 });
    const error = await callExpectingFailure(openai);
    expect(error).toBeInstanceOf(OpenAI.RateLimitError);
    expect(sleeps).toEqual([]);
    expect(getAttemptHistory(error)!.outcome).toBe('deadline_exceeded');
    expect((await operationSpan()).attributes['retryscope.outcome']).toBe('deadline_exceeded');
  });

  test('the deadline caps the waits it allows: never overshot', async () => {
    server.reply(apiError(500, null, 'server_error', 'x'));
    const { openai, sleeps } = client({
      deadlineMs: 1_000,
      maxAttempts: 50,
      backoff: { initialMs: 100, maxMs: 10_000, jitter: 'none' },
    });
    await callExpectingFailure(openai);
    const total = sleeps.reduce((a, b) => a + b, 0);
    expect(total).toBeLessThan(1_000);
    expect(sleeps).toEqual([100, 200, 400]);
  });

  test("the caller's abort ends a backoff wait at once, with every span ended", async () => {
    server.reply(rateLimited(60_000), ok);
    const clock = stuckClock();
    const { openai } = client({ clock });
    const controller = new AbortController();
    const failure = callExpectingFailure(openai, controller.signal);
    await clock.waiting;
    controller.abort();
    const error = await failure;
    expect(error).toBeInstanceOf(OpenAI.APIUserAbortError);
    expect(getAttemptHistory(error)!.outcome).toBe('aborted');
    await expectAttemptsMatchRequests(1);
    expect((await operationSpan()).attributes['retryscope.outcome']).toBe('aborted');
  });

  test('an abort during a request is not retried', async () => {
    server.reply({ hang: true });
    const { openai } = client();
    const controller = new AbortController();
    const failure = callExpectingFailure(openai, controller.signal);
    while (server.received.length === 0) await new Promise((r) => setTimeout(r, 5));
    controller.abort();
    expect(await failure).toBeInstanceOf(OpenAI.APIUserAbortError);
    await expectAttemptsMatchRequests(1);
    expect((await operationSpan()).attributes['retryscope.outcome']).toBe('aborted');
  });
});
