/**
 * `retryscope/telemetry`: a one-call OpenTelemetry setup for apps that have
 * none. The library entry point never imports this file, so `retryscope`
 * itself depends on `@opentelemetry/api` only.
 */
import { metrics, trace } from '@opentelemetry/api';
import { hostDetector, osDetector, processDetector } from '@opentelemetry/resources';
import type { IMetricReader } from '@opentelemetry/sdk-metrics';
import { NodeSDK } from '@opentelemetry/sdk-node';
import { SimpleSpanProcessor, type SpanProcessor } from '@opentelemetry/sdk-trace';
import { ConsoleTreeExporter } from './console-tree.ts';
import { telemetrySettings } from './env.ts';
import { otlpPipeline } from './pipeline.ts';
import { EXPORT_WARNING, warnOnce } from './safely.ts';

export interface TelemetryOptions {
  /** Wins over `OTEL_SERVICE_NAME` and a `service.name` in `OTEL_RESOURCE_ATTRIBUTES`. @default 'retryscope-app' */
  serviceName?: string;
  /**
   * Base OTLP/HTTP URL for both signals (`http://localhost:4318`); `/v1/traces`
   * and `/v1/metrics` are appended, and the endpoint variables are ignored.
   * `false` turns OTLP export off. @default the standard `OTEL_EXPORTER_OTLP_*`
   * variables, else `http://localhost:4318`
   */
  otlp?: string | false;
  /** Print each operation and its attempts as a tree on stdout. @default `OTEL_TRACES_EXPORTER` includes `console` */
  console?: boolean;
  /** How often metrics are exported. @default `OTEL_METRIC_EXPORT_INTERVAL`, else 15 000 ms */
  metricIntervalMs?: number;
  /** The longest `shutdown()` may take to flush. @default 5000 */
  shutdownTimeoutMs?: number;
  /** Flush on SIGTERM and SIGINT before the process exits. @default true */
  flushOnSignals?: boolean;
  /** Extra span processors (e.g. an in-memory one for tests or reports). */
  spanProcessors?: SpanProcessor[];
  /** Extra metric readers. */
  metricReaders?: IMetricReader[];
}

export interface TelemetryHandle {
  /** Exports what is buffered now. */
  forceFlush(): Promise<void>;
  /** Flushes and stops, within `shutdownTimeoutMs`; never rejects. */
  shutdown(): Promise<void>;
}

/**
 * Starts the OpenTelemetry Node SDK with OTLP/HTTP exporters for traces and
 * metrics and registers it globally, so `instrument()` needs no providers.
 *
 * Configured by the standard OTEL_* variables (see telemetrySettings()):
 * per-signal endpoints, headers, protocols and timeouts win over the generic
 * ones; `OTEL_SDK_DISABLED=true` makes this a no-op. A variable it cannot
 * honour throws a RetryscopeConfigError naming it, here, at start-up.
 *
 * Metrics go over http/protobuf by default because Prometheus's and
 * VictoriaMetrics' OTLP receivers accept only protobuf. Export failures (no
 * collector running, a collector answering 500) are dropped with one warning
 * per kind, never a flood, and never reach the app.
 */
export function startTelemetry(options: TelemetryOptions = {}): TelemetryHandle {
  const settings = telemetrySettings({
    ...(options.serviceName !== undefined ? { serviceName: options.serviceName } : {}),
    defaultServiceName: 'retryscope-app',
    ...(options.otlp !== undefined ? { otlp: options.otlp } : {}),
    defaultEndpoint: 'http://localhost:4318',
    ...(options.metricIntervalMs !== undefined ? { metricIntervalMs: options.metricIntervalMs } : {}),
  });
  if (settings.disabled) return { forceFlush: async () => {}, shutdown: async () => {} };

  const otlp = otlpPipeline(settings);
  const spanProcessors: SpanProcessor[] = [...(options.spanProcessors ?? []), ...otlp.spanProcessors];
  const metricReaders: IMetricReader[] = [...(options.metricReaders ?? []), ...otlp.metricReaders];
  if (options.console ?? settings.consoleTraces) {
    spanProcessors.push(new SimpleSpanProcessor({ exporter: new ConsoleTreeExporter() }));
  }

  const sdk = new NodeSDK({
    resource: settings.resource,
    // Host and process attributes; not the env detector, whose service.name would beat the option.
    resourceDetectors: [hostDetector, osDetector, processDetector],
    sampler: settings.sampler,
    spanProcessors,
    metricReaders,
    // Nothing here logs through OpenTelemetry: no log exporter to a collector that may not exist.
    logRecordProcessors: [],
    instrumentations: [],
  });
  sdk.start();

  const timeoutMs = options.shutdownTimeoutMs ?? 5_000;
  let stopped: Promise<void> | undefined;
  const handle: TelemetryHandle = {
    forceFlush: () =>
      bounded(
        Promise.all([
          (trace.getTracerProvider() as { forceFlush?: () => Promise<void> }).forceFlush?.(),
          (metrics.getMeterProvider() as { forceFlush?: () => Promise<void> }).forceFlush?.(),
        ]).then(() => undefined),
        timeoutMs,
      ),
    shutdown: () => {
      stopped ??= bounded(sdk.shutdown(), timeoutMs).finally(removeSignalHandlers);
      return stopped;
    },
  };

  const removeSignalHandlers = options.flushOnSignals === false ? () => {} : flushOnSignals(handle);
  return handle;
}

/** On SIGTERM/SIGINT: flush, then let the signal do what it would have done. */
function flushOnSignals(handle: TelemetryHandle): () => void {
  const signals: NodeJS.Signals[] = ['SIGTERM', 'SIGINT'];
  const onSignal = (signal: NodeJS.Signals) => {
    void handle.shutdown().then(() => {
      // Another handler owns the exit (a server's graceful shutdown): leave it to that one.
      if (process.listenerCount(signal) === 0) process.kill(process.pid, signal);
    });
  };
  for (const signal of signals) process.once(signal, onSignal);
  return () => {
    for (const signal of signals) process.removeListener(signal, onSignal);
  };
}

function bounded(work: Promise<unknown>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<void>((resolve) => {
    timer = setTimeout(() => {
      warnOnce(EXPORT_WARNING, new Error(`telemetry flush took longer than ${ms} ms; the rest is dropped`));
      resolve();
    }, ms);
    timer.unref?.();
  });
  return Promise.race([
    work.then(() => undefined).catch((error) => warnOnce(EXPORT_WARNING, error)),
    timeout,
  ]).finally(() => clearTimeout(timer));
}

export { ConsoleTreeExporter, formatOperation } from './console-tree.ts';
