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
import {
  BatchSpanProcessor,
  type ReadableSpan,
  type SpanExporter,
  type SpanProcessor,
} from '@opentelemetry/sdk-trace';
import { EXPORT_WARNING, warnOnce } from './safely.ts';

/**
 * OTLP/HTTP export of traces and metrics, guarded so that a backend that is
 * down, slow or answering errors costs one warning and bounded memory.
 * `base` is the OTLP base URL; `undefined` means the standard OTEL_* variables.
 */
export function otlpPipeline(
  base: string | undefined,
  metricIntervalMs?: number,
): { spanProcessor: SpanProcessor; metricReader: IMetricReader } {
  const interval = metricIntervalMs ?? positiveInt(process.env.OTEL_METRIC_EXPORT_INTERVAL) ?? 15_000;
  return {
    // Bounded queue: an unreachable collector costs at most maxQueueSize spans of memory.
    spanProcessor: new BatchSpanProcessor({
      exporter: guardSpanExporter(createTraceExporter(base)),
      maxQueueSize: 2048,
      scheduledDelayMillis: 1000,
    }),
    metricReader: new PeriodicExportingMetricReader({
      exporter: guardMetricExporter(createMetricExporter(base)),
      exportIntervalMillis: interval,
      // The SDK insists an export never outlasts the interval.
      exportTimeoutMillis: Math.min(5_000, interval),
    }),
  };
}

type Protocol = 'http/protobuf' | 'http/json';

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

export function positiveInt(value: string | undefined): number | undefined {
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
      warnOnce(EXPORT_WARNING, result.error ?? new Error('export failed'));
    }
    return result;
  }
}

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
        warnOnce(EXPORT_WARNING, error);
        done({ code: 1, error: error as Error });
      }
    },
    shutdown: () => inner.shutdown().catch((error) => warnOnce(EXPORT_WARNING, error)),
    forceFlush: () =>
      inner.forceFlush?.().catch((error) => warnOnce(EXPORT_WARNING, error)) ?? Promise.resolve(),
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
        warnOnce(EXPORT_WARNING, error);
        done({ code: 1, error: error as Error });
      }
    },
    shutdown: () => inner.shutdown().catch((error) => warnOnce(EXPORT_WARNING, error)),
    forceFlush: () => inner.forceFlush().catch((error) => warnOnce(EXPORT_WARNING, error)),
    ...(inner.selectAggregationTemporality
      ? { selectAggregationTemporality: inner.selectAggregationTemporality.bind(inner) }
      : {}),
    ...(inner.selectAggregation ? { selectAggregation: inner.selectAggregation.bind(inner) } : {}),
  };
}
