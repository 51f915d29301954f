import { type Context, ROOT_CONTEXT } from '@opentelemetry/api';
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
  type Sampler,
  SamplingDecision,
  type Span,
  type SpanExporter,
  type SpanProcessor,
} from '@opentelemetry/sdk-trace';
import type { SignalTarget, TelemetrySettings } from './env.ts';
import { EXPORT_WARNING, warnOnce } from './safely.ts';

/**
 * OTLP/HTTP export of the signals `settings` point somewhere (see
 * telemetrySettings()), guarded so that a backend that is down, slow or
 * answering errors costs one warning and bounded memory.
 *
 * `sampleExport` applies `settings.sampler` to what is exported only, for a
 * caller (the demo) whose own report must still see every span.
 */
export function otlpPipeline(
  settings: Pick<TelemetrySettings, 'traces' | 'metrics' | 'metricIntervalMs' | 'spanDelayMs' | 'sampler'>,
  { sampleExport = false }: { sampleExport?: boolean } = {},
): { spanProcessors: SpanProcessor[]; metricReaders: IMetricReader[] } {
  const interval = settings.metricIntervalMs;
  const spanProcessors: SpanProcessor[] = [];
  const metricReaders: IMetricReader[] = [];
  if (settings.traces) {
    // Bounded queue: an unreachable collector costs at most maxQueueSize spans of memory.
    const batch = new BatchSpanProcessor({
      exporter: guardSpanExporter(createTraceExporter(settings.traces)),
      maxQueueSize: 2048,
      scheduledDelayMillis: settings.spanDelayMs,
    });
    spanProcessors.push(sampleExport ? new SampledOnly(batch, settings.sampler) : batch);
  }
  if (settings.metrics) {
    metricReaders.push(
      new PeriodicExportingMetricReader({
        exporter: guardMetricExporter(createMetricExporter(settings.metrics)),
        exportIntervalMillis: interval,
        // The SDK insists an export never outlasts the interval.
        exportTimeoutMillis: Math.min(settings.metrics.timeoutMs, interval),
      }),
    );
  }
  return { spanProcessors, metricReaders };
}

function exporterConfig(target: SignalTarget) {
  return { url: target.url, headers: target.headers, timeoutMillis: target.timeoutMs };
}

function createTraceExporter(target: SignalTarget): SpanExporter {
  return target.protocol === 'http/json'
    ? new OTLPTraceExporterJson(exporterConfig(target))
    : new OTLPTraceExporterProto(exporterConfig(target));
}

function createMetricExporter(target: SignalTarget): PushMetricExporter {
  return target.protocol === 'http/json'
    ? new OTLPMetricExporterJson(exporterConfig(target))
    : new OTLPMetricExporterProto(exporterConfig(target));
}

/**
 * Forwards only the spans of traces `sampler` keeps. Every sampler the
 * environment can name decides a root span on its trace id alone, so asking
 * it about each span with no parent gives one answer per trace.
 */
class SampledOnly implements SpanProcessor {
  private readonly inner: SpanProcessor;
  private readonly sampler: Sampler;
  constructor(inner: SpanProcessor, sampler: Sampler) {
    this.inner = inner;
    this.sampler = sampler;
  }
  private keeps(span: ReadableSpan): boolean {
    const { decision } = this.sampler.shouldSample(
      ROOT_CONTEXT,
      span.spanContext().traceId,
      span.name,
      span.kind,
      {},
      [],
    );
    return decision === SamplingDecision.RECORD_AND_SAMPLED;
  }
  onStart(span: Span, parent: Context): void {
    if (this.keeps(span)) this.inner.onStart(span, parent);
  }
  onEnd(span: ReadableSpan): void {
    if (this.keeps(span)) this.inner.onEnd(span);
  }
  forceFlush = () => this.inner.forceFlush();
  shutdown = () => this.inner.shutdown();
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
