/**
 * Limiter buckets as OpenAI scopes its limits: per upstream, key,
 * organization/project and model. A 429 for one model holds that model's
 * callers, never another model's.
 */
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { instrument, type RetryscopeOptions } from '../../src/index.ts';
import { fakeClock } from '../helpers/fake-clock.ts';
import { createTestTelemetry } from '../helpers/otel.ts';
import {
  apiError,
  chatCompletion,
  type ReceivedRequest,
  type Reply,
  ScriptedServer,
} from '../helpers/scripted-server.ts';

const KEY = 'sk-proj-SECRETSECRETSECRET';
let server: ScriptedServer;
beforeAll(async () => {
  server = await new ScriptedServer().start();
});
afterAll(() => server.close());

const modelOf = (r: ReceivedRequest) => (r.body as { model: string }).model;

/** The slow model: its window is empty for 20 s. The fast one has room to spare. */
function twoLimits(slow: string[]) {
  server.replyWith((r): Reply => {
    const model = modelOf(r);
    if (slow.includes(model))
      return apiError(429, 'rate_limit_exceeded', 'requests', `Rate limit reached for ${model}`, {
        'retry-after-ms': '20000',
        'x-ratelimit-limit-requests': '3',
        'x-ratelimit-remaining-requests': '0',
        'x-ratelimit-reset-requests': '20s',
      });
    return {
      json: chatCompletion('ok', model),
      headers: {
        'x-ratelimit-limit-requests': '10000',
        'x-ratelimit-remaining-requests': '9990',
        'x-ratelimit-reset-requests': '6ms',
      },
    };
  });
}

function setup(options: RetryscopeOptions = {}, clientOptions: ConstructorParameters<typeof OpenAI>[0] = {}) {
  const t = createTestTelemetry();
  const fake = fakeClock();
  const base = new OpenAI({ baseURL: server.url, apiKey: KEY, ...clientOptions });
  const openai = instrument(base, {
    tracerProvider: t.tracerProvider,
    meterProvider: t.meterProvider,
    clock: fake.clock,
    random: () => 0.5,
    maxAttempts: 1,
    circuitBreaker: false,
    ...options,
  });
  const ask = (model: string) =>
    openai.chat.completions.create({ model, messages: [{ role: 'user', content: 'hi' }] });
  const ops = async () => (await t.spans()).filter((s) => s.attributes['retryscope.outcome'] !== undefined);
  return { t, fake, openai, ask, ops };
}

describe('one bucket per model', () => {
  test("the fast model's callers are not held by the slow model's 429s", async () => {
    twoLimits(['gpt-slow']);
    const { ask, ops, fake } = setup();
    await ask('gpt-fast');
    await ask('gpt-slow').catch(() => {});
    const sleptBefore = fake.sleeps.length;
    const fast = await Promise.all(Array.from({ length: 20 }, () => ask('gpt-fast')));
    expect(fast).toHaveLength(20);
    // Nothing slept: the slow model's 20 s pause is its own bucket's.
    expect(fake.sleeps.length).toBe(sleptBefore);
    // The slow model's next call is held for its pause (the limiter's own queue time).
    await ask('gpt-slow').catch(() => {});
    const spans = await ops();
    const byModel = (m: string) => spans.filter((s) => s.attributes['gen_ai.request.model'] === m);
    for (const span of byModel('gpt-fast')) {
      expect(span.attributes['retryscope.queued_ms']).toBe(0);
      expect(span.attributes['retryscope.limiter.bucket']).toBe('gpt-fast');
    }
    const lastSlow = byModel('gpt-slow').at(-1)!;
    expect(Number(lastSlow.attributes['retryscope.queued_ms'])).toBeGreaterThanOrEqual(19_000);
    expect(lastSlow.attributes['retryscope.limiter.bucket']).toBe('gpt-slow');
  });

  test('the limiter gauges carry the bucket label, and no attribute carries the key', async () => {
    twoLimits(['gpt-slow']);
    const { ask, t } = setup();
    await ask('gpt-fast');
    await ask('gpt-slow').catch(() => {});
    const rate = await t.metric('retryscope.client.limiter.rate');
    const buckets = new Set(rate.map((p) => p.attributes['retryscope.limiter.bucket']));
    expect(buckets).toEqual(new Set(['gpt-fast', 'gpt-slow']));
    const everything = JSON.stringify([
      (await t.spans()).map((s) => s.attributes),
      (await t.metrics()).map((m) => m.dataPoints.map((p) => p.attributes)),
    ]);
    expect(everything).not.toContain('SECRET');
  });

  test('modelGroups: models in one pool share its bucket, and the pool names it', async () => {
    twoLimits(['gpt-4o-2024-08-06']);
    const { ask, ops } = setup({ limiter: { modelGroups: { 'gpt-4o': ['gpt-4o-2024-08-06'] } } });
    await ask('gpt-4o-mini');
    await ask('gpt-4o-2024-08-06').catch(() => {});
    // gpt-4o is in the pool: the snapshot's 429 holds it; gpt-4o-mini is not.
    await ask('gpt-4o').catch(() => {});
    await ask('gpt-4o-mini');
    const spans = await ops();
    const [, snapshot, pooled, mini] = spans;
    expect(snapshot!.attributes['retryscope.limiter.bucket']).toBe('gpt-4o');
    expect(pooled!.attributes['retryscope.limiter.bucket']).toBe('gpt-4o');
    expect(Number(pooled!.attributes['retryscope.queued_ms'])).toBeGreaterThanOrEqual(19_000);
    expect(mini!.attributes['retryscope.limiter.bucket']).toBe('gpt-4o-mini');
    expect(mini!.attributes['retryscope.queued_ms']).toBe(0);
  });
});

describe('one bucket per credential and organization, with shareAcrossClients', () => {
  const shared = { limiter: { shareAcrossClients: true } };

  test('clients of one key and organization share a bucket; another organization does not', async () => {
    twoLimits(['gpt-shared-slow']);
    const a = setup(shared, { organization: 'org-a' });
    const sameOrg = setup(shared, { organization: 'org-a' });
    const otherOrg = setup(shared, { organization: 'org-b' });
    // Warm each bucket, then a 429 through the first client.
    await sameOrg.ask('gpt-shared-fast');
    await a.ask('gpt-shared-slow').catch(() => {});
    // Each client has its own fake clock, all starting at one instant: the shared pause holds the second.
    await sameOrg.ask('gpt-shared-slow').catch(() => {});
    await otherOrg.ask('gpt-shared-slow').catch(() => {});
    const [held] = (await sameOrg.ops()).filter(
      (s) => s.attributes['gen_ai.request.model'] === 'gpt-shared-slow',
    );
    const [free] = await otherOrg.ops();
    expect(Number(held!.attributes['retryscope.queued_ms'])).toBeGreaterThanOrEqual(19_000);
    expect(free!.attributes['retryscope.queued_ms']).toBe(0);
  });
});
