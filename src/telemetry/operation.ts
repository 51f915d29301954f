import {
  type Attributes,
  type Context,
  context as otelContext,
  type Span,
  SpanStatusCode,
  trace,
} from '@opentelemetry/api';
import type {
  AttemptStarted,
  CallObserver,
  HopSkipped,
  OperationEnded,
  OperationStarted,
  Paced,
  ServedBy,
  Waited,
} from '../observer.ts';
import type { Outcome } from '../policy/types.ts';
import { AttemptRecord } from './attempt.ts';
import * as A from './attributes.ts';
import { compact } from './compact.ts';
import { requestAttributes, serviceAttributes, urlTemplate } from './genai.ts';
import { countFinishReasons } from './instruments.ts';
import { MAX_FINISH_REASONS, type Telemetry } from './recorder.ts';
import { safely } from './safely.ts';
import { recordInferenceTokens, recordTokenUsage, spendAttributes } from './spend.ts';

/**
 * One call's operation span and metrics: the observer the attempt loop
 * reports to. It records; it never decides. Every entry point is guarded so a
 * telemetry failure cannot reach the caller.
 */
export class OperationRecord implements CallObserver {
  readonly context: Context;
  readonly metricAttributes: Attributes;
  private readonly span: Span | undefined;
  private readonly startedAt = performance.now();
  private done = false;
  private readonly telemetry: Telemetry;
  private readonly start: OperationStarted;
  /** The pacing state last read: the operation span carries it at the end. */
  private pacing: Paced | undefined;
  private hopsSkipped = 0;

  /** The caller's model, as given (metric attributes carry it redacted). */
  get requestModel(): string | undefined {
    return this.start.requestModel;
  }

  private http: Attributes | undefined;
  private tags: Attributes | undefined;

  /** `retryscope.tag.<key>` of the call's tags, for the operation span and the token and cost counters; built once. */
  get tagAttributes(): Attributes {
    this.tags ??= this.telemetry.tagAttributes(this.start.tags);
    return this.tags;
  }

  /** The HTTP client attributes every attempt span carries (no `url.full`: see attributes.ts), built once. */
  get httpAttributes(): Attributes {
    const { method, path } = this.start;
    this.http ??= compact({
      [A.ATTR_HTTP_REQUEST_METHOD]: method?.toUpperCase(),
      [A.ATTR_URL_TEMPLATE]: path === undefined ? undefined : urlTemplate(path),
    });
    return this.http;
  }

  constructor(telemetry: Telemetry, start: OperationStarted, parent: Context) {
    this.telemetry = telemetry;
    this.start = start;
    this.metricAttributes = telemetry.operationMetricAttributes(start);
    const name = start.requestModel ? `${start.operationName} ${start.requestModel}` : start.operationName;
    this.span = safely('startOperation', () =>
      telemetry.startSpan(name, parent, () =>
        compact({
          ...this.metricAttributes,
          // The caller's own model name: on the span as given, on metrics only if it fits the pattern.
          [A.ATTR_GEN_AI_REQUEST_MODEL]: start.requestModel,
          ...requestAttributes(start),
          // On the span, not the duration histograms: tags multiply series (the cost counters carry them).
          ...this.tagAttributes,
          [A.ATTR_DEADLINE_MS]: start.deadlineMs,
        }),
      ),
    );
    this.context = this.span ? trace.setSpan(parent, this.span) : parent;
  }

  attemptStarted(start: AttemptStarted): AttemptRecord {
    return new AttemptRecord(this.telemetry, this, start);
  }

  /** A wait before the next attempt: what was slept, and who set it. */
  waited(fact: Waited): void {
    if (this.telemetry.instruments.off) return;
    safely('recordBackoff', () =>
      this.telemetry.instruments.backoff.record(
        fact.ms / 1000,
        compact({
          ...this.metricAttributes,
          [A.ATTR_GEN_AI_REQUEST_MODEL]: this.telemetry.metricModel(fact.model ?? this.start.requestModel),
          [A.ATTR_BACKOFF_SOURCE]: fact.source,
          [A.ATTR_RETRY_REASON]: fact.reason,
        }),
      ),
    );
  }

  /** The operation's end says what served it; a hop change alone records nothing. */
  hopChanged(_fact: ServedBy): void {}

