/**
 * What a call costs over its attempts, against a scripted loopback server: a
 * retried in-band failure's usage is spent too and summed on the operation, a
 * stream cut with no usage report gets only an estimate, an unknown model gets
 * no cost and one warning, the user's prices win (per call too), and cache writes
 * and long-context rates reach the cost.
 */
import type { ReadableSpan } from '@opentelemetry/sdk-trace';
import { afterEach, beforeEach, describe, expect, test } from 'vitest';
import { withRetryOptions } from '../../src/index.ts';
import { BUILT_IN_PRICES } from '../../src/policy/prices.ts';
import { createTestTelemetry, sumWhere } from '../helpers/otel.ts';
import { scriptedClients } from '../helpers/scripted-client.ts';

const s = scriptedClients({ limiter: false });
// The counters are cumulative: a fresh meter per test.
let t = createTestTelemetry();
beforeEach(() => {
  t = createTestTelemetry();
});
const client = (options = {}) =>
  s.client({ tracerProvider: t.tracerProvider, meterProvider: t.meterProvider, ...options });

async function split(): Promise<{ op: ReadableSpan; attempts: ReadableSpan[] }> {
  const spans = await t.spans();
  const ops = spans.filter((x) => x.attributes['retryscope.outcome'] !== undefined);
  expect(ops).toHaveLength(1);
  return { op: ops[0]!, attempts: spans.filter((x) => x.attributes['retryscope.attempt'] !== undefined) };
}

const usage = (input: number, cached: number, output: number, reasoning: number) => ({
  input_tokens: input,
  input_tokens_details: { cached_tokens: cached },
  output_tokens: output,
  output_tokens_details: { reasoning_tokens: reasoning },
  total_tokens: input + output,
});
const response = (status: 'failed' | 'completed', u: ReturnType<typeof usage>, model = 'o3-2025-04-16') => ({
  id: 'resp_1',
  object: 'response',
  created_at: 1,
  status,
  model,
  error: status === 'failed' ? { code: 'server_error', message: 'The model failed' } : null,
  output: [],
  service_tier: 'default',
  usage: u,
});
const o3 = BUILT_IN_PRICES['o3-2025-04-16']!;
const o3Cost = (i: number, c: number, o: number) =>
  ((i - c) * o3.input + c * o3.cachedInput! + o * o3.output) / 1e6;

describe('a retried call costs every attempt that reported usage', () => {
  test('an in-band failed response with usage, then a success: each attempt priced, the operation the sum', async () => {
    s.server.reply(
      { json: response('failed', usage(1000, 400, 50, 30)) },
      { json: response('completed', usage(1000, 400, 80, 60)) },
    );
    const r = await client().responses.create({ model: 'o3', input: 'hi' });
    expect(r.status).toBe('completed');
    const { op, attempts } = await split();
    expect(attempts.map((a) => a.attributes['retryscope.attempt.outcome'])).toEqual(['retried', 'success']);
    const [first, second] = attempts as [ReadableSpan, ReadableSpan];
    expect(first.attributes['gen_ai.usage.output_tokens']).toBe(50);
    expect(first.attributes['gen_ai.usage.reasoning.output_tokens']).toBe(30);
    expect(first.attributes['retryscope.cost.usd']).toBeCloseTo(o3Cost(1000, 400, 50), 12);
    expect(second.attributes['gen_ai.usage.output_tokens']).toBe(80);
    expect(second.attributes['retryscope.cost.usd']).toBeCloseTo(o3Cost(1000, 400, 80), 12);
    expect(op.attributes['gen_ai.usage.input_tokens']).toBe(2000);
    expect(op.attributes['gen_ai.usage.cache_read.input_tokens']).toBe(800);
    expect(op.attributes['gen_ai.usage.output_tokens']).toBe(130);
    expect(op.attributes['gen_ai.usage.reasoning.output_tokens']).toBe(90);
    expect(op.attributes['retryscope.cost.usd']).toBeCloseTo(
      o3Cost(1000, 400, 50) + o3Cost(1000, 400, 80),
      12,
    );
    // The spend on the retried attempt is visible by outcome; the token metrics agree with the sum.
    const cost = await t.metric('retryscope.client.cost.usd');
    expect(sumWhere(cost, { 'retryscope.attempt.outcome': 'retried' })).toBeCloseTo(
      o3Cost(1000, 400, 50),
      12,
    );
    expect(sumWhere(cost, { 'retryscope.attempt.outcome': 'success' })).toBeCloseTo(
      o3Cost(1000, 400, 80),
      12,
    );
    const tokens = await t.metric('retryscope.client.tokens');
    expect(sumWhere(tokens, { 'retryscope.token.type': 'output' })).toBe(130);
    const histogram = await t.metric('gen_ai.client.token.usage');
    expect(sumWhere(histogram, { 'gen_ai.token.type': 'input' })).toBe(1);
    expect(
      (histogram.find((p) => p.attributes['gen_ai.token.type'] === 'input')!.value as { sum: number }).sum,
    ).toBe(2000);
  });
});

