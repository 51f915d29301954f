/**
 * A stand-in for `retryscope demo`: records retryscope's own instruments
 * (same names, units and buckets, from src/telemetry) with realistic label
 * values and pushes them as OTLP/HTTP protobuf, several exports a little
 * apart so rate() and increase() have more than one sample.
 *
 * `feedMetrics(endpoint)` is the one seam: swap its body for a run of the demo
 * (`node src/cli/main.ts demo --duration 20 --otlp <base>`) when that exists.
 */
import type { Attributes } from '@opentelemetry/api';
import { OTLPMetricExporter } from '@opentelemetry/exporter-metrics-otlp-proto';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { MeterProvider, PeriodicExportingMetricReader } from '@opentelemetry/sdk-metrics';
import * as A from '../../../src/telemetry/attributes.ts';
import { createInstruments, type Instruments } from '../../../src/telemetry/instruments.ts';

export const FEED_SERVICE = 'retryscope-demo';
export const FEED_MODELS = ['gpt-4o-mini', 'gpt-4o'] as const;

/** What the feed produced, for plausibility checks on query results. */
export interface FeedSummary {
  service: string;
  models: readonly string[];
  /** `error_type` values on failed operations. */
  operationErrorTypes: string[];
  /** `error_type` values on failed or retried attempts. */
  attemptErrorTypes: string[];
  outcomes: string[];
  retryReasons: string[];
  backoffSources: string[];
  fallbackReasons: string[];
  rounds: number;
}

const ROUNDS = 5;
const ROUND_GAP_MS = 1_500;

interface Attempt {
  outcome: 'success' | 'retried' | 'failed';
  errorType?: string;
  status?: number;
  code?: string;
  reason?: string;
  backoffSource?: string;
  backoffS?: number;
}

interface Call {
  model: string;
  outcome: string;
  errorType?: string;
  attempts: Attempt[];
  fallbackReason?: string;
  /** The model that served a fallback. */
  servedBy?: string;
}

const OK: Attempt = { outcome: 'success', status: 200 };
const RATE_LIMITED: Attempt = {
  outcome: 'retried',
  errorType: 'RateLimitError',
  status: 429,
  code: 'rate_limit_exceeded',
  reason: 'rate_limited',
  backoffSource: 'retry-after-ms',
  backoffS: 0.8,
};
const SERVER_ERROR: Attempt = {
  outcome: 'retried',
  errorType: 'InternalServerError',
  status: 500,
  reason: 'server_error',
  backoffSource: 'exponential',
  backoffS: 0.4,
};
const TIMED_OUT: Attempt = {
  outcome: 'retried',
  errorType: 'APIConnectionTimeoutError',
  reason: 'timeout',
  backoffSource: 'exponential',
  backoffS: 0.2,
};
const DISCONNECTED: Attempt = {
  outcome: 'retried',
  errorType: 'APIConnectionError',
  reason: 'connection_error',
  backoffSource: 'retry-after',
  backoffS: 1,
};
const QUOTA: Attempt = {
  outcome: 'failed',
  errorType: 'RateLimitError',
  status: 429,
  code: 'insufficient_quota',
  reason: 'quota_exhausted',
};

