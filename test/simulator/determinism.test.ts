/** Same seed and same request order → same faults; another seed → others. */
import { describe, expect, it } from 'vitest';
import type { ScenarioDefinition } from '../../src/simulator/index.ts';
import { CHAT, simulator, statusOf } from './helpers.ts';

const CHAOS: ScenarioDefinition = {
  name: 'chaos',
  phases: [
    {
      name: 'chaos',
      faults: [
        { kind: '500', probability: 0.15 },
        { kind: '503', probability: 0.15, burst: 2 },
        { kind: 'reset', probability: 0.1 },
        { kind: 'too_large', probability: 0.05 },
        { kind: '401', probability: 0.3, routes: ['chat.completions'], models: ['gpt-4o'] },
      ],
    },
  ],
};

async function statuses(seed: number, latency = false): Promise<Array<number | 'reset'>> {
  const scenario: ScenarioDefinition = latency
    ? { ...CHAOS, phases: CHAOS.phases.map((phase) => ({ ...phase, latencyMs: { min: 0, max: 5 } })) }
    : CHAOS;
  const sim = await simulator({ scenario, seed, limits: { rpm: 100_000 } });
  const out: Array<number | 'reset'> = [];
  for (let i = 0; i < 60; i++) {
    const model = i % 3 === 0 ? 'gpt-4o' : 'gpt-4o-mini';
    out.push(await statusOf(sim, { ...CHAT, model }));
  }
  await sim.close();
  return out;
}

describe('fault determinism', () => {
  it('replays exactly for the same seed', async () => {
    const first = await statuses(42);
    const second = await statuses(42);
    expect(second).toEqual(first);
    // And the run really was chaotic, with every kind of outcome.
    expect(new Set(first)).toEqual(new Set([200, 500, 503, 'reset', 429, 401]));
  });

  it('differs for another seed', async () => {
    expect(await statuses(43)).not.toEqual(await statuses(42));
  });

  it('latency draws do not shift the fault decisions', async () => {
    expect(await statuses(42, true)).toEqual(await statuses(42));
  });
});
