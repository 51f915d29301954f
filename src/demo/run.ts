import { setTimeout as sleep } from 'node:timers/promises';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { type IMetricReader, MeterProvider, MetricReader } from '@opentelemetry/sdk-metrics';
import type { ReadableSpan } from '@opentelemetry/sdk-trace';
import { type SpanProcessor, TracerProvider } from '@opentelemetry/sdk-trace';
import OpenAI from 'openai';
import { instrument, type RetryscopeOptions } from '../index.ts';
import { FALLBACK_KEY, NAMED_SCENARIOS } from '../simulator/index.ts';
import { mulberry32 } from '../simulator/random.ts';
import { startSimulator } from '../simulator/server.ts';
import type { NamedScenario, Simulator, SimulatorOptions } from '../simulator/types.ts';
import { demoTelemetrySettings, type TelemetrySettings } from '../telemetry/env.ts';
import { otlpPipeline } from '../telemetry/pipeline.ts';
import { SpanCollector } from './collector.ts';
import type { ProgressState } from './progress.ts';
import { buildReport, type DemoReport, type ReportMeta } from './report.ts';
import { type PhasePlan, planPhases } from './schedule.ts';
import { type DemoClients, pickJob, runCalls } from './workload.ts';

export interface DemoOptions {
  durationSec: number;
  scenario: NamedScenario;
  seed: number;
  /** Most calls in flight at once. */
  concurrency: number;
  /** Where to export and the resource, from demoTelemetrySettings(); `undefined` = no export. */
  telemetry?: TelemetrySettings;
  /** Drive the real API with `apiKey` instead of the simulator. */
  real?: { apiKey: string };
  /** Simulator port; 0 = a free one. */
  port?: number;
  /**
   * Also send the calls of the first rate-limit phase through the same client
   * with `limiter: false`, against a simulator of their own, and report both.
   * Default true.
   */
  compareStorm?: boolean;
  /** Stops the run early (Ctrl-C); the report is then marked partial. */
  signal?: AbortSignal;
  /** Called a few times a second with running counts. */
  onProgress?: (state: ProgressState) => void;
  /** Called as each phase starts (`index` is 0-based). */
  onPhase?: (name: string, index: number, count: number) => void;
  /** Extra span processors and metric readers (tests compare them with the report). */
  spanProcessors?: SpanProcessor[];
  metricReaders?: IMetricReader[];
}

/** Reads metrics when asked: the report's view of the same meter provider that exports. */
class ReportReader extends MetricReader {
  protected override async onForceFlush(): Promise<void> {}
  protected override async onShutdown(): Promise<void> {}
}

/**
 * The library's defaults for attempts (so a call may show four), within a
 * budget a user would accept (12 s); a hang becomes a timeout within 2 s.
 */
export const DEMO_POLICY = {
  maxAttempts: 4,
  deadlineMs: 12_000,
  backoff: { initialMs: 250, maxMs: 4_000, jitter: 'full' },
  // The breaker's defaults, but 10 calls in its window rather than 20: a busy machine makes fewer
  // attempts on gpt-4o in the outage's window, and the down model's breaker must still open.
  circuitBreaker: { minimumCalls: 10 },
  // Far above what a run spends, so no call is refused: the budget gauges and panels have data,
  // the whole client's and each feature's (the workload tags every call with one).
  budget: [
    { usd: 100, per: 'day' },
    { usd: 20, per: 'day', tag: 'feature' },
  ],
  // A per-tag budget's tag must be allowed on the client it is set on.
  tagKeys: ['feature'],
} satisfies RetryscopeOptions;

/**
 * Room for steady traffic (about 4 calls a second per caller), so the storm
 * phase's cut to 15% is what bites: 6 requests a second, which even a loaded
 * machine's callers outrun, so the storm shows on any machine.
 */
export const DEMO_LIMITS = { rpm: 2_400, tpm: 2_000_000 };
const DEMO_KEY = 'sk-sim-demo';
const REAL_CALLS = 6;
const REAL_SPACING_MS = 750;

