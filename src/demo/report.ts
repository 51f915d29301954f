// size: one report: the view types and the one fold of spans and metrics into them; split by section, one data shape would be scattered.
import type { MetricData } from '@opentelemetry/sdk-metrics';
import type { ReadableSpan } from '@opentelemetry/sdk-trace';
import * as A from '../telemetry/attributes.ts';
import { percentile } from './percentile.ts';
import { isAttempt, isOperation, tallyOf } from './tally.ts';
import { type UsageReport, usageReport } from './usage.ts';

export interface AttemptView {
  attempt: number;
  startMs: number;
  endMs: number;
  status?: number;
  errorType?: string;
  code?: string;
  backoffMs: number;
  backoffSource: string;
  model?: string;
  fallbackIndex: number;
}

export interface TraceView {
  traceId: string;
  name: string;
  outcome: string;
  durationMs: number;
  attempts: AttemptView[];
}

export interface PhaseReport {
  name: string;
  /** Calls the plan gave this phase (from the seed and the duration). */
  plannedCalls: number;
  /** Operation spans that ended in this phase: the planned calls, unless the run was interrupted. */
  operations: number;
  byOutcome: Record<string, number>;
  successAfterRetries: number;
  /** Attempt spans: the requests sent (or refused before sending) in this phase. */
  attempts: number;
  /** Attempts answered 429 rate_limit_exceeded (not quota). */
  rateLimited: number;
  quotaExhaustedEvents: number;
  /** Wall-clock time the phase took, until its last call finished. */
  elapsedMs: number;
}

/** One way of sending a rate-limit phase's calls, counted from its spans. */
export interface ArmSummary {
  operations: number;
  byOutcome: Record<string, number>;
  successAfterRetries: number;
  /** Attempt spans, i.e. requests sent. */
  requests: number;
  /** Requests answered 429 rate_limit_exceeded. */
  rateLimited: number;
  /** Waits the server set: `retry-after-ms` or `retry-after`. */
  retryAfterWaits: number;
  retryAfterWaitMs: number;
  /** Operations the client's limiter held in its queue before sending, and for how long in all. */
  queuedCalls: number;
  queuedMs: number;
  latencyMs: { p50: number; p95: number };
}

/**
 * The storm's calls sent twice, each time against its own simulator in the
 * same phase: by the demo's client (limiter on) and by the same client with
 * `limiter: false`, so what Retry-After does and what the limiter saves are
 * both measured, not estimated.
 */
export interface StormComparison {
  phase: string;
  calls: number;
  withLimiter: ArmSummary;
  withoutLimiter: ArmSummary;
  /** A call from the unpaced run that rode out 429s on the server's Retry-After. */
  retryAfterTrace?: TraceView;
}

export interface DemoReport {
  scenario: string;
  seed: number;
  /** The run's planned length: the phases' shares add up to it. */
  durationSec: number;
  /** What it took on this machine, until the last call finished. */
  elapsedSec: number;
  /** Set when the run was cut short (Ctrl-C). */
  partial: boolean;
  policy: { maxAttempts: number; deadlineMs: number };
  operations: { total: number; byOutcome: Record<string, number>; successAfterRetries: number };
  attempts: {
    total: number;
    byErrorType: Record<string, number>;
    byStatus: Record<string, number>;
    byErrorTypeAndStatus: Record<string, number>;
  };
  retries: {
    total: number;
    backoffMsTotal: number;
    bySource: Record<string, { count: number; totalMs: number }>;
  };
  quotaExhaustedEvents: number;
  latencyMs: { p50: number; p95: number; p99: number };
  /** Tokens by type, cost by model and tag, and what retries and fallbacks cost (see usage.ts). */
  usage: UsageReport;
  /** The same totals, read from the metrics pipeline, so the two can be checked against each other. */
  metrics: { operations: number; attempts: number; quotaExhausted: number };
  phases: PhaseReport[];
  storm?: StormComparison;
  traces: TraceView[];
}

/** What the run knows besides its telemetry: how it was planned, and which spans fell in which phase. */
export interface ReportMeta
  extends Pick<DemoReport, 'scenario' | 'seed' | 'durationSec' | 'elapsedSec' | 'partial' | 'policy'> {
  phases: { name: string; plannedCalls: number; elapsedMs: number; spans: readonly ReadableSpan[] }[];
  storm?: { phase: string; calls: number; main: readonly ReadableSpan[]; unpaced: readonly ReadableSpan[] };
}

const ms = (span: ReadableSpan) => span.duration[0] * 1000 + span.duration[1] / 1e6;
const startMs = (span: ReadableSpan) => span.startTime[0] * 1000 + span.startTime[1] / 1e6;
const inc = (record: Record<string, number>, key: string, by = 1) => {
  record[key] = (record[key] ?? 0) + by;
};
const isRateLimited = (span: ReadableSpan) =>
  span.attributes[A.ATTR_HTTP_RESPONSE_STATUS_CODE] === 429 &&
  span.attributes[A.ATTR_QUOTA_EXHAUSTED] !== true;
