/**
 * Servers that misbehave after the headers: a stream that never sends its
 * first event, one that goes quiet after a chunk, a socket reset mid-body,
 * and a caller's abort, and a `degrade` that never answers. Whatever ends a
 * call ends its spans, and nothing hangs past the timeout or the deadline.
 *
 * The timers here are real (a read racing a socket cannot be driven by a fake
 * clock), but no assertion depends on how fast they fire: each test waits for
 * the call to end and then checks how it ended.
 */
import OpenAI from 'openai';
import { afterAll, beforeAll, beforeEach, describe, expect, test } from 'vitest';
import { getAttemptHistory, instrument, type RetryscopeOptions } from '../../src/index.ts';
import { CircuitOpenError } from '../../src/openai/errors.ts';
import { createTestTelemetry } from '../helpers/otel.ts';
import { chatCompletion } from '../helpers/scripted-server.ts';
import { chunk, drain, StreamServer, splitSpans } from '../helpers/stream-server.ts';

let server: StreamServer;
const t = createTestTelemetry();
beforeAll(async () => {
  server = await new StreamServer().start();
});
afterAll(() => server.close());
beforeEach(() => t.reset());

const messages = [{ role: 'user' as const, content: 'hi' }];
const body = { model: 'gpt-4o-mini', messages, stream: true as const };

function wrapped(options: RetryscopeOptions = {}, sdk: ConstructorParameters<typeof OpenAI>[0] = {}) {
  return instrument(new OpenAI({ baseURL: server.url, apiKey: 'sk-hostile', ...sdk }), {
    tracerProvider: t.tracerProvider,
    meterProvider: t.meterProvider,
    limiter: false,
    backoff: { initialMs: 1, maxMs: 1, jitter: 'none' },
    ...options,
  });
}

const spans = async () => splitSpans(await t.spans());

describe('a first event that never comes', () => {
  test('the per-attempt timeout covers the first chunk: each attempt times out, is retried, and every span ends', async () => {
    server.script({ sse: [], after: 'silence' });
    const stream = await wrapped({ maxAttempts: 2 }, { timeout: 150 }).chat.completions.create(body);
    const { texts, error } = await drain(stream);
    expect(texts).toEqual([]);
    expect(error).toBeInstanceOf(OpenAI.APIConnectionTimeoutError);
    expect(getAttemptHistory(error)!.outcome).toBe('retries_exhausted');
    expect(server.received).toHaveLength(2);
    const { ops, attempts } = await spans();
    expect(attempts.map((a) => a.attributes['retryscope.retry_reason'])).toEqual(['timeout', 'timeout']);
    expect(ops.map((o) => o.attributes['retryscope.outcome'])).toEqual(['retries_exhausted']);
  });

  test('the deadline bounds the wait for the first chunk, whatever the timeout', async () => {
    server.script({ sse: [], after: 'silence' });
    const stream = await wrapped({ deadlineMs: 200 }).chat.completions.create(body);
    const { error } = await drain(stream);
    expect(error).toBeInstanceOf(OpenAI.APIConnectionTimeoutError);
    expect((error as Error).message).toMatch(/deadline of 200 ms/);
    expect(getAttemptHistory(error)!.outcome).toBe('deadline_exceeded');
    expect(server.received).toHaveLength(1);
    expect((await spans()).ops[0]!.attributes['retryscope.outcome']).toBe('deadline_exceeded');
  });

  test('fallbacks run when the primary never sends a first chunk', async () => {
    server.script({ sse: [], after: 'silence' }, { sse: [chunk('from the fallback')] });
    const openai = wrapped({ maxAttempts: 1, fallbacks: [{ model: 'gpt-4.1-mini' }] }, { timeout: 150 });
    expect((await drain(await openai.chat.completions.create(body))).texts).toEqual(['from the fallback']);
    expect((await spans()).ops[0]!.attributes['retryscope.outcome']).toBe('fallback');
  });
});

describe('a stream that goes quiet after a chunk', () => {
  test('the idle timer ends it with a timeout inside for await, not retried, spans ended', async () => {
    server.script({ sse: [chunk('only')], after: 'silence' });
    const stream = await wrapped({}, { timeout: 150 }).chat.completions.create(body);
    const { texts, error } = await drain(stream);
    expect(texts).toEqual(['only']);
    expect(error).toBeInstanceOf(OpenAI.APIConnectionTimeoutError);
    expect(server.received).toHaveLength(1);
    const { ops, attempts } = await spans();
    expect(attempts).toHaveLength(1);
    expect(attempts[0]!.attributes).toMatchObject({
      'retryscope.attempt.outcome': 'failed',
      'retryscope.retry_reason': 'timeout',
      'retryscope.retryable': false,
    });
    expect(ops[0]!.attributes['retryscope.outcome']).toBe('non_retryable');
  });

  test('the deadline ends it too', async () => {
    server.script({ sse: [chunk('only')], after: 'silence' });
    const stream = await wrapped({ deadlineMs: 200 }).chat.completions.create(body);
    const { texts, error } = await drain(stream);
    expect(texts).toEqual(['only']);
    expect(getAttemptHistory(error)!.outcome).toBe('deadline_exceeded');
  });
});

