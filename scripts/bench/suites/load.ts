/**
 * What the pacing suites share: the three clients they compare, and one
 * arm-run of closed-loop crowds (each crowd a model, all through one client)
 * against a fresh simulator. Requests and 429s are counted per model at the
 * client's `fetch`, so the plain SDK's hidden retries are counted too; the
 * simulator's own totals are kept alongside as a check.
 */
import { performance } from 'node:perf_hooks';
import OpenAI from 'openai';
import { instrument } from '../../../src/index.ts';
import { type SimulatorOptions, type SimulatorStats, startSimulator } from '../../../src/simulator/index.ts';
import { API_KEY } from '../arms.ts';
import { errorLabel, REQUEST, rotate } from '../harness.ts';
import { fixed } from '../report.ts';
import { addCounts } from '../stats.ts';

type Fetch = typeof fetch;

export interface SuiteArm {
  id: string;
  label: string;
  /** The settings, as the report prints them. */
  settings(deadlineMs: number): string;
  /** A fresh client for one arm-run whose requests go through `fetch`. */
  create(baseURL: string, fetch: Fetch, deadlineMs: number): OpenAI;
}

/** Attempts are bounded by the deadline, not by a count. */
const MAX_ATTEMPTS = 1000;

function sdk(baseURL: string, fetch: Fetch, maxRetries?: number): OpenAI {
  return new OpenAI({ baseURL, apiKey: API_KEY, fetch, ...(maxRetries === undefined ? {} : { maxRetries }) });
}

export const SUITE_ARMS: readonly SuiteArm[] = [
  {
    id: 'openai-r2',
    label: 'openai, maxRetries 2 (default)',
    settings: () => '`new OpenAI({ maxRetries: 2 })`, the SDK as it ships',
    create: (url, f) => sdk(url, f, 2),
  },
  {
    id: 'rs-nolimiter',
    label: 'retryscope, limiter off',
    settings: (d) =>
      `\`instrument(new OpenAI(), { limiter: false, deadlineMs: ${d}, maxAttempts: ${MAX_ATTEMPTS} })\``,
    create: (url, f, d) =>
      instrument(sdk(url, f), { limiter: false, deadlineMs: d, maxAttempts: MAX_ATTEMPTS }),
  },
  {
    id: 'rs-default',
    label: 'retryscope, defaults',
    settings: (d) =>
      `\`instrument(new OpenAI(), { deadlineMs: ${d}, maxAttempts: ${MAX_ATTEMPTS} })\`: the limiter at its defaults (a bucket per model, cold-start probes, the header-believing cut)`,
    create: (url, f, d) => instrument(sdk(url, f), { deadlineMs: d, maxAttempts: MAX_ATTEMPTS }),
  },
];

export function suiteArms(ids: readonly string[]): SuiteArm[] {
  return ids.map((id) => SUITE_ARMS.find((a) => a.id === id)!);
}

/** One model's figures in one arm-run. */
export interface ModelRun {
  calls: number;
  successes: number;
  successesInWindow: number;
  /** ms from the load's start to each success. */
  successTimesMs: number[];
  errors: Record<string, number>;
  /** Requests sent for this model (at the client's fetch), and the 429s among their answers. */
  requests: number;
  rejected429: number;
}

export interface LoadRun {
  arm: string;
  round: number;
  position: number;
  windowMs: number;
  models: Record<string, ModelRun>;
  server: SimulatorStats;
  /** From the load's start until every call had settled. */
  wallMs: number;
  /** Calls the safety cap aborted (0 unless something hung). */
  cutOff: number;
  /** ms from just before the simulator started (its phase clock's zero) to the load's start. */
  leadMs: number;
}

export interface Crowd {
  model: string;
  callers: number;
}

export interface LoadSpec {
  simulator: SimulatorOptions;
  crowds: readonly Crowd[];
  windowMs: number;
  deadlineMs: number;
}

const SAFETY_MARGIN_MS = 30_000;
const MODEL_FIELD = /"model"\s*:\s*"([^"]*)"/;

function emptyModel(): ModelRun {
  return {
    calls: 0,
    successes: 0,
    successesInWindow: 0,
    successTimesMs: [],
    errors: {},
    requests: 0,
    rejected429: 0,
  };
}

/**
 * Every caller of every crowd starts at once and makes its next call as soon
 * as the last one ended, until the window closes; then every call is awaited.
 */
