/**
 * The pacing mechanisms wired into the client: the limiter, the retry budget
 * and the circuit breaker, each visible in telemetry and each switchable off.
 */
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { getAttemptHistory, instrument, type RetryscopeOptions } from '../../src/index.ts';
import { CircuitOpenError, ClientRateLimitError, QuotaExhaustedError } from '../../src/openai/errors.ts';
import { systemClock } from '../../src/policy/clock.ts';
import { fakeClock } from '../helpers/fake-clock.ts';
import { createTestTelemetry, sumWhere } from '../helpers/otel.ts';
import {
  apiError,
  chatCompletion,
  quotaExhausted,
  type Reply,
  rateLimited,
  ScriptedServer,
} from '../helpers/scripted-server.ts';

let server: ScriptedServer;
let other: ScriptedServer;
beforeAll(async () => {
  server = await new ScriptedServer().start();
  other = await new ScriptedServer().start();
});
afterAll(async () => {
  await server.close();
  await other.close();
});

const messages = [{ role: 'user' as const, content: 'hi' }];
const create = (openai: OpenAI) => openai.chat.completions.create({ model: 'gpt-4o-mini', messages });

function setup(options: RetryscopeOptions = {}) {
  const t = createTestTelemetry();
  const fake = fakeClock();
  const openai = instrument(new OpenAI({ baseURL: server.url, apiKey: 'sk-test' }), {
    tracerProvider: t.tracerProvider,
    meterProvider: t.meterProvider,
    clock: fake.clock,
    random: () => 0.5,
    ...options,
  });
  const ops = async () => (await t.spans()).filter((s) => s.attributes['retryscope.outcome'] !== undefined);
  return { t, fake, openai, ops };
}

/** A 200 that says how much of a per-minute limit is left, as OpenAI's do. */
const okWithHeadroom = (limit: number, remaining: number): Reply => ({
  json: chatCompletion(),
  headers: {
    'x-ratelimit-limit-requests': String(limit),
    'x-ratelimit-remaining-requests': String(remaining),
    'x-ratelimit-reset-requests': `${Math.ceil(((limit - remaining) * 60) / limit)}s`,
  },
});

describe('limiter', () => {
  test("a 429's retry-after is waited in full, and the limiter's hold after it is queue time, both in that retry's wait", async () => {
    server.reply(rateLimited(1234), { json: chatCompletion() });
    const { openai, fake, ops, t } = setup();
    await create(openai);
    const waited = fake.sleeps.reduce((a, b) => a + b, 0);
    expect(fake.sleeps[0]).toBe(1234);
    const attempts = (await t.spans()).filter((s) => s.attributes['retryscope.attempt'] === 2);
    // The fake clock moves only when slept: the recorded wait is every sleep, the server's and the limiter's.
    expect(attempts[0]!.attributes['retryscope.backoff_ms']).toBe(Math.round(waited));
    const [op] = await ops();
    expect(Number(op!.attributes['retryscope.queued_ms'])).toBe(Math.round(waited - 1234));
    expect(op!.attributes['retryscope.limiter.rate']).toBeGreaterThan(0);
    expect(op!.attributes['retryscope.queue.depth']).toBe(0);
    expect(op!.attributes['retryscope.retry_budget.remaining']).toBe(500);
    expect(sumWhere(await t.metric('retryscope.client.queue.duration'))).toBe(1);
  });

  // Concurrent waits need the real clock; the bounds below hold whatever the machine's speed.
  test('calls that would wait past their deadline fail fast with a clear error and send nothing', async () => {
    // 600 RPM with one request left: after it, one slot every 100 ms.
    server.reply(okWithHeadroom(600, 1));
    const { openai, ops, t } = setup({ deadlineMs: 400, clock: systemClock });
    await create(openai);
    server.reply(okWithHeadroom(600, 0));
    const results = await Promise.allSettled(Array.from({ length: 12 }, () => create(openai)));
    const refused = results
      .filter((r) => r.status === 'rejected')
      .map((r) => (r as PromiseRejectedResult).reason);
    // Twelve slots 100 ms apart cannot all start within 350 ms of a 400 ms deadline.
    expect(refused.length).toBeGreaterThan(0);
    expect(refused.length).toBeLessThan(12);
    for (const error of refused) {
      expect(error).toBeInstanceOf(ClientRateLimitError);
      expect(error).toBeInstanceOf(OpenAI.RateLimitError);
      expect((error as Error).message).toMatch(
        /client-side rate limiter would hold this call \d+ ms, past its deadline/,
      );
      expect(getAttemptHistory(error)!.attempts).toBe(0);
    }
    // Only the calls that got a slot reached the server.
    expect(server.received).toHaveLength(results.length - refused.length);
    const deadline = (await ops()).filter((o) => o.attributes['retryscope.outcome'] === 'deadline_exceeded');
    expect(deadline).toHaveLength(refused.length);
    expect(
      sumWhere(await t.metric('retryscope.client.limiter.rejected'), {
        'retryscope.outcome': 'deadline_exceeded',
      }),
    ).toBe(refused.length);
  });

  test('a bounded queue: beyond maxQueue, calls are refused as queue_full', async () => {
    server.reply(okWithHeadroom(600, 1));
    const { openai } = setup({ limiter: { maxQueue: 2 }, clock: systemClock });
    await create(openai);
    server.reply(okWithHeadroom(600, 0));
    const results = await Promise.allSettled(Array.from({ length: 6 }, () => create(openai)));
    const queueFull = results.filter(
      (r) => r.status === 'rejected' && getAttemptHistory(r.reason)?.outcome === 'queue_full',
    );
    expect(queueFull.length).toBeGreaterThan(0);
  });

  test('limiter: false sends without pacing', async () => {
    server.reply(okWithHeadroom(60, 0));
    const { openai, fake } = setup({ limiter: false });
    await Promise.all(Array.from({ length: 5 }, () => create(openai)));
    expect(fake.sleeps).toEqual([]);
    expect(server.received).toHaveLength(5);
  });
});

