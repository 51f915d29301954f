/**
 * Limits per model within one key, as OpenAI scopes them: a model listed in
 * `modelLimits` has buckets of its own, its answers' x-ratelimit-* headers
 * describe them, and models not listed share the key's. Driven through the
 * official SDK over loopback, on a fake clock so the buckets do not refill.
 */
import OpenAI from 'openai';
import { describe, expect, test } from 'vitest';
import { ScenarioValidationError, validateScenario } from '../../src/simulator/scenario-schema.ts';
import type { ScenarioDefinition, SimulatorOptions } from '../../src/simulator/types.ts';
import { CHAT, client, FakeClock, simulator } from './helpers.ts';

const scenario = (extra: Partial<ScenarioDefinition> = {}): ScenarioDefinition => ({
  name: 'models',
  limits: { rpm: 600, tpm: 1_000_000 },
  loop: false,
  phases: [{ name: 'healthy' }],
  ...extra,
});

async function start(options: SimulatorOptions) {
  const sim = await simulator({ clock: new FakeClock(), ...options });
  return { sim, sdk: client(sim) };
}

/** Status and rate-limit headers of one chat call for `model`. */
async function ask(sdk: OpenAI, model: string) {
  try {
    const { response } = await sdk.chat.completions.create({ ...CHAT, model }).withResponse();
    return { status: response.status, headers: response.headers };
  } catch (error) {
    if (!(error instanceof OpenAI.APIError)) throw error;
    return { status: error.status, headers: error.headers ?? new Headers() };
  }
}

const limitOf = (h: Headers) => h.get('x-ratelimit-limit-requests');
const remainingOf = (h: Headers) => h.get('x-ratelimit-remaining-requests');

describe('per-model limits', () => {
  test('a listed model spends its own bucket and its headers describe it; others share the key’s', async () => {
    const { sdk } = await start({ scenario: scenario({ modelLimits: { 'gpt-4o': { rpm: 3 } } }) });
    const big = [];
    for (let i = 0; i < 4; i++) big.push(await ask(sdk, 'gpt-4o'));
    expect(big.map((r) => r.status)).toEqual([200, 200, 200, 429]);
    expect(big.map((r) => limitOf(r.headers))).toEqual(['3', '3', '3', '3']);
    expect(big.slice(0, 3).map((r) => remainingOf(r.headers))).toEqual(['2', '1', '0']);
    // The field left out (tpm) comes from the key's limits.
    expect(big[0]!.headers.get('x-ratelimit-limit-tokens')).toBe('1000000');

    // gpt-4o's empty bucket is not the key's: unlisted models still have all of theirs, together.
    const mini = await ask(sdk, 'gpt-4o-mini');
    expect(mini.status).toBe(200);
    expect(limitOf(mini.headers)).toBe('600');
    expect(remainingOf(mini.headers)).toBe('599');
    const other = await ask(sdk, 'gpt-4.1');
    expect(limitOf(other.headers)).toBe('600');
    expect(remainingOf(other.headers)).toBe('598');
  });

  test('each key has its own bucket per model; a key’s own entry wins over the scenario’s and the options’', async () => {
    const { sim } = await start({
      scenario: scenario({
        modelLimits: { 'gpt-4o': { rpm: 2, tpm: 50_000 } },
        keys: { 'sk-small': { modelLimits: { 'gpt-4o': { rpm: 1 } } } },
      }),
      modelLimits: { 'gpt-4o': { rpm: 4 } },
    });
    const small = client(sim, { apiKey: 'sk-small' });
    const other = client(sim, { apiKey: 'sk-other' });
    const a = await ask(small, 'gpt-4o');
    expect([a.status, limitOf(a.headers), a.headers.get('x-ratelimit-limit-tokens')]).toEqual([
      200,
      '1',
      '50000',
    ]);
    expect((await ask(small, 'gpt-4o')).status).toBe(429);
    // The options' entry overrides the scenario's rpm; its tpm stays.
    const b = await ask(other, 'gpt-4o');
    expect([b.status, limitOf(b.headers), remainingOf(b.headers)]).toEqual([200, '4', '3']);
    expect(b.headers.get('x-ratelimit-limit-tokens')).toBe('50000');
  });

  test('a phase scales a model’s own limits too', async () => {
    const { sdk } = await start({
      scenario: scenario({
        modelLimits: { 'gpt-4o': { rpm: 10 } },
        phases: [{ name: 'storm', limitsScale: 0.2 }],
      }),
    });
    const r = await ask(sdk, 'gpt-4o');
    expect(limitOf(r.headers)).toBe('2');
  });

  test('a 429 fault advertises an empty bucket, the bucket as it is, or no headers', async () => {
    const faulty = (advertise?: 'empty' | 'actual' | 'none') =>
      start({
        scenario: scenario({
          phases: [
            { name: 'hiccup', faults: [{ kind: '429', every: 1, ...(advertise ? { advertise } : {}) }] },
          ],
        }),
      });
    const empty = await ask((await faulty()).sdk, 'gpt-4o-mini');
    const actual = await ask((await faulty('actual')).sdk, 'gpt-4o-mini');
    const none = await ask((await faulty('none')).sdk, 'gpt-4o-mini');
    expect([empty.status, actual.status, none.status]).toEqual([429, 429, 429]);
    expect(remainingOf(empty.headers)).toBe('0');
    expect(remainingOf(actual.headers)).toBe('600');
    expect(limitOf(none.headers)).toBeNull();
    for (const r of [empty, actual, none]) expect(r.headers.get('retry-after-ms')).toBe('20');
  });
});

describe('per-model limits in scenario files', () => {
  test('are validated with the field named', () => {
    const bad = (value: unknown) => {
      try {
        validateScenario(value, 'test.yaml');
      } catch (error) {
        expect(error).toBeInstanceOf(ScenarioValidationError);
        return (error as ScenarioValidationError).issues.map((i) => i.path);
      }
      throw new Error('accepted');
    };
    expect(bad(scenario({ modelLimits: { 'gpt-4o': { rpm: -1 } } }))).toEqual(['modelLimits.gpt-4o.rpm']);
    expect(bad({ ...scenario(), modelLimits: { 'gpt-4o': { rps: 1 } } })).toEqual(['modelLimits.gpt-4o.rps']);
    expect(bad({ ...scenario(), keys: { k: { modelLimits: [] } } })).toEqual(['keys.k.modelLimits']);
    expect(
      bad({ ...scenario(), phases: [{ name: 'p', faults: [{ kind: '503', every: 1, advertise: 'none' }] }] }),
    ).toEqual(['phases[0].faults[0].advertise']);
    const ok = validateScenario(
      scenario({ modelLimits: { 'gpt-4o': { rpm: 5 } }, keys: { k: { modelLimits: { o3: { tpm: 9 } } } } }),
    );
    expect(ok.modelLimits).toEqual({ 'gpt-4o': { rpm: 5 } });
    expect(ok.keys?.k?.modelLimits).toEqual({ o3: { tpm: 9 } });
  });
});
