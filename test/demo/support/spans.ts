/** Real spans with set times, for report tests: operations and their attempts, recorded by the SDK. */
import { type Context, ROOT_CONTEXT, trace } from '@opentelemetry/api';
import {
  InMemorySpanExporter,
  type ReadableSpan,
  SimpleSpanProcessor,
  TracerProvider,
} from '@opentelemetry/sdk-trace';
import * as A from '../../../src/telemetry/attributes.ts';

const T0 = 1_700_000_000_000;

/** Spans for operations, each `[attributes, [attempt attributes, startMs, endMs][]]`, recorded by a real SDK. */
export function record(
  ops: {
    attrs: Record<string, string | number | boolean>;
    endMs: number;
    attempts: [Record<string, string | number | boolean>, number, number][];
  }[],
): ReadableSpan[] {
  const exporter = new InMemorySpanExporter();
  const provider = new TracerProvider({ spanProcessors: [new SimpleSpanProcessor({ exporter })] });
  const tracer = provider.getTracer('test');
  for (const op of ops) {
    const span = tracer.startSpan(String(op.attrs.name ?? 'chat gpt-4o'), {
      startTime: T0,
      attributes: op.attrs,
    });
    const ctx: Context = trace.setSpan(ROOT_CONTEXT, span);
    for (const [attrs, start, end] of op.attempts) {
      tracer
        .startSpan(`attempt ${attrs[A.ATTR_ATTEMPT]}`, { startTime: T0 + start, attributes: attrs }, ctx)
        .end(T0 + end);
    }
    span.end(T0 + op.endMs);
  }
  return exporter.getFinishedSpans();
}
