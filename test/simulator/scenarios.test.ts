/** The timeline, manual phases, and what each named scenario does. */
import OpenAI, { APIError, InternalServerError, RateLimitError } from 'openai';
import { describe, expect, it } from 'vitest';
import {
  FALLBACK_KEY,
  NAMED_SCENARIOS,
  OUTAGE_MODEL,
  type ScenarioDefinition,
  validateScenario,
} from '../../src/simulator/index.ts';
import { buildTimeline, phaseAt } from '../../src/simulator/timeline.ts';
import { CHAT, client, FakeClock, get, post, simulator, statusOf } from './helpers.ts';

describe('timeline', () => {
  it('shares the duration by weight', () => {
    const timeline = buildTimeline([{ name: 'a', weight: 3 }, { name: 'b', weight: 4 }, { name: 'c' }], 8000);
    expect(timeline.map((span) => [span.name, span.startMs, span.endMs])).toEqual([
      ['a', 0, 3000],
      ['b', 3000, 7000],
      ['c', 7000, 8000],
    ]);
  });

  it('loops, or holds the last phase', () => {
    const timeline = buildTimeline([{ name: 'a' }, { name: 'b' }], 1000);
    expect(phaseAt(timeline, 0, true)).toEqual({ index: 0, cycle: 0 });
    expect(phaseAt(timeline, 499, true)).toEqual({ index: 0, cycle: 0 });
    expect(phaseAt(timeline, 500, true)).toEqual({ index: 1, cycle: 0 });
    expect(phaseAt(timeline, 1250, true)).toEqual({ index: 0, cycle: 1 });
    expect(phaseAt(timeline, 1250, false)).toEqual({ index: 1, cycle: 0 });
  });

  it('every named scenario validates and shows all its phases in 10 s', () => {
    for (const scenario of Object.values(NAMED_SCENARIOS)) {
      expect(validateScenario(scenario, scenario.name).phases).toHaveLength(scenario.phases.length);
      const spans = buildTimeline(scenario.phases, 10_000);
      expect(spans.every((span) => span.endMs - span.startMs >= 1000)).toBe(true);
    }
    expect(NAMED_SCENARIOS.mixed.phases.map((phase) => phase.name)).toEqual([
      'steady',
      'storm',
      'outage',
      'quota',
    ]);
  });
});

