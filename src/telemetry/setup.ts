/**
 * `retryscope/telemetry`: a one-call OpenTelemetry setup for apps that have
 * none. The library entry point never imports this file, so `retryscope`
 * itself depends on `@opentelemetry/api` only.
 */
import { metrics, trace } from '@opentelemetry/api';
import type { ExportResult } from '@opentelemetry/core';
import { OTLPMetricExporter as OTLPMetricExporterJson } from '@opentelemetry/exporter-metrics-otlp-http';
import { OTLPMetricExporter as OTLPMetricExporterProto } from '@opentelemetry/exporter-metrics-otlp-proto';
import { OTLPTraceExporter as OTLPTraceExporterJson } from '@opentelemetry/exporter-trace-otlp-http';
import { OTLPTraceExporter as OTLPTraceExporterProto } from '@opentelemetry/exporter-trace-otlp-proto';
import {
  type IMetricReader,
  PeriodicExportingMetricReader,
  type PushMetricExporter,
} from '@opentelemetry/sdk-metrics';
import { NodeSDK } from '@opentelemetry/sdk-node';
import {
  BatchSpanProcessor,
  type ReadableSpan,
  SimpleSpanProcessor,
  type SpanExporter,
  type SpanProcessor,
} from '@opentelemetry/sdk-trace';
import { ConsoleTreeExporter } from './console-tree.ts';
import { warnOnce } from './safely.ts';

export interface TelemetryOptions {
  /** Default: `OTEL_SERVICE_NAME`, else `retryscope-app`. */
  serviceName?: string;
  /**
   * Base OTLP/HTTP URL (`http://localhost:4318`); `/v1/traces` and
   * `/v1/metrics` are appended. Default: the standard `OTEL_EXPORTER_OTLP_*`
   * variables, else `http://localhost:4318`. `false` turns OTLP export off.
   */
  otlp?: string | false;
  /** Print each operation and its attempts as a tree on stdout. Default: `OTEL_TRACES_EXPORTER` includes `console`. */
  console?: boolean;
  /** How often metrics are exported. Default: `OTEL_METRIC_EXPORT_INTERVAL`, else 15 000 ms. */
  metricIntervalMs?: number;
  /** The longest `shutdown()` may take to flush. Default 5 000 ms. */
  shutdownTimeoutMs?: number;
  /** Flush on SIGTERM and SIGINT before the process exits. Default true. */
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

type Protocol = 'http/protobuf' | 'http/json';

/**
 * Starts the OpenTelemetry Node SDK with OTLP/HTTP exporters for traces and
 * metrics and registers it globally, so `instrument()` needs no providers.
 *
 * Metrics go over http/protobuf by default because Prometheus's and
 * VictoriaMetrics' OTLP receivers accept only protobuf. Export failures (no
 * collector running, a collector answering 500) are dropped with one warning
 * per kind, never a flood, and never reach the app.
 */
export function startTelemetry(options: TelemetryOptions = {}): TelemetryHandle {
  const env = process.env;
  const serviceName = options.serviceName ?? env.OTEL_SERVICE_NAME ?? 'retryscope-app';
  const wantConsole = options.console ?? (env.OTEL_TRACES_EXPORTER ?? '').split(',').includes('console');
  const base = options.otlp === undefined ? undefined : options.otlp;

  const spanProcessors: SpanProcessor[] = [...(options.spanProcessors ?? [])];
  const metricReaders: IMetricReader[] = [...(options.metricReaders ?? [])];
  if (base !== false) {
    const traces = guardSpanExporter(createTraceExporter(base));
    // Bounded queue: an unreachable collector costs at most maxQueueSize spans of memory.
    spanProcessors.push(
      new BatchSpanProcessor({ exporter: traces, maxQueueSize: 2048, scheduledDelayMillis: 1000 }),
    );
    metricReaders.push(
      new PeriodicExportingMetricReader({
        exporter: guardMetricExporter(createMetricExporter(base)),
        exportIntervalMillis:
          options.metricIntervalMs ?? positiveInt(env.OTEL_METRIC_EXPORT_INTERVAL) ?? 15_000,
        exportTimeoutMillis: 5_000,
      }),
    );
  }
  if (wantConsole) spanProcessors.push(new SimpleSpanProcessor({ exporter: new ConsoleTreeExporter() }));

  const sdk = new NodeSDK({
    serviceName,
    spanProcessors,
    metricReaders,
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
      warnOnce(EXPORT, new Error(`telemetry flush took longer than ${ms} ms; the rest is dropped`));
      resolve();
    }, ms);
    timer.unref?.();
  });
  return Promise.race([
    work.then(() => undefined).catch((error) => warnOnce(EXPORT, error)),
    timeout,
  ]).finally(() => clearTimeout(timer));
}