export async function runLoad(
  spec: LoadSpec,
  arm: SuiteArm,
  place: { round: number; position: number },
): Promise<LoadRun> {
  const before = performance.now();
  const sim = await startSimulator(spec.simulator);
  const models: Record<string, ModelRun> = {};
  for (const crowd of spec.crowds) models[crowd.model] = emptyModel();
  const counting: Fetch = async (input, init) => {
    const model = typeof init?.body === 'string' ? MODEL_FIELD.exec(init.body)?.[1] : undefined;
    const counts = model === undefined ? undefined : models[model];
    if (counts) counts.requests++;
    const response = await fetch(input, init);
    if (counts && response.status === 429) counts.rejected429++;
    return response;
  };
  const safety = new AbortController();
  let cutOff = 0;
  try {
    const client = arm.create(sim.url, counting, spec.deadlineMs);
    const t0 = performance.now();
    const cap = setTimeout(() => safety.abort(), spec.windowMs + spec.deadlineMs + SAFETY_MARGIN_MS);
    const call = async (model: string, counts: ModelRun) => {
      counts.calls++;
      try {
        await client.chat.completions.create({ ...REQUEST, model }, { signal: safety.signal });
        const t = performance.now() - t0;
        counts.successes++;
        counts.successTimesMs.push(t);
        if (t < spec.windowMs) counts.successesInWindow++;
      } catch (error) {
        if (safety.signal.aborted) cutOff++;
        addCounts(counts.errors, { [errorLabel(error)]: 1 });
      }
    };
    const worker = async (model: string) => {
      const counts = models[model]!;
      while (!safety.signal.aborted && performance.now() - t0 < spec.windowMs) await call(model, counts);
    };
    await Promise.all(spec.crowds.flatMap((c) => Array.from({ length: c.callers }, () => worker(c.model))));
    clearTimeout(cap);
    return {
      arm: arm.id,
      round: place.round,
      position: place.position,
      windowMs: spec.windowMs,
      models,
      server: sim.stats(),
      wallMs: performance.now() - t0,
      cutOff,
      leadMs: t0 - before,
    };
  } finally {
    await sim.close();
  }
}

