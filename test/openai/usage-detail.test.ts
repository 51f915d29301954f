/**
 * Token detail and cost per API, against the simulator: chat (streamed with
 * include_usage and not), Responses (streamed and not) and embeddings carry
 * cached-input and reasoning tokens, the served tier and their cost on the
 * attempt and operation spans, and count on the tokens and cost counters.
 */
import type { ReadableSpan } from '@opentelemetry/sdk-trace';
import OpenAI from 'openai';
import { afterAll, beforeAll, beforeEach, describe, expect, test } from 'vitest';
import { instrument, type RetryscopeOptions } from '../../src/index.ts';
import { BUILT_IN_PRICES } from '../../src/policy/prices.ts';
import { type Simulator, startSimulator } from '../../src/simulator/index.ts';
import { fakeClock } from '../helpers/fake-clock.ts';
import { createTestTelemetry, sumWhere } from '../helpers/otel.ts';

// Fresh per test: the counters are cumulative.
let t = createTestTelemetry();
let sim: Simulator;
beforeAll(async () => {
  sim = await startSimulator({
    scenario: { name: 'usage', streamChunkDelayMs: 0, phases: [{ name: 'only' }] },
    seed: 1,
  });
});
afterAll(() => sim.close());
beforeEach(() => {
  t = createTestTelemetry();
});

const client = (options: RetryscopeOptions = {}) =>
  instrument(new OpenAI({ baseURL: sim.url, apiKey: 'sk-sim', logLevel: 'off' }), {
    tracerProvider: t.tracerProvider,
    meterProvider: t.meterProvider,
    clock: fakeClock().clock,
    limiter: false,
    ...options,
  });

async function split(): Promise<{ op: ReadableSpan; attempts: ReadableSpan[] }> {
  const spans = await t.spans();
  const ops = spans.filter((s) => s.attributes['retryscope.outcome'] !== undefined);
  expect(ops).toHaveLength(1);
  return { op: ops[0]!, attempts: spans.filter((s) => s.attributes['retryscope.attempt'] !== undefined) };
}

const o3 = BUILT_IN_PRICES.o3!;
const input = 'Tell me about prompt caching and what it saves on a long prompt, please.';
const messages = [{ role: 'user' as const, content: input }];

interface Reported {
  input: number;
  cached: number;
  output: number;
  reasoning: number;
}

/** Both spans say what the server reported, priced at o3's main rates; the counters count it. */
async function expectDetail(r: Reported, tier = 'default', rates = o3) {
  expect(r.cached).toBeGreaterThan(0);
  expect(r.reasoning).toBeGreaterThan(0);
  const usd =
    ((r.input - r.cached) * rates.input + r.cached * rates.cachedInput! + r.output * rates.output) / 1e6;
  const { op, attempts } = await split();
  expect(attempts).toHaveLength(1);
  for (const span of [op, attempts[0]!]) {
    expect(span.attributes['gen_ai.usage.input_tokens']).toBe(r.input);
    expect(span.attributes['gen_ai.usage.cache_read.input_tokens']).toBe(r.cached);
    expect(span.attributes['gen_ai.usage.output_tokens']).toBe(r.output);
    expect(span.attributes['gen_ai.usage.reasoning.output_tokens']).toBe(r.reasoning);
    expect(span.attributes['retryscope.cost.usd']).toBeCloseTo(usd, 12);
    expect(span.attributes['openai.response.service_tier']).toBe(tier);
    expect(span.attributes['retryscope.usage.estimated_output_tokens']).toBeUndefined();
  }
  const tokens = await t.metric('retryscope.client.tokens');
  const where = { 'gen_ai.request.model': 'o3', 'openai.response.service_tier': tier };
  expect(sumWhere(tokens, { ...where, 'retryscope.token.type': 'input' })).toBe(r.input);
  expect(sumWhere(tokens, { ...where, 'retryscope.token.type': 'cache_read' })).toBe(r.cached);
  expect(sumWhere(tokens, { ...where, 'retryscope.token.type': 'output' })).toBe(r.output);
  expect(sumWhere(tokens, { ...where, 'retryscope.token.type': 'reasoning' })).toBe(r.reasoning);
  const cost = await t.metric('retryscope.client.cost.usd');
  expect(sumWhere(cost, { ...where, 'retryscope.attempt.outcome': 'success' })).toBeCloseTo(usd, 12);
  return usd;
}

