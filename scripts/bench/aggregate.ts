/**
 * From arm-runs to table rows: counts are summed over rounds, ratios are
 * pooled (total over total), latency percentiles are taken over every
 * successful call of every round, and goodput is also kept per round so
 * the spread shows.
 */
import { type BenchConfig, initialBucket, limitPerSec } from './config.ts';
import type { ArmRun, BenchResult } from './harness.ts';
import { addCounts, percentile, sum } from './stats.ts';

export interface Row {
  scenario: string;
  arm: string;
  runs: ArmRun[];
  calls: number;
  successes: number;
  errors: Record<string, number>;
  errorCount: number;
  /** Pooled: successes in the windows over what the server could admit in them. */
  goodput: number;
  goodputByRound: number[];
  serverRequests: number;
  attemptsPerSuccess: number;
  server429: number;
  per429Success: number;
  p50: number;
  p95: number;
  p99: number;
  quotaExhaustedCalls: number;
  /** Quota scenario: 429 insufficient_quota responses per call that ended with it. */
  attemptsPerQuotaCall: number | undefined;
  cutOff: number;
}

/** The most successes the server could admit in one window: the full bucket at the start, then the refill. */
export function admissible(config: BenchConfig, windowMs: number): number {
  return (limitPerSec(config) * windowMs) / 1000 + initialBucket(config);
}

export function rows(result: BenchResult): Row[] {
  const out: Row[] = [];
  for (const scenario of result.scenarios) {
    for (const arm of result.arms) {
      const runs = result.runs.filter((r) => r.scenario === scenario.id && r.arm === arm.id);
      if (runs.length === 0) continue;
      const errors: Record<string, number> = {};
      for (const r of runs) addCounts(errors, r.errors);
      const successes = sum(runs.map((r) => r.successes));
      const serverRequests = sum(runs.map((r) => r.server.requests));
      const server429 = sum(runs.map((r) => r.server.byStatus['429'] ?? 0));
      const latencies = runs.flatMap((r) => r.latenciesMs);
      const quotaExhaustedCalls = sum(runs.map((r) => r.quotaExhaustedCalls));
      const allowed = sum(runs.map((r) => admissible(result.config, r.windowMs)));
      out.push({
        scenario: scenario.id,
        arm: arm.id,
        runs,
        calls: sum(runs.map((r) => r.calls)),
        successes,
        errors,
        errorCount: sum(Object.values(errors)),
        goodput: sum(runs.map((r) => r.successesInWindow)) / allowed,
        goodputByRound: runs.map((r) => r.successesInWindow / admissible(result.config, r.windowMs)),
        serverRequests,
        attemptsPerSuccess: successes > 0 ? serverRequests / successes : Number.POSITIVE_INFINITY,
        server429,
        per429Success: successes > 0 ? server429 / successes : Number.POSITIVE_INFINITY,
        p50: percentile(latencies, 50),
        p95: percentile(latencies, 95),
        p99: percentile(latencies, 99),
        quotaExhaustedCalls,
        // Its limits are out of reach, so every 429 in the quota scenario is insufficient_quota.
        attemptsPerQuotaCall:
          scenario.id === 'quota' && quotaExhaustedCalls > 0 ? server429 / quotaExhaustedCalls : undefined,
        cutOff: sum(runs.map((r) => r.cutOff)),
      });
    }
  }
  return out;
}