function protocolFor(signal: 'TRACES' | 'METRICS'): Protocol {
  const value =
    process.env[`OTEL_EXPORTER_OTLP_${signal}_PROTOCOL`] ?? process.env.OTEL_EXPORTER_OTLP_PROTOCOL;
  if (value === undefined || value === 'http/protobuf') return 'http/protobuf';
  if (value === 'http/json') return 'http/json';
  warnOnce(
    `OTEL_EXPORTER_OTLP_${signal}_PROTOCOL`,
    new Error(`unsupported protocol "${value}", using http/protobuf`),
  );
  return 'http/protobuf';
}

// The spec's 10 s default keeps a dead collector holding the process open at exit; 3 s is ample on a
// local network, and OTEL_EXPORTER_OTLP_TIMEOUT still overrides it.
const EXPORT_TIMEOUT_MS = positiveInt(process.env.OTEL_EXPORTER_OTLP_TIMEOUT) ?? 3_000;

function createTraceExporter(base: string | undefined): SpanExporter {
  const config = { timeoutMillis: EXPORT_TIMEOUT_MS, ...(base ? { url: joinUrl(base, 'v1/traces') } : {}) };
  return protocolFor('TRACES') === 'http/json'
    ? new OTLPTraceExporterJson(config)
    : new OTLPTraceExporterProto(config);
}

function createMetricExporter(base: string | undefined): PushMetricExporter {
  const config = { timeoutMillis: EXPORT_TIMEOUT_MS, ...(base ? { url: joinUrl(base, 'v1/metrics') } : {}) };
  return protocolFor('METRICS') === 'http/json'
    ? new OTLPMetricExporterJson(config)
    : new OTLPMetricExporterProto(config);
}

function joinUrl(base: string, path: string): string {
  return `${base.replace(/\/+$/, '')}/${path}`;
}

function positiveInt(value: string | undefined): number | undefined {
  const n = Number(value);
  return value !== undefined && Number.isInteger(n) && n > 0 ? n : undefined;
}

/**
 * After a failed export, batches are dropped at once for this long instead of
 * each waiting out the exporter's retries: a dead collector then costs neither
 * memory nor a slow shutdown. The next batch after it tries again.
 */
const BACKOFF_AFTER_FAILURE_MS = 10_000;

/** Tracks export failures: one warning per kind, and fast drops while the backend is known down. */
class ExportGuard {
  private downUntil = 0;
  get down(): boolean {
    return Date.now() < this.downUntil;
  }
  settle(result: ExportResult): ExportResult {
    if (result.code !== 0) {
      this.downUntil = Date.now() + BACKOFF_AFTER_FAILURE_MS;
      warnOnce(EXPORT, result.error ?? new Error('export failed'));
    }
    return result;
  }
}

/** One key for every export failure, so a dead backend yields one warning in all. */
const EXPORT = 'export';

const dropped = (): ExportResult => ({ code: 1, error: new Error('telemetry backend down; batch dropped') });

/** Reports the first failure of each kind once; the result still flows back unchanged. */
function guardSpanExporter(inner: SpanExporter): SpanExporter {
  const guard = new ExportGuard();
  return {
    export(spans: ReadableSpan[], done: (result: ExportResult) => void) {
      if (guard.down) return done(dropped());
      try {
        inner.export(spans, (result) => done(guard.settle(result)));
      } catch (error) {
        warnOnce(EXPORT, error);
        done({ code: 1, error: error as Error });
      }
    },
    shutdown: () => inner.shutdown().catch((error) => warnOnce(EXPORT, error)),
    forceFlush: () => inner.forceFlush?.().catch((error) => warnOnce(EXPORT, error)) ?? Promise.resolve(),
  };
}

function guardMetricExporter(inner: PushMetricExporter): PushMetricExporter {
  const guard = new ExportGuard();
  return {
    export(batch, done) {
      if (guard.down) return done(dropped());
      try {
        inner.export(batch, (result) => done(guard.settle(result)));
      } catch (error) {
        warnOnce(EXPORT, error);
        done({ code: 1, error: error as Error });
      }
    },
    shutdown: () => inner.shutdown().catch((error) => warnOnce(EXPORT, error)),
    forceFlush: () => inner.forceFlush().catch((error) => warnOnce(EXPORT, error)),
    ...(inner.selectAggregationTemporality
      ? { selectAggregationTemporality: inner.selectAggregationTemporality.bind(inner) }
      : {}),
    ...(inner.selectAggregation ? { selectAggregation: inner.selectAggregation.bind(inner) } : {}),
  };
}

export { ConsoleTreeExporter, formatOperation } from './console-tree.ts';
