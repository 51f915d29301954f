import type { MeterProvider } from '@opentelemetry/api';
import {
  type Attributes,
  type Context,
  metrics,
  context as otelContext,
  ProxyTracerProvider,
  type Span,
  SpanKind,
  SpanStatusCode,
  type Tracer,
  type TracerProvider,
  trace,
} from '@opentelemetry/api';
import type { RateLimitHeadroom } from '../policy/ratelimit-headers.ts';
import type {
  AttemptOutcome,
  BackoffSource,
  Classification,
  ErrorCategory,
  Outcome,
} from '../policy/types.ts';
import { VERSION } from '../version.ts';
import * as A from './attributes.ts';
import { createInstruments, type Instruments } from './instruments.ts';
import { metricErrorCode, metricModel, spanValue } from './redact.ts';
import { safely } from './safely.ts';

/** Finish reasons kept on a span: OpenAI's largest `n`. */
export const MAX_FINISH_REASONS = 128;
/** Shorter strings are not treated as secrets: they would match too much. */
const MIN_SECRET_LENGTH = 8;

export interface OperationStart {
  operationName: string;
  api: string;
  requestModel?: string;
  serverAddress?: string;
  serverPort?: number;
  stream: boolean;
  deadlineMs?: number;
  /** JSON of the prompt; given only when `captureContent` is on. */
  inputContent?: string;
}

export interface AttemptStart {
  attempt: number;
  backoffMs: number;
  backoffSource: BackoffSource;
  requestModel?: string;
  fallbackIndex: number;
}

export interface AttemptEnd {
  outcome: AttemptOutcome;
  status?: number;
  errorType?: string;
  classification?: Classification;
  requestId?: string;
  headroom?: RateLimitHeadroom;
  retryAfterMs?: number;
}

export interface PacingState {
  model?: string;
  queueDepth?: number;
  ratePerSec?: number;
  budgetRemaining?: number;
  /** 0 closed, 1 half-open, 2 open. */
  circuitState?: number;
}

export interface Usage {
  inputTokens?: number;
  outputTokens?: number;
}

export interface OperationEnd {
  outcome: Outcome;
  attempts: number;
  backoffTotalMs: number;
  errorType?: string;
  responseModel?: string;
  responseId?: string;
  finishReasons?: string[];
  usage?: Usage;
  /** JSON of the completion; given only when `captureContent` is on. */
  outputContent?: string;
  queuedMs?: number;
  fallbackIndex?: number;
  fallbackReason?: Outcome;
  servedModel?: string;
  extra?: Attributes;
}

/**
 * Turns what the adapter did into spans and metrics. It records; it never
 * decides. Every entry point is wrapped so a telemetry failure cannot reach
 * the caller.
 */
export class Telemetry {
  readonly tracer: Tracer;
  /** API keys of the clients recording here: a server-supplied string containing one is never recorded. */
  readonly secrets = new Set<string>();
  private readonly explicitMeterProvider: MeterProvider | undefined;
  private globalMeterProvider: MeterProvider | undefined;
  private current: Instruments;

  constructor(providers: { tracerProvider?: TracerProvider; meterProvider?: MeterProvider } = {}) {
    // A provider that throws here costs one warning and records nothing, as any telemetry failure does.
    this.tracer =
      safely('getTracer', () => (providers.tracerProvider ?? trace).getTracer('retryscope', VERSION)) ??
      new ProxyTracerProvider().getTracer('retryscope', VERSION);
    this.explicitMeterProvider = providers.meterProvider;
    this.globalMeterProvider = providers.meterProvider ? undefined : metrics.getMeterProvider();
    this.current = this.create();
  }

  /**
   * The instruments, from the global meter provider as it is now. Unlike
   * traces, the metrics API has no proxy: a client instrumented before the
   * SDK started would otherwise record into the no-op meter forever.
   */
  get instruments(): Instruments {
    if (!this.explicitMeterProvider) {
      const global = metrics.getMeterProvider();
      if (global !== this.globalMeterProvider) {
        this.globalMeterProvider = global;
        this.current = this.create();
      }
    }
    return this.current;
  }

