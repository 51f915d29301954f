/**
 * The pacing suites of `npm run bench` (two models on one key, cold start,
 * 429s that are not about load): their figures, goals and sections from
 * fixed inputs, and one tiny arm-run against the real simulator, checked for
 * counts and structure only (never speed: the machine may be loaded).
 */
import { describe, expect, test } from 'vitest';
import { coldStartSuite } from '../../scripts/bench/suites/cold-start.ts';
import { type CrowdResult, crowdSimulator } from '../../scripts/bench/suites/crowd-suite.ts';
import {
  type IsolatedResult,
  isolated429Suite,
  recoveryOf,
  throughputRatio,
} from '../../scripts/bench/suites/isolated-429.ts';
import { type LoadRun, type ModelRun, runLoad, suiteArms } from '../../scripts/bench/suites/load.ts';
import { modelsSuite } from '../../scripts/bench/suites/models.ts';
import { SUITE_IDS } from '../../scripts/bench/suites.ts';

const SERVER = { requests: 0, byRoute: {}, byStatus: {}, byKey: {}, resets: 0, hangs: 0, streamErrors: 0 };

function model(inWindow: number, extra: Partial<ModelRun> = {}): ModelRun {
  return {
    calls: inWindow,
    successes: inWindow,
    successesInWindow: inWindow,
    successTimesMs: [],
    errors: {},
    requests: inWindow,
    rejected429: 0,
    ...extra,
  };
}

function run(arm: string, round: number, models: Record<string, ModelRun>, windowMs = 8000): LoadRun {
  return {
    arm,
    round,
    position: 0,
    windowMs,
    models,
    server: SERVER,
    wallMs: windowMs,
    cutOff: 0,
    leadMs: 0,
  };
}

const ARMS = suiteArms(['openai-r2', 'rs-nolimiter', 'rs-default']).map((a) => ({
  id: a.id,
  label: a.label,
  settings: a.settings(10_000),
}));

/** Two models, 8 s windows: gpt-4o-mini may admit 25 × 8 + 25 = 225, gpt-4o 5 × 8 + 5 = 45. */
function modelsResult(runs: LoadRun[]): CrowdResult {
  return {
    quick: false,
    rounds: 2,
    windowMs: 8000,
    deadlineMs: 10_000,
    burstMs: 1000,
    models: [
      { model: 'gpt-4o-mini', rpm: 1500, callers: 25 },
      { model: 'gpt-4o', rpm: 300, callers: 25 },
    ],
    arms: ARMS,
    runs,
  };
}

