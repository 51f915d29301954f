/**
 * Errors that are not rate limits, through the client: a flex-tier capacity
 * 429 and a 503 server_is_overloaded are retried with backoff and leave the
 * bucket's rate alone; a storm's 429 (an empty bucket in its headers) cuts it.
 */
import OpenAI from 'openai';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { instrument } from '../../src/index.ts';
import { fakeClock } from '../helpers/fake-clock.ts';
import { createTestTelemetry } from '../helpers/otel.ts';
import { apiError, chatCompletion, type Reply, ScriptedServer } from '../helpers/scripted-server.ts';

let server: ScriptedServer;
beforeAll(async () => {
  server = await new ScriptedServer().start();
});
afterAll(() => server.close());

const roomy = {
  'x-ratelimit-limit-requests': '6000',
  'x-ratelimit-remaining-requests': '5990',
  'x-ratelimit-reset-requests': '100ms',
};
const ok: Reply = { json: chatCompletion(), headers: roomy };

/** 20 callers warm the bucket, then 20 meet `failure` once each and retry. */
async function crowdThrough(failure: Reply) {
  const t = createTestTelemetry();
  const fake = fakeClock();
  const openai = instrument(new OpenAI({ baseURL: server.url, apiKey: 'sk-test' }), {
    tracerProvider: t.tracerProvider,
    meterProvider: t.meterProvider,
    clock: fake.clock,
    random: () => 0.5,
    circuitBreaker: false,
  });
  const ask = () =>
    openai.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] });
  server.reply(ok);
  await Promise.all(Array.from({ length: 20 }, ask));
  let failed = 0;
  server.replyWith(() => (failed++ < 20 ? failure : ok));
  await Promise.all(Array.from({ length: 20 }, ask));
  const spans = await t.spans();
  const ops = spans.filter((s) => s.attributes['retryscope.outcome'] !== undefined).slice(20);
  const retries = spans.filter((s) => s.attributes['retryscope.attempt'] === 2);
  const failures = spans.filter((s) => s.attributes['retryscope.retry_reason'] !== undefined);
  return { ops, retries, failures };
}

test('a flex-tier 429 "Resource Unavailable" is retried with backoff and does not cut the rate', async () => {
  const { ops, retries, failures } = await crowdThrough(
    apiError(429, 'resource_unavailable', 'resource_unavailable', 'Resource Unavailable', roomy),
  );
  expect(retries).toHaveLength(20);
  expect(failures.map((f) => f.attributes['retryscope.retry_reason'])).toEqual(
    Array(20).fill('capacity_unavailable'),
  );
  for (const r of retries) {
    expect(r.attributes['retryscope.backoff_source']).toBe('exponential');
    expect(Number(r.attributes['retryscope.backoff_ms'])).toBeGreaterThan(0);
  }
  for (const op of ops) expect(op.attributes['retryscope.limiter.rate']).toBe(100);
});

test('a 503 server_is_overloaded is a server error: retried, the rate untouched', async () => {
  const { ops, retries, failures } = await crowdThrough(
    apiError(503, 'server_is_overloaded', 'service_unavailable_error', 'The server is overloaded'),
  );
  expect(retries).toHaveLength(20);
  expect(failures.map((f) => f.attributes['retryscope.retry_reason'])).toEqual(
    Array(20).fill('server_error'),
  );
  for (const op of ops) expect(op.attributes['retryscope.limiter.rate']).toBe(100);
});

test('a 429 whose headers show room backs off its call but leaves the rate alone', async () => {
  const { ops, retries } = await crowdThrough(
    apiError(429, 'rate_limit_exceeded', 'requests', 'Rate limit reached', roomy),
  );
  expect(retries).toHaveLength(20);
  for (const r of retries) expect(Number(r.attributes['retryscope.backoff_ms'])).toBeGreaterThan(0);
  for (const op of ops) expect(op.attributes['retryscope.limiter.rate']).toBe(100);
});

test('a storm 429 (its headers: the bucket is empty) cuts the rate', async () => {
  const { ops } = await crowdThrough(
    apiError(429, 'rate_limit_exceeded', 'requests', 'Rate limit reached', {
      ...roomy,
      'x-ratelimit-remaining-requests': '0',
      'retry-after-ms': '50',
    }),
  );
  expect(Math.min(...ops.map((o) => Number(o.attributes['retryscope.limiter.rate'])))).toBeLessThan(100);
});