/** Runs `arms` once per round, their order rotated by `offset + round`; `spec` may differ per round. */
export async function interleave<T extends { arm: string }>(
  arms: readonly SuiteArm[],
  rounds: number,
  offset: number,
  one: (arm: SuiteArm, round: number, position: number) => Promise<T>,
  log: (line: string) => void,
  describeRun: (run: T) => string,
): Promise<T[]> {
  const out: T[] = [];
  for (let round = 1; round <= rounds; round++) {
    const order = rotate(arms, offset + round - 1);
    for (const [position, arm] of order.entries()) {
      const run = await one(arm, round, position);
      out.push(run);
      log(`  round ${round} ${arm.id.padEnd(12)} ${describeRun(run)}`);
      // A breath between runs: sockets close and timers of the last client run out.
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
  return out;
}

/** Sum of every error count. */
export function errorCount(errors: Readonly<Record<string, number>>): number {
  return Object.values(errors).reduce((a, b) => a + b, 0);
}

/** Merges the error counts of several runs. */
export function mergeErrors(list: readonly Readonly<Record<string, number>>[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const errors of list) addCounts(out, errors);
  return out;
}

/** An errors cell: 0, or the count in bold with each label. */
export function errorsCell(errors: Readonly<Record<string, number>>): string {
  const total = errorCount(errors);
  if (total === 0) return '0';
  const parts = Object.entries(errors)
    .sort((a, b) => b[1] - a[1])
    .map(([label, n]) => `${label} ${n}`);
  return `**${total}**: ${parts.join('<br>')}`;
}

/** A model's limit as the simulator enforces it: `rpm`, in a bucket of `burstMs` of it. */
export interface ModelLimit {
  model: string;
  rpm: number;
  burstMs: number;
}

/** The most successes the server could admit in a window: its full bucket, then the refill. */
export function admissibleFor(limit: ModelLimit, windowMs: number): number {
  const bucket = Math.max(1, (limit.rpm * Math.min(limit.burstMs, 60_000)) / 60_000);
  return (limit.rpm / 60) * (windowMs / 1000) + bucket;
}

/** Settled goodput counts successes from this far into the window: past the cold start and the initial bucket. */
export const SETTLE_MS = 2000;

/** One client's figures for one model, pooled over rounds. */
export interface CrowdRow {
  arm: string;
  model: string;
  rpm: number;
  calls: number;
  successes: number;
  /** Successes in the windows over what the server could admit in them. */
  goodput: number;
  goodputByRound: number[];
  /** Successes from SETTLE_MS to the window's end over the model's rate in that time: pacing once running. */
  settledGoodput: number;
  requests: number;
  rejected429: number;
  per429Success: number;
  errors: Record<string, number>;
}

export function crowdRows(
  runs: readonly LoadRun[],
  armIds: readonly string[],
  limits: readonly ModelLimit[],
): CrowdRow[] {
  const out: CrowdRow[] = [];
  for (const arm of armIds) {
    const mine = runs.filter((r) => r.arm === arm).sort((a, b) => a.round - b.round);
    if (mine.length === 0) continue;
    for (const limit of limits) {
      const per = mine.map((r) => ({ run: r, m: r.models[limit.model] ?? emptyModel() }));
      const total = (pick: (m: ModelRun) => number) => per.reduce((n, p) => n + pick(p.m), 0);
      const successes = total((m) => m.successes);
      const rejected429 = total((m) => m.rejected429);
      const allowed = per.reduce((n, p) => n + admissibleFor(limit, p.run.windowMs), 0);
      const later = per.reduce(
        (n, p) => n + p.m.successTimesMs.filter((t) => t >= SETTLE_MS && t < p.run.windowMs).length,
        0,
      );
      const laterAllowed = per.reduce(
        (n, p) => n + ((limit.rpm / 60) * Math.max(0, p.run.windowMs - SETTLE_MS)) / 1000,
        0,
      );
      out.push({
        arm,
        model: limit.model,
        rpm: limit.rpm,
        calls: total((m) => m.calls),
        successes,
        goodput: total((m) => m.successesInWindow) / allowed,
        goodputByRound: per.map((p) => p.m.successesInWindow / admissibleFor(limit, p.run.windowMs)),
        settledGoodput: laterAllowed > 0 ? later / laterAllowed : Number.NaN,
        requests: total((m) => m.requests),
        rejected429,
        per429Success: successes > 0 ? rejected429 / successes : Number.POSITIVE_INFINITY,
        errors: mergeErrors(per.map((p) => p.m.errors)),
      });
    }
  }
  return out;
}

export function renderCrowdTable(rows: readonly CrowdRow[], label: (arm: string) => string): string {
  const lines = [
    `| Client | Model | Limit RPM | Calls | Goodput × its limit (per round) | From ${SETTLE_MS / 1000} s on | Requests | 429s | 429s / success | Errors surfaced to callers |`,
    '| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |',
  ];
  for (const r of rows) {
    const rounds =
      r.goodputByRound.length > 1 ? ` (${r.goodputByRound.map((g) => fixed(g)).join(', ')})` : '';
    lines.push(
      `| ${label(r.arm)} | \`${r.model}\` | ${r.rpm} | ${r.calls} | ${fixed(r.goodput)}${rounds} | ${fixed(r.settledGoodput)} | ${r.requests} | ${r.rejected429} | ${fixed(r.per429Success, 3)} | ${errorsCell(r.errors)} |`,
    );
  }
  return lines.join('\n');
}

/** Per arm-run detail: position, per model successes (in window), requests and 429s, wall time. */
export function renderRunDetail(runs: readonly LoadRun[], limits: readonly ModelLimit[]): string {
  const lines = [
    '| Round | Position | Client | Model | Successes (in window) | Goodput | Requests | 429s | Errors | Server requests / 429s (all models) | Wall s |',
    '| ---: | ---: | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
  ];
  for (const run of runs) {
    for (const limit of limits) {
      const m = run.models[limit.model] ?? emptyModel();
      lines.push(
        `| ${run.round} | ${run.position + 1} | ${run.arm} | \`${limit.model}\` | ${m.successes} (${m.successesInWindow}) | ${fixed(m.successesInWindow / admissibleFor(limit, run.windowMs), 3)} | ${m.requests} | ${m.rejected429} | ${errorCount(m.errors)} | ${run.server.requests} / ${run.server.byStatus['429'] ?? 0} | ${(run.wallMs / 1000).toFixed(1)} |`,
      );
    }
  }
  return lines.join('\n');
}

/** One progress line for a run: per model, successes in window, requests, 429s, errors. */
export function describeLoad(run: LoadRun): string {
  const parts = Object.entries(run.models).map(
    ([model, m]) =>
      `${model} ok ${m.successesInWindow}/${m.successes} req ${m.requests} 429 ${m.rejected429} err ${errorCount(m.errors)}`,
  );
  return `${parts.join(' | ')}  ${(run.wallMs / 1000).toFixed(1)} s`;
}