  /** A hop skipped unsent: an event on the operation span says which, and why. */
  hopSkipped(fact: HopSkipped): void {
    this.hopsSkipped++;
    const span = this.span;
    safely('recordHopSkipped', () => {
      if (!span?.isRecording()) return;
      span.addEvent(
        A.EVENT_HOP_SKIPPED,
        compact({
          [A.ATTR_FALLBACK_INDEX]: fact.index,
          [A.ATTR_GEN_AI_REQUEST_MODEL]: fact.model ?? this.start.requestModel,
          // The validator's own words (a code, a field path), never the request's content.
          [A.ATTR_VALIDATION_CODE]: fact.code,
          [A.ATTR_VALIDATION_PARAM]: fact.param,
        }),
      );
    });
  }

  /** Gauges of the client-side pacing state, read after each attempt. */
  paced(state: Paced): void {
    this.pacing = state;
    if (this.telemetry.instruments.off) return;
    safely('recordPacing', () => {
      const i = this.telemetry.instruments;
      const attributes = compact({
        ...this.metricAttributes,
        [A.ATTR_GEN_AI_REQUEST_MODEL]: this.telemetry.metricModel(state.model),
      });
      const perBucket = compact({
        ...attributes,
        [A.ATTR_LIMITER_BUCKET]: this.telemetry.metricModel(state.bucket),
      });
      if (state.queueDepth !== undefined) i.queueDepth.record(state.queueDepth, perBucket);
      if (state.ratePerSec !== undefined && Number.isFinite(state.ratePerSec))
        i.limiterRate.record(state.ratePerSec, perBucket);
      if (state.budgetRemaining !== undefined)
        i.retryBudgetRemaining.record(state.budgetRemaining, attributes);
      if (state.circuit !== undefined) i.circuitState.record(A.circuitStateValue(state.circuit), attributes);
    });
  }

  /** A call paced by its own limiter because the shared store did not answer. */
  storeFellBack(bucket?: string): void {
    if (this.telemetry.instruments.off) return;
    safely('recordStoreFallback', () =>
      this.telemetry.instruments.storeFallbacks.add(
        1,
        compact({ ...this.metricAttributes, [A.ATTR_LIMITER_BUCKET]: this.telemetry.metricModel(bucket) }),
      ),
    );
  }

  /** A call the client refused to send (limiter queue full or past its deadline, circuit open). */
  refused(outcome: Outcome, bucket?: string): void {
    if (this.telemetry.instruments.off) return;
    safely('recordRejected', () =>
      this.telemetry.instruments.limiterRejected.add(
        1,
        compact({
          ...this.metricAttributes,
          [A.ATTR_OUTCOME]: outcome,
          [A.ATTR_LIMITER_BUCKET]: this.telemetry.metricModel(bucket),
        }),
      ),
    );
  }

  ended(end: OperationEnded): void {
    if (this.done) return;
    this.done = true;
    const failed = end.outcome !== 'success' && end.outcome !== 'fallback';
    const span = this.span;
    // Two guards: a span processor that throws in onEnd must not cost the call its metrics.
    safely('endOperation', () => this.endSpan(end, failed));
    if (!this.telemetry.instruments.off)
      safely('recordOperation', () => this.recordMetrics(end, failed, span));
  }