/** One round of traffic: mostly fine, with every failure class the panels split by. */
function roundOfCalls(round: number): Call[] {
  const calls: Call[] = [];
  for (const model of FEED_MODELS) {
    for (let i = 0; i < 12; i++) calls.push({ model, outcome: 'success', attempts: [OK] });
    calls.push({ model, outcome: 'success', attempts: [RATE_LIMITED, OK] });
    calls.push({ model, outcome: 'success', attempts: [RATE_LIMITED, RATE_LIMITED, OK] });
    calls.push({ model, outcome: 'success', attempts: [SERVER_ERROR, OK] });
    calls.push({ model, outcome: 'success', attempts: [TIMED_OUT, OK] });
    calls.push({ model, outcome: 'success', attempts: [DISCONNECTED, OK] });
  }
  // The expensive model runs out of quota and falls back to the cheap one.
  calls.push({
    model: 'gpt-4o',
    outcome: 'quota_exhausted',
    errorType: 'RateLimitError',
    attempts: [QUOTA],
  });
  calls.push({
    model: 'gpt-4o',
    outcome: 'fallback',
    attempts: [QUOTA, OK],
    fallbackReason: 'quota_exhausted',
    servedBy: 'gpt-4o-mini',
  });
  calls.push({
    model: 'gpt-4o-mini',
    outcome: 'retries_exhausted',
    errorType: 'RateLimitError',
    attempts: [RATE_LIMITED, RATE_LIMITED, { ...RATE_LIMITED, outcome: 'failed', backoffSource: undefined }],
  });
  calls.push({
    model: 'gpt-4o-mini',
    outcome: 'invalid_request',
    errorType: 'BadRequestError',
    attempts: [{ outcome: 'failed', errorType: 'BadRequestError', status: 400, reason: 'bad_request' }],
  });
  if (round % 2 === 1) {
    calls.push({
      model: 'gpt-4o',
      outcome: 'non_retryable',
      errorType: 'AuthenticationError',
      attempts: [
        { outcome: 'failed', errorType: 'AuthenticationError', status: 401, reason: 'authentication' },
      ],
    });
    calls.push({
      model: 'gpt-4o-mini',
      outcome: 'deadline_exceeded',
      errorType: 'APIConnectionTimeoutError',
      attempts: [TIMED_OUT, { ...TIMED_OUT, outcome: 'failed', backoffSource: undefined }],
    });
  }
  return calls;
}

/** Small deterministic PRNG so durations vary without making runs differ. */
function prng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function record(inst: Instruments, call: Call, rand: () => number): void {
  const base: Attributes = {
    [A.ATTR_GEN_AI_OPERATION_NAME]: 'chat',
    [A.ATTR_GEN_AI_REQUEST_MODEL]: call.model,
  };
  let seconds = 0;
  for (const attempt of call.attempts) {
    const attrs: Attributes = { ...base, [A.ATTR_ATTEMPT_OUTCOME]: attempt.outcome };
    if (attempt.errorType) attrs[A.ATTR_ERROR_TYPE] = attempt.errorType;
    if (attempt.status) attrs[A.ATTR_HTTP_RESPONSE_STATUS_CODE] = attempt.status;
    if (attempt.code) attrs[A.ATTR_ERROR_CODE] = attempt.code;
    if (attempt.reason) attrs[A.ATTR_RETRY_REASON] = attempt.reason;
    inst.attempts.add(1, attrs);
    seconds += attempt.outcome === 'success' ? 0.3 + rand() * 1.5 : 0.05 + rand() * 0.2;
    if (attempt.code === 'insufficient_quota') inst.quotaExhausted.add(1, base);
    if (attempt.outcome === 'retried' && attempt.backoffSource) {
      const wait = (attempt.backoffS ?? 0.1) * (0.5 + rand());
      seconds += wait;
      inst.backoff.record(wait, {
        [A.ATTR_BACKOFF_SOURCE]: attempt.backoffSource,
        [A.ATTR_RETRY_REASON]: attempt.reason,
        [A.ATTR_GEN_AI_REQUEST_MODEL]: call.model,
      });
    }
  }
  const opAttrs: Attributes = {
    ...base,
    [A.ATTR_GEN_AI_PROVIDER_NAME]: A.PROVIDER_OPENAI,
    [A.ATTR_OUTCOME]: call.outcome,
  };
  if (call.errorType) opAttrs[A.ATTR_ERROR_TYPE] = call.errorType;
  inst.operationDuration.record(seconds, opAttrs);
  if (call.outcome === 'success' || call.outcome === 'fallback') {
    const model = call.servedBy ?? call.model;
    const tokenBase = { [A.ATTR_GEN_AI_OPERATION_NAME]: 'chat', [A.ATTR_GEN_AI_REQUEST_MODEL]: model };
    inst.tokenUsage.record(200 + Math.round(rand() * 800), {
      ...tokenBase,
      [A.ATTR_GEN_AI_TOKEN_TYPE]: 'input',
    });
    inst.tokenUsage.record(50 + Math.round(rand() * 400), {
      ...tokenBase,
      [A.ATTR_GEN_AI_TOKEN_TYPE]: 'output',
    });
  }
  if (call.fallbackReason) {
    inst.fallbacks.add(1, {
      [A.ATTR_FALLBACK_REASON]: call.fallbackReason,
      [A.ATTR_GEN_AI_REQUEST_MODEL]: call.servedBy ?? call.model,
    });
  }
  inst.queueDuration.record(rand() * 0.3, base);
}

