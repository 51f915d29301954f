/**
 * One wait, one truth: the attempt span's `retryscope.backoff_ms` is the time
 * from the end of the failed attempt to the start of the retry, its
 * `retryscope.backoff_source` says who set it, the backoff histogram records
 * the same wait, and a server's wait is never cut short, limiter or not.
 *
 * With the fake clock time moves only when something sleeps, so "what was
 * waited" is exactly the sum of the sleeps.
 */
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { getAttemptHistory, instrument, type RetryscopeOptions } from '../../src/index.ts';
import { systemClock } from '../../src/policy/clock.ts';
import { fakeClock } from '../helpers/fake-clock.ts';
import { createTestTelemetry } from '../helpers/otel.ts';
import { apiError, chatCompletion, ScriptedServer } from '../helpers/scripted-server.ts';

let server: ScriptedServer;
beforeAll(async () => {
  server = await new ScriptedServer().start();
});
afterAll(() => server.close());

const messages = [{ role: 'user' as const, content: 'hi' }];
const ok = { json: chatCompletion() };

async function run(options: RetryscopeOptions) {
  const t = createTestTelemetry();
  const fake = fakeClock();
  const openai = instrument(new OpenAI({ baseURL: server.url, apiKey: 'sk-waits' }), {
    tracerProvider: t.tracerProvider,
    meterProvider: t.meterProvider,
    clock: fake.clock,
    random: () => 0.5,
    ...options,
  });
  const result = await openai.chat.completions.create({ model: 'gpt-4o-mini', messages }).catch((e) => e);
  const retry = (await t.spans()).find((s) => s.attributes['retryscope.attempt'] === 2)!;
  const histogram = await t.metric('retryscope.client.backoff.duration');
  return {
    result,
    waited: fake.sleeps.reduce((a, b) => a + b, 0),
    sleeps: fake.sleeps,
    backoffMs: retry.attributes['retryscope.backoff_ms'],
    source: retry.attributes['retryscope.backoff_source'],
    histogram: histogram.map((p) => ({
      source: p.attributes['retryscope.backoff_source'],
      seconds: (p.value as { sum: number }).sum,
      count: (p.value as { count: number }).count,
    })),
  };
}

describe('with the limiter on', () => {
  test('a server hint is waited in full before the limiter is asked; the span and the histogram agree', async () => {
    server.reply(
      apiError(429, 'rate_limit_exceeded', 'requests', 'slow down', { 'retry-after-ms': '150' }),
      ok,
    );
    const r = await run({});
    expect(r.sleeps[0]).toBe(150);
    expect(r.waited).toBeGreaterThanOrEqual(150);
    expect(r.backoffMs).toBe(Math.round(r.waited));
    expect(r.source).toBe('retry-after-ms');
    expect(r.histogram).toEqual([{ source: 'retry-after-ms', seconds: r.waited / 1000, count: 1 }]);
  });

  test('a 429 without a usable hint still waits the exponential delay', async () => {
    server.reply(apiError(429, 'rate_limit_exceeded', 'requests', 'slow down'), ok);
    const r = await run({ backoff: { initialMs: 400, maxMs: 1000, jitter: 'full' } });
    // Full jitter at random() = 0.5: half of 400.
    expect(r.sleeps[0]).toBe(200);
    expect(r.backoffMs).toBe(Math.round(r.waited));
    expect(r.source).toBe('exponential');
  });

  test('a limiter that holds the retry longer than the server asked is named as the source', async () => {
    // The server wants 10 ms, but its own headers say the request bucket is empty for 5 s.
    server.reply(
      apiError(429, 'rate_limit_exceeded', 'requests', 'slow down', {
        'retry-after-ms': '10',
        'x-ratelimit-limit-requests': '60',
        'x-ratelimit-remaining-requests': '0',
        'x-ratelimit-reset-requests': '5s',
      }),
      ok,
    );
    const r = await run({});
    expect(r.sleeps[0]).toBe(10);
    expect(r.waited).toBeGreaterThan(1000);
    expect(r.source).toBe('limiter');
    expect(r.backoffMs).toBe(Math.round(r.waited));
    expect(r.histogram).toEqual([{ source: 'limiter', seconds: r.waited / 1000, count: 1 }]);
  });
});

test('by the wall clock, a server-requested wait is never shorter than asked', async () => {
  const t = createTestTelemetry();
  server.reply(
    apiError(429, 'rate_limit_exceeded', 'requests', 'slow down', { 'retry-after-ms': '150' }),
    ok,
  );
  const openai = instrument(new OpenAI({ baseURL: server.url, apiKey: 'sk-waits' }), {
    tracerProvider: t.tracerProvider,
    meterProvider: t.meterProvider,
    clock: systemClock,
  });
  await openai.chat.completions.create({ model: 'gpt-4o-mini', messages });
  const retry = (await t.spans()).find((s) => s.attributes['retryscope.attempt'] === 2)!;
  expect(Number(retry.attributes['retryscope.backoff_ms'])).toBeGreaterThanOrEqual(150);
});

test('attempt-history backoffMs values are integers', async () => {
  server.reply(apiError(500, null, 'server_error', 'a'), apiError(500, null, 'server_error', 'b'));
  const { result } = await run({
    maxAttempts: 3,
    limiter: false,
    backoff: { initialMs: 3, maxMs: 10, jitter: 'full' },
  });
  const history = getAttemptHistory(result)!.history;
  // 1.5 ms and 3 ms of jitter, as waited.
  expect(history.map((h) => h.backoffMs)).toEqual([0, 2, 3]);
  expect(history.every((h) => Number.isInteger(h.backoffMs))).toBe(true);
});
