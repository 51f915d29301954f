import { type Context, context as otelContext, type Span, SpanStatusCode, trace } from '@opentelemetry/api';
import type { AttemptEnded, AttemptObserver, AttemptStarted } from '../observer.ts';
import * as A from './attributes.ts';
import { compact } from './compact.ts';
import type { OperationRecord } from './operation.ts';
import type { Telemetry } from './recorder.ts';
import { metricErrorCode } from './redact.ts';
import { safely } from './safely.ts';
import { countSpend, metricTier, spendAttributes } from './spend.ts';
import { recordUtilization } from './utilization.ts';

/** One attempt's span and metrics: started as a child of the operation span, ended once. */
export class AttemptRecord implements AttemptObserver {
  readonly context: Context;
  private readonly span: Span | undefined;
  private done = false;
  private readonly telemetry: Telemetry;
  private readonly operation: OperationRecord;
  private readonly start: AttemptStarted;

  constructor(telemetry: Telemetry, operation: OperationRecord, start: AttemptStarted) {
    this.telemetry = telemetry;
    this.operation = operation;
    this.start = start;
    this.span = safely('startAttempt', () =>
      telemetry.startSpan(`attempt ${start.attempt}`, operation.context, () =>
        compact({
          ...operation.metricAttributes,
          [A.ATTR_GEN_AI_REQUEST_MODEL]: start.requestModel ?? operation.requestModel,
          [A.ATTR_ATTEMPT]: start.attempt,
          [A.ATTR_HTTP_REQUEST_RESEND_COUNT]: start.attempt >= 2 ? start.attempt - 1 : undefined,
          [A.ATTR_BACKOFF_MS]: Math.round(start.backoffMs),
          [A.ATTR_BACKOFF_SOURCE]: start.backoffSource,
          [A.ATTR_FALLBACK_INDEX]: start.fallbackIndex,
          ...operation.httpAttributes,
        }),
      ),
    );
    this.context = this.span ? trace.setSpan(operation.context, this.span) : operation.context;
  }

  run<T>(send: () => T): T {
    return otelContext.with(this.context, send);
  }

  ended(end: AttemptEnded): void {
    if (this.done) return;
    this.done = true;
    // Separate guards, as for the operation: metrics are recorded whatever the span processors do.
    safely('endAttempt', () => this.endSpan(end));
    if (!this.telemetry.instruments.off) safely('recordAttempt', () => this.recordMetrics(end));
  }

  private endSpan(end: AttemptEnded): void {
    const c = end.classification;
    const h = end.headroom ?? {};
    const failed = end.outcome !== 'success';
    const span = this.span;
    const t = this.telemetry;
    if (span?.isRecording()) {
      span.setAttributes(
        compact({
          [A.ATTR_HTTP_RESPONSE_STATUS_CODE]: end.status,
          [A.ATTR_REQUEST_ID]: t.spanValue(end.requestId),
          [A.ATTR_ATTEMPT_OUTCOME]: end.outcome,
          [A.ATTR_ERROR_TYPE]: failed ? (end.errorType ?? A.OTHER) : undefined,
          [A.ATTR_ERROR_CODE]: t.spanValue(c?.code),
          [A.ATTR_RETRY_REASON]: failed ? c?.category : undefined,
          [A.ATTR_RETRYABLE]: failed ? (c?.retryable ?? false) : undefined,
          [A.ATTR_QUOTA_EXHAUSTED]: c?.quotaExhausted ? true : undefined,
          [A.ATTR_RETRY_AFTER_MS]: end.retryAfterMs === undefined ? undefined : Math.round(end.retryAfterMs),
          [A.ATTR_RATELIMIT_LIMIT_REQUESTS]: h.limitRequests,
          [A.ATTR_RATELIMIT_LIMIT_TOKENS]: h.limitTokens,
          [A.ATTR_RATELIMIT_REMAINING_REQUESTS]: h.remainingRequests,
          [A.ATTR_RATELIMIT_REMAINING_TOKENS]: h.remainingTokens,
          [A.ATTR_RATELIMIT_RESET_REQUESTS_MS]: h.resetRequestsMs,
          [A.ATTR_RATELIMIT_RESET_TOKENS_MS]: h.resetTokensMs,
          [A.ATTR_OPENAI_RESPONSE_SERVICE_TIER]: t.spanValue(end.serviceTier),
          ...spendAttributes(end.usage, end.cost, end.estimatedOutputTokens),
        }),
      );
      if (failed) span.setStatus({ code: SpanStatusCode.ERROR, message: end.errorType });
    }
    span?.end();
  }

  private recordMetrics(end: AttemptEnded): void {
    const c = end.classification;
    const h = end.headroom ?? {};
    const failed = end.outcome !== 'success';
    const span = this.span;
    const instruments = this.telemetry.instruments;
    const op = this.operation;
    // Most attempts ask for the operation's own model: its attributes already say so.
    const base =
      this.start.requestModel === undefined || this.start.requestModel === op.requestModel
        ? op.metricAttributes
        : compact({
            ...op.metricAttributes,
            [A.ATTR_GEN_AI_REQUEST_MODEL]: this.telemetry.metricModel(this.start.requestModel),
          });
    const ctx = span ? trace.setSpan(otelContext.active(), span) : otelContext.active();
    instruments.attempts.add(
      1,
      compact({
        ...base,
        [A.ATTR_ATTEMPT_OUTCOME]: end.outcome,
        [A.ATTR_ERROR_TYPE]: failed ? (end.errorType ?? A.OTHER) : undefined,
        [A.ATTR_HTTP_RESPONSE_STATUS_CODE]: end.status,
        [A.ATTR_ERROR_CODE]: c?.code === undefined ? undefined : metricErrorCode(c.code),
        [A.ATTR_RETRY_REASON]: failed ? c?.category : undefined,
      }),
      ctx,
    );
    if (c?.quotaExhausted) instruments.quotaExhausted.add(1, base, ctx);
    if (h.remainingRequests !== undefined) instruments.remainingRequests.record(h.remainingRequests, base);
    if (h.remainingTokens !== undefined) instruments.remainingTokens.record(h.remainingTokens, base);
    if (h.resetRequestsMs !== undefined) instruments.resetRequests.record(h.resetRequestsMs / 1000, base);
    if (h.resetTokensMs !== undefined) instruments.resetTokens.record(h.resetTokensMs / 1000, base);
    if (end.usage) {
      const spend = compact({
        [A.ATTR_GEN_AI_OPERATION_NAME]: base[A.ATTR_GEN_AI_OPERATION_NAME],
        [A.ATTR_GEN_AI_REQUEST_MODEL]: base[A.ATTR_GEN_AI_REQUEST_MODEL],
        [A.ATTR_OPENAI_RESPONSE_SERVICE_TIER]: metricTier(end.serviceTier),
        ...op.tagAttributes,
      });
      countSpend(instruments, spend, end.usage, end.cost, end.outcome, ctx);
    }
    recordUtilization(instruments.ratelimitUtilization, h, base);
  }
}