function recordGauges(inst: Instruments, round: number): void {
  for (const model of FEED_MODELS) {
    const m = { [A.ATTR_GEN_AI_REQUEST_MODEL]: model };
    // Headroom shrinks round by round: the picture before a 429.
    inst.remainingRequests.record(500 - round * 90, m);
    inst.remainingTokens.record(150_000 - round * 28_000, m);
    inst.resetRequests.record(6 + round, m);
    inst.resetTokens.record(1.5 + round * 0.5, m);
  }
  inst.queueDepth.record(round * 2);
  inst.limiterRate.record(8 - round);
  inst.retryBudgetRemaining.record(10 - round * 1.5);
  inst.circuitState.record(round >= 3 ? 2 : round === 2 ? 1 : 0);
  inst.limiterRejected.add(round, { [A.ATTR_OUTCOME]: 'queue_full' });
  inst.limiterRejected.add(1, { [A.ATTR_OUTCOME]: 'circuit_open' });
}

/**
 * Pushes ROUNDS exports of retryscope metrics to an OTLP/HTTP protobuf
 * metrics endpoint (the full URL, e.g. `http://127.0.0.1:8428/opentelemetry/v1/metrics`).
 */
export async function feedMetrics(endpoint: string): Promise<FeedSummary> {
  const exporter = new OTLPMetricExporter({ url: endpoint });
  // Exports are driven by forceFlush below; the timer never fires on its own.
  const reader = new PeriodicExportingMetricReader({ exporter, exportIntervalMillis: 3_600_000 });
  const provider = new MeterProvider({
    resource: resourceFromAttributes({ 'service.name': FEED_SERVICE, 'service.instance.id': 'feed-1' }),
    readers: [reader],
  });
  const inst = createInstruments(provider);
  const rand = prng(42);
  const seen = {
    operationErrorTypes: new Set<string>(),
    attemptErrorTypes: new Set<string>(),
    outcomes: new Set<string>(),
    retryReasons: new Set<string>(),
    backoffSources: new Set<string>(),
    fallbackReasons: new Set<string>(),
  };
  try {
    for (let round = 0; round < ROUNDS; round++) {
      for (const call of roundOfCalls(round)) {
        record(inst, call, rand);
        seen.outcomes.add(call.outcome);
        if (call.errorType) seen.operationErrorTypes.add(call.errorType);
        if (call.fallbackReason) seen.fallbackReasons.add(call.fallbackReason);
        for (const a of call.attempts) {
          if (a.errorType) seen.attemptErrorTypes.add(a.errorType);
          if (a.outcome === 'retried' && a.backoffSource) {
            seen.backoffSources.add(a.backoffSource);
            if (a.reason) seen.retryReasons.add(a.reason);
          }
        }
      }
      recordGauges(inst, round);
      await provider.forceFlush();
      if (round < ROUNDS - 1) await new Promise((r) => setTimeout(r, ROUND_GAP_MS));
    }
  } finally {
    await provider.shutdown();
  }
  const sorted = (s: Set<string>) => [...s].sort();
  return {
    service: FEED_SERVICE,
    models: FEED_MODELS,
    operationErrorTypes: sorted(seen.operationErrorTypes),
    attemptErrorTypes: sorted(seen.attemptErrorTypes),
    outcomes: sorted(seen.outcomes),
    retryReasons: sorted(seen.retryReasons),
    backoffSources: sorted(seen.backoffSources),
    fallbackReasons: sorted(seen.fallbackReasons),
    rounds: ROUNDS,
  };
}