describe('a fallback to a priced model', () => {
  test('the unpriced primary adds usage but no cost; the call costs what the priced fallback cost', async () => {
    s.server.replyWith((r) =>
      (r.body as { model?: string }).model === 'o3'
        ? { json: response('completed', usage(10, 0, 5, 0)) }
        : { json: response('failed', usage(10, 0, 3, 0), 'gpt-unpriced-9') },
    );
    const openai = client({ maxAttempts: 1, fallbacks: [{ model: 'o3' }], fallbackOn: ['response_failed'] });
    await openai.responses.create({ model: 'gpt-unpriced-9', input: 'hi' });
    const { op, attempts } = await split();
    expect(attempts.map((a) => a.attributes['retryscope.cost.unpriced'])).toEqual([
      'unknown_model',
      undefined,
    ]);
    expect(op.attributes['gen_ai.usage.output_tokens']).toBe(8);
    expect(op.attributes['retryscope.cost.usd']).toBeCloseTo(o3Cost(10, 0, 5), 12);
  });
});

describe('a retried stream', () => {
  const event = (type: string, r: object, n: number) => ({ type, sequence_number: n, response: r });
  test('response.failed before any output, with usage, then a completed stream: both attempts spent, summed', async () => {
    const failed = response('failed', usage(100, 50, 7, 5));
    const done = response('completed', usage(100, 50, 9, 5));
    s.server.reply(
      {
        sse: [
          event('response.created', { ...failed, status: 'in_progress', usage: null }, 0),
          event('response.failed', failed, 1),
        ],
      },
      {
        sse: [
          event('response.created', { ...done, status: 'in_progress', usage: null }, 0),
          event('response.completed', done, 1),
        ],
      },
    );
    const stream = await client().responses.create({ model: 'o3', input: 'hi', stream: true });
    for await (const _ of stream);
    const { op, attempts } = await split();
    expect(attempts.map((a) => a.attributes['retryscope.attempt.outcome'])).toEqual(['retried', 'success']);
    expect(attempts.map((a) => a.attributes['gen_ai.usage.output_tokens'])).toEqual([7, 9]);
    expect(op.attributes['gen_ai.usage.output_tokens']).toBe(16);
    expect(op.attributes['gen_ai.usage.cache_read.input_tokens']).toBe(100);
    expect(op.attributes['retryscope.cost.usd']).toBeCloseTo(o3Cost(100, 50, 7) + o3Cost(100, 50, 9), 12);
  });
});

const chunk = (content: string | null, extra: object = {}) => ({
  id: 'chatcmpl-1',
  object: 'chat.completion.chunk',
  created: 1,
  model: 'o3',
  choices: content === null ? [] : [{ index: 0, delta: { content }, finish_reason: null }],
  ...extra,
});
const streamError = { error: { message: 'boom', type: 'server_error', code: 'server_error' } };

