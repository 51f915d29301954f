import { context, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import {
  AggregationTemporality,
  type DataPoint,
  InMemoryMetricExporter,
  MeterProvider,
  type MetricData,
  MetricReader,
} from '@opentelemetry/sdk-metrics';
import {
  InMemorySpanExporter,
  type ReadableSpan,
  SimpleSpanProcessor,
  TracerProvider,
} from '@opentelemetry/sdk-trace';

let contextManagerSet = false;

/** Reads metrics on demand, for assertions. */
class TestReader extends MetricReader {
  protected override async onForceFlush(): Promise<void> {}
  protected override async onShutdown(): Promise<void> {}
}

/** In-memory tracer and meter providers, plus helpers to read what they recorded. */
export function createTestTelemetry() {
  if (!contextManagerSet) {
    context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
    contextManagerSet = true;
  }
  const exporter = new InMemorySpanExporter();
  const tracerProvider = new TracerProvider({ spanProcessors: [new SimpleSpanProcessor({ exporter })] });
  const reader = new TestReader({ aggregationTemporalitySelector: () => AggregationTemporality.CUMULATIVE });
  const meterProvider = new MeterProvider({ readers: [reader] });
  void InMemoryMetricExporter;

  return {
    tracerProvider,
    meterProvider,
    tracer: tracerProvider.getTracer('test'),
    /** Finished spans, after flushing the processor (export may be asynchronous). */
    async spans(): Promise<ReadableSpan[]> {
      await tracerProvider.forceFlush();
      return exporter.getFinishedSpans();
    },
    reset: () => exporter.reset(),
    async metrics(): Promise<MetricData[]> {
      const { resourceMetrics } = await reader.collect();
      return resourceMetrics.scopeMetrics.flatMap((s) => s.metrics);
    },
    async metric(name: string): Promise<DataPoint<unknown>[]> {
      const { resourceMetrics } = await reader.collect();
      const found = resourceMetrics.scopeMetrics
        .flatMap((s) => s.metrics)
        .find((m) => m.descriptor.name === name);
      return (found?.dataPoints ?? []) as DataPoint<unknown>[];
    },
    withSpan: <T>(name: string, fn: () => Promise<T>) =>
      tracerProvider.getTracer('test').startActiveSpan(name, async (span) => {
        try {
          return await fn();
        } finally {
          span.end();
        }
      }),
    trace,
  };
}

export type TestTelemetry = ReturnType<typeof createTestTelemetry>;

/** Sums a counter's points whose attributes match `where`. */
export function sumWhere(points: DataPoint<unknown>[], where: Record<string, unknown> = {}): number {
  return points
    .filter((p) => Object.entries(where).every(([k, v]) => p.attributes[k] === v))
    .reduce(
      (total, p) =>
        total + (typeof p.value === 'number' ? p.value : ((p.value as { count: number }).count ?? 0)),
      0,
    );
}
