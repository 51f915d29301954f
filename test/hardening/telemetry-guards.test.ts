/**
 * Telemetry failing never changes what the caller gets, and never costs the
 * telemetry that still works: a span processor that throws leaves metrics
 * intact, a provider that throws is one warning. Plus the structural bounds:
 * finish reasons, retry-after as an integer, hints beyond a day.
 */
import type {
  MeterProvider as ApiMeterProvider,
  TracerProvider as ApiTracerProvider,
  Context,
} from '@opentelemetry/api';
import type { ReadableSpan, Span, SpanProcessor } from '@opentelemetry/sdk-trace';
import { TracerProvider } from '@opentelemetry/sdk-trace';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { instrument } from '../../src/index.ts';
import { observeStreamItem, type ResponseFacts } from '../../src/openai/extract.ts';
import { MAX_FINISH_REASONS } from '../../src/telemetry/recorder.ts';
import { fakeClock } from '../helpers/fake-clock.ts';
import { createTestTelemetry, sumWhere } from '../helpers/otel.ts';
import { apiError, chatCompletion, type Reply, ScriptedServer } from '../helpers/scripted-server.ts';

let server: ScriptedServer;
beforeAll(async () => {
  server = await new ScriptedServer().start();
});
afterAll(() => server.close());

const body = { model: 'gpt-4o-mini', messages: [{ role: 'user' as const, content: 'hi' }] };
const ok: Reply = { json: chatCompletion() };

function warningsDuring<T>(fn: () => Promise<T>): Promise<{ value: T; warnings: string[] }> {
  const warnings: string[] = [];
  const onWarning = (w: Error & { code?: string }) => {
    if (w.code === 'RETRYSCOPE_TELEMETRY') warnings.push(w.message);
  };
  process.on('warning', onWarning);
  return fn()
    .then((value) => ({ value, warnings }))
    .finally(() =>
      // Warnings are emitted on the next tick.
      new Promise<void>((resolve) => setImmediate(resolve)).then(() => process.off('warning', onWarning)),
    );
}

test('a span processor whose onEnd throws costs no metric: all 5 calls are counted', async () => {
  const t = createTestTelemetry();
  const throwing: SpanProcessor = {
    onStart: (_span: Span, _ctx: Context) => {},
    onEnd: (_span: ReadableSpan) => {
      throw new Error('processor broke');
    },
    forceFlush: async () => {},
    shutdown: async () => {},
  };
  const tracerProvider = new TracerProvider({ spanProcessors: [throwing] });
  server.reply(ok);
  const openai = instrument(new OpenAI({ baseURL: server.url, apiKey: 'sk-test-key' }), {
    tracerProvider,
    meterProvider: t.meterProvider,
    clock: fakeClock().clock,
  });
  const { value: results } = await warningsDuring(() =>
    Promise.all(Array.from({ length: 5 }, () => openai.chat.completions.create(body))),
  );
  expect(results.map((r) => r.choices[0]!.message.content)).toEqual(Array(5).fill('hello'));
  expect(
    sumWhere(await t.metric('retryscope.client.attempts'), { 'retryscope.attempt.outcome': 'success' }),
  ).toBe(5);
  expect(
    sumWhere(await t.metric('gen_ai.client.operation.duration'), { 'retryscope.outcome': 'success' }),
  ).toBe(5);
  expect(sumWhere(await t.metric('gen_ai.client.token.usage'))).toBe(10);
});

describe('a provider that throws when asked for a tracer or a meter', () => {
  const throwingTracerProvider = {
    getTracer() {
      throw new Error('no tracer for you');
    },
  } as unknown as ApiTracerProvider;
  const throwingMeterProvider = {
    getMeter() {
      throw new Error('no meter for you');
    },
  } as unknown as ApiMeterProvider;

  test('instrument() does not throw, calls succeed, one warning each', async () => {
    server.reply(ok);
    const { value, warnings } = await warningsDuring(async () => {
      const openai = instrument(new OpenAI({ baseURL: server.url, apiKey: 'sk-test-key' }), {
        tracerProvider: throwingTracerProvider,
        meterProvider: throwingMeterProvider,
        clock: fakeClock().clock,
      });
      const first = await openai.chat.completions.create(body);
      await openai.chat.completions.create(body);
      return first;
    });
    expect(value.choices[0]!.message.content).toBe('hello');
    expect(warnings.filter((w) => w.includes('getTracer'))).toHaveLength(1);
    expect(warnings.filter((w) => w.includes('getMeter'))).toHaveLength(1);
  });
});

