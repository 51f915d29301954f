/**
 * retryscope.client.ratelimit.utilization: the share of each model's request
 * and token limits in use, 1 - remaining / limit, from the x-ratelimit-*
 * headers of real answers (a loopback server), read back from the SDK's
 * in-memory metrics.
 */
import type { DataPoint } from '@opentelemetry/sdk-metrics';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { instrument, type RetryscopeOptions } from '../../src/index.ts';
import { utilization } from '../../src/telemetry/utilization.ts';
import { fakeClock } from '../helpers/fake-clock.ts';
import { createTestTelemetry } from '../helpers/otel.ts';
import { chatCompletion, quotaExhausted, rateLimited, ScriptedServer } from '../helpers/scripted-server.ts';

const METRIC = 'retryscope.client.ratelimit.utilization';
const messages = [{ role: 'user' as const, content: 'hi' }];

let server: ScriptedServer;
beforeAll(async () => {
  server = await new ScriptedServer().start();
});
afterAll(() => server.close());

/** A fresh meter per test: gauges keep their last value for as long as the provider lives. */
function setup(options: RetryscopeOptions = {}) {
  const t = createTestTelemetry();
  const openai = instrument(new OpenAI({ baseURL: server.url, apiKey: 'sk-test-utilization' }), {
    tracerProvider: t.tracerProvider,
    meterProvider: t.meterProvider,
    clock: fakeClock().clock,
    ...options,
  });
  /** `model kind` → the gauge's value. */
  const shares = async () => {
    const points = (await t.metric(METRIC)) as DataPoint<number>[];
    return Object.fromEntries(
      points.map((p) => [
        `${p.attributes['gen_ai.request.model']} ${p.attributes['retryscope.ratelimit.kind']}`,
        p.value,
      ]),
    );
  };
  return { t, openai, shares };
}

const headroom = (requests: [number, number] | undefined, tokens?: [number, number]) => ({
  ...(requests && {
    'x-ratelimit-limit-requests': String(requests[0]),
    'x-ratelimit-remaining-requests': String(requests[1]),
  }),
  ...(tokens && {
    'x-ratelimit-limit-tokens': String(tokens[0]),
    'x-ratelimit-remaining-tokens': String(tokens[1]),
  }),
});

describe('rate-limit utilization gauge', () => {
  test('1 - remaining / limit for requests and tokens, with the metric attributes of the other ratelimit gauges', async () => {
    const { t, openai, shares } = setup();
    server.reply({ json: chatCompletion(), headers: headroom([500, 125], [200_000, 180_000]) });
    await openai.chat.completions.create({ model: 'gpt-4o-mini', messages });
    expect(await shares()).toEqual({ 'gpt-4o-mini requests': 0.75, 'gpt-4o-mini tokens': 0.1 });
    // Labelled as retryscope.client.ratelimit.remaining_requests is, plus the kind.
    const [remaining] = await t.metric('retryscope.client.ratelimit.remaining_requests');
    const points = await t.metric(METRIC);
    for (const p of points) {
      const { 'retryscope.ratelimit.kind': kind, ...rest } = p.attributes;
      expect(['requests', 'tokens']).toContain(kind);
      expect(rest).toEqual(remaining!.attributes);
    }
    const descriptor = (await t.metrics()).find((m) => m.descriptor.name === METRIC)!.descriptor;
    expect(descriptor.unit).toBe('1');
  });

  test('the last answer wins: the gauge follows the headroom as it is spent and refilled', async () => {
    const { openai, shares } = setup();
    server.reply(
      { json: chatCompletion(), headers: headroom([100, 10]) },
      { json: chatCompletion(), headers: headroom([100, 60]) },
    );
    await openai.chat.completions.create({ model: 'gpt-4o-mini', messages });
    expect(await shares()).toEqual({ 'gpt-4o-mini requests': 0.9 });
    await openai.chat.completions.create({ model: 'gpt-4o-mini', messages });
    expect(await shares()).toEqual({ 'gpt-4o-mini requests': 0.4 });
  });

  test('a 429 with no requests left reads as fully used, and the retry that succeeds reports its own share', async () => {
    const { openai, shares } = setup();
    server.reply(rateLimited(1));
    await openai.chat.completions
      .create({ model: 'gpt-4o-mini', messages }, { maxRetries: 0 })
      .catch(() => {});
    expect(await shares()).toEqual({ 'gpt-4o-mini requests': 1, 'gpt-4o-mini tokens': 0.0001 });
    server.reply(rateLimited(1), { json: chatCompletion(), headers: headroom([60_000, 59_999]) });
    await openai.chat.completions.create({ model: 'gpt-4o-mini', messages });
    // The tokens point keeps the 429's value: the success did not report tokens.
    const after = await shares();
    expect(after['gpt-4o-mini requests']).toBeCloseTo(1 / 60_000, 12);
    expect(after['gpt-4o-mini tokens']).toBe(0.0001);
  });

  test('each model its own series: a fallback answered under its model reports under it', async () => {
    const { openai, shares } = setup({ fallbacks: [{ model: 'gpt-4o' }] });
    server.replyWith((r) =>
      (r.body as { model?: string }).model === 'gpt-4o'
        ? { json: chatCompletion('ok', 'gpt-4o'), headers: headroom([10_000, 9_000], [2_000_000, 500_000]) }
        : { ...quotaExhausted(), headers: headroom([500, 499]) },
    );
    await openai.chat.completions.create({ model: 'gpt-4o-mini', messages });
    expect(await shares()).toEqual({
      'gpt-4o-mini requests': 0.002,
      'gpt-4o requests': 0.1,
      'gpt-4o tokens': 0.75,
    });
  });

  test('no point without both a limit and a remaining count, or with a zero limit', async () => {
    const { openai, shares } = setup();
    server.reply({
      json: chatCompletion(),
      headers: {
        'x-ratelimit-remaining-requests': '5',
        'x-ratelimit-limit-tokens': '0',
        'x-ratelimit-remaining-tokens': '0',
      },
    });
    await openai.chat.completions.create({ model: 'gpt-4o-mini', messages });
    server.reply({ json: chatCompletion() });
    await openai.chat.completions.create({ model: 'gpt-4o-mini', messages });
    expect(await shares()).toEqual({});
  });
});

describe('utilization()', () => {
  test('is held to [0, 1] and undefined without a usable limit', () => {
    expect(utilization(100, 25)).toBe(0.75);
    expect(utilization(100, 0)).toBe(1);
    expect(utilization(100, 100)).toBe(0);
    // A proxy reporting more left than the limit: nothing in use, never a negative share.
    expect(utilization(100, 150)).toBe(0);
    expect(utilization(0, 0)).toBeUndefined();
    expect(utilization(undefined, 5)).toBeUndefined();
    expect(utilization(5, undefined)).toBeUndefined();
  });
});
