import type { Context } from '@opentelemetry/api';
import type { ReadableSpan, Span, SpanProcessor } from '@opentelemetry/sdk-trace';
import { countSpan, emptyTally, type Tally } from './tally.ts';

/**
 * A span processor that keeps the finished spans of a demo run in memory,
 * grouped by the phase the demo was in when each ended. The report and the
 * progress bar are computed from these, so every number shown is one the
 * exporters also received.
 */
export class SpanCollector implements SpanProcessor {
  readonly spans: ReadableSpan[] = [];
  readonly tally: Tally = emptyTally();
  /** Spans by the index of the phase they ended in. */
  readonly byPhase: ReadableSpan[][] = [];
  #phase = -1;

  /** Spans that end from now on belong to phase `index`. */
  beginPhase(index: number): void {
    this.#phase = index;
    this.byPhase[index] ??= [];
  }

  onStart(_span: Span, _parent: Context): void {}

  onEnd(span: ReadableSpan): void {
    this.spans.push(span);
    this.byPhase[this.#phase]?.push(span);
    countSpan(this.tally, span);
  }

  async forceFlush(): Promise<void> {}
  async shutdown(): Promise<void> {}
}