describe('finish reasons: one per choice, bounded, built in place', () => {
  test('50 000 chunks repeating a reason: one entry, the same array throughout', () => {
    const facts: ResponseFacts = {};
    observeStreamItem(facts, { choices: [{ index: 0, delta: {}, finish_reason: 'stop' }] });
    const list = facts.finishReasons;
    for (let i = 0; i < 50_000; i++) {
      observeStreamItem(facts, { choices: [{ index: 0, delta: { content: 'x' }, finish_reason: 'stop' }] });
    }
    expect(facts.finishReasons).toBe(list);
    expect(facts.finishReasons).toEqual(['stop']);
  });

  test(`50 000 chunks each naming a new choice: at most ${MAX_FINISH_REASONS} entries`, () => {
    const facts: ResponseFacts = {};
    observeStreamItem(facts, { choices: [{ index: 0, delta: {}, finish_reason: 'stop' }] });
    const list = facts.finishReasons;
    for (let i = 1; i < 50_000; i++)
      observeStreamItem(facts, { choices: [{ index: i, delta: {}, finish_reason: 'length' }] });
    expect(facts.finishReasons).toBe(list);
    expect(facts.finishReasons).toHaveLength(MAX_FINISH_REASONS);
  });

  test('over the wire: a stream with a reason on each of 5 000 chunks makes a span attribute within the cap', async () => {
    const t = createTestTelemetry();
    const chunk = (i: number) => ({
      id: 'c',
      object: 'chat.completion.chunk',
      created: 1,
      model: 'gpt-4o-mini',
      choices: [{ index: i % 300, delta: { content: 'x' }, finish_reason: i % 2 ? 'stop' : 'length' }],
    });
    server.reply({ sse: Array.from({ length: 5_000 }, (_, i) => chunk(i)) });
    const openai = instrument(new OpenAI({ baseURL: server.url, apiKey: 'sk-test-key' }), {
      tracerProvider: t.tracerProvider,
      meterProvider: t.meterProvider,
      clock: fakeClock().clock,
    });
    let chunks = 0;
    for await (const _ of await openai.chat.completions.create({ ...body, stream: true })) chunks++;
    expect(chunks).toBe(5_000);
    const op = (await t.spans()).find((s) => s.attributes['retryscope.outcome'] !== undefined)!;
    const reasons = op.attributes['gen_ai.response.finish_reasons'] as string[];
    expect(reasons).toHaveLength(MAX_FINISH_REASONS);
  });
});

test('retryscope.retry_after_ms is an integer when the server sends a fraction', async () => {
  const t = createTestTelemetry();
  server.reply(
    apiError(429, 'rate_limit_exceeded', 'requests', 'slow down', { 'retry-after-ms': '1.6' }),
    ok,
  );
  const openai = instrument(new OpenAI({ baseURL: server.url, apiKey: 'sk-test-key' }), {
    tracerProvider: t.tracerProvider,
    meterProvider: t.meterProvider,
    clock: fakeClock().clock,
    limiter: false,
  });
  await openai.chat.completions.create(body);
  const attempt = (await t.spans()).find((s) => s.attributes['retryscope.attempt'] === 1)!;
  expect(attempt.attributes['retryscope.retry_after_ms']).toBe(2);
});

describe('a 429 asking for more than a day is given up on, not retried at once', () => {
  test.each<[string, Record<string, string>]>([
    ['retry-after: 100000', { 'retry-after': '100000' }],
    ['an HTTP date two days away', { 'retry-after': new Date(Date.now() + 2 * 86_400_000).toUTCString() }],
    ['retry-after-ms: 99999999999', { 'retry-after-ms': '99999999999' }],
  ])(
    '%s, limiter on: one request, the 429 returned, and the next call waits at most maxRetryAfterMs',
    async (_name, headers) => {
      server.reply(apiError(429, 'rate_limit_exceeded', 'requests', 'come back later', headers), ok);
      const fake = fakeClock(Date.now());
      const openai = instrument(new OpenAI({ baseURL: server.url, apiKey: 'sk-test-key' }), {
        clock: fake.clock,
        circuitBreaker: false,
      });
      await expect(openai.chat.completions.create(body)).rejects.toBeInstanceOf(OpenAI.RateLimitError);
      expect(server.received).toHaveLength(1);
      expect(fake.sleeps).toEqual([]);
      // The limiter pauses everyone for the server's wait, capped at what this client would wait itself.
      await openai.chat.completions.create(body);
      expect(server.received).toHaveLength(2);
      expect(Math.max(0, ...fake.sleeps)).toBeLessThanOrEqual(60_000);
    },
  );
});