function simulatorOptions(options: DemoOptions): SimulatorOptions {
  return {
    scenario: options.scenario,
    seed: options.seed,
    durationMs: options.durationSec * 1000,
    limits: DEMO_LIMITS,
    acceptAnyKey: false,
    keys: { [DEMO_KEY]: {}, [FALLBACK_KEY]: { quotaTokens: Number.POSITIVE_INFINITY } },
  };
}

/** The three clients the workload calls through, all sharing one policy. */
function demoClients(
  base: ConstructorParameters<typeof OpenAI>[0],
  policy: RetryscopeOptions,
  simulated: boolean,
) {
  const main = instrument(new OpenAI(base), policy);
  const revoked = instrument(new OpenAI({ ...base, apiKey: 'sk-sim-revoked' }), policy);
  // gpt-4o is down during the outage and every key but one runs dry in the quota phase: fallbacks show both.
  const resilient = instrument(new OpenAI(base), {
    ...policy,
    fallbacks: [
      { model: 'gpt-4o-mini' },
      ...(simulated ? [{ client: new OpenAI({ ...base, apiKey: FALLBACK_KEY }), model: 'gpt-4o-mini' }] : []),
    ],
  });
  return { main, revoked, resilient } satisfies DemoClients;
}

function realPlan(seed: number): PhasePlan[] {
  const random = mulberry32(seed);
  const calls = Array.from({ length: REAL_CALLS }, (_, k) => ({
    job: pickJob(random).name,
    atMs: k * REAL_SPACING_MS,
  }));
  return [{ name: 'real', durationMs: REAL_CALLS * REAL_SPACING_MS, limitsScale: 1, inFlight: 1, calls }];
}

/**
 * The demo: a planned workload through `instrument(new OpenAI(...))` against
 * the chaos simulator (or the real API), phase by phase, with telemetry
 * exported and the report computed from that same telemetry.
 */