describe('token detail per API', () => {
  test('chat, not streamed: prompt_tokens_details and completion_tokens_details', async () => {
    const r = await client().chat.completions.create({ model: 'o3', messages });
    const u = r.usage!;
    await expectDetail({
      input: u.prompt_tokens,
      cached: u.prompt_tokens_details!.cached_tokens!,
      output: u.completion_tokens,
      reasoning: u.completion_tokens_details!.reasoning_tokens!,
    });
  });

  test('chat, streamed with stream_options.include_usage: the last chunk’s usage', async () => {
    const stream = await client().chat.completions.create({
      model: 'o3',
      messages,
      stream: true,
      stream_options: { include_usage: true },
    });
    let usage: OpenAI.CompletionUsage | undefined;
    for await (const chunk of stream) usage = chunk.usage ?? usage;
    await expectDetail({
      input: usage!.prompt_tokens,
      cached: usage!.prompt_tokens_details!.cached_tokens!,
      output: usage!.completion_tokens,
      reasoning: usage!.completion_tokens_details!.reasoning_tokens!,
    });
  });

  test('Responses, not streamed: input_tokens_details and output_tokens_details', async () => {
    const r = await client().responses.create({ model: 'o3', input });
    const u = r.usage!;
    await expectDetail({
      input: u.input_tokens,
      cached: u.input_tokens_details.cached_tokens,
      output: u.output_tokens,
      reasoning: u.output_tokens_details.reasoning_tokens,
    });
  });

  test('Responses, streamed: the usage on response.completed', async () => {
    const stream = await client().responses.create({ model: 'o3', input, stream: true });
    let usage: OpenAI.Responses.ResponseUsage | undefined;
    for await (const event of stream) if (event.type === 'response.completed') usage = event.response.usage!;
    await expectDetail({
      input: usage!.input_tokens,
      cached: usage!.input_tokens_details.cached_tokens,
      output: usage!.output_tokens,
      reasoning: usage!.output_tokens_details.reasoning_tokens,
    });
  });

  test('embeddings: input tokens only, priced from the user’s table', async () => {
    const prices = { 'text-embedding-3-small': { input: 0.02, output: 0 } };
    const r = await client({ prices }).embeddings.create({ model: 'text-embedding-3-small', input });
    const { op, attempts } = await split();
    for (const span of [op, attempts[0]!]) {
      expect(span.attributes['gen_ai.usage.input_tokens']).toBe(r.usage.prompt_tokens);
      expect(span.attributes['gen_ai.usage.cache_read.input_tokens']).toBeUndefined();
      expect(span.attributes['gen_ai.usage.output_tokens']).toBeUndefined();
      expect(span.attributes['retryscope.cost.usd']).toBeCloseTo((r.usage.prompt_tokens * 0.02) / 1e6, 15);
    }
    const tokens = await t.metric('retryscope.client.tokens');
    expect(
      sumWhere(tokens, { 'gen_ai.operation.name': 'embeddings', 'retryscope.token.type': 'input' }),
    ).toBe(r.usage.prompt_tokens);
  });

  test('served at flex: priced at batch rates; at priority: unpriced unless the user’s table has it', async () => {
    const r = await client().chat.completions.create({ model: 'o3', messages, service_tier: 'flex' });
    expect(r.service_tier).toBe('flex');
    const u = r.usage!;
    const cached = u.prompt_tokens_details!.cached_tokens!;
    expect(cached).toBeGreaterThan(0);
    const usd =
      ((u.prompt_tokens - cached) * o3.batch!.input +
        cached * o3.batch!.cachedInput! +
        u.completion_tokens * o3.batch!.output) /
      1e6;
    expect((await split()).op.attributes['retryscope.cost.usd']).toBeCloseTo(usd, 12);
    expect(
      sumWhere(await t.metric('retryscope.client.cost.usd'), { 'openai.response.service_tier': 'flex' }),
    ).toBeCloseTo(usd, 12);

    t = createTestTelemetry();
    await client().chat.completions.create({ model: 'o3', messages, service_tier: 'priority' });
    const unpriced = (await split()).op;
    expect(unpriced.attributes['retryscope.cost.usd']).toBeUndefined();
    expect(unpriced.attributes['retryscope.cost.unpriced']).toBe('unpriced_tier');
    expect(unpriced.attributes['gen_ai.usage.input_tokens']).toBeGreaterThan(0);

    t = createTestTelemetry();
    const priority = { input: 30, output: 120, cachedInput: 15 };
    await client({ prices: { o3: { ...o3, priority } } }).chat.completions.create({
      model: 'o3',
      messages,
      service_tier: 'priority',
    });
    const { op } = await split();
    const [i, c, o] = ['input_tokens', 'cache_read.input_tokens', 'output_tokens'].map(
      (k) => op.attributes[`gen_ai.usage.${k}`] as number,
    );
    expect(op.attributes['retryscope.cost.usd']).toBeCloseTo(((i! - c!) * 30 + c! * 15 + o! * 120) / 1e6, 12);
  });
});