describe('the caller aborts a stream', () => {
  test.each([
    ['its signal', (c: AbortController) => c.abort()],
    ['stream.controller', (_: AbortController, s: { controller: AbortController }) => s.controller.abort()],
  ])(
    'before the first chunk, through %s: the loop ends quietly, as the SDK’s does, and the outcome is aborted',
    async (_, abort) => {
      server.script({ sse: [], after: 'silence' });
      const controller = new AbortController();
      const stream = await wrapped().chat.completions.create(body, { signal: controller.signal });
      const draining = drain(stream);
      abort(controller, stream);
      expect(await draining).toEqual({ texts: [], error: undefined });
      const { ops, attempts } = await spans();
      expect(ops[0]!.attributes['retryscope.outcome']).toBe('aborted');
      expect(attempts).toHaveLength(1);
      expect(attempts[0]!.attributes['error.type']).toBe('APIUserAbortError');
    },
  );

  test('mid-stream: the plain SDK and the wrapped client both end the loop quietly; the outcome is aborted, not success', async () => {
    const plain = new OpenAI({ baseURL: server.url, apiKey: 'sk-plain', maxRetries: 0 });
    for (const client of [plain, wrapped()]) {
      server.script({ sse: [chunk('first')], after: 'silence' });
      const controller = new AbortController();
      const stream = await client.chat.completions.create(body, { signal: controller.signal });
      const texts: string[] = [];
      for await (const c of stream) {
        texts.push(c.choices[0]?.delta.content ?? '');
        controller.abort();
      }
      expect(texts).toEqual(['first']);
    }
    const { ops, attempts } = await spans();
    expect(ops.map((o) => o.attributes['retryscope.outcome'])).toEqual(['aborted']);
    expect(attempts[0]!.attributes['retryscope.attempt.outcome']).toBe('failed');
  });

  test('breaking out of the loop is not an abort: the call succeeded as far as it went', async () => {
    server.script({ sse: [chunk('a'), chunk('b')] });
    for await (const _ of await wrapped().chat.completions.create(body)) break;
    expect((await spans()).ops[0]!.attributes['retryscope.outcome']).toBe('success');
  });
});

describe('a connection reset after the headers', () => {
  test('before the first SSE chunk: a connection error, retried', async () => {
    server.script({ sse: [], after: 'reset' }, { sse: [chunk('second')] });
    const stream = await wrapped().chat.completions.create(body);
    expect(await drain(stream)).toEqual({ texts: ['second'], error: undefined });
    expect(server.received).toHaveLength(2);
    const { attempts } = await spans();
    expect(attempts[0]!.attributes).toMatchObject({
      'retryscope.retry_reason': 'connection_error',
      'retryscope.attempt.outcome': 'retried',
    });
  });

  test('mid-body of a JSON answer: a connection error, retried', async () => {
    server.script(
      { truncated: chatCompletion('x'.repeat(2000)) },
      { status: 200, json: chatCompletion('whole') },
    );
    const r = await wrapped().chat.completions.create({ model: 'gpt-4o-mini', messages });
    expect(r.choices[0]!.message.content).toBe('whole');
    expect(server.received).toHaveLength(2);
    expect((await spans()).attempts[0]!.attributes['retryscope.retry_reason']).toBe('connection_error');
  });

  test('counted by the circuit breaker like any connection error', async () => {
    server.script({ truncated: chatCompletion('x'.repeat(2000)) });
    const openai = wrapped({
      maxAttempts: 1,
      circuitBreaker: { minimumCalls: 2, failureThreshold: 0.5, openMs: 60_000 },
    });
    const create = () => openai.chat.completions.create({ model: 'gpt-4o-mini', messages }).catch((e) => e);
    await create();
    await create();
    expect(await create()).toBeInstanceOf(CircuitOpenError);
    expect(server.received).toHaveLength(2);
  });
});

test('a degrade that never resolves cannot hold the call past its deadline; its span ends', async () => {
  server.script({ status: 503, json: { error: { message: 'down', type: 'server_error', code: null } } });
  const openai = wrapped({ maxAttempts: 1, deadlineMs: 300, degrade: () => new Promise(() => {}) });
  const error = await openai.chat.completions.create({ model: 'gpt-4o-mini', messages }).catch((e) => e);
  expect(error).toBeInstanceOf(OpenAI.InternalServerError);
  expect(getAttemptHistory(error)!.outcome).toBe('deadline_exceeded');
  expect((await spans()).ops[0]!.attributes['retryscope.outcome']).toBe('deadline_exceeded');
});