describe('a stream that fails mid-way', () => {
  test('with no usage report: its output is estimated apart, never in gen_ai.usage, never priced', async () => {
    s.server.reply({ sse: [chunk('a'), chunk('b'), chunk('c'), streamError] });
    const stream = await client().chat.completions.create({
      model: 'o3',
      messages: [{ role: 'user', content: 'hi' }],
      stream: true,
    });
    await expect(async () => {
      for await (const _ of stream);
    }).rejects.toThrow();
    const { op, attempts } = await split();
    for (const span of [op, attempts[0]!]) {
      expect(span.attributes['retryscope.usage.estimated_output_tokens']).toBe(3);
      expect(span.attributes['gen_ai.usage.output_tokens']).toBeUndefined();
      expect(span.attributes['retryscope.cost.usd']).toBeUndefined();
      expect(span.attributes['retryscope.cost.unpriced']).toBeUndefined();
    }
    expect(await t.metric('retryscope.client.tokens')).toEqual([]);
    expect(await t.metric('retryscope.client.cost.usd')).toEqual([]);
  });

  test('a chat stream that ends with no usage report (no include_usage): estimated, unpriced no_usage, one warning', async () => {
    const warnings: string[] = [];
    const onWarning = (w: Error & { code?: string }) => {
      if (w.code === 'RETRYSCOPE_PRICE') warnings.push(w.message);
    };
    process.on('warning', onWarning);
    try {
      for (let i = 0; i < 2; i++) {
        s.server.reply({ sse: [chunk('a'), chunk('b')] });
        const stream = await client().chat.completions.create({
          model: 'gpt-4o',
          messages: [{ role: 'user', content: 'hi' }],
          stream: true,
        });
        for await (const _ of stream);
      }
      await new Promise((r) => setImmediate(r));
    } finally {
      process.off('warning', onWarning);
    }
    const ops = (await t.spans()).filter((x) => x.attributes['retryscope.outcome'] !== undefined);
    expect(ops).toHaveLength(2);
    for (const op of ops) {
      expect(op.attributes['retryscope.outcome']).toBe('success');
      expect(op.attributes['retryscope.usage.estimated_output_tokens']).toBe(2);
      expect(op.attributes['retryscope.cost.unpriced']).toBe('no_usage');
      expect(op.attributes['gen_ai.usage.output_tokens']).toBeUndefined();
    }
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toContain('include_usage');
  });

  test('after its usage event: the usage is spent, and priced, on the failed attempt', async () => {
    const u = {
      prompt_tokens: 20,
      completion_tokens: 2,
      total_tokens: 22,
      prompt_tokens_details: { cached_tokens: 10 },
    };
    s.server.reply({ sse: [chunk('a'), chunk('b'), chunk(null, { usage: u }), streamError] });
    const stream = await client().chat.completions.create({
      model: 'o3',
      messages: [{ role: 'user', content: 'hi' }],
      stream: true,
      stream_options: { include_usage: true },
    });
    await expect(async () => {
      for await (const _ of stream);
    }).rejects.toThrow();
    const { op, attempts } = await split();
    expect(attempts[0]!.attributes['retryscope.attempt.outcome']).toBe('failed');
    const usd =
      ((20 - 10) * BUILT_IN_PRICES.o3!.input +
        10 * BUILT_IN_PRICES.o3!.cachedInput! +
        2 * BUILT_IN_PRICES.o3!.output) /
      1e6;
    for (const span of [op, attempts[0]!]) {
      expect(span.attributes['gen_ai.usage.input_tokens']).toBe(20);
      expect(span.attributes['gen_ai.usage.cache_read.input_tokens']).toBe(10);
      expect(span.attributes['retryscope.cost.usd']).toBeCloseTo(usd, 12);
      expect(span.attributes['retryscope.usage.estimated_output_tokens']).toBeUndefined();
    }
    expect(
      sumWhere(await t.metric('retryscope.client.cost.usd'), { 'retryscope.attempt.outcome': 'failed' }),
    ).toBeCloseTo(usd, 12);
  });
});