const isRetryAfter = (span: ReadableSpan) =>
  String(span.attributes[A.ATTR_BACKOFF_SOURCE] ?? '').startsWith('retry-after');

/** Computes the report from exported spans and collected metrics only. */
export function buildReport(
  spans: readonly ReadableSpan[],
  metrics: readonly MetricData[],
  meta: ReportMeta,
): DemoReport {
  const operations = spans.filter(isOperation);
  const attempts = spans.filter(isAttempt);
  const tally = tallyOf(operations);

  const byErrorType: Record<string, number> = {};
  const byStatus: Record<string, number> = {};
  const byErrorTypeAndStatus: Record<string, number> = {};
  const bySource: Record<string, { count: number; totalMs: number }> = {};
  let retries = 0;
  let backoffMsTotal = 0;
  let quota = 0;
  for (const span of attempts) {
    const a = span.attributes;
    const type = String(a[A.ATTR_ERROR_TYPE] ?? 'ok');
    const status = String(a[A.ATTR_HTTP_RESPONSE_STATUS_CODE] ?? 'none');
    inc(byErrorType, type);
    inc(byStatus, status);
    inc(byErrorTypeAndStatus, `${type} ${status}`);
    if (a[A.ATTR_QUOTA_EXHAUSTED] === true) quota++;
    const source = String(a[A.ATTR_BACKOFF_SOURCE] ?? 'none');
    if (source !== 'none') {
      retries++;
      const wait = Number(a[A.ATTR_BACKOFF_MS] ?? 0);
      backoffMsTotal += wait;
      const entry = bySource[source] ?? { count: 0, totalMs: 0 };
      entry.count++;
      entry.totalMs += wait;
      bySource[source] = entry;
    }
  }

  const durations = operations.map(ms);
  const report: DemoReport = {
    scenario: meta.scenario,
    seed: meta.seed,
    durationSec: meta.durationSec,
    elapsedSec: meta.elapsedSec,
    partial: meta.partial,
    policy: meta.policy,
    operations: {
      total: tally.operations,
      byOutcome: tally.byOutcome,
      successAfterRetries: tally.successAfterRetries,
    },
    attempts: { total: attempts.length, byErrorType, byStatus, byErrorTypeAndStatus },
    retries: { total: retries, backoffMsTotal: Math.round(backoffMsTotal), bySource },
    quotaExhaustedEvents: quota,
    latencyMs: {
      p50: Math.round(percentile(durations, 50)),
      p95: Math.round(percentile(durations, 95)),
      p99: Math.round(percentile(durations, 99)),
    },
    usage: usageReport(operations, attempts),
    metrics: {
      // Inference operations are under their own name with OTEL_SEMCONV_STABILITY_OPT_IN set.
      operations:
        metricTotal(metrics, A.METRIC_OPERATION_DURATION) + metricTotal(metrics, A.METRIC_INFERENCE_DURATION),
      attempts: metricTotal(metrics, A.METRIC_ATTEMPTS),
      quotaExhausted: metricTotal(metrics, A.METRIC_QUOTA_EXHAUSTED),
    },
    phases: meta.phases.map((phase) => phaseReport(phase)),
    traces: tellingTraces(operations, attempts),
  };
  if (meta.storm) {
    const unpacedOps = meta.storm.unpaced.filter(isOperation);
    const unpacedAttempts = meta.storm.unpaced.filter(isAttempt);
    const [retryAfterTrace] = tellingTraces(
      unpacedOps.filter((op) => unpacedAttempts.some((a) => isRetryAfter(a) && parentOf(a) === idOf(op))),
      unpacedAttempts,
      ['success', 'retries_exhausted'],
    );
    report.storm = {
      phase: meta.storm.phase,
      calls: meta.storm.calls,
      withLimiter: armSummary(meta.storm.main),
      withoutLimiter: armSummary(meta.storm.unpaced),
      ...(retryAfterTrace ? { retryAfterTrace } : {}),
    };
  }
  return report;
}

function phaseReport(phase: ReportMeta['phases'][number]): PhaseReport {
  const tally = tallyOf(phase.spans);
  const attempts = phase.spans.filter(isAttempt);
  return {
    name: phase.name,
    plannedCalls: phase.plannedCalls,
    operations: tally.operations,
    byOutcome: tally.byOutcome,
    successAfterRetries: tally.successAfterRetries,
    attempts: attempts.length,
    rateLimited: attempts.filter(isRateLimited).length,
    quotaExhaustedEvents: tally.quotaEvents,
    elapsedMs: Math.round(phase.elapsedMs),
  };
}

