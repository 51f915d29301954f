/**
 * The fleet and redis-cost pacing suites: their report and goal logic on
 * fixed inputs, and a tiny fleet arm (2 real processes, a few calls each)
 * and a tiny cost run against the real simulator and a real redis-server.
 * Counts and structure only, never timings or goodput thresholds.
 */
import { describe, expect, test } from 'vitest';
import {
  FLEET_ARMS,
  FLEET_QUICK,
  type FleetResult,
  type FleetRun,
  fleetGoals,
  renderFleet,
  runFleetArm,
} from '../../scripts/bench/suites/fleet.ts';
import {
  type CostBlock,
  measureRedisCost,
  type RedisCostResult,
  redisCostGoals,
  renderRedisCost,
} from '../../scripts/bench/suites/redis-cost.ts';
import { SUITE_IDS } from '../../scripts/bench/suites.ts';
import { RedisServer, redisFound, redisServerPath } from '../helpers/redis-server.ts';

if (!redisFound) {
  throw new Error(
    `redis-server not found at ${redisServerPath}: run \`bash scripts/install-test-deps.sh\` (npm test runs it first) or set RETRYSCOPE_REDIS_SERVER`,
  );
}

const CONFIG = { ...FLEET_QUICK, rounds: 1, windowMs: 1000, sizes: [8] };

function fleetRun(arm: FleetRun['arm'], fields: Partial<FleetRun>): FleetRun {
  return {
    processes: 8,
    arm,
    round: 1,
    position: 0,
    windowMs: 1000,
    calls: 40,
    successes: 40,
    successesInWindow: 40,
    errors: {},
    latenciesMs: [10, 20, 30],
    server: {
      requests: 40,
      byRoute: {},
      byStatus: { '200': 40 },
      byKey: {},
      resets: 0,
      hangs: 0,
      streamErrors: 0,
    },
    warnings: [],
    storeDown: 0,
    timeline: [],
    lost: 0,
    ...fields,
  };
}

describe('fleet suite: report and goals', () => {
  // 20 req/s × 1 s + a 20-request bucket: 40 successes in the window is goodput 1.
  test('all three goals met at exactly the limit, no 429, no error', () => {
    const result: FleetResult = {
      config: CONFIG,
      runs: [
        fleetRun('redis', {
          redis: {
            scriptCalls: 40,
            commands: 41,
            keys: 1,
            keyBytes: [168],
            scriptBytes: 2168,
            luaVmBytes: 40960,
          },
        }),
      ],
    };
    const goals = fleetGoals(result);
    expect(goals.map((g) => g.met)).toEqual([true, true, true]);
    expect(goals[0]!.detail).toBe('measured 1.000');
    const text = renderFleet(result);
    expect(text.startsWith('## Processes on one key')).toBe(true);
    expect(text).toContain('| 8 | 80 | retryscope, Redis limiter | 40 | 1.00 |');
    expect(text).toContain('40 limiter-script calls');
    expect(text).toContain('168–168 bytes each');
    expect(text).toContain('the cached script (2168 bytes');
  });

  test('each goal misses on its own figure; an unreported worker is an error', () => {
    const result: FleetResult = {
      config: CONFIG,
      runs: [
        fleetRun('redis', {
          successesInWindow: 30,
          errors: { 'RateLimitError (deadline_exceeded)': 2 },
          calls: 42,
          server: {
            requests: 45,
            byRoute: {},
            byStatus: { '200': 40, '429': 5 },
            byKey: {},
            resets: 0,
            hangs: 0,
            streamErrors: 0,
          },
        }),
        fleetRun('local', {}),
      ],
    };
    const [goodput, per429, errors] = fleetGoals(result);
    expect(goodput).toMatchObject({ met: false, detail: 'measured 0.750' });
    expect(per429).toMatchObject({ met: false, detail: 'measured 0.125 (5 429s, 40 successes)' });
    expect(errors!.met).toBe(false);
    expect(errors!.detail).toContain('RateLimitError (deadline_exceeded) 2');
    const lost = fleetGoals({ config: CONFIG, runs: [fleetRun('redis', { lost: 1 })] })[2]!;
    expect(lost.met).toBe(false);
    // Goals speak of 8 processes with Redis only: other runs give none.
    expect(fleetGoals({ config: CONFIG, runs: [fleetRun('local', {})] })).toEqual([]);
  });
});