export async function runDemo(options: DemoOptions): Promise<DemoReport> {
  const collector = new SpanCollector();
  const reportReader = new ReportReader();
  const telemetry = options.telemetry ?? demoTelemetrySettings({ otlp: false });
  // The sampler thins what is exported only: the report counts every span.
  const otlp = otlpPipeline(telemetry, { sampleExport: true });
  const resource = telemetry.resource;
  const tracerProvider = new TracerProvider({
    resource,
    spanProcessors: [collector, ...otlp.spanProcessors, ...(options.spanProcessors ?? [])],
  });
  const meterProvider = new MeterProvider({
    resource,
    readers: [reportReader, ...otlp.metricReaders, ...(options.metricReaders ?? [])],
  });

  const plans = options.real
    ? realPlan(options.seed)
    : planPhases(NAMED_SCENARIOS[options.scenario], {
        durationMs: options.durationSec * 1000,
        seed: options.seed,
        concurrency: options.concurrency,
        rpm: DEMO_LIMITS.rpm,
      });
  const plannedSec = options.real ? REAL_CALLS * (REAL_SPACING_MS / 1000) : options.durationSec;
  const simulator = options.real
    ? undefined
    : await startSimulator({ ...simulatorOptions(options), port: options.port ?? 0 });

  const started = Date.now();
  const stop = new AbortController();
  const onAbort = () => stop.abort();
  options.signal?.addEventListener('abort', onAbort, { once: true });
  let current = 0;
  const progress = (): ProgressState => ({
    tally: collector.tally,
    elapsedSec: (Date.now() - started) / 1000,
    totalSec: plannedSec,
    phase: plans[current]?.name ?? '',
    phaseIndex: current + 1,
    phaseCount: plans.length,
  });
  const ticker = setInterval(() => options.onProgress?.(progress()), 250);
  const phases: ReportMeta['phases'] = [];
  let storm: ReportMeta['storm'];
  try {
    const base = simulator
      ? { baseURL: simulator.url, apiKey: DEMO_KEY, timeout: 2_000, logLevel: 'off' as const }
      : { apiKey: options.real!.apiKey, timeout: 30_000, logLevel: 'off' as const };
    const policy: RetryscopeOptions = { ...DEMO_POLICY, tracerProvider, meterProvider };
    const clients = demoClients(base, policy, simulator !== undefined);
    const pause = (ms: number) => sleep(ms, undefined, { signal: stop.signal }).catch(() => {});

    for (const [index, plan] of plans.entries()) {
      if (stop.signal.aborted) break;
      current = index;
      // The demo, not the clock, moves the simulator on: only once the last phase's calls are done.
      collector.beginPhase(index);
      simulator?.setPhase(plan.name);
      options.onPhase?.(plan.name, index, plans.length);
      options.onProgress?.(progress());
      const phaseStarted = Date.now();
      const compare =
        simulator && storm === undefined && plan.limitsScale < 1 && options.compareStorm !== false;
      const [, unpaced] = await Promise.all([
        runCalls({
          clients,
          calls: plan.calls,
          concurrency: plan.inFlight,
          signal: stop.signal,
          now: Date.now,
          sleep: pause,
        }),
        compare ? runUnpaced(options, plan, stop.signal, pause) : undefined,
      ]);
      const spans = collector.byPhase[index] ?? [];
      phases.push({
        name: plan.name,
        plannedCalls: plan.calls.length,
        elapsedMs: Date.now() - phaseStarted,
        spans,
      });
      if (unpaced) storm = { phase: plan.name, calls: plan.calls.length, main: spans, unpaced };
    }
  } finally {
    clearInterval(ticker);
    options.signal?.removeEventListener('abort', onAbort);
    await simulator?.close();
  }
  options.onProgress?.(progress());

  const { resourceMetrics } = await reportReader.collect();
  const report = buildReport(
    collector.spans,
    resourceMetrics.scopeMetrics.flatMap((s) => s.metrics),
    {
      scenario: options.real ? 'real' : options.scenario,
      seed: options.seed,
      durationSec: plannedSec,
      elapsedSec: Math.round((Date.now() - started) / 100) / 10,
      partial: options.signal?.aborted ?? false,
      policy: { maxAttempts: DEMO_POLICY.maxAttempts, deadlineMs: DEMO_POLICY.deadlineMs },
      phases,
      ...(storm ? { storm } : {}),
    },
  );
  // Flush what is exported before returning; bounded so a dead collector cannot hold the demo.
  await Promise.race([
    Promise.all([tracerProvider.shutdown(), meterProvider.shutdown()]).catch(() => {}),
    sleep(5_000, undefined, { ref: false }),
  ]);
  return report;
}

/**
 * The same calls through the same client with `limiter: false`, against a
 * simulator of their own pinned to the same phase. Its spans stay in memory:
 * they are the report's comparison, not part of what the demo exports.
 */
async function runUnpaced(
  options: DemoOptions,
  plan: PhasePlan,
  signal: AbortSignal,
  pause: (ms: number) => Promise<void>,
): Promise<readonly ReadableSpan[]> {
  const collector = new SpanCollector();
  collector.beginPhase(0);
  const tracerProvider = new TracerProvider({
    resource: resourceFromAttributes({ 'service.name': 'retryscope-demo-unpaced' }),
    spanProcessors: [collector],
  });
  const meterProvider = new MeterProvider();
  let simulator: Simulator | undefined;
  try {
    simulator = await startSimulator({ ...simulatorOptions(options), port: 0 });
    simulator.setPhase(plan.name);
    const base = { baseURL: simulator.url, apiKey: DEMO_KEY, timeout: 2_000, logLevel: 'off' as const };
    const clients = demoClients(
      base,
      { ...DEMO_POLICY, limiter: false, tracerProvider, meterProvider },
      true,
    );
    await runCalls({
      clients,
      calls: plan.calls,
      concurrency: plan.inFlight,
      signal,
      now: Date.now,
      sleep: pause,
    });
  } finally {
    await simulator?.close();
    await Promise.all([tracerProvider.shutdown(), meterProvider.shutdown()]).catch(() => {});
  }
  return collector.spans;
}
