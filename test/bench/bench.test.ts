/**
 * Keeps the benchmark harness from rotting: a tiny version of every
 * scenario with every client, checked for correctness only (never speed).
 * The arm-runs run side by side here, which a real benchmark must not do.
 */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, test } from 'vitest';
import { rows } from '../../scripts/bench/aggregate.ts';
import { ARMS } from '../../scripts/bench/arms.ts';
import { type BenchConfig, DEFAULT_CONFIG } from '../../scripts/bench/config.ts';
import {
  type ArmRun,
  type BenchResult,
  measureTokensPerCall,
  rotate,
  runArm,
  runBench,
} from '../../scripts/bench/harness.ts';
import { measureOverhead } from '../../scripts/bench/overhead.ts';
import { renderReport } from '../../scripts/bench/report.ts';
import { scenarios } from '../../scripts/bench/scenarios.ts';
import { renderChart, successSeries } from '../../scripts/bench/svg.ts';

const TINY: BenchConfig = {
  ...DEFAULT_CONFIG,
  rounds: 1,
  windowMs: 800,
  deadlineMs: 3000,
  closedCallers: 10,
};
const CLI = fileURLToPath(new URL('../../scripts/bench.ts', import.meta.url));
const sumErrors = (run: ArmRun) => Object.values(run.errors).reduce((a, b) => a + b, 0);

describe('benchmark harness', () => {
  test('every client completes every scenario, and the counts add up', { timeout: 120_000 }, async () => {
    const tokensPerCall = await measureTokensPerCall();
    expect(tokensPerCall).toBeGreaterThan(0);
    const scenarioList = scenarios(TINY);
    expect(scenarioList.map((s) => s.id)).toEqual([
      'steady-0.8x',
      'storm-1.5x',
      'storm-3x',
      'outage-503',
      'quota',
      'closed-50',
    ]);
    const runs = await Promise.all(
      scenarioList.flatMap((scenario) =>
        ARMS.map((arm, position) =>
          runArm(scenario, arm, TINY, { round: 1, position, seed: TINY.seed, tokensPerCall }),
        ),
      ),
    );
    expect(runs).toHaveLength(scenarioList.length * ARMS.length);
    for (const run of runs) {
      const where = `${run.scenario}/${run.arm}`;
      expect(run.calls, where).toBeGreaterThan(0);
      expect(run.successes + sumErrors(run), where).toBe(run.calls);
      expect(run.server.requests, where).toBeGreaterThanOrEqual(run.successes);
      expect(run.successesInWindow, where).toBeLessThanOrEqual(run.successes);
      expect(run.latenciesMs, where).toHaveLength(run.successes);
      expect(run.cutOff, where).toBe(0);
    }
    // Where the shipped quota scenario's line falls depends on how many calls are in flight when
    // the quota is charged, so a loaded machine can let every call through: the harness's quota
    // counting is checked on a key that is dry from the start, whatever the pacing.
    const quotaScenario = scenarioList.find((s) => s.id === 'quota')!;
    const dry = {
      ...quotaScenario,
      simulator: (c: BenchConfig, seed: number, perCall: number) => ({
        ...quotaScenario.simulator(c, seed, perCall),
        quotaTokens: 0,
      }),
    };
    const dryRuns = await Promise.all(
      ARMS.map((arm, position) =>
        runArm(dry, arm, TINY, { round: 1, position, seed: TINY.seed, tokensPerCall }),
      ),
    );
    for (const arm of ARMS) {
      const quota = dryRuns.find((r) => r.arm === arm.id)!;
      expect(quota.quotaExhaustedCalls, arm.id).toBe(quota.calls);
      // Limits are out of reach in the quota scenario: every 429 is insufficient_quota.
      const perCall = (quota.server.byStatus['429'] ?? 0) / quota.quotaExhaustedCalls;
      if (arm.kind === 'retryscope') expect(perCall, arm.id).toBe(1);
      else expect(perCall, arm.id).toBeGreaterThan(1);
    }

    const result: BenchResult = {
      config: TINY,
      scenarios: scenarioList,
      arms: [...ARMS],
      // The dry-key quota runs stand in for the shipped ones, for the same reason as above.
      runs: [...runs.filter((r) => r.scenario !== 'quota'), ...dryRuns],
      tokensPerCall,
      startedAt: new Date(),
      finishedAt: new Date(),
    };
    const table = rows(result);
    expect(table).toHaveLength(result.runs.length);
    for (const row of table.filter((r) => r.scenario === 'quota' && r.arm.startsWith('rs-')))
      expect(row.attemptsPerQuotaCall).toBe(1);
    const report = renderReport({
      result,
      machine: {
        cpu: 'test',
        cores: 2,
        memoryGb: 1,
        os: 'test',
        node: process.versions.node,
        openai: 'test',
        commit: 'test',
        loadAtStart: [0, 0, 0],
        loadAtEnd: [0, 0, 0],
      },
      command: 'test',
      quick: true,
      chartPath: 'docs/bench-storm-3x.svg',
    });
    expect(report).toContain('| Scenario | Client |');
    expect(report).toContain('## Goals');
    const svg = renderChart(successSeries(result, 'storm-3x'));
    expect(svg).toMatch(/^<svg /);
    expect(svg.match(/<polyline /g)).toHaveLength(ARMS.length);
    expect(svg).toContain('stroke-dasharray');
    expect(svg).toContain('<title');
  });

  test('rounds rotate the client order and run every pair', { timeout: 60_000 }, async () => {
    expect(rotate(['a', 'b', 'c'], 1)).toEqual(['b', 'c', 'a']);
    expect(rotate(['a', 'b', 'c'], 5)).toEqual(['c', 'a', 'b']);
    const result = await runBench({
      ...TINY,
      rounds: 2,
      windowMs: 300,
      scenarios: ['steady-0.8x'],
      arms: ['openai-r2', 'rs-default'],
    });
    expect(result.runs.map((r) => `${r.round}:${r.arm}`)).toEqual([
      '1:openai-r2',
      '1:rs-default',
      '2:rs-default',
      '2:openai-r2',
    ]);
  });

  test('the overhead measurement runs its server in a child process', { timeout: 60_000 }, async () => {
    const result = await measureOverhead({ calls: 20, rounds: 2, warmup: 5 });
    expect(result.arms.map((a) => a.id)).toEqual(['plain', 'bare', 'noop', 'sdk', 'spend']);
    for (const arm of result.arms) {
      expect(arm.cpuUsPerCall).toHaveLength(2);
      for (const v of arm.cpuUsPerCall) expect(v).toBeGreaterThan(0);
    }
    // 2 spans (operation + attempt) per call of each SDK arm (sdk, spend).
    expect(result.spansExported).toBe(2 * 2 * (5 + 2 * 20));
  });

  test('a bad flag is one clear line and exit code 1', () => {
    for (const args of [
      ['--bogus'],
      ['--rounds', '0'],
      ['--scenarios', 'nope'],
      ['--render', '/nonexistent/run.json'],
    ]) {
      const run = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', timeout: 30_000 });
      expect(run.status, args.join(' ')).toBe(1);
      expect(run.stdout).toBe('');
      expect(run.stderr.trim().split('\n'), args.join(' ')).toHaveLength(1);
      expect(run.stderr).toMatch(/^bench: /);
    }
  });
});