describe('redis-cost suite: report and goals', () => {
  const block = (arm: CostBlock['arm'], round: number, p99Us: number, cpu: number): CostBlock => ({
    arm,
    round,
    position: 0,
    calls: 100,
    p50Us: 300,
    p99Us,
    wallUsPerCall: 400,
    cpuUsPerCall: cpu,
    redisCpuUsPerCall: arm === 'redis' ? 12 : 2,
    scriptCalls: arm === 'redis' ? 100 : 0,
  });
  const result = (redisP99Us: number): RedisCostResult => ({
    config: { rounds: 2, callsPerBlock: 100, warmup: 10 },
    arms: [
      { id: 'local', label: 'local', p50Us: 300, p90Us: 500, p99Us: 1000 },
      { id: 'redis', label: 'redis', p50Us: 450, p90Us: 700, p99Us: redisP99Us },
    ],
    blocks: [
      block('local', 1, 1000, 200),
      block('redis', 1, redisP99Us, 260),
      block('local', 2, 1000, 220),
      block('redis', 2, redisP99Us, 280),
    ],
    warnings: [],
  });

  test('met at exactly 1 ms added at p99, not met above; CPU and server CPU are the differences of medians', () => {
    const [met] = redisCostGoals(result(2000));
    expect(met!.met).toBe(true);
    expect(met!.detail).toBe(
      'measured +1.000 ms p99 (1.000 → 2.000 ms), +0.150 ms p50; +60 µs client CPU per call (210 → 270 µs), and 10.0 µs of redis-server CPU per call',
    );
    expect(redisCostGoals(result(2001))[0]!.met).toBe(false);
    const text = renderRedisCost(result(2000));
    expect(text.startsWith('## Redis cost per call')).toBe(true);
    expect(text).toContain('1.00 limiter-script calls');
    expect(text).toContain('No call fell back');
  });
});

describe('the suites against a real simulator and redis-server', () => {
  test('both are registered', () => {
    expect(SUITE_IDS).toEqual(expect.arrayContaining(['fleet', 'redis-cost']));
  });

  test.each(FLEET_ARMS.map((a) => a.id))(
    'a tiny fleet arm (%s): 2 processes × 2 callers × 3 calls, all reported and counted',
    { timeout: 120_000 },
    async (arm) => {
      const redis = arm === 'redis' ? await new RedisServer().start() : undefined;
      try {
        const run = await runFleetArm({
          processes: 2,
          arm,
          config: { ...FLEET_QUICK, callersPerProcess: 2, windowMs: 60_000 },
          round: 1,
          position: 0,
          ...(redis ? { redisUrl: redis.url } : {}),
          maxCallsPerCaller: 3,
          redisTimeoutMs: 10_000,
        });
        expect(run.lost).toBe(0);
        expect(run.calls).toBe(12);
        const errors = Object.values(run.errors).reduce((a, b) => a + b, 0);
        expect(run.successes + errors).toBe(12);
        expect(run.latenciesMs).toHaveLength(run.successes);
        expect(run.server.requests).toBeGreaterThanOrEqual(run.successes);
        expect(run.timeline.at(-1)!.requests).toBe(run.server.requests);
        if (arm === 'redis') {
          // One bucket's hash, and the script booked sends (with a 10 s timeout no loaded machine falls back).
          expect(run.redis!.keys).toBe(1);
          expect(run.redis!.keyBytes[0]).toBeGreaterThan(0);
          expect(run.redis!.scriptCalls).toBeGreaterThan(0);
        } else {
          expect(run.redis).toBeUndefined();
        }
      } finally {
        await redis?.kill();
      }
    },
  );

  test('a tiny cost run: a block per client per round, only the redis client books with Redis', {
    timeout: 120_000,
  }, async () => {
    const result = await measureRedisCost({ rounds: 2, callsPerBlock: 5, warmup: 2 }, { log: () => {} });
    expect(result.blocks.map((b) => b.arm).sort()).toEqual(['local', 'local', 'redis', 'redis']);
    expect(result.blocks.map((b) => b.round)).toEqual([1, 1, 2, 2]);
    for (const b of result.blocks.filter((b) => b.arm === 'local')) expect(b.scriptCalls).toBe(0);
    for (const b of result.blocks.filter((b) => b.arm === 'redis'))
      expect(b.scriptCalls).toBeLessThanOrEqual(5);
    expect(result.arms.map((a) => a.id)).toEqual(['local', 'redis']);
    expect(redisCostGoals(result)).toHaveLength(1);
  });
});
