import { MeterProvider, PeriodicExportingMetricReader } from '@opentelemetry/sdk-metrics';
import { BatchSpanProcessor, TracerProvider } from '@opentelemetry/sdk-trace';

/**
 * A real OpenTelemetry SDK pipeline (batched spans, periodic metrics) whose
 * exporters count and drop: for measuring the client, not a backend.
 */
export function discardingTelemetry(metricIntervalMs: number) {
  const counts = { spans: 0 };
  const tracerProvider = new TracerProvider({
    spanProcessors: [
      new BatchSpanProcessor({
        exporter: {
          export: (spans, done) => {
            counts.spans += spans.length;
            done({ code: 0 });
          },
          shutdown: async () => {},
        },
      }),
    ],
  });
  const meterProvider = new MeterProvider({
    readers: [
      new PeriodicExportingMetricReader({
        exportIntervalMillis: metricIntervalMs,
        exporter: {
          export: (_m, done) => done({ code: 0 }),
          forceFlush: async () => {},
          shutdown: async () => {},
        },
      }),
    ],
  });
  return { tracerProvider, meterProvider, counts };
}
