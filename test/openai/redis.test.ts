/**
 * One limit across processes, on a real redis-server: the Lua decision
 * matches its TypeScript twin case by case, quota exhaustion reaches every
 * client, and Redis killed, paused or restarted empty never fails a call.
 */
import OpenAI from 'openai';
import { describe, expect, test } from 'vitest';
import { instrument, QuotaExhaustedError } from '../../src/index.ts';
import { RedisStore, RespConnection } from '../../src/openai/redis-store.ts';
import type { LimiterSetting } from '../../src/options.ts';
import {
  admitShared,
  emptySharedState,
  exhaustShared,
  pauseShared,
  type SharedAdmission,
} from '../../src/policy/shared-bucket.ts';
import { mulberry32 } from '../../src/simulator/random.ts';
import { startSimulator } from '../../src/simulator/server.ts';
import { fakeClock } from '../helpers/fake-clock.ts';
import { createTestTelemetry, sumWhere } from '../helpers/otel.ts';
import { redisAndServer, withOwnRedis } from '../helpers/redis-server.ts';
import { runWorker } from '../helpers/run-worker.ts';
import { chatCompletion, quotaExhausted } from '../helpers/scripted-server.ts';

const KEY = 'sk-proj-FLEETSECRET';
const fixture = redisAndServer();

describe('the Lua decision is its TypeScript twin', () => {
  test('400 random bookings (with and without the room headers reported and blind sends), pauses and quota flags: the same answer from both, case by case', async () => {
    const store = new RedisStore(fixture.redis.url, 'parity');
    const bucket = { credential: 'c0ffee00c0ffee00', scope: 'abcdef0123456789' };
    const random = mulberry32(13);
    let state = emptySharedState();
    let now = 1_000_000;
    try {
      for (let i = 0; i < 400; i++) {
        now += Math.floor(random() * 400);
        const roll = random();
        if (roll < 0.05) {
          const until = now + Math.floor(random() * 3000);
          state = pauseShared(state, until);
          await store.pause(bucket, now, until);
          continue;
        }
        if (roll < 0.07) {
          const until = now + Math.floor(random() * 2000);
          state = exhaustShared(state, until);
          await store.exhaust(bucket, now, until);
          continue;
        }
        const input = {
          now,
          tokens: Math.floor(random() * 2000),
          rpm: [0, 60, 600, 6000][Math.floor(random() * 4)]!,
          tpm: [0, 40_000, 1_000_000][Math.floor(random() * 3)]!,
          burstMs: [0, 1000][Math.floor(random() * 2)]!,
          maxWaitMs: random() < 0.3 ? 500 : Number.POSITIVE_INFINITY,
          // The room an answer's headers reported, some of the time, up to a second old.
          ...(random() < 0.5
            ? {
                seen: {
                  atMs: now - Math.floor(random() * 1000),
                  ...(random() < 0.8 ? { requests: Math.floor(random() * 30) } : {}),
                  ...(random() < 0.5 ? { tokens: Math.floor(random() * 50_000) } : {}),
                },
              }
            : {}),
          ...(random() < 0.2
            ? { blind: { count: 1 + Math.floor(random() * 30), lastAt: now - Math.floor(random() * 2000) } }
            : {}),
        };
        const twin = admitShared(state, input);
        state = twin.state;
        const lua = await store.admit(bucket, input);
        expectSame(lua, twin.admission);
      }
    } finally {
      await store.close();
    }
  });

  test('keys are namespaced, in one Cluster slot per credential, and hold no secret', async () => {
    const { openai } = client({});
    fixture.server.reply({ json: chatCompletion(), headers: { 'x-ratelimit-limit-requests': '600' } });
    await ask(openai);
    await ask(openai);
    const raw = new RespConnection(fixture.redis.url);
    const keys = (await raw.command(['KEYS', 'retryscope:*'])) as string[];
    await raw.close();
    expect(keys.length).toBeGreaterThan(0);
    for (const key of keys) {
      expect(key).toMatch(/^retryscope:\{[0-9a-f]{16}\}:(b:[0-9a-f]{16}|q)$/);
      expect(key).not.toContain('FLEETSECRET');
      expect(key).not.toContain('127.0.0.1');
    }
  });
});

