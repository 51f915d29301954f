/**
 * Spend budgets shared through the limiter's Redis store, on a real redis-server: two OS
 * processes under one budget, keys free of secrets that expire after their period, and
 * Redis down or stalled never failing a call (the process's own ledger stands in).
 */
import OpenAI from 'openai';
import { beforeEach, describe, expect, test } from 'vitest';
import { BudgetExceededError, instrument, type RetryscopeOptions } from '../../src/index.ts';
import { credentialFingerprint } from '../../src/openai/pacing.ts';
import { RespConnection } from '../../src/openai/redis-store.ts';
import { startSimulator } from '../../src/simulator/server.ts';
import { flatPrices } from '../helpers/budget-cost.ts';
import { fakeClock } from '../helpers/fake-clock.ts';
import { createTestTelemetry, sumWhere } from '../helpers/otel.ts';
import { redisAndServer, withOwnRedis } from '../helpers/redis-server.ts';
import { runWorker } from '../helpers/run-worker.ts';
import { chatCompletion } from '../helpers/scripted-server.ts';

const KEY = 'sk-proj-BUDGETSECRET-0001';
const fixture = redisAndServer();
const t = createTestTelemetry();

// $1 a scripted call (10 tokens at $0.10).
beforeEach(() => {
  t.reset();
  fixture.server.reply({ json: chatCompletion() });
});

/**
 * Waits until Redis holds `usd` spent under `apiKey` (summed over its budget keys): a charge is
 * sent without waiting, on each client's own connection, so another connection's read may pass it.
 */
async function spendReaches(apiKey: string, usd: number): Promise<void> {
  const conn = new RespConnection(fixture.redis.url);
  try {
    for (;;) {
      const keys = (await conn.command([
        'KEYS',
        `retryscope:{${credentialFingerprint(apiKey)}}:s:*`,
      ])) as string[];
      let total = 0;
      for (const key of keys) total += Number(await conn.command(['GET', key])) || 0;
      if (total >= usd - 1e-9) return;
      await new Promise((r) => setImmediate(r));
    }
  } finally {
    await conn.close();
  }
}

const body = { model: 'gpt-4o', messages: [{ role: 'user' as const, content: 'hi' }] };

function client(options: RetryscopeOptions & { apiKey?: string; redisUrl?: string; now?: number }) {
  const { apiKey = KEY, redisUrl = fixture.redis.url, now = Date.UTC(2026, 5, 15, 10), ...rest } = options;
  const clock = fakeClock(now);
  const openai = instrument(new OpenAI({ baseURL: fixture.server.url, apiKey, maxRetries: 0 }), {
    tracerProvider: t.tracerProvider,
    meterProvider: t.meterProvider,
    clock: clock.clock,
    maxAttempts: 1,
    limiter: { redis: redisUrl, redisTimeoutMs: 10_000 },
    ...flatPrices(0.1),
    ...rest,
  });
  return { openai, clock };
}

describe('a budget shared through Redis', () => {
  test('two clients (two limiters, two ledgers) on one key share one budget; another key has its own', async () => {
    const a = client({ budget: { usd: 2, per: 'day' } });
    const b = client({ budget: { usd: 2, per: 'day' } });
    await a.openai.chat.completions.create(body);
    await spendReaches(KEY, 1);
    await b.openai.chat.completions.create(body);
    await spendReaches(KEY, 2);
    // Each client spent $1 of its own: only the shared total, $2, refuses.
    await expect(a.openai.chat.completions.create(body)).rejects.toBeInstanceOf(BudgetExceededError);
    await expect(b.openai.chat.completions.create(body)).rejects.toBeInstanceOf(BudgetExceededError);
    expect(fixture.server.received).toHaveLength(2);
    await client({
      budget: { usd: 2, per: 'day' },
      apiKey: 'sk-another-key-0002',
    }).openai.chat.completions.create(body);
    expect(fixture.server.received).toHaveLength(3);
  });

  test('its keys hold no secret, and expire after their period ends', async () => {
    const conn = new RespConnection(fixture.redis.url);
    try {
      const now = Date.now();
      await client({
        budget: { usd: 100, per: 'hour' },
        apiKey: 'sk-expiry-key-0003',
        now,
      }).openai.chat.completions.create(body);
      await spendReaches('sk-expiry-key-0003', 1);
      const readAt = Date.now();
      const keys = (await conn.command(['KEYS', '*:s:*'])) as string[];
      expect(keys.length).toBeGreaterThan(0);
      for (const key of keys) {
        expect(key).not.toContain('sk-');
        expect(key).not.toContain('SECRET');
      }
      // This test's hour key outlives the hour, by an hour (its time to live is relative: Redis
      // set it when the charge arrived, no later than readAt).
      const hourEnd = (Math.floor(now / 3_600_000) + 1) * 3_600_000;
      const mine = keys.filter((k) => k.endsWith(`:${hourEnd - 3_600_000}`));
      expect(mine).toHaveLength(1);
      const expiresAt = Number(await conn.command(['PEXPIRETIME', mine[0]!]));
      expect(expiresAt).toBeGreaterThan(hourEnd);
      expect(expiresAt).toBeLessThanOrEqual(hourEnd + 3_600_000 + (readAt - now));
      expect(Number(await conn.command(['GET', mine[0]!]))).toBeCloseTo(1);
    } finally {
      await conn.close();
    }
  });

  test('a new period re-allows calls across the fleet (the fake clock passes midnight UTC)', async () => {
    const a = client({
      budget: { usd: 1, per: 'day' },
      apiKey: 'sk-rollover-0004',
      now: Date.UTC(2026, 5, 20, 23, 59),
    });
    await a.openai.chat.completions.create(body);
    await expect(a.openai.chat.completions.create(body)).rejects.toBeInstanceOf(BudgetExceededError);
    a.clock.advance(60_000);
    await spendReaches('sk-rollover-0004', 1);
    // Another client (a second ledger) on the new day: the fleet's total for it starts at 0.
    const b = client({
      budget: { usd: 1, per: 'day' },
      apiKey: 'sk-rollover-0004',
      now: Date.UTC(2026, 5, 21),
    });
    await b.openai.chat.completions.create(body);
    await expect(a.openai.chat.completions.create(body)).rejects.toBeInstanceOf(BudgetExceededError);
    expect(fixture.server.received).toHaveLength(2);
  });
});