describe('pacing suites', () => {
  test('are registered in report order', () => {
    expect(SUITE_IDS).toEqual(['models', 'cold-start', 'isolated-429', 'fleet', 'redis-cost']);
  });

  test('two models: goodput against each model’s own limit, pooled and per round; the goals per model', () => {
    const good = modelsResult([
      run('rs-default', 1, {
        'gpt-4o-mini': model(225, { rejected429: 2, requests: 227 }),
        // 15 successes in the first 2 s, then 30 over the 6 s after: the model's own 5/s.
        'gpt-4o': model(45, {
          successTimesMs: [
            ...Array.from({ length: 15 }, (_, i) => i * 100),
            ...Array.from({ length: 30 }, (_, i) => 2000 + i * 200),
          ],
        }),
      }),
      run('rs-default', 2, {
        'gpt-4o-mini': model(216),
        'gpt-4o': model(43, { rejected429: 1 }),
      }),
      run('openai-r2', 1, {
        'gpt-4o-mini': model(50, { rejected429: 300, errors: { 'RateLimitError (rate_limit_exceeded)': 7 } }),
        'gpt-4o': model(9),
      }),
    ]);
    const [goodput, per429] = modelsSuite.goals(good);
    expect(goodput).toMatchObject({ met: true });
    // (225 + 216) / 450 and (45 + 43) / 90.
    expect(goodput!.detail).toContain('`gpt-4o-mini` (1500 RPM) 0.980 (rounds: 1.000, 0.960)');
    expect(goodput!.detail).toContain('`gpt-4o` (300 RPM) 0.978 (rounds: 1.000, 0.956)');
    expect(per429).toMatchObject({ met: true });
    expect(per429!.detail).toContain('`gpt-4o-mini` 0.005 (2 429s, 441 successes)');

    const section = modelsSuite.render(good);
    expect(section.startsWith('## Two models on one key\n')).toBe(true);
    expect(section).toContain(
      // From 2 s on: 30 of round 1's 30 allowed, none of round 2's (its run kept no times).
      '| retryscope, defaults | `gpt-4o` | 300 | 88 | 0.98 (1.00, 0.96) | 0.50 | 88 | 1 | 0.011 | 0 |',
    );
    expect(section).toContain('**7**: RateLimitError (rate_limit_exceeded) 7');
    // Arms that did not run have no rows.
    expect(section).not.toContain('| retryscope, limiter off |');

    // The slow model paced at the fast one's expense, or 429s on one model, fail the goals.
    const slow = modelsResult([
      run('rs-default', 1, { 'gpt-4o-mini': model(225), 'gpt-4o': model(40, { rejected429: 3 }) }),
    ]);
    const [g2, p2] = modelsSuite.goals(slow);
    expect(g2).toMatchObject({ met: false });
    expect(p2).toMatchObject({ met: false });
    // No retryscope-defaults run, no goal to judge.
    expect(modelsSuite.goals(modelsResult([run('openai-r2', 1, {})]))).toEqual([]);
  });

  test('cold start: 429s per success against 0.02', () => {
    const result = (rejected429: number): CrowdResult => ({
      ...modelsResult([run('rs-default', 1, { 'gpt-4o-mini': model(100, { rejected429 }) }, 6000)]),
      models: [{ model: 'gpt-4o-mini', rpm: 600, callers: 40 }],
      burstMs: 500,
      windowMs: 6000,
    });
    const [met] = coldStartSuite.goals(result(2));
    expect(met).toMatchObject({ met: true });
    expect(met!.detail).toContain('0.020 (2 429s, 100 successes; goodput 1.538 × limit)');
    expect(coldStartSuite.goals(result(3))[0]).toMatchObject({ met: false });
    expect(coldStartSuite.render(result(3))).toContain(
      '## Cold start: 40 callers against a 5-request bucket',
    );
  });

  test('isolated 429s: the throughput ratio per round, and recovery read off the success times', () => {
    // Evenly spread successes; the first second (the cold start) is left out of the rate.
    const rate = (arm: string, round: number, perSec: number) => {
      const successTimesMs = Array.from({ length: perSec * 3 }, (_, i) => (i + 0.5) * (1000 / perSec));
      return run(arm, round, { 'gpt-4o-mini': model(perSec * 3, { successTimesMs }) }, 3000);
    };
    const variant = [
      rate('rs-nolimiter', 1, 100),
      rate('rs-default', 1, 95),
      rate('rs-nolimiter', 2, 100),
      rate('rs-default', 2, 75),
    ];
    const ratio = throughputRatio(variant);
    expect(ratio.byRound).toEqual([0.95, 0.75]);
    expect(ratio.pooled).toBeCloseTo(0.85, 10);

    // 100 successes/s before a storm from 4 s to 7 s, none during it, 50/s for 2 s after, then 100/s.
    const phasesMs = { pre: 4000, storm: 3000, post: 8000 };
    const times: number[] = [];
    const every = (from: number, to: number, gap: number) => {
      for (let t = from; t < to; t += gap) times.push(t + gap / 2);
    };
    every(0, 4000, 10);
    every(7000, 9000, 20);
    every(9000, 15_000, 10);
    const storm = run(
      'rs-default',
      1,
      { 'gpt-4o-mini': model(times.length, { successTimesMs: times }) },
      15_000,
    );
    const recovery = recoveryOf(storm, phasesMs);
    expect(recovery.preRate).toBe(100);
    expect(recovery.stormRate).toBe(0);
    // The first 500 ms window with 45 successes is 8.9–9.4 s (5 at 50/s, 40 at 100/s): back 2.4 s after the storm.
    expect(recovery.backAtMs).toBe(2400);
    expect(recovery.tailShare).toBe(1);
    // The simulator's clock started 200 ms before the load: its phases are that much earlier on the load's.
    expect(recoveryOf({ ...storm, leadMs: 200 }, phasesMs).backAtMs).toBe(2600);

    const result: IsolatedResult = {
      quick: true,
      rounds: 2,
      recoveryRounds: 1,
      windowMs: 3000,
      deadlineMs: 10_000,
      arms: ARMS,
      variants: { room: variant, bare: [rate('rs-nolimiter', 1, 100), rate('rs-default', 1, 92)] },
      recovery: { phasesMs, runs: [storm] },
    };
    const goals = isolated429Suite.goals(result);
    expect(goals.map((g) => g.met)).toEqual([false, true, true]);
    expect(goals[0]!.detail).toBe('measured 0.850 (rounds: 0.950, 0.750): 85 against 100 successes/s');
    expect(goals[2]!.detail).toBe('measured 2.40 s');
    const section = isolated429Suite.render(result);
    expect(section).toContain('### Recovery after a storm');
    expect(section).toContain('| 1 | retryscope, defaults | 100 | 0 | 2.40 s | 1.00 | 0 | 0 |');
    // A run that never gets back fails the recovery goal.
    const never = run(
      'rs-default',
      1,
      { 'gpt-4o-mini': model(400, { successTimesMs: times.slice(0, 400) }) },
      15_000,
    );
    expect(isolated429Suite.goals({ ...result, recovery: { phasesMs, runs: [never] } }).at(-1)).toMatchObject(
      { met: false, detail: 'measured never, in the run' },
    );
  });

  test('one arm-run against the real simulator: every call and request counted, per model', {
    timeout: 60_000,
  }, async () => {
    const models = [
      { model: 'gpt-4o-mini', rpm: 600, callers: 4 },
      { model: 'gpt-4o', rpm: 120, callers: 4 },
    ];
    const [arm] = suiteArms(['rs-default']);
    const result = await runLoad(
      {
        simulator: crowdSimulator(models, 1000, 600, 42),
        crowds: models,
        windowMs: 600,
        deadlineMs: 5000,
      },
      arm!,
      { round: 1, position: 0 },
    );
    expect(Object.keys(result.models).sort()).toEqual(['gpt-4o', 'gpt-4o-mini']);
    let requests = 0;
    let rejected = 0;
    for (const m of Object.values(result.models)) {
      const errors = Object.values(m.errors).reduce((a, b) => a + b, 0);
      expect(m.calls).toBeGreaterThan(0);
      expect(m.successes + errors).toBe(m.calls);
      expect(m.successTimesMs).toHaveLength(m.successes);
      expect(m.successesInWindow).toBeLessThanOrEqual(m.successes);
      expect(m.requests).toBeGreaterThanOrEqual(m.successes);
      requests += m.requests;
      rejected += m.rejected429;
    }
    // What the client's fetch counted is what the simulator received and refused.
    expect(requests).toBe(result.server.requests);
    expect(rejected).toBe(result.server.byStatus['429'] ?? 0);
    expect(result.cutOff).toBe(0);
    expect(result.leadMs).toBeGreaterThanOrEqual(0);
  });
});