  private endSpan(end: OperationEnded, failed: boolean): void {
    const span = this.span;
    const t = this.telemetry;
    // A span nobody records (no SDK, or sampled out) needs no attributes: skip building them.
    if (span?.isRecording()) {
      const p = this.pacing;
      span.setAttributes(
        compact({
          [A.ATTR_ATTEMPTS]: end.attempts,
          [A.ATTR_BACKOFF_TOTAL_MS]: Math.round(end.backoffTotalMs),
          [A.ATTR_OUTCOME]: end.outcome,
          [A.ATTR_GEN_AI_RESPONSE_MODEL]: t.spanValue(end.responseModel),
          [A.ATTR_GEN_AI_RESPONSE_ID]: t.spanValue(end.responseId),
          [A.ATTR_GEN_AI_RESPONSE_FINISH_REASONS]: end.finishReasons?.length
            ? end.finishReasons.slice(0, MAX_FINISH_REASONS).map((reason) => t.spanValue(reason)!)
            : undefined,
          // Summed over every attempt that reported usage: what the call was billed.
          ...spendAttributes(end.usage, end.cost, end.estimatedOutputTokens),
          ...serviceAttributes(end, (v) => t.spanValue(v)),
          [A.ATTR_GEN_AI_OUTPUT_MESSAGES]: end.outputContent,
          [A.ATTR_QUEUED_MS]: end.queuedMs === undefined ? undefined : Math.round(end.queuedMs),
          [A.ATTR_FALLBACK_INDEX]: end.served?.index,
          [A.ATTR_FALLBACK_REASON]: end.served?.reason,
          [A.ATTR_HOPS_SKIPPED]: this.hopsSkipped > 0 ? this.hopsSkipped : undefined,
          [A.ATTR_ERROR_TYPE]: failed ? (end.errorType ?? end.outcome) : undefined,
          [A.ATTR_RETRY_BUDGET_REMAINING]: end.budgetRemaining,
          [A.ATTR_RETRY_BUDGET_EXHAUSTED]: end.budgetExhausted ? true : undefined,
          [A.ATTR_CIRCUIT_STATE]: p?.circuit === undefined ? undefined : A.circuitStateValue(p.circuit),
          [A.ATTR_QUEUE_DEPTH]: p?.queueDepth,
          [A.ATTR_LIMITER_RATE]: Number.isFinite(p?.ratePerSec) ? p?.ratePerSec : undefined,
          [A.ATTR_LIMITER_BUCKET]: p?.bucket ? p.bucket : undefined,
          [A.ATTR_LIMITER_STORE]: end.limiterStore ? end.limiterStore : undefined,
          [A.ATTR_QUOTA_FROM_FLEET]: end.quotaFromFleet ? true : undefined,
        }),
      );
      if (failed) span.setStatus({ code: SpanStatusCode.ERROR, message: end.outcome });
    }
    span?.end();
  }

  private recordMetrics(end: OperationEnded, failed: boolean, span: Span | undefined): void {
    const instruments = this.telemetry.instruments;
    const responseModel = this.telemetry.metricModel(end.responseModel);
    const errorType = failed ? (end.errorType ?? end.outcome) : undefined;
    const attributes = compact({
      ...this.metricAttributes,
      [A.ATTR_OUTCOME]: end.outcome,
      [A.ATTR_GEN_AI_RESPONSE_MODEL]: responseModel,
      [A.ATTR_ERROR_TYPE]: errorType,
    });
    // Recorded inside the span's context so SDKs that sample exemplars can link this point to the trace.
    const ctx = span ? trace.setSpan(otelContext.active(), span) : otelContext.active();
    const seconds = (performance.now() - this.startedAt) / 1000;
    const tokenAttributes = compact({
      ...this.metricAttributes,
      [A.ATTR_GEN_AI_RESPONSE_MODEL]: responseModel,
    });
    const inference = A.INFERENCE_OPERATIONS.includes(this.start.operationName)
      ? instruments.inference
      : undefined;
    if (inference) {
      inference.duration.record(seconds, attributes, ctx);
      recordInferenceTokens(inference, end.usage, tokenAttributes, errorType, ctx);
    } else {
      instruments.operationDuration.record(seconds, attributes, ctx);
    }
    // The default naming's histogram; the latest naming has no token metric for non-inference operations.
    if (instruments.tokenUsage) recordTokenUsage(instruments.tokenUsage, end.usage, tokenAttributes, ctx);
    countFinishReasons(instruments.finishReasons, end.finishReasons, tokenAttributes, ctx);
    this.telemetry.budgets.record(end.budgets);
    if (end.queuedMs !== undefined)
      instruments.queueDuration.record(end.queuedMs / 1000, this.metricAttributes, ctx);
    if (end.outcome === 'fallback') {
      instruments.fallbacks.add(
        1,
        compact({
          ...this.metricAttributes,
          [A.ATTR_GEN_AI_REQUEST_MODEL]: this.telemetry.metricModel(
            end.served?.model ?? this.start.requestModel,
          ),
          [A.ATTR_FALLBACK_REASON]: end.served?.reason,
          [A.ATTR_FALLBACK_INDEX]: end.served?.index,
        }),
      );
    }
  }
}