  private create(): Instruments {
    const instruments = createInstruments(this.explicitMeterProvider ?? this.globalMeterProvider);
    // Refusals are rare: starting their series at 0 lets rate() and increase() see the first one.
    for (const outcome of ['queue_full', 'deadline_exceeded', 'circuit_open']) {
      safely('init', () => instruments.limiterRejected.add(0, { [A.ATTR_OUTCOME]: outcome }));
    }
    return instruments;
  }

  /** Keeps `secret` (a client's API key) out of every server-supplied value recorded. */
  protect(secret: unknown): void {
    if (typeof secret === 'string' && secret.length >= MIN_SECRET_LENGTH) this.secrets.add(secret);
  }

  /** A server-supplied string for a span attribute (see redact.ts). */
  spanValue(value: string | undefined): string | undefined {
    return value === undefined ? undefined : spanValue(value, this.secrets);
  }

  /** A model name for a metric attribute (see redact.ts). */
  metricModel(value: unknown): string | undefined {
    return typeof value === 'string' ? metricModel(value, this.secrets) : undefined;
  }

  /** Starts the operation span as a child of `parent` (the caller's active context). */
  startOperation(start: OperationStart, parent: Context): OperationRecord {
    return new OperationRecord(this, start, parent);
  }
}

export class OperationRecord {
  readonly context: Context;
  readonly metricAttributes: Attributes;
  private readonly span: Span | undefined;
  private readonly startedAt = performance.now();
  private ended = false;
  private readonly telemetry: Telemetry;
  private readonly start: OperationStart;

  /** The caller's model, as given (metric attributes carry it redacted). */
  get requestModel(): string | undefined {
    return this.start.requestModel;
  }

  constructor(telemetry: Telemetry, start: OperationStart, parent: Context) {
    this.telemetry = telemetry;
    this.start = start;
    this.metricAttributes = compact({
      [A.ATTR_GEN_AI_OPERATION_NAME]: start.operationName,
      [A.ATTR_GEN_AI_PROVIDER_NAME]: A.PROVIDER_OPENAI,
      [A.ATTR_GEN_AI_REQUEST_MODEL]: telemetry.metricModel(start.requestModel),
      [A.ATTR_SERVER_ADDRESS]: start.serverAddress,
    });
    this.span = safely('startOperation', () =>
      telemetry.tracer.startSpan(
        start.requestModel ? `${start.operationName} ${start.requestModel}` : start.operationName,
        {
          kind: SpanKind.CLIENT,
          attributes: compact({
            ...this.metricAttributes,
            // The caller's own model name: on the span as given, on metrics only if it fits the pattern.
            [A.ATTR_GEN_AI_REQUEST_MODEL]: start.requestModel,
            [A.ATTR_SERVER_PORT]: start.serverPort,
            [A.ATTR_API]: start.api,
            [A.ATTR_STREAM]: start.stream,
            [A.ATTR_DEADLINE_MS]: start.deadlineMs,
            [A.ATTR_GEN_AI_INPUT_MESSAGES]: start.inputContent,
          }),
        },
        parent,
      ),
    );
    this.context = this.span ? trace.setSpan(parent, this.span) : parent;
  }

  startAttempt(start: AttemptStart): AttemptRecord {
    return new AttemptRecord(this.telemetry, this, start);
  }

  /** A wait the policy chose before the next attempt. */
  recordBackoff(ms: number, source: BackoffSource, reason: ErrorCategory, model?: string): void {
    safely('recordBackoff', () =>
      this.telemetry.instruments.backoff.record(
        ms / 1000,
        compact({
          ...this.metricAttributes,
          [A.ATTR_GEN_AI_REQUEST_MODEL]: this.telemetry.metricModel(model ?? this.start.requestModel),
          [A.ATTR_BACKOFF_SOURCE]: source,
          [A.ATTR_RETRY_REASON]: reason,
        }),
      ),
    );
  }