describe('a Redis client object instead of a URL', () => {
  // The two libraries' call shapes, each forwarding to a real connection: what the adapter sends is what Redis runs.
  const shapes = {
    'ioredis (evalsha(sha, numKeys, ...keysAndArgs))': (raw: RespConnection) => ({
      evalsha: (sha: string, n: number, ...rest: string[]) =>
        raw.command(['EVALSHA', sha, String(n), ...rest]),
      eval: (script: string, n: number, ...rest: string[]) =>
        raw.command(['EVAL', script, String(n), ...rest]),
    }),
    'node-redis (evalSha(sha, { keys, arguments }))': (raw: RespConnection) => ({
      evalSha: (sha: string, o: { keys: string[]; arguments: string[] }) =>
        raw.command(['EVALSHA', sha, String(o.keys.length), ...o.keys, ...o.arguments]),
      eval: (script: string, o: { keys: string[]; arguments: string[] }) =>
        raw.command(['EVAL', script, String(o.keys.length), ...o.keys, ...o.arguments]),
    }),
  };
  test.each(Object.entries(shapes))('%s: loads the script on NOSCRIPT, then books', async (name, shape) => {
    const raw = new RespConnection(fixture.redis.url);
    await raw.command(['SCRIPT', 'FLUSH']);
    const store = new RedisStore(shape(raw), `shape-${name.split(' ')[0]}`);
    const bucket = { credential: '0123456789abcdef', scope: 'fedcba9876543210' };
    const input = { now: 5000, tokens: 0, rpm: 60, tpm: 0, burstMs: 0, maxWaitMs: Number.POSITIVE_INFINITY };
    expect(await store.admit(bucket, input)).toEqual({ ok: true, waitMs: 0 });
    expect(await store.admit(bucket, input)).toEqual({ ok: true, waitMs: 1000 });
    await raw.close();
  });
});

function expectSame(lua: SharedAdmission, twin: SharedAdmission) {
  expect(lua.ok).toBe(twin.ok);
  if (lua.ok && twin.ok) expect(lua.waitMs).toBeCloseTo(twin.waitMs, 3);
  if (!lua.ok && !twin.ok) {
    expect(lua.reason).toBe(twin.reason);
    if (lua.reason === 'quota' && twin.reason === 'quota') expect(lua.untilMs).toBeCloseTo(twin.untilMs, 3);
  }
}

/** A client of its own (its own Pacing: as another process would have), on the shared Redis. */
function client(limiter: LimiterSetting, redisUrl = () => fixture.redis.url, apiKey = KEY) {
  const t = createTestTelemetry();
  const openai = instrument(new OpenAI({ baseURL: fixture.server.url, apiKey, maxRetries: 0 }), {
    tracerProvider: t.tracerProvider,
    meterProvider: t.meterProvider,
    clock: fakeClock(Date.now()).clock,
    random: () => 0.5,
    maxAttempts: 1,
    circuitBreaker: false,
    // A timeout no loaded machine trips, unless a test sets its own: these tests are about what
    // the fleet shares, and a healthy Redis that answers late must not turn them into fallback tests.
    limiter: { redis: redisUrl(), coldStartHoldMs: 0, redisTimeoutMs: 10_000, ...limiter },
  });
  const ops = async () => (await t.spans()).filter((s) => s.attributes['retryscope.outcome'] !== undefined);
  return { openai, ops, t };
}
const ask = (openai: OpenAI, model = 'gpt-4o-mini') =>
  openai.chat.completions.create({ model, messages: [{ role: 'user', content: 'hi' }] });