describe('Redis down or stalled never fails a call', () => {
  test('killed: the budget is kept by the process alone, and each read that fell back is counted', () =>
    withOwnRedis(async (own, warnings) => {
      const c = client({
        budget: { usd: 3, per: 'day' },
        apiKey: 'sk-down-0005',
        redisUrl: own.url,
        limiter: false,
      });
      // limiter: false has no Redis: the budget is this process's own, and nothing falls back.
      await c.openai.chat.completions.create(body);
      expect(await t.metric('retryscope.client.limiter.store_fallbacks')).toEqual([]);

      const d = client({ budget: { usd: 3, per: 'day' }, apiKey: 'sk-down-0006', redisUrl: own.url });
      await d.openai.chat.completions.create(body);
      await own.kill();
      await d.openai.chat.completions.create(body);
      await d.openai.chat.completions.create(body);
      // $3 spent, two of it while Redis was down: the local ledger refuses.
      await expect(d.openai.chat.completions.create(body)).rejects.toBeInstanceOf(BudgetExceededError);
      expect(fixture.server.received).toHaveLength(4);
      // The limiter's booking and the budget's read each fell back, for each call after the kill.
      expect(sumWhere(await t.metric('retryscope.client.limiter.store_fallbacks'))).toBeGreaterThanOrEqual(3);
      expect(warnings.filter((w) => w.includes('did not answer'))).toHaveLength(1);
      expect(warnings.join('\n')).not.toContain('sk-down');
    }));

  test('stalled (SIGSTOP) past redisTimeoutMs: the call goes on, bounded by the timeout', () =>
    withOwnRedis(async (own) => {
      const c = client({
        budget: { usd: 5, per: 'day' },
        apiKey: 'sk-stall-0007',
        redisUrl: own.url,
        limiter: { redis: own.url, redisTimeoutMs: 50 },
      });
      await c.openai.chat.completions.create(body);
      own.pause();
      const r = await c.openai.chat.completions.create(body);
      expect(r.choices[0]!.message.content).toBe('hello');
      expect(fixture.server.received).toHaveLength(2);
    }));
});

describe('a fleet of real processes under one budget', () => {
  test('one process spends the budget; the other is then refused with zero requests sent', async () => {
    const simulator = await startSimulator({ scenario: 'steady' });
    try {
      const env = {
        SIM_URL: simulator.url,
        REDIS_URL: fixture.redis.url,
        API_KEY: 'sk-fleet-budget-0008',
        BUDGET_USD: '1',
        // A loaded machine's late Redis reply must not make a process keep its budget alone.
        REDIS_TIMEOUT_MS: '10000',
      };
      const first = await runWorker<{ results: string[] }>('fleet-worker.ts', {
        ...env,
        CALLS: '50',
        STOP_ON_ERROR: '1',
      });
      expect(first.results[0]).toBe('ok');
      expect(first.results.at(-1)).toMatch(/^BudgetExceededError: .*spend budget of \$1 per day/);
      const sent = simulator.stats().requests;
      expect(sent).toBe(first.results.length - 1);
      const other = await runWorker<{ results: string[] }>('fleet-worker.ts', { ...env, CALLS: '3' });
      expect(other.results).toHaveLength(3);
      for (const r of other.results) expect(r).toMatch(/^BudgetExceededError/);
      expect(simulator.stats().requests).toBe(sent);
    } finally {
      await simulator.close();
    }
  }, 60_000);
});