  /** Gauges of the client-side pacing state, read after each attempt. */
  recordPacing(state: PacingState): void {
    safely('recordPacing', () => {
      const i = this.telemetry.instruments;
      const attributes = compact({
        ...this.metricAttributes,
        [A.ATTR_GEN_AI_REQUEST_MODEL]: this.telemetry.metricModel(state.model),
      });
      if (state.queueDepth !== undefined) i.queueDepth.record(state.queueDepth, attributes);
      if (state.ratePerSec !== undefined && Number.isFinite(state.ratePerSec))
        i.limiterRate.record(state.ratePerSec, attributes);
      if (state.budgetRemaining !== undefined)
        i.retryBudgetRemaining.record(state.budgetRemaining, attributes);
      if (state.circuitState !== undefined) i.circuitState.record(state.circuitState, attributes);
    });
  }

  /** A call the client refused to send (limiter queue full or past its deadline, circuit open). */
  recordRejected(outcome: Outcome): void {
    safely('recordRejected', () =>
      this.telemetry.instruments.limiterRejected.add(1, {
        ...this.metricAttributes,
        [A.ATTR_OUTCOME]: outcome,
      }),
    );
  }

  end(end: OperationEnd): void {
    if (this.ended) return;
    this.ended = true;
    const failed = end.outcome !== 'success' && end.outcome !== 'fallback';
    const span = this.span;
    // Two guards: a span processor that throws in onEnd must not cost the call its metrics.
    safely('endOperation', () => this.endSpan(end, failed));
    safely('recordOperation', () => this.recordMetrics(end, failed, span));
  }

  private endSpan(end: OperationEnd, failed: boolean): void {
    const span = this.span;
    const t = this.telemetry;
    // A span nobody records (no SDK, or sampled out) needs no attributes: skip building them.
    if (span?.isRecording()) {
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
          [A.ATTR_GEN_AI_USAGE_INPUT_TOKENS]: end.usage?.inputTokens,
          [A.ATTR_GEN_AI_USAGE_OUTPUT_TOKENS]: end.usage?.outputTokens,
          [A.ATTR_GEN_AI_OUTPUT_MESSAGES]: end.outputContent,
          [A.ATTR_QUEUED_MS]: end.queuedMs === undefined ? undefined : Math.round(end.queuedMs),
          [A.ATTR_FALLBACK_INDEX]: end.fallbackIndex,
          [A.ATTR_FALLBACK_REASON]: end.fallbackReason,
          [A.ATTR_ERROR_TYPE]: failed ? (end.errorType ?? end.outcome) : undefined,
          ...end.extra,
        }),
      );
      if (failed) span.setStatus({ code: SpanStatusCode.ERROR, message: end.outcome });
    }
    span?.end();
  }

  private recordMetrics(end: OperationEnd, failed: boolean, span: Span | undefined): void {
    const instruments = this.telemetry.instruments;
    const responseModel = this.telemetry.metricModel(end.responseModel);
    const attributes = compact({
      ...this.metricAttributes,
      [A.ATTR_OUTCOME]: end.outcome,
      [A.ATTR_GEN_AI_RESPONSE_MODEL]: responseModel,
      [A.ATTR_ERROR_TYPE]: failed ? (end.errorType ?? end.outcome) : undefined,
    });
    // Recorded inside the span's context so SDKs that sample exemplars can link this point to the trace.
    const ctx = span ? trace.setSpan(otelContext.active(), span) : otelContext.active();
    instruments.operationDuration.record((performance.now() - this.startedAt) / 1000, attributes, ctx);
    const tokenAttributes = compact({
      ...this.metricAttributes,
      [A.ATTR_GEN_AI_RESPONSE_MODEL]: responseModel,
    });
    if (end.usage?.inputTokens !== undefined) {
      instruments.tokenUsage.record(
        end.usage.inputTokens,
        { ...tokenAttributes, [A.ATTR_GEN_AI_TOKEN_TYPE]: 'input' },
        ctx,
      );
    }
    if (end.usage?.outputTokens !== undefined) {
      instruments.tokenUsage.record(
        end.usage.outputTokens,
        { ...tokenAttributes, [A.ATTR_GEN_AI_TOKEN_TYPE]: 'output' },
        ctx,
      );
    }
    if (end.queuedMs !== undefined)
      instruments.queueDuration.record(end.queuedMs / 1000, this.metricAttributes, ctx);
    if (end.outcome === 'fallback') {
      instruments.fallbacks.add(
        1,
        compact({
          ...this.metricAttributes,
          [A.ATTR_GEN_AI_REQUEST_MODEL]: this.telemetry.metricModel(
            end.servedModel ?? this.start.requestModel,
          ),
          [A.ATTR_FALLBACK_REASON]: end.fallbackReason,
          [A.ATTR_FALLBACK_INDEX]: end.fallbackIndex,
        }),
      );
    }
  }
}