describe('prices', () => {
  const warnings: string[] = [];
  const onWarning = (w: Error & { code?: string }) => {
    if (w.code === 'RETRYSCOPE_PRICE') warnings.push(w.message);
  };
  beforeEach(() => {
    warnings.length = 0;
    process.on('warning', onWarning);
  });
  afterEach(() => {
    process.off('warning', onWarning);
  });
  const chat = (model: string) => ({
    json: {
      id: 'chatcmpl-1',
      object: 'chat.completion',
      created: 1,
      model,
      choices: [
        { index: 0, message: { role: 'assistant', content: 'ok' }, finish_reason: 'stop', logprobs: null },
      ],
      usage: { prompt_tokens: 1_000_000, completion_tokens: 1_000_000, total_tokens: 2_000_000 },
    },
  });
  const ask = (openai: ReturnType<typeof client>, model: string) =>
    openai.chat.completions.create({ model, messages: [{ role: 'user', content: 'hi' }] });

  test('prices: { [model]: null } leaves the model unpriced without a warning', async () => {
    s.server.reply(chat('my-local-llm'));
    await ask(client({ prices: { 'my-local-llm': null } }), 'my-local-llm');
    await new Promise((r) => setImmediate(r));
    expect(warnings).toEqual([]);
    expect((await split()).op.attributes['retryscope.cost.unpriced']).toBe('unknown_model');
  });

  test('an unknown model whose name holds the API key: the warning says so without naming it', async () => {
    // A proxy echoing the key into the model field: the name must never reach a warning.
    s.server.reply(chat('gpt-sk-scripted-echo'));
    await ask(client(), 'gpt-4o');
    await new Promise((r) => setImmediate(r));
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toContain('a model whose name is not shown');
    expect(warnings[0]).not.toContain('sk-scripted');
    expect(warnings[0]).not.toContain("'_OTHER'");
  });

  test('an unknown model: usage but no cost, unpriced on the span, and one warning for two calls', async () => {
    s.server.reply(chat('gpt-unpriced-7'));
    const openai = client();
    await ask(openai, 'gpt-unpriced-7');
    await ask(openai, 'gpt-unpriced-7');
    await new Promise((r) => setImmediate(r));
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toContain('gpt-unpriced-7');
    expect(warnings[0]).toContain('prices');
    expect(warnings[0]).not.toContain('sk-scripted');
    const spans = (await t.spans()).filter((x) => x.attributes['retryscope.outcome'] !== undefined);
    for (const op of spans) {
      expect(op.attributes['gen_ai.usage.input_tokens']).toBe(1_000_000);
      expect(op.attributes['retryscope.cost.usd']).toBeUndefined();
      expect(op.attributes['retryscope.cost.unpriced']).toBe('unknown_model');
    }
    expect(await t.metric('retryscope.client.cost.usd')).toEqual([]);
    expect(sumWhere(await t.metric('retryscope.client.tokens'), { 'retryscope.token.type': 'input' })).toBe(
      2_000_000,
    );
  });

  test("the user's price wins over the table, and withRetryOptions merges its own over the client's", async () => {
    s.server.reply(chat('o3'));
    const openai = client({ prices: { o3: { input: 1, output: 2 }, 'my-model': { input: 3, output: 4 } } });
    await ask(openai, 'o3');
    expect((await split()).op.attributes['retryscope.cost.usd']).toBe(3);
    t.reset();
    // The answer names a dated snapshot the built-in table lists: the user's undated price still wins.
    s.server.reply(chat('o3-2025-04-16'));
    await ask(openai, 'o3');
    expect((await split()).op.attributes['retryscope.cost.usd']).toBe(3);
    t.reset();
    s.server.reply(chat('my-model'));
    const perCall = withRetryOptions(openai, { prices: { o3: null, other: { input: 5, output: 5 } } });
    await ask(perCall, 'my-model');
    expect((await split()).op.attributes['retryscope.cost.usd']).toBe(7);
    t.reset();
    s.server.reply(chat('o3'));
    // `null` removes the model: no cost, even though the built-in table has it.
    await ask(perCall, 'o3');
    expect((await split()).op.attributes['retryscope.cost.unpriced']).toBe('unknown_model');
  });

  test('bad prices are a RetryscopeConfigError naming the field', () => {
    expect(() => client({ prices: { o3: { input: -1, output: 1 } } })).toThrow(
      /option "prices\.o3\.input" must be a finite number >= 0/,
    );
    expect(() => client({ prices: { o3: { input: 1 } } })).toThrow(
      /"prices\.o3" needs both input and output/,
    );
    expect(() => client({ prices: { o3: { input: 1, output: Number.NaN } } })).toThrow(/got NaN/);
    expect(() => client({ prices: { o3: { input: 1, output: 1, batch: { input: 1 } } } })).toThrow(
      /prices\.o3\.batch/,
    );
    expect(() => client({ prices: { o3: { input: 1, output: 1, flex: {} } } as never })).toThrow(
      /prices\.o3\.flex" is not an option/,
    );
    expect(() => client({ prices: [] as never })).toThrow(/option "prices" must map model names/);
    expect(() =>
      client({ prices: { o3: { input: 1, output: 1, longContext: { input: 2, output: 2 } } } as never }),
    ).toThrow(/"prices\.o3\.longContext" needs aboveInputTokens/);
    expect(() =>
      client({
        prices: { o3: { input: 1, output: 1, longContext: { aboveInputTokens: 1.5, input: 2, output: 2 } } },
      }),
    ).toThrow(/prices\.o3\.longContext\.aboveInputTokens" must be an integer/);
  });

  test("cache writes the answer reports (Responses and chat) are priced at the model's write rate", async () => {
    // gpt-6-sol's table entry has a cache-write price above its input price.
    const sol = BUILT_IN_PRICES['gpt-6-sol']!;
    expect(sol.cacheWriteInput).toBeGreaterThan(sol.input);
    const usd =
      (500 * sol.input + 200 * sol.cachedInput! + 300 * sol.cacheWriteInput! + 50 * sol.output) / 1e6;
    s.server.reply({
      json: {
        ...response('completed', usage(1000, 200, 50, 0), 'gpt-6-sol'),
        usage: {
          ...usage(1000, 200, 50, 0),
          input_tokens_details: { cached_tokens: 200, cache_write_tokens: 300 },
        },
      },
    });
    await client().responses.create({ model: 'gpt-6-sol', input: 'hi' });
    const { op } = await split();
    expect(op.attributes['retryscope.cost.usd']).toBeCloseTo(usd, 15);
    // The written tokens are recorded too: on the span, and as their own token type.
    expect(op.attributes['gen_ai.usage.cache_creation.input_tokens']).toBe(300);
    const tokens = await t.metric('retryscope.client.tokens');
    expect(sumWhere(tokens, { 'retryscope.token.type': 'cache_creation' })).toBe(300);
    t.reset();
    s.server.reply({
      json: {
        ...chat('gpt-6-sol').json,
        usage: {
          prompt_tokens: 1000,
          completion_tokens: 50,
          total_tokens: 1050,
          prompt_tokens_details: { cached_tokens: 200, cache_write_tokens: 300 },
        },
      },
    });
    await ask(client(), 'gpt-6-sol');
    expect((await split()).op.attributes['retryscope.cost.usd']).toBeCloseTo(usd, 15);
  });

  test("a user's long-context rates bill the whole call once its input passes the threshold", async () => {
    const prices = {
      'my-model': { input: 1, output: 2, longContext: { aboveInputTokens: 999_999, input: 10, output: 20 } },
    };
    s.server.reply(chat('my-model'));
    await ask(client({ prices }), 'my-model');
    // 1M input tokens > 999,999: every token at the long-context rates.
    expect((await split()).op.attributes['retryscope.cost.usd']).toBe(30);
  });
});