describe('the fleet', () => {
  test('one process sees insufficient_quota: another fails fast, sends nothing, and its span says the fleet told it', async () => {
    const a = client({ quotaCooldownMs: 60_000 });
    const b = client({});
    fixture.server.reply(quotaExhausted());
    expect(await ask(a.openai, 'gpt-quota').catch((e) => e)).toBeInstanceOf(QuotaExhaustedError);
    fixture.server.reply({ json: chatCompletion() });
    // The flag is written without waiting: B's call is an event later, after A's write was sent first on its socket.
    let error: unknown;
    for (let i = 0; i < 50 && !(error instanceof QuotaExhaustedError); i++) {
      error = await ask(b.openai, 'gpt-quota').catch((e) => e);
      await new Promise((r) => setImmediate(r));
    }
    expect(error).toBeInstanceOf(QuotaExhaustedError);
    expect((error as Error).message).toMatch(/another process using this API key/);
    const sent = fixture.server.received.length;
    expect(await ask(b.openai, 'gpt-quota').catch((e) => e)).toBeInstanceOf(QuotaExhaustedError);
    expect(fixture.server.received).toHaveLength(sent);
    const [op] = (await b.ops()).filter((o) => o.attributes['retryscope.outcome'] === 'quota_exhausted');
    expect(op!.attributes['retryscope.quota_exhausted.from_fleet']).toBe(true);
    expect(op!.attributes['retryscope.limiter.store']).toBe('redis');
    expect(JSON.stringify(op!.attributes)).not.toContain('FLEETSECRET');
  });

  test("quota is the account's: another project on the same key, or a key not yet resolved, is not stopped", async () => {
    const make = (apiKey: NonNullable<ConstructorParameters<typeof OpenAI>[0]>['apiKey'], project?: string) =>
      instrument(new OpenAI({ baseURL: fixture.server.url, apiKey, project, maxRetries: 0 }), {
        maxAttempts: 1,
        circuitBreaker: false,
        limiter: { redis: fixture.redis.url, coldStartHoldMs: 0, redisTimeoutMs: 10_000 },
      });
    // An apiKey function: the SDK knows no key string before the first send, so the fleet cannot name it.
    const fnA = make(async () => 'sk-fn-A');
    const fnB = make(async () => 'sk-fn-B');
    fixture.server.reply(quotaExhausted());
    expect(await ask(fnA, 'gpt-acct').catch((e) => e)).toBeInstanceOf(QuotaExhaustedError);
    // Same key, two projects: one project's quota running out is not the other's.
    const p1 = make('sk-proj-SHARED', 'proj_one');
    const p2 = make('sk-proj-SHARED', 'proj_two');
    fixture.server.reply(quotaExhausted());
    expect(await ask(p1, 'gpt-acct').catch((e) => e)).toBeInstanceOf(QuotaExhaustedError);
    // Give any fire-and-forget flag write every chance to land before the others ask.
    await new Promise((r) => setTimeout(r, 100));
    // Each answer below is the server's: had the fleet stopped the call, it would throw QuotaExhaustedError.
    fixture.server.reply({ json: chatCompletion() });
    expect((await ask(fnB, 'gpt-acct')).choices[0]!.message.content).toBe('hello');
    fixture.server.reply({ json: chatCompletion() });
    expect((await ask(p2, 'gpt-acct')).choices[0]!.message.content).toBe('hello');
  });

  test('a slow model after its cold start: the probes are charged as of when they left, so later calls are paced, never refused for good', async () => {
    // 60 RPM: one request a second, a 1-request burst. The headers count down honestly.
    let left = 60;
    fixture.server.replyWith(() => ({
      json: chatCompletion(),
      headers: { 'x-ratelimit-limit-requests': '60', 'x-ratelimit-remaining-requests': String(--left) },
    }));
    const fake = fakeClock(Date.now());
    const openai = instrument(
      new OpenAI({ baseURL: fixture.server.url, apiKey: 'sk-slow-model', maxRetries: 0 }),
      {
        clock: fake.clock,
        maxAttempts: 1,
        circuitBreaker: false,
        deadlineMs: 1500,
        limiter: { redis: fixture.redis.url, redisTimeoutMs: 10_000 },
      },
    );
    // The two cold-start probes, sent before the limit is known.
    await Promise.all([ask(openai, 'gpt-slow'), ask(openai, 'gpt-slow')]);
    // Charging them as if sent now, again after every refusal, refused every call past its 1.5 s deadline.
    const results: string[] = [];
    for (let i = 0; i < 4; i++) {
      fake.advance(1100);
      results.push(
        await ask(openai, 'gpt-slow').then(
          () => 'ok',
          (e: Error) => e.name,
        ),
      );
    }
    expect(results).toEqual(['ok', 'ok', 'ok', 'ok']);
    expect(fixture.server.received).toHaveLength(6);
  });

  test('a storm 429 seen by one process pauses the other until its retry-after', async () => {
    // Another key than the quota test's, whose flag is still up.
    const a = client({}, undefined, 'sk-storm');
    const b = client({}, undefined, 'sk-storm');
    fixture.server.reply({ json: chatCompletion(), headers: { 'x-ratelimit-limit-requests': '6000' } });
    await ask(a.openai, 'gpt-storm');
    await ask(b.openai, 'gpt-storm');
    fixture.server.reply({
      status: 429,
      json: {
        error: { message: 'Rate limit reached', type: 'requests', param: null, code: 'rate_limit_exceeded' },
      },
      headers: {
        'retry-after-ms': '30000',
        'x-ratelimit-limit-requests': '6000',
        'x-ratelimit-remaining-requests': '0',
      },
    });
    await ask(a.openai, 'gpt-storm').catch(() => {});
    fixture.server.reply({ json: chatCompletion(), headers: { 'x-ratelimit-limit-requests': '6000' } });
    await new Promise((r) => setImmediate(r));
    await ask(b.openai, 'gpt-storm');
    const last = (await b.ops()).at(-1)!;
    // B's own limiter saw no 429: only the fleet's pause can have held it (its fake clock slept it).
    expect(Number(last.attributes['retryscope.queued_ms'])).toBeGreaterThan(25_000);
  });
});

