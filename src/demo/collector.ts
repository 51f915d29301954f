import type { Context } from '@opentelemetry/api';
import type { ReadableSpan, Span, SpanProcessor } from '@opentelemetry/sdk-trace';
import * as A from '../telemetry/attributes.ts';

/** Running counts for the progress bar, read from the same spans that are exported. */
export interface Tally {
  operations: number;
  ok: number;
  retried: number;
  failed: number;
  quota: number;
  fallback: number;
  failedByClass: Record<string, number>;
}

/**
 * A span processor that keeps the finished spans of a demo run in memory. The
 * report and the progress bar are computed from these, so every number shown
 * is one the exporters also received.
 */
export class SpanCollector implements SpanProcessor {
  readonly spans: ReadableSpan[] = [];
  readonly tally: Tally = {
    operations: 0,
    ok: 0,
    retried: 0,
    failed: 0,
    quota: 0,
    fallback: 0,
    failedByClass: {},
  };

  onStart(_span: Span, _parent: Context): void {}

  onEnd(span: ReadableSpan): void {
    this.spans.push(span);
    const a = span.attributes;
    if (a[A.ATTR_QUOTA_EXHAUSTED] === true) this.tally.quota++;
    const outcome = a[A.ATTR_OUTCOME];
    if (outcome === undefined) return;
    this.tally.operations++;
    if (outcome === 'success' || outcome === 'fallback') {
      this.tally.ok++;
      if (Number(a[A.ATTR_ATTEMPTS] ?? 1) > 1) this.tally.retried++;
      if (outcome === 'fallback') this.tally.fallback++;
    } else {
      this.tally.failed++;
      const cls = String(a[A.ATTR_ERROR_TYPE] ?? outcome);
      this.tally.failedByClass[cls] = (this.tally.failedByClass[cls] ?? 0) + 1;
    }
  }

  async forceFlush(): Promise<void> {}
  async shutdown(): Promise<void> {}
}
