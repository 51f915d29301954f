import { setTimeout as sleep } from 'node:timers/promises';
import { type IMetricReader, MeterProvider, MetricReader } from '@opentelemetry/sdk-metrics';
import { type SpanProcessor, TracerProvider } from '@opentelemetry/sdk-trace';
import OpenAI from 'openai';
import { instrument, type RetryscopeOptions } from '../index.ts';
import { FALLBACK_KEY } from '../simulator/index.ts';
import { startSimulator } from '../simulator/server.ts';
import type { NamedScenario } from '../simulator/types.ts';
import { demoTelemetrySettings, type TelemetrySettings } from '../telemetry/env.ts';
import { otlpPipeline } from '../telemetry/pipeline.ts';
import { SpanCollector, type Tally } from './collector.ts';
import { buildReport, type DemoReport } from './report.ts';
import { runWorkload } from './workload.ts';

export interface DemoOptions {
  durationSec: number;
  scenario: NamedScenario;
  seed: number;
  concurrency: number;
  /** Where to export and the resource, from telemetrySettings(); `undefined` = no export. */
  telemetry?: TelemetrySettings;
  /** Drive the real API with `apiKey` instead of the simulator. */
  real?: { apiKey: string };
  /** Simulator port; 0 = a free one. */
  port?: number;
  /** Stops the run early (Ctrl-C); the report is then marked partial. */
  signal?: AbortSignal;
  /** Called a few times a second with running counts. */
  onProgress?: (tally: Tally, elapsedSec: number) => void;
  /** Extra span processors and metric readers (tests compare them with the report). */
  spanProcessors?: SpanProcessor[];
  metricReaders?: IMetricReader[];
}

/** Reads metrics when asked: the report's view of the same meter provider that exports. */
class ReportReader extends MetricReader {
  protected override async onForceFlush(): Promise<void> {}
  protected override async onShutdown(): Promise<void> {}
}

// Calls retried within a budget a user would accept (three attempts, 12 s); a hang becomes a timeout within 2 s.
const DEMO_POLICY: RetryscopeOptions = {
  maxAttempts: 3,
  deadlineMs: 12_000,
  backoff: { initialMs: 250, maxMs: 4_000, jitter: 'full' },
};

/**
 * The demo: a concurrent workload through `instrument(new OpenAI(...))`
 * against the chaos simulator (or the real API), with telemetry exported and
 * the report computed from that same telemetry.
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

  const simulator = options.real
    ? undefined
    : await startSimulator({
        scenario: options.scenario,
        seed: options.seed,
        durationMs: options.durationSec * 1000,
        port: options.port ?? 0,
        // Generous enough for steady traffic, so the storm phase's cut to 15% is what bites.
        limits: { rpm: 6_000, tpm: 2_000_000 },
        acceptAnyKey: false,
        keys: { 'sk-sim-demo': {}, [FALLBACK_KEY]: { quotaTokens: Number.POSITIVE_INFINITY } },
      });

  const started = Date.now();
  const deadline = started + options.durationSec * 1000;
  const stop = new AbortController();
  const onAbort = () => stop.abort();
  options.signal?.addEventListener('abort', onAbort, { once: true });
  const ticker = setInterval(() => options.onProgress?.(collector.tally, (Date.now() - started) / 1000), 250);
  try {
    const base = simulator
      ? { baseURL: simulator.url, apiKey: 'sk-sim-demo', timeout: 2_000, logLevel: 'off' as const }
      : { apiKey: options.real!.apiKey, timeout: 30_000, logLevel: 'off' as const };
    const policy = { ...DEMO_POLICY, tracerProvider, meterProvider };
    const main = instrument(new OpenAI(base), policy);
    const revoked = instrument(new OpenAI({ ...base, apiKey: 'sk-sim-revoked' }), policy);
    // gpt-4o is down during the outage and every key but one runs dry in the quota phase: fallbacks show both.
    const resilient = instrument(new OpenAI(base), {
      ...policy,
      fallbacks: [
        { model: 'gpt-4o-mini' },
        ...(simulator
          ? [{ client: new OpenAI({ ...base, apiKey: FALLBACK_KEY }), model: 'gpt-4o-mini' }]
          : []),
      ],
    });
    await runWorkload({
      clients: { main, revoked, resilient },
      concurrency: options.real ? 1 : options.concurrency,
      seed: options.seed,
      signal: stop.signal,
      until: () => Date.now() >= deadline || (options.real !== undefined && collector.tally.operations >= 6),
      pauseMs: options.real ? [500, 1000] : [20, 120],
      sleep: (ms) => sleep(ms, undefined, { signal: stop.signal }).catch(() => {}),
    });
  } finally {
    clearInterval(ticker);
    options.signal?.removeEventListener('abort', onAbort);
    await simulator?.close();
  }
  options.onProgress?.(collector.tally, (Date.now() - started) / 1000);

  const { resourceMetrics } = await reportReader.collect();
  const report = buildReport(
    collector.spans,
    resourceMetrics.scopeMetrics.flatMap((s) => s.metrics),
    {
      scenario: options.real ? 'real' : options.scenario,
      seed: options.seed,
      durationSec: Math.round((Date.now() - started) / 100) / 10,
      partial: options.signal?.aborted ?? false,
    },
  );
  // Flush what is exported before returning; bounded so a dead collector cannot hold the demo.
  await Promise.race([
    Promise.all([tracerProvider.shutdown(), meterProvider.shutdown()]).catch(() => {}),
    sleep(5_000, undefined, { ref: false }),
  ]);
  return report;
}