describe('circuit breaker', () => {
  const breaker = { minimumCalls: 3, failureThreshold: 0.5, openMs: 60_000 };

  test('after a run of 5xx the circuit opens: calls are refused without a request, as circuit_open', async () => {
    server.reply(apiError(503, null, 'server_error', 'down'));
    const { openai, ops, t } = setup({ maxAttempts: 1, circuitBreaker: breaker, limiter: false });
    for (let i = 0; i < 3; i++) await create(openai).catch(() => {});
    expect(server.received).toHaveLength(3);
    const error = await create(openai).catch((e) => e);
    expect(error).toBeInstanceOf(CircuitOpenError);
    expect(error).toBeInstanceOf(OpenAI.APIConnectionError);
    expect(server.received).toHaveLength(3);
    const all = await ops();
    expect(all.at(-1)!.attributes['retryscope.outcome']).toBe('circuit_open');
    // The call whose failure opened the circuit says so on its span.
    expect(all[2]!.attributes['retryscope.circuit.state']).toBe(2);
    expect(all[0]!.attributes['retryscope.circuit.state']).toBe(0);
    const state = await t.metric('retryscope.client.circuit.state');
    expect(state.some((p) => p.value === 2)).toBe(true);
  });

  test('an open circuit falls back to another deployment', async () => {
    server.reply(apiError(503, null, 'server_error', 'down'));
    other.reply({ json: chatCompletion('from elsewhere') });
    const backup = new OpenAI({ baseURL: other.url, apiKey: 'sk-other' });
    const { openai } = setup({
      maxAttempts: 1,
      circuitBreaker: breaker,
      limiter: false,
      fallbacks: [{ client: backup }],
      fallbackOn: ['circuit_open'],
    });
    for (let i = 0; i < 3; i++) await create(openai).catch(() => {});
    const r = await create(openai);
    expect(r.choices[0]!.message.content).toBe('from elsewhere');
    expect(server.received).toHaveLength(3);
  });

  test('429s never feed the breaker', async () => {
    server.reply(rateLimited(1));
    const { openai } = setup({ maxAttempts: 1, circuitBreaker: breaker, limiter: false });
    for (let i = 0; i < 6; i++) {
      expect(await create(openai).catch((e) => e)).not.toBeInstanceOf(CircuitOpenError);
    }
    expect(server.received).toHaveLength(6);
  });

  test('circuitBreaker: false never refuses', async () => {
    server.reply(apiError(503, null, 'server_error', 'down'));
    const { openai } = setup({ maxAttempts: 1, circuitBreaker: false, limiter: false });
    for (let i = 0; i < 8; i++) await create(openai).catch(() => {});
    expect(server.received).toHaveLength(8);
  });
});

describe('retry budget', () => {
  test('an outage cannot multiply load: once the budget is spent, failures are returned at the first attempt', async () => {
    server.reply(apiError(500, null, 'server_error', 'down'));
    const { openai, ops } = setup({
      maxAttempts: 3,
      retryBudget: { capacity: 10, retryCost: 5 },
      circuitBreaker: false,
    });
    const first = await create(openai).catch((e) => e);
    expect(getAttemptHistory(first)!.attempts).toBe(3);
    const second = await create(openai).catch((e) => e);
    expect(getAttemptHistory(second)!.attempts).toBe(1);
    expect(getAttemptHistory(second)!.outcome).toBe('retries_exhausted');
    const last = (await ops()).at(-1)!;
    expect(last.attributes['retryscope.retry_budget.exhausted']).toBe(true);
    expect(last.attributes['retryscope.retry_budget.remaining']).toBe(0);
  });

  test('retryBudget: false keeps retrying', async () => {
    server.reply(apiError(500, null, 'server_error', 'down'));
    const { openai } = setup({ maxAttempts: 3, retryBudget: false, circuitBreaker: false });
    for (let i = 0; i < 3; i++)
      expect(getAttemptHistory(await create(openai).catch((e) => e))!.attempts).toBe(3);
  });
});

test('with every mechanism on, quota exhaustion is still exactly one attempt', async () => {
  server.reply(quotaExhausted());
  const { openai } = setup();
  expect(await create(openai).catch((e) => e)).toBeInstanceOf(QuotaExhaustedError);
  expect(server.received).toHaveLength(1);
});
