/**
 * The feed: one run of `retryscope demo` against its built-in simulator, with
 * the signals split the way a real deployment often splits them, by the
 * standard variables alone: OTEL_EXPORTER_OTLP_METRICS_ENDPOINT to the metrics
 * engine under test (OTLP/HTTP protobuf; the demo exports metrics every 5 s,
 * and once more at shutdown), OTEL_EXPORTER_OTLP_ENDPOINT to a trace receiver.
 * Returns the demo's JSON report.
 */
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { DemoReport } from '../../../src/demo/report.ts';
import { ROOT } from './tools.ts';

const run = promisify(execFile);

/**
 * Long enough for the mixed scenario's outage phase (a quarter of the run)
 * to open gpt-4o's circuit breaker: at 20 s it sometimes does not, and the
 * limiter's circuit_open rejections are then never counted.
 */
export const DEMO_SECONDS = 30;
/** The demo's defaults, spelled out so the checks below stay tied to them. */
export const DEMO_SCENARIO = 'mixed';
export const DEMO_SEED = 1;
/** Concurrent callers: one call in flight each, so no limiter queue is ever deeper. */
export const DEMO_CONCURRENCY = 8;

/** `service.name` of the demo's resource (src/demo/run.ts). */
export const DEMO_SERVICE = 'retryscope-demo';
/** The tag key the demo's calls carry (`retryscope.tag.feature`), and the usage dashboard's default. */
export const DEMO_TAG = 'feature';
/** The models src/demo/workload.ts calls. */
export const DEMO_MODELS = ['gpt-4o', 'gpt-4o-mini', 'o4-mini', 'text-embedding-3-small'] as const;
/** The simulator's per-key limit in src/demo/run.ts (DEMO_LIMITS): 2 400 RPM, i.e. 40 requests/s. */
export const DEMO_RPM = 2_400;
/** The demo policy's overall deadline per call, in seconds (src/demo/run.ts). */
export const DEMO_DEADLINE_S = 12;

export interface DemoRun {
  report: DemoReport;
  stderr: string;
}

export interface FeedTargets {
  /** Used as is, as the spec says of a per-signal endpoint. */
  metricsEndpoint: string;
  /** The generic endpoint: the demo appends /v1/traces (and would append /v1/metrics, were it not overridden). */
  tracesBase: string;
  /** How long the demo runs; DEMO_SECONDS unless given. */
  seconds?: number;
  /** More variables for the demo (OTEL_SEMCONV_STABILITY_OPT_IN). */
  env?: Record<string, string>;
}

/** Runs the demo with metrics and traces sent to different places. */
export async function feedFromDemo(targets: FeedTargets): Promise<DemoRun> {
  const args = [
    join(ROOT, 'src/cli/main.ts'),
    'demo',
    '--duration',
    String(targets.seconds ?? DEMO_SECONDS),
    '--scenario',
    DEMO_SCENARIO,
    '--seed',
    String(DEMO_SEED),
    '--concurrency',
    String(DEMO_CONCURRENCY),
    '--json',
    '--no-progress',
  ];
  // A developer's shell must not redirect or reshape the export.
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('OTEL_')));
  let out: { stdout: string; stderr: string };
  try {
    out = await run(process.execPath, args, {
      cwd: ROOT,
      env: {
        ...env,
        OTEL_EXPORTER_OTLP_ENDPOINT: targets.tracesBase,
        OTEL_EXPORTER_OTLP_METRICS_ENDPOINT: targets.metricsEndpoint,
        // JSON traces, which the receiver reads; protobuf metrics, the only kind VictoriaMetrics takes.
        OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
        OTEL_EXPORTER_OTLP_METRICS_PROTOCOL: 'http/protobuf',
        ...targets.env,
      },
      timeout: 120_000,
      maxBuffer: 64 * 1024 * 1024,
    });
  } catch (error) {
    const e = error as { stderr?: string; stdout?: string };
    throw new Error(`retryscope demo failed:\n${e.stderr ?? ''}${(e.stdout ?? '').slice(0, 2000)}`);
  }
  // The demo runs without export when the endpoint does not answer; that would prove nothing.
  if (/unreachable|running without export/.test(out.stderr)) {
    throw new Error(`retryscope demo did not export:\n${out.stderr}`);
  }
  return { report: JSON.parse(out.stdout) as DemoReport, stderr: out.stderr };
}
