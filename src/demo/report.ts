import type { MetricData } from '@opentelemetry/sdk-metrics';
import type { ReadableSpan } from '@opentelemetry/sdk-trace';
import * as A from '../telemetry/attributes.ts';
import { percentile } from './percentile.ts';

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

export interface DemoReport {
  scenario: string;
  seed: number;
  durationSec: number;
  /** Set when the run was cut short (Ctrl-C). */
  partial: boolean;
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
  /** The same totals, read from the metrics pipeline, so the two can be checked against each other. */
  metrics: { operations: number; attempts: number; quotaExhausted: number };
  traces: TraceView[];
}

const ms = (span: ReadableSpan) => span.duration[0] * 1000 + span.duration[1] / 1e6;
const startMs = (span: ReadableSpan) => span.startTime[0] * 1000 + span.startTime[1] / 1e6;
const inc = (record: Record<string, number>, key: string, by = 1) => {
  record[key] = (record[key] ?? 0) + by;
};

/** Computes the report from exported spans and collected metrics only. */
export function buildReport(
  spans: readonly ReadableSpan[],
  metrics: readonly MetricData[],
  meta: { scenario: string; seed: number; durationSec: number; partial: boolean },
): DemoReport {
  const operations = spans.filter((s) => s.attributes[A.ATTR_OUTCOME] !== undefined);
  const attempts = spans.filter((s) => s.attributes[A.ATTR_ATTEMPT] !== undefined);

  const byOutcome: Record<string, number> = {};
  let successAfterRetries = 0;
  for (const op of operations) {
    const outcome = String(op.attributes[A.ATTR_OUTCOME]);
    inc(byOutcome, outcome);
    if (outcome === 'success' && Number(op.attributes[A.ATTR_ATTEMPTS]) > 1) successAfterRetries++;
  }

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
  return {
    scenario: meta.scenario,
    seed: meta.seed,
    durationSec: meta.durationSec,
    partial: meta.partial,
    operations: { total: operations.length, byOutcome, successAfterRetries },
    attempts: { total: attempts.length, byErrorType, byStatus, byErrorTypeAndStatus },
    retries: { total: retries, backoffMsTotal: Math.round(backoffMsTotal), bySource },
    quotaExhaustedEvents: quota,
    latencyMs: {
      p50: Math.round(percentile(durations, 50)),
      p95: Math.round(percentile(durations, 95)),
      p99: Math.round(percentile(durations, 99)),
    },
    metrics: {
      operations: metricTotal(metrics, A.METRIC_OPERATION_DURATION),
      attempts: metricTotal(metrics, A.METRIC_ATTEMPTS),
      quotaExhausted: metricTotal(metrics, A.METRIC_QUOTA_EXHAUSTED),
    },
    traces: tellingTraces(operations, attempts),
  };
}

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
function tellingTraces(operations: readonly ReadableSpan[], attempts: readonly ReadableSpan[]): TraceView[] {
  const children = new Map<string, ReadableSpan[]>();
  for (const a of attempts) {
    const parent = a.parentSpanContext?.spanId;
    if (!parent) continue;
    const list = children.get(parent) ?? [];
    list.push(a);
    children.set(parent, list);
  }
  const picks: ReadableSpan[] = [];
  const byAttempts = (x: ReadableSpan, y: ReadableSpan) =>
    Number(y.attributes[A.ATTR_ATTEMPTS]) - Number(x.attributes[A.ATTR_ATTEMPTS]) || ms(y) - ms(x);
  const wanted = [
    'success',
    'fallback',
    'retries_exhausted',
    'quota_exhausted',
    'non_retryable',
    'invalid_request',
  ];
  for (const outcome of wanted) {
    const candidates = operations.filter((o) => o.attributes[A.ATTR_OUTCOME] === outcome);
    const pick =
      outcome === 'success'
        ? [...candidates].filter((o) => Number(o.attributes[A.ATTR_ATTEMPTS]) > 1).sort(byAttempts)[0]
        : [...candidates].sort(byAttempts)[0];
    if (pick) picks.push(pick);
  }
  return picks.map((op) => {
    const t0 = startMs(op);
    const list = (children.get(op.spanContext().spanId) ?? []).sort(
      (x, y) =>
        Number(x.attributes[A.ATTR_ATTEMPT]) - Number(y.attributes[A.ATTR_ATTEMPT]) ||
        startMs(x) - startMs(y),
    );
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
