/**
 * The SDK's promise and stream contract, kept through instrument(): when
 * `create({ stream: true })` settles, where a stream's errors surface, and
 * that a failure before the first chunk is retried behind the iterator with
 * every attempt its own span. Each behaviour is checked against the plain SDK
 * on the same server where the two must agree.
 */
import OpenAI from 'openai';
import { afterAll, beforeAll, beforeEach, describe, expect, test } from 'vitest';
import { getAttemptHistory, instrument, type RetryscopeOptions } from '../../src/index.ts';
import { fakeClock } from '../helpers/fake-clock.ts';
import { createTestTelemetry } from '../helpers/otel.ts';
import { type Act, chunk, drain, errorEvent, StreamServer, splitSpans } from '../helpers/stream-server.ts';

let server: StreamServer;
const t = createTestTelemetry();
beforeAll(async () => {
  server = await new StreamServer().start();
});
afterAll(() => server.close());
beforeEach(() => t.reset());

const messages = [{ role: 'user' as const, content: 'hi' }];
const body = { model: 'gpt-4o-mini', messages, stream: true as const };

function plain() {
  return new OpenAI({ baseURL: server.url, apiKey: 'sk-plain', maxRetries: 0 });
}

function wrapped(options: RetryscopeOptions = {}) {
  return instrument(new OpenAI({ baseURL: server.url, apiKey: 'sk-wrapped' }), {
    tracerProvider: t.tracerProvider,
    meterProvider: t.meterProvider,
    clock: fakeClock().clock,
    limiter: false,
    ...options,
  });
}

const spans = async () => splitSpans(await t.spans());

describe('when create({ stream: true }) settles', () => {
  test.each([
    ['the plain SDK', plain],
    ['instrument()', wrapped],
  ])('%s: when the headers arrive, while the server still holds the first event', async (_, make) => {
    server.script({ sse: [chunk('held'), chunk(' back', 'stop')], after: 'hold' });
    const stream = await make().chat.completions.create(body);
    // Nothing has been released: had create() waited for a chunk, it would still be pending.
    expect(server.headersSent).toBe(1);
    server.release();
    expect((await drain(stream)).texts).toEqual(['held', ' back']);
  });

  test('a first-event error is raised inside for await, not by create(), as the SDK raises it', async () => {
    for (const make of [plain, () => wrapped({ maxAttempts: 1 })]) {
      server.script({ sse: [errorEvent()], after: 'done' });
      const stream = await make().chat.completions.create(body);
      const { texts, error } = await drain(stream);
      expect(texts).toEqual([]);
      expect(error).toBeInstanceOf(OpenAI.APIError);
    }
    const { ops, attempts } = await spans();
    expect(attempts).toHaveLength(1);
    expect(ops[0]!.attributes['retryscope.outcome']).toBe('retries_exhausted');
  });

  test('an HTTP error before the headers of a 200 still rejects create(), after the retries', async () => {
    server.script({
      status: 429,
      json: { error: { message: 'slow down', type: 'requests', code: 'rate_limit_exceeded' } },
    });
    const error = await wrapped({ maxAttempts: 2 })
      .chat.completions.create(body)
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(OpenAI.RateLimitError);
    expect(getAttemptHistory(error)!.attempts).toBe(2);
    expect(server.received).toHaveLength(2);
  });
});

describe('retrying before the first chunk, behind the iterator', () => {
  test('a first-event error is retried: create() settled on the first attempt, the loop sees only the good one', async () => {
    const acts: Act[] = [
      { sse: [errorEvent()], after: 'hold' },
      { sse: [chunk('second'), chunk(' try', 'stop')] },
    ];
    server.script(...acts);
    const stream = await wrapped().chat.completions.create(body);
    // Settled on attempt 1's headers: its error event has not even been sent yet.
    expect(server.received).toHaveLength(1);
    server.release();
    expect(await drain(stream)).toEqual({ texts: ['second', ' try'] });
    expect(server.received).toHaveLength(2);
    const { ops, attempts } = await spans();
    expect(attempts.map((a) => a.attributes['retryscope.attempt.outcome'])).toEqual(['retried', 'success']);
    expect(attempts[1]!.attributes['retryscope.backoff_source']).toBe('exponential');
    expect(ops).toHaveLength(1);
    expect(ops[0]!.attributes).toMatchObject({ 'retryscope.outcome': 'success', 'retryscope.attempts': 2 });
  });

  test('when every attempt fails before a chunk, the last error surfaces in for await with its history', async () => {
    server.script({ sse: [errorEvent()] });
    const stream = await wrapped({ maxAttempts: 3 }).chat.completions.create(body);
    const { error } = await drain(stream);
    expect(error).toBeInstanceOf(OpenAI.APIError);
    expect(getAttemptHistory(error)).toMatchObject({ outcome: 'retries_exhausted', attempts: 3 });
    expect((await spans()).attempts).toHaveLength(3);
  });

  test('a fallback serves the stream when the primary fails before its first chunk', async () => {
    server.script({ sse: [errorEvent()] }, { sse: [errorEvent()] }, { sse: [chunk('from the fallback')] });
    const openai = wrapped({ maxAttempts: 2, fallbacks: [{ model: 'gpt-4.1-mini' }] });
    const stream = await openai.chat.completions.create(body);
    expect((await drain(stream)).texts).toEqual(['from the fallback']);
    expect(server.received.map((r) => (r.body as { model: string }).model)).toEqual([
      'gpt-4o-mini',
      'gpt-4o-mini',
      'gpt-4.1-mini',
    ]);
    expect((await spans()).ops[0]!.attributes['retryscope.outcome']).toBe('fallback');
  });

  test('degrade answers a stream already handed out with its canned chunks', async () => {
    server.script({ sse: [errorEvent()] });
    const openai = wrapped({
      maxAttempts: 1,
      degrade: () => [chunk('canned')],
    });
    const stream = await openai.chat.completions.create(body);
    expect((await drain(stream)).texts).toEqual(['canned']);
    expect((await spans()).ops[0]!.attributes['retryscope.outcome']).toBe('fallback');
  });
});

describe('the stream helpers', () => {
  test('chat.completions.stream() retries before the first chunk and delivers the content', async () => {
    server.script(
      { sse: [errorEvent()] },
      {
        sse: [
          {
            ...chunk('hel'),
            choices: [{ index: 0, delta: { role: 'assistant', content: 'hel' }, finish_reason: null }],
          },
          chunk('lo', 'stop'),
        ],
      },
    );
    const content = await wrapped()
      .chat.completions.stream({ model: 'gpt-4o-mini', messages })
      .finalContent();
    expect(content).toBe('hello');
    expect(server.received).toHaveLength(2);
  });

  test('responses.stream() retries before the first event and delivers the final response', async () => {
    const response = (status: string, extra: object = {}) => ({
      id: 'resp_1',
      object: 'response',
      created_at: 1,
      model: 'gpt-4o-mini',
      status,
      output: [],
      ...extra,
    });
    server.script(
      { sse: [errorEvent()] },
      {
        sse: [
          { type: 'response.created', sequence_number: 0, response: response('in_progress') },
          {
            type: 'response.completed',
            sequence_number: 1,
            response: response('completed', {
              usage: { input_tokens: 2, output_tokens: 1, total_tokens: 3 },
            }),
          },
        ],
      },
    );
    const final = await wrapped().responses.stream({ model: 'gpt-4o-mini', input: 'hi' }).finalResponse();
    expect(final.status).toBe('completed');
    expect(server.received).toHaveLength(2);
    expect((await spans()).ops[0]!.attributes['gen_ai.usage.input_tokens']).toBe(2);
  });
});
