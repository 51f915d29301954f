/**
 * Runs the arms against the scenarios: every arm-run gets a fresh simulator
 * (fresh buckets, fresh quota) and a fresh client, offers its load for the
 * window, then waits for every call it started to settle (each bounded: the
 * plain SDK by its retries, retryscope by its deadline, and all of them by a
 * safety cap that aborts what is left). Rounds repeat the whole set with the
 * arm order rotated, so machine noise falls on every arm alike.
 */
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import OpenAI from 'openai';
import { getAttemptHistory, isQuotaExhausted } from '../../src/index.ts';
import { type SimulatorStats, startSimulator } from '../../src/simulator/index.ts';
import { API_KEY, type Arm, arms as selectArms } from './arms.ts';
import type { BenchConfig } from './config.ts';
import { limitPerSec } from './config.ts';
import { type ScenarioSpec, scenarios as selectScenarios } from './scenarios.ts';

/** Every call asks for the same small chat completion. */
export const REQUEST = {
  model: 'gpt-4o-mini',
  messages: [{ role: 'user' as const, content: 'Benchmark: say hello.' }],
  max_completion_tokens: 16,
};

/** Past the window and the deadline, whatever is still running is aborted (and reported). */
const SAFETY_MARGIN_MS = 30_000;

export interface ArmRun {
  scenario: string;
  arm: string;
  round: number;
  /** 0-based place of this arm among the arms of its scenario in its round. */
  position: number;
  seed: number;
  windowMs: number;
  calls: number;
  successes: number;
  /** Successes whose call completed inside the load window. */
  successesInWindow: number;
  /** Failed calls by the error the caller got (class, and retryscope's outcome or the API's code). */
  errors: Record<string, number>;
  /** Calls that ended with insufficient_quota. */
  quotaExhaustedCalls: number;
  /** Successful calls: ms from the call's start to its result, queueing and retries included. */
  latenciesMs: number[];
  /** Successful calls: ms from the load's start to the result. */
  successTimesMs: number[];
  server: SimulatorStats;
  /** From the load's start until every call had settled. */
  wallMs: number;
  /** Calls the safety cap aborted (0 unless something hung). */
  cutOff: number;
}

export interface BenchResult {
  config: BenchConfig;
  scenarios: ScenarioSpec[];
  arms: Arm[];
  runs: ArmRun[];
  tokensPerCall: number;
  startedAt: Date;
  finishedAt: Date;
}

export type Progress = (run: ArmRun, done: number, total: number) => void;

/** What one successful call spends from the simulator's quota: read from a probe call's usage. */
export async function measureTokensPerCall(): Promise<number> {
  const sim = await startSimulator({ scenario: { name: 'probe', phases: [{ name: 'probe' }] } });
  try {
    const client = new OpenAI({ baseURL: sim.url, apiKey: API_KEY, maxRetries: 0 });
    const reply = await client.chat.completions.create(REQUEST);
    const total = reply.usage?.total_tokens;
    if (!total || total <= 0) throw new Error('bench: the probe call reported no token usage');
    return total;
  } finally {
    await sim.close();
  }
}

/** The label a failed call is counted under. */
export function errorLabel(error: unknown): string {
  const name =
    error !== null && typeof error === 'object' ? (error.constructor?.name ?? 'Object') : typeof error;
  const outcome = getAttemptHistory(error)?.outcome;
  if (outcome) return `${name} (${outcome})`;
  const code = error instanceof OpenAI.APIError ? error.code : undefined;
  return code ? `${name} (${code})` : name;
}

export function isQuotaError(error: unknown): boolean {
  return (
    isQuotaExhausted(error) || (error instanceof OpenAI.RateLimitError && error.code === 'insufficient_quota')
  );
}