describe('phases on a running simulator', () => {
  it('follow the (fake) clock, scaled to durationMs, and loop', async () => {
    const clock = new FakeClock();
    const sim = await simulator({ scenario: 'storm', durationMs: 10_000, clock });
    const seen: string[] = [];
    let last = 0;
    for (const at of [0, 2_999, 3_000, 6_999, 7_000, 9_999, 10_000]) {
      clock.advance(at - last);
      last = at;
      seen.push(sim.phase());
    }
    expect(seen).toEqual(['steady', 'steady', 'storm', 'storm', 'recovery', 'recovery', 'steady']);
  });

  it('setPhase pins a phase until it is released', async () => {
    const clock = new FakeClock();
    const sim = await simulator({ scenario: 'mixed', durationMs: 10_000, clock });
    sim.setPhase('quota');
    clock.advance(100_000);
    expect(sim.phase()).toBe('quota');
    sim.setPhase(null);
    expect(sim.phase()).toBe('steady');
    expect(() => sim.setPhase('nope')).toThrow(/Unknown phase "nope".*steady, storm, outage, quota/);
  });

  it('storm cuts every key’s limits to 15% and keeps the usage', async () => {
    const sim = await simulator({ scenario: 'storm', clock: new FakeClock(), limits: { rpm: 100 } });
    for (let i = 0; i < 20; i++) expect(await statusOf(sim)).toBe(200);
    sim.setPhase('storm');
    const response = await post(sim, '/chat/completions', CHAT);
    expect(response.status).toBe(429);
    expect(response.headers.get('x-ratelimit-limit-requests')).toBe('15');
    sim.setPhase('recovery');
    expect(await statusOf(sim)).toBe(200);
  });

  it('storm bites within a burst even without earlier traffic', async () => {
    const clock = new FakeClock();
    const sim = await simulator({ scenario: 'storm', clock });
    sim.setPhase('storm');
    // 600 rpm × 15% = 90 rpm, in 2 s bursts: 3 requests, then one every 667 ms.
    for (let i = 0; i < 3; i++) expect(await statusOf(sim)).toBe(200);
    const limited = await post(sim, '/chat/completions', CHAT);
    expect(limited.status).toBe(429);
    expect(limited.headers.get('x-ratelimit-limit-requests')).toBe('90');
    expect(limited.headers.get('x-ratelimit-remaining-requests')).toBe('0');
    // The rejection counted too, so the wait is for two slots.
    expect(limited.headers.get('retry-after-ms')).toBe('1334');
    clock.advance(1334);
    expect(await statusOf(sim)).toBe(200);
  });

  it('outage: mostly 5xx and some resets, then recovery', async () => {
    const sim = await simulator({ scenario: 'outage', seed: 3 });
    sim.setPhase('outage');
    const outcomes: Array<number | 'reset'> = [];
    for (let i = 0; i < 40; i++) outcomes.push(await statusOf(sim));
    const failures = outcomes.filter((outcome) => outcome !== 200);
    expect(failures.length).toBeGreaterThan(10);
    expect(failures.every((outcome) => outcome === 'reset' || (outcome as number) >= 500)).toBe(true);
    sim.setPhase('recovery');
    for (let i = 0; i < 5; i++) expect(await statusOf(sim)).toBe(200);
  });

  it(`mixed: ${OUTAGE_MODEL} is unavailable only in the outage phase`, async () => {
    const sim = await simulator({ scenario: 'mixed' });
    const openai = client(sim);
    const fourO = { ...CHAT, model: OUTAGE_MODEL };
    await expect(openai.chat.completions.create(fourO)).resolves.toBeTruthy();
    sim.setPhase('outage');
    for (let i = 0; i < 5; i++) {
      const error = await openai.chat.completions.create(fourO).catch((caught: unknown) => caught);
      expect(error).toBeInstanceOf(InternalServerError);
      expect((error as APIError).status).toBe(503);
    }
  });

  it(`quota: the default key runs dry (mid-stream too), ${FALLBACK_KEY} never does`, async () => {
    const sim = await simulator({ scenario: 'mixed' });
    sim.setPhase('quota');
    const openai = client(sim);
    const fallback = client(sim, { apiKey: FALLBACK_KEY });
    // 200 characters: 50 prompt tokens + 7 reply tokens a call.
    const request = { ...CHAT, messages: [{ role: 'user' as const, content: 'x'.repeat(200) }] };
    let midStream: unknown;
    let streamed = 0;
    for (let i = 0; i < 20 && midStream === undefined; i++) {
      const stream = await openai.chat.completions.create({ ...request, stream: true });
      try {
        for await (const _ of stream) streamed += 1;
      } catch (error) {
        midStream = error;
      }
    }
    expect(midStream).toBeInstanceOf(APIError);
    expect(midStream).toMatchObject({ code: 'insufficient_quota' });
    expect(streamed).toBeGreaterThan(0);

    const after = await openai.chat.completions.create(CHAT).catch((caught: unknown) => caught);
    expect(after).toBeInstanceOf(RateLimitError);
    expect(after).toMatchObject({ type: 'insufficient_quota', code: 'insufficient_quota' });
    // Well past what the phase allows any other key.
    for (let i = 0; i < 10; i++)
      await expect(fallback.chat.completions.create(request)).resolves.toBeTruthy();
  });

  it('a new visit to the quota phase brings a fresh budget', async () => {
    const sim = await simulator({ scenario: 'quota' });
    sim.setPhase('quota');
    const big = {
      ...CHAT,
      max_tokens: 200,
      messages: [{ role: 'user' as const, content: 'x'.repeat(1600) }],
    };
    expect(await statusOf(sim, big)).toBe(200);
    expect(await statusOf(sim, big)).toBe(429);
    sim.setPhase('quota');
    expect(await statusOf(sim, big)).toBe(200);
  });

  it('a scenario object can set limits, keys, models and stream pacing', async () => {
    const scenario: ScenarioDefinition = {
      name: 'custom',
      limits: { rpm: 42 },
      keys: { 'sk-vip': { limits: { rpm: 420 } } },
      unavailableModels: ['gpt-legacy'],
      streamChunkDelayMs: 0,
      phases: [{ name: 'only' }],
    };
    const sim = await simulator({ scenario });
    expect((await get(sim, '/models')).headers.get('x-ratelimit-limit-requests')).toBe('42');
    expect((await get(sim, '/models', 'sk-vip')).headers.get('x-ratelimit-limit-requests')).toBe('420');
    expect(await statusOf(sim, { ...CHAT, model: 'gpt-legacy' })).toBe(503);
    expect(sim.scenario.name).toBe('custom');
  });

  it('options override the scenario: limits, acceptAnyKey, extra faults', async () => {
    const sim = await simulator({
      scenario: 'steady',
      limits: { rpm: 7 },
      faults: [{ kind: '502', every: 2 }],
    });
    expect(await statusOf(sim)).toBe(200);
    expect(await statusOf(sim)).toBe(502);
    expect((await get(sim, '/models')).headers.get('x-ratelimit-limit-requests')).toBe('7');
    const strict = await simulator({ acceptAnyKey: false });
    const rejected = new OpenAI({ baseURL: strict.url, apiKey: 'sk-any', maxRetries: 0 });
    await expect(rejected.models.list()).rejects.toMatchObject({ status: 401 });
  });
});