function armSummary(spans: readonly ReadableSpan[]): ArmSummary {
  const operations = spans.filter(isOperation);
  const attempts = spans.filter(isAttempt);
  const tally = tallyOf(operations);
  const waits = attempts.filter(isRetryAfter);
  const queued = operations.map((op) => Number(op.attributes[A.ATTR_QUEUED_MS] ?? 0)).filter((q) => q > 0);
  const durations = operations.map(ms);
  return {
    operations: tally.operations,
    byOutcome: tally.byOutcome,
    successAfterRetries: tally.successAfterRetries,
    requests: attempts.length,
    rateLimited: attempts.filter(isRateLimited).length,
    retryAfterWaits: waits.length,
    retryAfterWaitMs: Math.round(
      waits.reduce((sum, a) => sum + Number(a.attributes[A.ATTR_BACKOFF_MS] ?? 0), 0),
    ),
    queuedCalls: queued.length,
    queuedMs: Math.round(queued.reduce((sum, q) => sum + q, 0)),
    latencyMs: { p50: Math.round(percentile(durations, 50)), p95: Math.round(percentile(durations, 95)) },
  };
}

const idOf = (span: ReadableSpan) => span.spanContext().spanId;
const parentOf = (span: ReadableSpan) => span.parentSpanContext?.spanId;

/** A counter's sum, or a histogram's count, over all its series. */
function metricTotal(metrics: readonly MetricData[], name: string): number {
  let total = 0;
  for (const metric of metrics.filter((m) => m.descriptor.name === name)) {
    for (const point of metric.dataPoints) {
      const v = point.value as number | { count: number };
      total += typeof v === 'number' ? v : v.count;
    }
  }
  return total;
}

/** A few traces that tell the story: the longest success after retries, and one of each failure. */
export function tellingTraces(
  operations: readonly ReadableSpan[],
  attempts: readonly ReadableSpan[],
  wanted = [
    'success',
    'fallback',
    'retries_exhausted',
    'quota_exhausted',
    'non_retryable',
    'invalid_request',
  ],
): TraceView[] {
  const children = new Map<string, ReadableSpan[]>();
  for (const a of attempts) {
    const parent = a.parentSpanContext?.spanId;
    if (!parent) continue;
    const list = children.get(parent) ?? [];
    list.push(a);
    children.set(parent, list);
  }
  const picks: ReadableSpan[] = [];
  const seen = new Set<string>();
  const byAttempts = (x: ReadableSpan, y: ReadableSpan) =>
    Number(y.attributes[A.ATTR_ATTEMPTS]) - Number(x.attributes[A.ATTR_ATTEMPTS]) || ms(y) - ms(x);
  for (const outcome of wanted) {
    const candidates = operations.filter((o) => o.attributes[A.ATTR_OUTCOME] === outcome);
    const pick =
      outcome === 'success'
        ? [...candidates].filter((o) => Number(o.attributes[A.ATTR_ATTEMPTS]) > 1).sort(byAttempts)[0]
        : [...candidates].sort(byAttempts)[0];
    if (pick && !seen.has(idOf(pick))) {
      seen.add(idOf(pick));
      picks.push(pick);
    }
  }
  return picks.map((op) => {
    const t0 = startMs(op);
    // By time: attempt numbers restart on each fallback hop, so sorting by them would interleave hops.
    const list = (children.get(op.spanContext().spanId) ?? []).sort((x, y) => startMs(x) - startMs(y));
    return {
      traceId: op.spanContext().traceId,
      name: op.name,
      outcome: String(op.attributes[A.ATTR_OUTCOME]),
      durationMs: Math.round(ms(op)),
      attempts: list.map((a) => {
        const s = a.attributes;
        return {
          attempt: Number(s[A.ATTR_ATTEMPT]),
          startMs: Math.round(startMs(a) - t0),
          endMs: Math.round(startMs(a) - t0 + ms(a)),
          ...(s[A.ATTR_HTTP_RESPONSE_STATUS_CODE] !== undefined
            ? { status: Number(s[A.ATTR_HTTP_RESPONSE_STATUS_CODE]) }
            : {}),
          ...(s[A.ATTR_ERROR_TYPE] !== undefined ? { errorType: String(s[A.ATTR_ERROR_TYPE]) } : {}),
          ...(s[A.ATTR_ERROR_CODE] !== undefined ? { code: String(s[A.ATTR_ERROR_CODE]) } : {}),
          backoffMs: Number(s[A.ATTR_BACKOFF_MS] ?? 0),
          backoffSource: String(s[A.ATTR_BACKOFF_SOURCE] ?? 'none'),
          ...(s[A.ATTR_GEN_AI_REQUEST_MODEL] !== undefined
            ? { model: String(s[A.ATTR_GEN_AI_REQUEST_MODEL]) }
            : {}),
          fallbackIndex: Number(s[A.ATTR_FALLBACK_INDEX] ?? 0),
        };
      }),
    };
  });
}