/** One arm against one scenario, on a fresh simulator. */
export async function runArm(
  scenario: ScenarioSpec,
  arm: Arm,
  config: BenchConfig,
  options: { round: number; position: number; seed: number; tokensPerCall: number },
): Promise<ArmRun> {
  const sim = await startSimulator(scenario.simulator(config, options.seed, options.tokensPerCall));
  const safety = new AbortController();
  const run: ArmRun = {
    scenario: scenario.id,
    arm: arm.id,
    round: options.round,
    position: options.position,
    seed: options.seed,
    windowMs: config.windowMs,
    calls: 0,
    successes: 0,
    successesInWindow: 0,
    errors: {},
    quotaExhaustedCalls: 0,
    latenciesMs: [],
    successTimesMs: [],
    server: sim.stats(),
    wallMs: 0,
    cutOff: 0,
  };
  try {
    const client = arm.create(sim.url, config);
    const t0 = performance.now();
    const cap = setTimeout(() => safety.abort(), config.windowMs + config.deadlineMs + SAFETY_MARGIN_MS);
    const call = async (): Promise<void> => {
      run.calls++;
      const started = performance.now();
      try {
        await client.chat.completions.create(REQUEST, { signal: safety.signal });
        const ended = performance.now();
        run.successes++;
        run.latenciesMs.push(ended - started);
        run.successTimesMs.push(ended - t0);
        if (ended - t0 < config.windowMs) run.successesInWindow++;
      } catch (error) {
        if (safety.signal.aborted) run.cutOff++;
        if (isQuotaError(error)) run.quotaExhaustedCalls++;
        const label = errorLabel(error);
        run.errors[label] = (run.errors[label] ?? 0) + 1;
      }
    };

    const inflight: Promise<void>[] = [];
    if (scenario.load.kind === 'open') {
      const rate = scenario.load.factor * limitPerSec(config);
      const count = Math.round((rate * config.windowMs) / 1000);
      const intervalMs = 1000 / rate;
      for (let i = 0; i < count && !safety.signal.aborted; i++) {
        const wait = t0 + i * intervalMs - performance.now();
        if (wait >= 1) await sleep(wait);
        inflight.push(call());
      }
    } else {
      const worker = async () => {
        // At most one call a millisecond: a bound that never binds on loopback with 20 ms answers.
        for (let i = 0; i < config.windowMs; i++) {
          if (safety.signal.aborted || performance.now() - t0 >= config.windowMs) break;
          await call();
        }
      };
      for (let i = 0; i < scenario.load.callers; i++) inflight.push(worker());
    }
    await Promise.all(inflight);
    clearTimeout(cap);
    run.wallMs = performance.now() - t0;
    run.server = sim.stats();
  } finally {
    await sim.close();
  }
  return run;
}

/** Every arm against every scenario, `config.rounds` times, arm order rotated each time. */
export async function runBench(config: BenchConfig, progress?: Progress): Promise<BenchResult> {
  const startedAt = new Date();
  const scenarioList = selectScenarios(config);
  const armList = selectArms(config);
  const tokensPerCall = await measureTokensPerCall();
  const runs: ArmRun[] = [];
  const total = config.rounds * scenarioList.length * armList.length;
  for (let round = 1; round <= config.rounds; round++) {
    const seed = config.seed + round - 1;
    for (const [s, scenario] of scenarioList.entries()) {
      const order = rotate(armList, round - 1 + s);
      for (const [position, arm] of order.entries()) {
        const run = await runArm(scenario, arm, config, { round, position, seed, tokensPerCall });
        runs.push(run);
        progress?.(run, runs.length, total);
        // A breath between runs: sockets close and timers of the last client run out.
        await sleep(100);
      }
    }
  }
  return {
    config,
    scenarios: scenarioList,
    arms: armList,
    runs,
    tokensPerCall,
    startedAt,
    finishedAt: new Date(),
  };
}

export function rotate<T>(items: readonly T[], by: number): T[] {
  if (items.length === 0) return [];
  const k = ((by % items.length) + items.length) % items.length;
  return [...items.slice(k), ...items.slice(0, k)];
}