describe('Redis down, paused or restarted never fails a call', () => {
  test('killed: calls pace locally (one warning, a metric, local-fallback on spans); restarted empty: they rejoin', () =>
    withOwnRedis(async (own, warnings) => {
      const c = client({}, () => own.url);
      fixture.server.reply({ json: chatCompletion(), headers: { 'x-ratelimit-limit-requests': '6000' } });
      await ask(c.openai, 'gpt-fault');
      await own.kill();
      for (let i = 0; i < 5; i++) await ask(c.openai, 'gpt-fault');
      const stores = (await c.ops()).map((o) => o.attributes['retryscope.limiter.store']);
      expect(stores[0]).toBe('redis');
      expect(stores.slice(1)).toEqual(Array(5).fill('local-fallback'));
      expect(sumWhere(await c.t.metric('retryscope.client.limiter.store_fallbacks'))).toBe(5);
      await new Promise((r) => setImmediate(r));
      expect(warnings.filter((w) => /did not answer/.test(w))).toHaveLength(1);
      expect(warnings.join('\n')).not.toContain('FLEETSECRET');
      // Restarted empty (no script cached, no state): the next call after the retry interval rejoins.
      await own.start();
      let store: unknown;
      for (let i = 0; i < 200 && store !== 'redis'; i++) {
        await ask(c.openai, 'gpt-fault');
        store = (await c.ops()).at(-1)!.attributes['retryscope.limiter.store'];
        if (store !== 'redis') await new Promise((r) => setTimeout(r, 20));
      }
      expect(store).toBe('redis');
    }));

  test('paused (SIGSTOP) longer than the timeout: the call goes on its own limiter, bounded by redisTimeoutMs', () =>
    withOwnRedis(async (own) => {
      const c = client({ redisTimeoutMs: 50 }, () => own.url);
      fixture.server.reply({ json: chatCompletion() });
      await ask(c.openai, 'gpt-stop');
      own.pause();
      const r = await ask(c.openai, 'gpt-stop');
      expect(r.choices[0]!.message.content).toBe('hello');
      expect((await c.ops()).at(-1)!.attributes['retryscope.limiter.store']).toBe('local-fallback');
    }));
});

describe('a fleet of real processes on one simulator key', () => {
  const worker = (env: Record<string, string>) =>
    runWorker<{ results: string[]; at: number[]; startedAt: number }>('fleet-worker.ts', env);

  test('two processes share one rate: their calls leave one interval apart across the fleet, not each on its own', async () => {
    // 30 RPM (2 s a request, a 1-request burst), known from the start; the server's bucket is
    // roomy, so nothing is refused and only the fleet's booking spaces the calls.
    const simulator = await startSimulator({
      scenario: {
        name: 'fleet-rate',
        limits: { rpm: 30, tpm: 10_000_000 },
        burstMs: 60_000,
        loop: false,
        phases: [{ name: 'healthy', latencyMs: 1 }],
      },
    });
    try {
      const env = {
        SIM_URL: simulator.url,
        REDIS_URL: fixture.redis.url,
        API_KEY: 'sk-fleet-rate',
        INITIAL_RPM: '30',
        CALLS: '2',
        // A loaded machine's late Redis reply must not make a process pace alone.
        REDIS_TIMEOUT_MS: '10000',
      };
      const runs = await Promise.all([worker(env), worker(env)]);
      for (const r of runs) expect(r.results).toEqual(['ok', 'ok']);
      // Shared: the fleet books its 4 calls 2 s apart, the first no earlier than the first call was
      // made, so the last comes back at least 6 s after that. Each pacing alone, both would be done
      // about 2 s after starting. A slow machine only lengthens the span; it cannot shorten it.
      const firstMade = Math.min(...runs.map((r) => r.startedAt));
      const lastBack = Math.max(...runs.flatMap((r) => r.at));
      expect(lastBack - firstMade).toBeGreaterThanOrEqual(6000);
      expect(simulator.stats().byStatus['429'] ?? 0).toBe(0);
    } finally {
      await simulator.close();
    }
  }, 60_000);

  test("once one process exhausts the key's quota, the others send nothing and fail fast", async () => {
    const simulator = await startSimulator({
      scenario: 'steady',
      keys: { 'sk-fleet-quota': { quotaTokens: 60 } },
    });
    try {
      const env = { SIM_URL: simulator.url, REDIS_URL: fixture.redis.url, API_KEY: 'sk-fleet-quota' };
      const first = await worker({ ...env, CALLS: '20', STOP_ON_ERROR: '1' });
      expect(first.results.at(-1)).toMatch(/^QuotaExhaustedError/);
      const sent = simulator.stats().requests;
      const others = await Promise.all([worker({ ...env, CALLS: '4' }), worker({ ...env, CALLS: '4' })]);
      for (const other of others)
        for (const r of other.results)
          expect(r).toMatch(/^QuotaExhaustedError: .*another process using this API key/);
      expect(simulator.stats().requests).toBe(sent);
    } finally {
      await simulator.close();
    }
  });
});
