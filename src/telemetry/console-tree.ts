import type { ExportResult } from '@opentelemetry/core';
import type { ReadableSpan, SpanExporter } from '@opentelemetry/sdk-trace';
import * as A from './attributes.ts';
import { printable } from './redact.ts';

/**
 * Prints each retryscope operation as a small tree: the operation span, then
 * its attempts with their backoff, status and error class. Meant for the quick
 * start and for local debugging, where a raw span dump is unreadable.
 */
export class ConsoleTreeExporter implements SpanExporter {
  private readonly pending = new Map<string, ReadableSpan[]>();
  private readonly write: (line: string) => void;

  constructor(write: (line: string) => void = (line) => process.stdout.write(`${line}\n`)) {
    this.write = write;
  }

  export(spans: ReadableSpan[], done: (result: ExportResult) => void): void {
    for (const span of spans) {
      const parent = span.parentSpanContext?.spanId;
      if (span.attributes[A.ATTR_ATTEMPT] !== undefined && parent) {
        const siblings = this.pending.get(parent) ?? [];
        siblings.push(span);
        this.pending.set(parent, siblings);
      } else if (span.attributes[A.ATTR_OUTCOME] !== undefined) {
        const attempts = this.pending.get(span.spanContext().spanId) ?? [];
        this.pending.delete(span.spanContext().spanId);
        this.write(formatOperation(span, attempts));
      }
    }
    done({ code: 0 });
  }

  async shutdown(): Promise<void> {
    this.pending.clear();
  }

  async forceFlush(): Promise<void> {}
}

/** An attribute or span name as printed: spans from elsewhere may carry anything, escape codes included. */
const show = (value: unknown): string => printable(String(value));

export function formatOperation(op: ReadableSpan, attempts: ReadableSpan[]): string {
  const a = op.attributes;
  const lines = [
    `${show(op.name)}  outcome=${show(a[A.ATTR_OUTCOME])} attempts=${a[A.ATTR_ATTEMPTS]} backoff_total_ms=${a[A.ATTR_BACKOFF_TOTAL_MS]} ` +
      `duration_ms=${Math.round(durationMs(op))} trace_id=${op.spanContext().traceId}`,
  ];
  const sorted = [...attempts].sort(
    (x, y) => Number(x.attributes[A.ATTR_ATTEMPT]) - Number(y.attributes[A.ATTR_ATTEMPT]),
  );
  sorted.forEach((span, i) => {
    const s = span.attributes;
    const branch = i === sorted.length - 1 ? '└─' : '├─';
    const parts = [
      `${branch} ${show(span.name)}`,
      `status=${show(s[A.ATTR_HTTP_RESPONSE_STATUS_CODE] ?? '-')}`,
      `backoff_ms=${show(s[A.ATTR_BACKOFF_MS])} (${show(s[A.ATTR_BACKOFF_SOURCE])})`,
    ];
    if (s[A.ATTR_ERROR_TYPE]) parts.push(`error.type=${show(s[A.ATTR_ERROR_TYPE])}`);
    if (s[A.ATTR_ERROR_CODE]) parts.push(`code=${show(s[A.ATTR_ERROR_CODE])}`);
    if (s[A.ATTR_RATELIMIT_REMAINING_REQUESTS] !== undefined) {
      parts.push(`remaining_requests=${show(s[A.ATTR_RATELIMIT_REMAINING_REQUESTS])}`);
    }
    lines.push(`  ${parts.join(' ')}`);
  });
  return lines.join('\n');
}

function durationMs(span: ReadableSpan): number {
  const [s, ns] = span.duration;
  return s * 1000 + ns / 1e6;
}