export class AttemptRecord {
  readonly context: Context;
  private readonly span: Span | undefined;
  private ended = false;
  private readonly telemetry: Telemetry;
  private readonly operation: OperationRecord;
  private readonly start: AttemptStart;

  constructor(telemetry: Telemetry, operation: OperationRecord, start: AttemptStart) {
    this.telemetry = telemetry;
    this.operation = operation;
    this.start = start;
    this.span = safely('startAttempt', () =>
      telemetry.tracer.startSpan(
        `attempt ${start.attempt}`,
        {
          kind: SpanKind.CLIENT,
          attributes: compact({
            ...operation.metricAttributes,
            [A.ATTR_GEN_AI_REQUEST_MODEL]: start.requestModel ?? operation.requestModel,
            [A.ATTR_ATTEMPT]: start.attempt,
            [A.ATTR_HTTP_REQUEST_RESEND_COUNT]: start.attempt >= 2 ? start.attempt - 1 : undefined,
            [A.ATTR_BACKOFF_MS]: Math.round(start.backoffMs),
            [A.ATTR_BACKOFF_SOURCE]: start.backoffSource,
            [A.ATTR_FALLBACK_INDEX]: start.fallbackIndex,
          }),
        },
        operation.context,
      ),
    );
    this.context = this.span ? trace.setSpan(operation.context, this.span) : operation.context;
  }

  end(end: AttemptEnd): void {
    if (this.ended) return;
    this.ended = true;
    // Separate guards, as for the operation: metrics are recorded whatever the span processors do.
    safely('endAttempt', () => this.endSpan(end));
    safely('recordAttempt', () => this.recordMetrics(end));
  }

  private endSpan(end: AttemptEnd): void {
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
        }),
      );
      if (failed) span.setStatus({ code: SpanStatusCode.ERROR, message: end.errorType });
    }
    span?.end();
  }

  private recordMetrics(end: AttemptEnd): void {
    const c = end.classification;
    const h = end.headroom ?? {};
    const failed = end.outcome !== 'success';
    const span = this.span;
    const instruments = this.telemetry.instruments;
    const model = this.telemetry.metricModel(this.start.requestModel ?? this.operation.requestModel);
    const base = compact({ ...this.operation.metricAttributes, [A.ATTR_GEN_AI_REQUEST_MODEL]: model });
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
  }
}

/** Drops undefined values so they never reach an exporter as the string "undefined". */
function compact(attributes: Record<string, Attributes[string] | undefined>): Attributes {
  const out: Attributes = {};
  // for...in, not Object.entries: this runs several times per call, on the hot path.
  for (const key in attributes) {
    const value = attributes[key];
    if (value !== undefined) out[key] = value;
  }
  return out;
}
